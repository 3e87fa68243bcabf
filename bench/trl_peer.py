"""The memory benchmark's peer (issue 12): one GRPO step of TRL's GRPOTrainer + PEFT LoRA on PyTorch CPU.

Mirrors `bench/memory.ts` (maxent's side): a randomly initialised model with the exact Hugging Face config of
Qwen2.5-1.5B-Instruct or Qwen2.5-0.5B-Instruct (the numbers of maxent's presets in src/model/config.ts), written once
as BF16 safetensors like the Hub's (in a separate process, so its memory is not counted) and loaded back as float32;
LoRA r = 16, alpha 32, dropout 0.05 on q/k/v/o/gate/up/down; 4 prompts x K = 4 generations of exactly
`--new-tokens` tokens (end token suppressed with min_new_tokens) after `--prompt-tokens`-token prompts; beta = 0.04
with the reference = the base with adapters disabled (TRL's PEFT path: `ref_model = None`, `use_adapter(None)`);
4 micro-batches of 4 completions (per_device_train_batch_size 4, gradient_accumulation_steps 4, one generation for
the whole step), grad-norm clip 0.15 and AdamW; optional gradient checkpointing (`--gc`).

Measured: load time and peak RSS (VmHWM) right after loading, then the step split into TRL's phases (sampling =
`model.generate`, reference = the adapters-off log-prob pass, rollout rest = decoding/rewards/advantages, policy =
the 4 micro-steps' forward + backward, optimizer = clip + AdamW), VmHWM after each phase, the process's ru_maxrss at
the end, and "activations": bytes of tensors autograd saved for backward in the largest policy forward (counted with
saved_tensors_hooks, distinct storages, parameters excluded; under gradient checkpointing this sees only what is saved
outside the checkpointed layers plus the recomputation of one layer at a time, and misses the layer inputs the
checkpoints keep, which are reported separately as `checkpoint_inputs_bytes` = layers x tokens x hidden x 4).

Prints one JSON line. Usage (run one case at a time: the 1.5B case takes minutes):
  python3 bench/trl_peer.py --model 1.5b [--gc] [--threads 2] [--prompt-tokens 64] [--new-tokens 128]
  python3 bench/trl_peer.py --model tiny     # a ~1-minute smoke run of the same code path
Model files are cached under $MAXENT_BENCH_MODELS (default $TMPDIR/maxent-bench-models)/trl-<model>-bf16.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TOKENIZER_DIR = os.path.join(REPO, "tests", "fixtures", "tokenizers", "qwen3")

# The exact config.json of Qwen2.5-*-Instruct, as maxent's presets (src/model/config.ts, QWEN25_INSTRUCT_COMMON).
QWEN25_COMMON = dict(
    architectures=["Qwen2ForCausalLM"],
    attention_dropout=0.0,
    bos_token_id=151643,
    eos_token_id=151645,
    hidden_act="silu",
    initializer_range=0.02,
    max_position_embeddings=32768,
    max_window_layers=21,
    num_key_value_heads=2,
    rms_norm_eps=1e-06,
    rope_theta=1000000.0,
    sliding_window=32768,
    tie_word_embeddings=True,
    use_cache=True,
    use_sliding_window=False,
    vocab_size=151936,
)
PRESETS = {
    "0.5b": dict(hidden_size=896, intermediate_size=4864, num_attention_heads=14, num_hidden_layers=24),
    "1.5b": dict(hidden_size=1536, intermediate_size=8960, num_attention_heads=12, num_hidden_layers=28),
    # not a benchmark: a short smoke test of the same code path (real vocabulary, tiny layers)
    "tiny": dict(hidden_size=64, intermediate_size=128, num_attention_heads=4, num_hidden_layers=2),
}
TARGETS = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]


def proc_status() -> dict[str, int]:
    """VmHWM / VmRSS of this process in bytes."""
    out = {}
    with open("/proc/self/status") as f:
        for line in f:
            key = line.split(":")[0]
            if key in ("VmHWM", "VmRSS"):
                out[key] = int(line.split()[1]) * 1024
    return out


def model_config(name: str):
    from transformers import Qwen2Config

    cfg = dict(QWEN25_COMMON, **PRESETS[name])
    cfg.pop("architectures")
    c = Qwen2Config(**cfg)
    c.architectures = ["Qwen2ForCausalLM"]
    return c


def make_model(name: str, out_dir: str) -> None:
    """Writes a randomly initialised model with the preset's config as BF16 safetensors (run in its own process)."""
    import torch
    from transformers import AutoModelForCausalLM

    torch.manual_seed(0)
    cfg = model_config(name)
    torch.set_default_dtype(torch.bfloat16)  # initialise directly in bf16: half the memory, like the Hub's files
    model = AutoModelForCausalLM.from_config(cfg)
    tmp = f"{out_dir}.tmp-{os.getpid()}"
    model.save_pretrained(tmp, safe_serialization=True)
    os.rename(tmp, out_dir)


def ensure_model(name: str, out_dir: str) -> None:
    if os.path.exists(os.path.join(out_dir, "config.json")):
        return
    os.makedirs(os.path.dirname(out_dir), exist_ok=True)
    subprocess.run([sys.executable, os.path.abspath(__file__), "--make-model", name, out_dir], check=True)


def prompts_text(n: int, tokens: int, tokenizer) -> list[str]:
    """n prompts of exactly `tokens` tokens each ("a a a …", "b b b …": each " x" is one Qwen token)."""
    out = []
    for p in range(n):
        letter = chr(ord("a") + p)
        text = letter + f" {letter}" * (tokens - 1)
        got = len(tokenizer(text, add_special_tokens=False)["input_ids"])
        if got != tokens:
            raise SystemExit(f"prompt {p}: {got} tokens, wanted {tokens}")
        out.append(text)
    return out


def run(args) -> dict:
    import torch

    torch.set_num_threads(args.threads)
    torch.manual_seed(1)
    import datasets
    import peft
    import transformers
    import trl
    from peft import LoraConfig
    from transformers import AutoModelForCausalLM, AutoTokenizer, TrainerCallback
    from trl import GRPOConfig, GRPOTrainer

    root = os.environ.get("MAXENT_BENCH_MODELS") or os.path.join(tempfile.gettempdir(), "maxent-bench-models")
    model_dir = args.model_dir or os.path.join(root, f"trl-{args.model}-bf16")
    ensure_model(args.model, model_dir)

    load_average_start = os.getloadavg()
    before_load = proc_status()
    t0 = time.perf_counter()
    model = AutoModelForCausalLM.from_pretrained(model_dir, dtype=torch.float32)
    load_s = time.perf_counter() - t0
    after_load = proc_status()
    params = sum(p.numel() for p in model.parameters())  # tied embedding counted once

    tokenizer = AutoTokenizer.from_pretrained(TOKENIZER_DIR, padding_side="left")
    texts = prompts_text(args.prompts, args.prompt_tokens, tokenizer)
    dataset = datasets.Dataset.from_dict({"prompt": texts})

    def parity_reward(completions, **_kw):
        return [float(len(c) % 2) for c in completions]

    lora = LoraConfig(r=16, lora_alpha=32, lora_dropout=0.05, target_modules=TARGETS, task_type="CAUSAL_LM")
    out_dir = tempfile.mkdtemp(prefix="trl-peer-")
    config = GRPOConfig(
        output_dir=out_dir,
        use_cpu=True,
        bf16=False,
        fp16=False,
        per_device_train_batch_size=args.k,  # one micro-batch = one group's K completions, as maxent
        gradient_accumulation_steps=args.prompts,
        num_generations=args.k,
        max_completion_length=args.new_tokens,
        generation_kwargs={"min_new_tokens": args.new_tokens},  # no end token: every completion is full length
        temperature=1.0,
        top_p=1.0,
        top_k=0,
        beta=0.04,
        learning_rate=5e-6,
        adam_beta1=0.9,
        adam_beta2=0.99,
        adam_epsilon=1e-6,
        weight_decay=0.0,
        max_grad_norm=0.15,
        lr_scheduler_type="constant",
        max_steps=1,
        logging_steps=1,
        save_strategy="no",
        report_to="none",
        gradient_checkpointing=args.gc,
        dataloader_num_workers=0,
        shuffle_dataset=False,
        seed=1,
        disable_tqdm=True,
    )

    times = {"sampling": 0.0, "reference": 0.0, "rollout": 0.0, "train_steps": 0.0, "optimizer": 0.0}
    # process CPU seconds (all threads) of the same phases: fairer than wall time on a shared, loaded machine
    cpu = {"sampling": 0.0, "reference": 0.0, "rollout": 0.0, "train_steps": 0.0, "optimizer": 0.0}
    peaks: dict[str, int] = {}
    saved = {"max_bytes": 0}
    marks: dict[str, float] = {}

    class Timed(GRPOTrainer):
        _in_rollout = False

        def _generate_single_turn(self, *a, **k):
            s, sc = time.perf_counter(), time.process_time()
            r = super()._generate_single_turn(*a, **k)
            times["sampling"] += time.perf_counter() - s
            cpu["sampling"] += time.process_time() - sc
            peaks["after_sampling"] = proc_status()["VmHWM"]
            return r

        def _generate_and_score_completions(self, *a, **k):
            s, sc = time.perf_counter(), time.process_time()
            self._in_rollout = True
            try:
                r = super()._generate_and_score_completions(*a, **k)
            finally:
                self._in_rollout = False
            times["rollout"] += time.perf_counter() - s
            cpu["rollout"] += time.process_time() - sc
            peaks["after_rollout"] = proc_status()["VmHWM"]
            return r

        def _get_per_token_logps_and_entropies(self, *a, **k):
            if self._in_rollout:  # the adapters-off reference pass (no old log-probs: generation is step-aligned)
                s, sc = time.perf_counter(), time.process_time()
                r = super()._get_per_token_logps_and_entropies(*a, **k)
                times["reference"] += time.perf_counter() - s
                cpu["reference"] += time.process_time() - sc
                return r
            # the policy forward: count the bytes autograd saves for backward (distinct storages, not parameters)
            param_ptrs = {p.untyped_storage().data_ptr() for p in self.model.parameters()}
            seen: dict[int, int] = {}

            def pack(t):
                st = t.untyped_storage()
                ptr = st.data_ptr()
                if ptr not in param_ptrs and ptr not in seen:
                    seen[ptr] = st.nbytes()
                return t

            with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
                r = super()._get_per_token_logps_and_entropies(*a, **k)
            saved["max_bytes"] = max(saved["max_bytes"], sum(seen.values()))
            return r

        def training_step(self, *a, **k):
            s, sc = time.perf_counter(), time.process_time()
            r = super().training_step(*a, **k)
            e, ec = time.perf_counter(), time.process_time()
            times["train_steps"] += e - s
            cpu["train_steps"] += ec - sc
            marks["last_train_step_end"], marks["last_train_step_end_cpu"] = e, ec
            peaks["after_policy"] = proc_status()["VmHWM"]
            return r

    class OptTimer(TrainerCallback):
        def on_optimizer_step(self, args_, state, control, **kw):
            times["optimizer"] = time.perf_counter() - marks["last_train_step_end"]  # clip + AdamW
            cpu["optimizer"] = time.process_time() - marks["last_train_step_end_cpu"]

    t1 = time.perf_counter()
    trainer = Timed(
        model=model,
        reward_funcs=parity_reward,
        args=config,
        train_dataset=dataset,
        processing_class=tokenizer,
        peft_config=lora,
        callbacks=[OptTimer()],
    )
    setup_s = time.perf_counter() - t1
    trainable = sum(p.numel() for p in trainer.model.parameters() if p.requires_grad)
    after_setup = proc_status()

    logs: list[dict] = []

    class LogCatcher(TrainerCallback):
        def on_log(self, args_, state, control, **kw):
            entry = kw.get("logs") or {}
            logs.append({k: v for k, v in entry.items() if isinstance(v, (int, float))})

    trainer.add_callback(LogCatcher())
    t2 = time.perf_counter()
    trainer.train()
    train_s = time.perf_counter() - t2
    shutil.rmtree(out_dir, ignore_errors=True)  # save_strategy "no": only TRL's run files are there
    end = proc_status()
    ru_maxrss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # Linux: kB

    step_log = next((entry for entry in logs if "completions/mean_length" in entry), logs[0] if logs else {})
    policy_s = times["train_steps"] - times["rollout"]
    cfg = model.config
    tokens = args.k * (args.prompt_tokens + args.new_tokens)  # one micro-batch
    return {
        "peer": "trl-grpo",
        "model": args.model,
        "gradient_checkpointing": args.gc,
        "prompts": args.prompts,
        "k": args.k,
        "prompt_tokens": args.prompt_tokens,
        "new_tokens": args.new_tokens,
        "mean_completion_length": step_log.get("completions/mean_length"),
        "threads": torch.get_num_threads(),
        "params": params,
        "trainable": trainable,
        "weight_bytes": 4 * params,
        "rss_before_load": before_load["VmRSS"],
        "load_s": load_s,
        "peak_after_load": after_load["VmHWM"],
        "rss_after_load": after_load["VmRSS"],
        "setup_s": setup_s,
        "rss_after_setup": after_setup["VmRSS"],
        "sampling_s": times["sampling"],
        "reference_s": times["reference"],
        "rollout_other_s": times["rollout"] - times["sampling"] - times["reference"],
        "policy_s": policy_s,
        "optimizer_s": times["optimizer"],
        "step_s": times["train_steps"] + times["optimizer"],
        "train_call_s": train_s,
        "cpu_s": {
            "sampling": cpu["sampling"],
            "reference": cpu["reference"],
            "rollout_other": cpu["rollout"] - cpu["sampling"] - cpu["reference"],
            "policy": cpu["train_steps"] - cpu["rollout"],
            "optimizer": cpu["optimizer"],
            "step": cpu["train_steps"] + cpu["optimizer"],
        },
        "load_average": {"start": load_average_start, "end": os.getloadavg()},
        "peak_after_sampling": peaks.get("after_sampling"),
        "peak_after_rollout": peaks.get("after_rollout"),
        "peak_after_policy": peaks.get("after_policy"),
        "peak_rss": end["VmHWM"],
        "ru_maxrss": ru_maxrss,
        "rss_end": end["VmRSS"],
        "saved_for_backward_bytes": saved["max_bytes"],
        "checkpoint_inputs_bytes": (cfg.num_hidden_layers * tokens * cfg.hidden_size * 4) if args.gc else 0,
        "trl_step_time": step_log.get("step_time"),
        "loss": step_log.get("loss"),
        "versions": {
            "python": sys.version.split()[0],
            "torch": torch.__version__,
            "transformers": transformers.__version__,
            "peft": peft.__version__,
            "trl": trl.__version__,
            "datasets": datasets.__version__,
        },
    }


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", choices=sorted(PRESETS), default="0.5b")
    p.add_argument("--gc", action="store_true", help="gradient checkpointing")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--prompts", type=int, default=4)
    p.add_argument("--k", type=int, default=4)
    p.add_argument("--prompt-tokens", type=int, default=64)
    p.add_argument("--new-tokens", type=int, default=128)
    p.add_argument("--model-dir", default=None, help="an existing HF model dir to load instead of the cached one")
    p.add_argument("--make-model", nargs=2, metavar=("PRESET", "DIR"), help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.make_model:
        make_model(args.make_model[0], args.make_model[1])
        return
    result = run(args)
    sys.stdout.flush()
    print(json.dumps(result), flush=True)


if __name__ == "__main__":
    main()
