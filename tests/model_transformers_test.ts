/**
 * Cross-check with Hugging Face transformers (Python, only when `python3 -c "import transformers, torch"` works):
 * checkpoints maxent writes load in transformers unchanged (no missing, unexpected or mismatched keys) and their
 * token log-probs match maxent's to 1e-4, for Qwen2, Llama 3 (rope scaling) and Qwen3, in F32 and BF16; and a
 * `maxent init` directory scored by `maxent score` matches transformers too; and checkpoints transformers writes
 * (`save_pretrained`, its current config.json format) load in maxent with the same log-probs.
 */
import { pythonCanImport } from "./python.ts";
import * as tf from "@tensorflow/tfjs";
import { assertClose, assertEquals } from "./assert.ts";
import { runCli } from "./cli_helpers.ts";
import { parseModelConfig } from "../src/model/config.ts";
import type { HostTensor } from "../src/model/safetensors.ts";
import { CausalLM, expectedTensorShapes } from "../src/model/transformer.ts";

await tf.setBackend("cpu");

const available = await pythonCanImport("transformers", "torch");
if (!available) {
  console.log(
    "note: skipping the transformers cross-check: python3 cannot import transformers and torch " +
      "(pip install torch transformers safetensors)",
  );
}

const PY = `
import json, sys, torch
from transformers import AutoModelForCausalLM
jobs = json.loads(sys.stdin.read())
out = []
for job in jobs:
    m, info = AutoModelForCausalLM.from_pretrained(job["dir"], dtype=torch.float32, output_loading_info=True,
                                                   attn_implementation="eager")
    m.eval()
    bad = {k: list(v) for k, v in info.items() if k in ("missing_keys", "unexpected_keys", "mismatched_keys") and v}
    ids = job["ids"]
    with torch.no_grad():
        logits = m(torch.tensor([ids])).logits[0].double()
    lp = torch.log_softmax(logits, -1)
    out.append({"bad": bad, "logprobs": [lp[t, ids[t + 1]].item() for t in range(len(ids) - 1)]})
print(json.dumps(out))
`;

async function transformersLogProbs(
  jobs: Array<{ dir: string; ids: number[] }>,
): Promise<Array<{ bad: Record<string, string[]>; logprobs: number[] }>> {
  const p = new Deno.Command("python3", { args: ["-c", PY], stdin: "piped", stdout: "piped", stderr: "piped" })
    .spawn();
  const w = p.stdin.getWriter();
  await w.write(new TextEncoder().encode(JSON.stringify(jobs)));
  await w.close();
  const r = await p.output();
  const stdout = new TextDecoder().decode(r.stdout);
  if (!r.success) throw new Error(`python failed: ${new TextDecoder().decode(r.stderr).slice(-2000)}`);
  return JSON.parse(stdout.trim().split("\n").pop()!);
}

function weights(shapes: Map<string, number[]>, seed: number): Map<string, HostTensor> {
  let s = seed >>> 0;
  const r = () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return s / 4294967296 * 2 - 1;
  };
  const m = new Map<string, HostTensor>();
  for (const [name, shape] of shapes) {
    const data = Float32Array.from({ length: shape.reduce((a, b) => a * b, 1) }, () => r());
    for (let i = 0; i < data.length; i++) {
      data[i] = name.endsWith("norm.weight")
        ? 1 + 0.3 * data[i]
        : name.endsWith(".bias")
        ? 0.3 * data[i]
        : 0.3 * data[i];
    }
    m.set(name, { shape, data });
  }
  return m;
}

const BASE = {
  hidden_act: "silu",
  hidden_size: 32,
  intermediate_size: 64,
  num_hidden_layers: 2,
  num_attention_heads: 4,
  num_key_value_heads: 2,
  rms_norm_eps: 1e-6,
  max_position_embeddings: 512,
  vocab_size: 97,
  torch_dtype: "float32",
};

const CONFIGS: Record<string, Record<string, unknown>> = {
  qwen2: {
    ...BASE,
    architectures: ["Qwen2ForCausalLM"],
    model_type: "qwen2",
    rope_theta: 1000000.0,
    tie_word_embeddings: true,
    use_sliding_window: false,
  },
  llama3: {
    ...BASE,
    architectures: ["LlamaForCausalLM"],
    model_type: "llama",
    num_key_value_heads: 1,
    attention_bias: true,
    rope_theta: 500000.0,
    rope_scaling: {
      rope_type: "llama3",
      factor: 8.0,
      low_freq_factor: 1.0,
      high_freq_factor: 4.0,
      original_max_position_embeddings: 64,
    },
    tie_word_embeddings: false,
  },
  qwen3: {
    ...BASE,
    architectures: ["Qwen3ForCausalLM"],
    model_type: "qwen3",
    head_dim: 16,
    attention_bias: false,
    rope_theta: 1000000.0,
    tie_word_embeddings: false,
  },
};

const IDS = [5, 17, 42, 3, 96, 8, 8, 21, 63, 1, 0, 77, 50, 2];

Deno.test({
  name: "transformers loads maxent checkpoints unchanged and its log-probs match (F32 and BF16)",
  ignore: !available,
  fn: async () => {
    const dir = await Deno.makeTempDir({ prefix: "maxent_hf_" });
    try {
      const jobs: Array<{ dir: string; ids: number[] }> = [];
      const ours: number[][] = [];
      for (const [name, raw] of Object.entries(CONFIGS)) {
        const cfg = parseModelConfig(raw, name);
        const model = CausalLM.fromTensors(cfg, weights(expectedTensorShapes(cfg), 3));
        for (const dtype of ["F32", "BF16"] as const) {
          const d = `${dir}/${name}-${dtype}`;
          await model.save(d, { dtype });
          const back = await CausalLM.load(d);
          ours.push(tf.tidy(() =>
            Array.from(
              back.tokenLogProbs(tf.tensor2d([IDS], undefined, "int32"), tf.ones([1, IDS.length])).dataSync(),
            )
          ));
          back.dispose();
          jobs.push({ dir: d, ids: IDS });
        }
        model.dispose();
      }
      const theirs = await transformersLogProbs(jobs);
      for (let i = 0; i < jobs.length; i++) {
        assertEquals(theirs[i].bad, {}, `${jobs[i].dir}: loading info`);
        assertClose(ours[i], theirs[i].logprobs, 1e-4, jobs[i].dir);
      }
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});

Deno.test({
  name: "maxent init + maxent score agree with transformers",
  ignore: !available,
  fn: async () => {
    const dir = await Deno.makeTempDir({ prefix: "maxent_hf_init_" });
    try {
      const ids = [10, 20, 30, 40, 50, 60];
      const archs = ["qwen2", "llama", "qwen3"];
      const ours: number[][] = [];
      for (const arch of archs) {
        const d = `${dir}/${arch}`;
        const init = await runCli([
          "init",
          d,
          "--arch",
          arch,
          "--layers",
          "2",
          "--hidden",
          "32",
          "--heads",
          "4",
          "--kv-heads",
          "2",
          "--intermediate",
          "48",
          "--seed",
          "5",
        ]);
        assertEquals(init.code, 0, init.err);
        const s = await runCli(["score", "--model", d, "--ids", ids.join(","), "--json", "--backend", "cpu"]);
        assertEquals(s.code, 0, s.err);
        ours.push(JSON.parse(s.out).logprobs);
      }
      const theirs = await transformersLogProbs(archs.map((a) => ({ dir: `${dir}/${a}`, ids })));
      for (let i = 0; i < archs.length; i++) {
        assertEquals(theirs[i].bad, {});
        assertClose(ours[i], theirs[i].logprobs, 1e-4, archs[i]);
      }
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});

const PY_WRITE = `
import json, sys, torch
from transformers import AutoConfig, AutoModelForCausalLM
jobs = json.loads(sys.stdin.read())
out = []
torch.manual_seed(0)
for job in jobs:
    kw = dict(job["config"])
    kw.pop("architectures", None)
    cfg = AutoConfig.for_model(kw.pop("model_type"), **kw)
    m = AutoModelForCausalLM.from_config(cfg, attn_implementation="eager").float()
    with torch.no_grad():
        for name, p in m.named_parameters():
            if name.endswith("norm.weight"):
                p.copy_(1 + 0.3 * (torch.rand_like(p) * 2 - 1))
            else:
                p.copy_(0.3 * (torch.rand_like(p) * 2 - 1))
    m.eval()
    m.save_pretrained(job["dir"], safe_serialization=True)
    ids = job["ids"]
    with torch.no_grad():
        logits = m(torch.tensor([ids])).logits[0].double()
    lp = torch.log_softmax(logits, -1)
    out.append([lp[t, ids[t + 1]].item() for t in range(len(ids) - 1)])
print(json.dumps(out))
`;

Deno.test({
  name: "checkpoints written by transformers (save_pretrained) load in maxent with the same log-probs",
  ignore: !available,
  fn: async () => {
    const dir = await Deno.makeTempDir({ prefix: "maxent_hf_write_" });
    try {
      const names = Object.keys(CONFIGS);
      const jobs = names.map((n) => ({ dir: `${dir}/${n}`, config: CONFIGS[n], ids: IDS }));
      const p = new Deno.Command("python3", {
        args: ["-c", PY_WRITE],
        stdin: "piped",
        stdout: "piped",
        stderr: "piped",
      })
        .spawn();
      const w = p.stdin.getWriter();
      await w.write(new TextEncoder().encode(JSON.stringify(jobs)));
      await w.close();
      const r = await p.output();
      if (!r.success) throw new Error(`python failed: ${new TextDecoder().decode(r.stderr).slice(-2000)}`);
      const theirs = JSON.parse(new TextDecoder().decode(r.stdout).trim().split("\n").pop()!) as number[][];
      for (let i = 0; i < names.length; i++) {
        const model = await CausalLM.load(jobs[i].dir);
        const ours = tf.tidy(() =>
          Array.from(model.tokenLogProbs(tf.tensor2d([IDS], undefined, "int32"), tf.ones([1, IDS.length])).dataSync())
        );
        model.dispose();
        assertClose(ours, theirs[i], 1e-4, names[i]);
      }
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});
