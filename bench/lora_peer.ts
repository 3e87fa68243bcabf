/**
 * The memory benchmark's peer (issue 12): TRL's GRPOTrainer + PEFT LoRA on PyTorch CPU, one GRPO step on randomly
 * initialised models with the exact Qwen2.5-0.5B / 1.5B-Instruct configs, the same shape as `bench/memory.ts`
 * (4 prompts × K = 4, `MAXENT_BENCH_PROMPT_TOKENS` (default 64) + `MAXENT_BENCH_NEW_TOKENS` (default 128) tokens, LoRA
 * r = 16 α 32 dropout 0.05 on q/k/v/o/gate/up/down, β = 0.04 against the base with adapters disabled, 4 micro-batches
 * of one group, clip + AdamW), with gradient checkpointing off and on. The work is `bench/trl_peer.py`, one process per
 * case (so each VmHWM is its own), run one after another.
 *
 * Needs a `python3` (or `MAXENT_TRL_PYTHON`) that imports trl, peft and torch (`pip install trl` from the local
 * mirror); without one the suite reports a single "skipped" row and says why.
 *
 * Environment: `MAXENT_BENCH_LORA_PEER` a comma list of cases (default all: 0.5b, 0.5b-gc, 1.5b, 1.5b-gc; the 1.5B
 * cases take 30 minutes each on a busy 2-core box; `tiny` and `tiny-gc` are ~1-minute smoke runs of the same code),
 * `MAXENT_TRL_THREADS` torch threads (default 2).
 *
 * Usage: `deno task bench lora_peer` or `MAXENT_BENCH_LORA_PEER=0.5b deno task bench lora_peer`.
 */
import type { Report } from "./report.ts";

const CASES = ["0.5b", "0.5b-gc", "1.5b", "1.5b-gc"] as const;
/** Not run by default: a short smoke run of the same code path (real vocabulary, 2 tiny layers). */
const SMOKE = ["tiny", "tiny-gc"] as const;
type CaseName = typeof CASES[number] | typeof SMOKE[number];
const GB = 1e9;

/** What `bench/trl_peer.py` prints (bytes and seconds). */
interface PeerResult {
  model: string;
  gradient_checkpointing: boolean;
  prompts: number;
  k: number;
  prompt_tokens: number;
  new_tokens: number;
  mean_completion_length: number | null;
  threads: number;
  params: number;
  trainable: number;
  weight_bytes: number;
  rss_before_load: number;
  load_s: number;
  peak_after_load: number;
  sampling_s: number;
  reference_s: number;
  rollout_other_s: number;
  policy_s: number;
  optimizer_s: number;
  step_s: number;
  peak_rss: number;
  saved_for_backward_bytes: number;
  checkpoint_inputs_bytes: number;
  /** Process CPU seconds (all threads) of the same phases: fairer than wall time on a loaded machine. */
  cpu_s?: Record<"sampling" | "reference" | "rollout_other" | "policy" | "optimizer" | "step", number>;
  load_average?: { start: number[]; end: number[] };
  versions: Record<string, string>;
}

/** Why `python` cannot run the peer, or null when it can. */
async function missing(python: string): Promise<string | null> {
  try {
    const out = await new Deno.Command(python, {
      args: ["-c", "import trl, peft, torch"],
      stdout: "null",
      stderr: "piped",
    }).output();
    if (out.success) return null;
    const last = new TextDecoder().decode(out.stderr).trim().split("\n").pop() ?? "";
    return `${python} cannot import trl, peft, torch (${last}); install with \`${python} -m pip install trl peft\``;
  } catch (e) {
    return `${python} not runnable: ${(e as Error).message}`;
  }
}

/** Runs the lora_peer suite: each case in its own `python3 bench/trl_peer.py` process. */
export async function run(report: Report): Promise<void> {
  const python = Deno.env.get("MAXENT_TRL_PYTHON") ?? "python3";
  const why = await missing(python);
  if (why) {
    console.error(`lora_peer: skipped: ${why}`);
    report({ name: "skipped (TRL + PEFT peer not available)", value: NaN, unit: "", detail: why });
    return;
  }
  const only = Deno.env.get("MAXENT_BENCH_LORA_PEER");
  const cases = only ? only.split(",") as CaseName[] : [...CASES];
  const script = new URL("./trl_peer.py", import.meta.url).pathname;
  const common = [
    "--prompt-tokens",
    Deno.env.get("MAXENT_BENCH_PROMPT_TOKENS") ?? "64",
    "--new-tokens",
    Deno.env.get("MAXENT_BENCH_NEW_TOKENS") ?? "128",
    "--threads",
    Deno.env.get("MAXENT_TRL_THREADS") ?? "2",
  ];
  for (const c of cases) {
    if (![...CASES, ...SMOKE].includes(c)) {
      throw new Error(`MAXENT_BENCH_LORA_PEER: unknown case ${c}; known: ${[...CASES, ...SMOKE].join(", ")}`);
    }
    const [model, gc] = c.split("-");
    const p = await new Deno.Command(python, {
      args: [script, "--model", model, ...(gc ? ["--gc"] : []), ...common],
      stdout: "piped",
      stderr: "piped",
    }).output();
    const line = new TextDecoder().decode(p.stdout).trim().split("\n").findLast((l) => l.startsWith("{"));
    if (!p.success || !line) {
      const err = new TextDecoder().decode(p.stderr).slice(-1500);
      report({ name: `trl ${c}: failed`, value: NaN, unit: "", detail: err.replaceAll("\n", " ").slice(-300) });
      continue;
    }
    const r = JSON.parse(line) as PeerResult;
    const v = r.versions;
    const detail = `TRL GRPOTrainer + PEFT LoRA r=16, ${(r.params / 1e9).toFixed(3)}B params, ` +
      `${(r.trainable / 1e6).toFixed(2)}M trainable; ${r.prompts}×K=${r.k}, ${r.prompt_tokens}+${r.new_tokens} ` +
      `tokens (mean completion ${r.mean_completion_length}), 4 micro-batches, gradient checkpointing ` +
      `${r.gradient_checkpointing ? "on" : "off"}; torch ${v.torch} (${r.threads} threads), transformers ` +
      `${v.transformers}, peft ${v.peft}, trl ${v.trl}`;
    report({ name: `trl ${c}: load (BF16 → f32)`, value: r.load_s, unit: "s", detail });
    report({
      name: `trl ${c}: peak RSS after load`,
      value: r.peak_after_load / GB,
      unit: "GB",
      detail: `f32 weights ${(r.weight_bytes / GB).toFixed(2)} GB; ratio ${
        (r.peak_after_load / r.weight_bytes).toFixed(2)
      }; RSS before load (imports) ${(r.rss_before_load / GB).toFixed(2)} GB`,
    });
    const la = r.load_average
      ? `load average ${r.load_average.start[0].toFixed(1)} → ${r.load_average.end[0].toFixed(1)}`
      : "";
    report({ name: `trl ${c}: step total`, value: r.step_s, unit: "s", detail: `${detail}; ${la}` });
    for (const ph of ["sampling", "reference", "rollout_other", "policy", "optimizer"] as const) {
      const cpu = r.cpu_s ? `CPU ${r.cpu_s[ph].toFixed(1)} s (all threads)` : "";
      report({ name: `trl ${c}: step ${ph.replace("_", " ")}`, value: r[`${ph}_s`], unit: "s", detail: cpu });
    }
    if (r.cpu_s) report({ name: `trl ${c}: step total CPU (all threads)`, value: r.cpu_s.step, unit: "s" });
    report({ name: `trl ${c}: peak RSS`, value: r.peak_rss / GB, unit: "GB", detail });
    const act = r.saved_for_backward_bytes + r.checkpoint_inputs_bytes;
    report({
      name: `trl ${c}: activations (saved for backward, largest micro-batch)`,
      value: act / GB,
      unit: "GB",
      detail: r.gradient_checkpointing ? `incl. ${(r.checkpoint_inputs_bytes / GB).toFixed(2)} GB layer inputs` : "",
    });
    report({
      name: `trl ${c}: (peak RSS − activations) / f32 weights`,
      value: (r.peak_rss - act) / r.weight_bytes,
      unit: "×",
    });
  }
}

if (import.meta.main) {
  await run((r) => console.log(`${r.name}: ${r.value.toFixed(3)} ${r.unit} (${r.detail ?? ""})`));
}
