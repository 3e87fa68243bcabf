/**
 * Memory and time of one MaxEnt-GRPO step at the reference recipe's model sizes: randomly initialised models with the
 * exact Qwen2.5-1.5B and Qwen2.5-0.5B configs (`maxent init --preset …`, written as BF16 like the Hub checkpoints and
 * streamed back to float32), LoRA r = 16 on every projection (reference = the base with adapters off) and, for 0.5B,
 * full fine-tuning (reference = a frozen copy). cpu backend (+ FFI BLAS): the wasm heap (4 GiB) cannot hold these.
 *
 * Each case runs in its own process so its peak RSS (VmHWM) is its own. A step: sample K = 4 candidates for 4 prompts
 * (`MAXENT_BENCH_PROMPT_TOKENS`-token prompts, default 64, `MAXENT_BENCH_NEW_TOKENS` new tokens, default 128, no end
 * token), then the objective in 4 micro-batches of one group (reference log-probs + policy forward/backward with
 * gradient checkpointing unless `MAXENT_BENCH_CHECKPOINTING=0`, gradients accumulated), clip + AdamW.
 * Reported: load time and peak RSS after loading, step time by phase, peak RSS, the float32 weight bytes, the live
 * tensor bytes (distinct buffers) at the end of the largest forward pass minus those before the step (activations kept
 * for backward), and (peak RSS − activations) / weights, the issue's target ratio (≤ 1.3).
 *
 * Where the memory goes: each phase (sampling, each micro-batch's reference and policy pass, AdamW) gets its own peak
 * RSS (VmHWM reset through /proc/self/clear_refs at each boundary) next to the peak and final bytes of live tensor
 * buffers, so RSS − live tensors is the runtime's share (V8 heap, arrays the GC has not reclaimed yet, allocator
 * slack). With `MAXENT_BENCH_GC=1` the child runs with `--expose-gc` and collects garbage at every boundary, reporting
 * the RSS before and after: the difference is GC lag.
 *
 * Usage: `deno task bench memory` (all cases) or `MAXENT_BENCH_MEMORY=1.5b-lora deno task bench memory`.
 */
import { trackBuffers } from "./buffers.ts";
import { BENCH_MAXENT_SETTINGS, stepFixture } from "./step_fixture.ts";
import type { Report } from "./report.ts";

const CASES = ["0.5b-lora", "0.5b-full", "1.5b-lora"] as const;
type CaseName = typeof CASES[number];
const PROMPTS = 4;
const K = 4;
const PROMPT_TOKENS = Number(Deno.env.get("MAXENT_BENCH_PROMPT_TOKENS") ?? 64);

interface ChildResult {
  case: CaseName;
  params: number;
  trainable: number;
  weightBytes: number;
  loadSeconds: number;
  rssAfterLoad: number;
  peakAfterLoad: number;
  sampling: number;
  reference: number;
  policy: number;
  optimizer: number;
  total: number;
  peakRss: number;
  forwardLiveBytes: number;
  /** Live tensor bytes before the step: weights, reference copy (full), adapters, AdamW moments. */
  stateBytes: number;
  newTokens: number;
  backend: string;
  checkpointing: boolean;
  /** Peak of live tensor buffer bytes over the step. */
  livePeak: number;
  phases: PhaseMemory[];
}

/** Memory of one phase of the step (bytes). */
interface PhaseMemory {
  name: string;
  seconds: number;
  /** Peak RSS during the phase (VmHWM since the previous boundary). */
  peakRss: number;
  /** RSS at the end of the phase. */
  endRss: number;
  /** Peak and end bytes of distinct live tensor buffers. */
  livePeak: number;
  liveEnd: number;
  /** RSS right after a full garbage collection at the end of the phase (MAXENT_BENCH_GC=1 only). */
  afterGcRss?: number;
}

/** Peak and current resident set size of this process (bytes), from /proc/self/status. */
function rss(): { peak: number; now: number } {
  const s = Deno.readTextFileSync("/proc/self/status");
  const kb = (key: string) => Number(new RegExp(`^${key}:\\s+(\\d+) kB`, "m").exec(s)?.[1] ?? NaN) * 1024;
  return { peak: kb("VmHWM"), now: kb("VmRSS") };
}

async function ensureModel(preset: string, dir: string): Promise<void> {
  try {
    await Deno.stat(`${dir}/config.json`);
    return;
  } catch { /* build it */ }
  // a separate process: `maxent init` holds the random float32 weights on the host while writing
  const p = await new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "-A",
      "--no-prompt",
      new URL("../cli.ts", import.meta.url).pathname,
      "init",
      dir,
      "--preset",
      preset,
      "--dtype",
      "bf16",
    ],
    stdout: "null",
    stderr: "piped",
  }).output();
  if (!p.success) throw new Error(`maxent init ${preset} failed: ${new TextDecoder().decode(p.stderr).slice(-2000)}`);
}

/** The measured case, in this (child) process. */
async function child(name: CaseName, modelDir: string): Promise<ChildResult> {
  const tf = await import("@tensorflow/tfjs");
  const { initBackend } = await import("../src/backend/mod.ts");
  const { CausalLM } = await import("../src/model/transformer.ts");
  const { adapterFreeView, DEFAULT_TARGET_MODULES, LoraAdapters, namedTrainableVariables } = await import(
    "../src/model/lora.ts"
  );
  const { collectRollouts } = await import("../src/train/rollout.ts");
  const { objectiveMicroStep } = await import("../src/train/objective_step.ts");
  const { AdamW, clipCoefficient, globalNorm } = await import("../src/train/optimizer.ts");
  const newTokens = Number(Deno.env.get("MAXENT_BENCH_NEW_TOKENS") ?? 128);
  const info = await initBackend("cpu");
  const lora = name.endsWith("lora");
  const checkpointing = Deno.env.get("MAXENT_BENCH_CHECKPOINTING") !== "0";
  const bytes = trackBuffers();
  const gc = (globalThis as { gc?: () => void }).gc;

  const t0 = performance.now();
  const policy = await CausalLM.load(modelDir, { trainable: !lora });
  const loadSeconds = (performance.now() - t0) / 1000;
  const afterLoad = rss();
  const params = policy.parameterCount();
  const adapters = lora
    ? LoraAdapters.create(policy, {
      r: 16,
      alpha: 32,
      dropout: 0.05,
      targetModules: DEFAULT_TARGET_MODULES,
      baseModel: modelDir,
    }, 42).attach(policy)
    : null;
  const reference = lora ? adapterFreeView(policy) : policy.frozenCopy();
  policy.gradientCheckpointing = checkpointing;
  const named = namedTrainableVariables(policy);
  let trainable = 0;
  for (const v of named.values()) trainable += v.size;
  const optimizer = new AdamW(named, { beta1: 0.9, beta2: 0.99, epsilon: 1e-6, weightDecay: 0 });

  // live tensor bytes at the end of each policy forward under a gradient tape (= weights + saved activations)
  let forwardLiveBytes = 0;
  // (a function of `this`: the reference view inherits it and must keep running as itself)
  const orig = CausalLM.prototype.tokenLogProbs;
  policy.tokenLogProbs = function (this: typeof policy, ids, mask) {
    const out = orig.call(this, ids, mask);
    if (tf.engine().isTapeOn()) forwardLiveBytes = Math.max(forwardLiveBytes, bytes.live());
    return out;
  };

  const { tokenizer, rewards, prompts, examples } = stepFixture(policy.config.vocabSize, PROMPTS, PROMPT_TOKENS);
  const generation = { temperature: 1, topP: 1, topK: 0, minP: 0, repetitionPenalty: 1, maxTokens: newTokens, seed: 1 };
  const settings = BENCH_MAXENT_SETTINGS;

  const stateBytes = bytes.live();
  // phase boundaries: per-phase peak RSS (VmHWM reset), live tensor bytes, optional GC
  const phases: PhaseMemory[] = [];
  let livePeak = 0;
  let phaseStart = performance.now();
  const boundary = (phase: string) => {
    const r = rss();
    const m: PhaseMemory = {
      name: phase,
      seconds: (performance.now() - phaseStart) / 1000,
      peakRss: r.peak,
      endRss: r.now,
      livePeak: bytes.peak(),
      liveEnd: bytes.live(),
    };
    livePeak = Math.max(livePeak, m.livePeak);
    if (gc) {
      gc();
      m.afterGcRss = rss().now;
    }
    phases.push(m);
    Deno.writeTextFileSync("/proc/self/clear_refs", "5"); // VmHWM := VmRSS
    bytes.resetPeak();
    phaseStart = performance.now();
  };
  boundary("load + setup");
  const s0 = performance.now();
  const groups = await collectRollouts(
    { kind: "local", model: policy },
    tokenizer,
    // deno-lint-ignore no-explicit-any
    rewards as any,
    examples,
    prompts,
    prompts.map((_, p) => p),
    K,
    generation,
  );
  const s1 = performance.now();
  boundary("sampling");
  // the reference pass alone (as objectiveMicroStep runs it), for its time
  const { packBatch } = await import("../src/train/batch.ts");
  let refMs = 0;
  let grads = new Map<string, import("@tensorflow/tfjs").Tensor>();
  let policyMs = 0;
  for (const g of groups) {
    const r0 = performance.now();
    const batch = packBatch(g.candidates.map(() => g.prompt.ids), g.candidates.map((c) => c.ids), 0);
    tf.tidy(() => reference.tokenLogProbs(batch.ids, batch.attention).dataSync());
    batch.dispose();
    const r1 = performance.now();
    refMs += r1 - r0;
    boundary(`reference ${groups.indexOf(g) + 1}`);
    const r2 = performance.now();
    const { grads: gi } = await objectiveMicroStep(policy, reference, [g], settings, 1 / PROMPTS, 0);
    await Promise.all([...gi.values()].map((x) => x.data()));
    policyMs += performance.now() - r2 - (r1 - r0); // objectiveMicroStep runs the reference again: subtract it
    if (grads.size === 0) grads = gi;
    else {
      for (const [k, x] of gi) {
        const prev = grads.get(k)!;
        grads.set(k, tf.add(prev, x));
        prev.dispose();
        x.dispose();
      }
    }
    boundary(`policy ${groups.indexOf(g) + 1}`);
  }
  const s2 = performance.now();
  optimizer.step(grads, 5e-6, clipCoefficient(await globalNorm(grads), 0.15)); // as the trainer: clipping folded in
  for (const g of grads.values()) g.dispose();
  await [...named.values()][0].data();
  const s3 = performance.now();
  boundary("clip + AdamW");
  const peak = Math.max(afterLoad.peak, ...phases.map((p) => p.peakRss));
  const result: ChildResult = {
    case: name,
    params,
    trainable,
    weightBytes: 4 * params,
    loadSeconds,
    rssAfterLoad: afterLoad.now,
    peakAfterLoad: afterLoad.peak,
    sampling: (s1 - s0) / 1000,
    reference: refMs / 1000,
    policy: policyMs / 1000,
    optimizer: (s3 - s2) / 1000,
    total: (s3 - s0) / 1000,
    peakRss: peak,
    forwardLiveBytes,
    stateBytes,
    newTokens,
    backend: info.detail,
    checkpointing,
    livePeak,
    phases,
  };
  optimizer.dispose();
  reference.dispose();
  adapters?.dispose();
  policy.dispose();
  return result;
}

const GB = 1e9;

/** Runs the memory suite: each case in a child process. */
export async function run(report: Report): Promise<void> {
  const only = Deno.env.get("MAXENT_BENCH_MEMORY");
  const cases = only ? only.split(",") as CaseName[] : [...CASES];
  const root = Deno.env.get("MAXENT_BENCH_MODELS") ?? `${Deno.env.get("TMPDIR") ?? "/tmp"}/maxent-bench-models`;
  for (const c of cases) {
    if (!CASES.includes(c)) throw new Error(`MAXENT_BENCH_MEMORY: unknown case ${c}; known: ${CASES.join(", ")}`);
    const preset = c.startsWith("1.5b") ? "qwen2.5-1.5b" : "qwen2.5-0.5b";
    const dir = `${root}/${preset}-bf16`;
    await ensureModel(preset, dir);
    const p = await new Deno.Command(Deno.execPath(), {
      args: [
        "run",
        "-A",
        "--no-prompt",
        ...(Deno.env.get("MAXENT_BENCH_GC") === "1" ? ["--v8-flags=--expose-gc"] : []),
        new URL(import.meta.url).pathname,
        "--child",
        c,
        dir,
      ],
      stdout: "piped",
      stderr: "piped",
    }).output();
    const out = new TextDecoder().decode(p.stdout);
    const line = out.trim().split("\n").findLast((l) => l.startsWith("{"));
    if (!p.success || !line) {
      const err = new TextDecoder().decode(p.stderr).slice(-1500);
      report({ name: `${c}: failed`, value: NaN, unit: "", detail: err.replaceAll("\n", " ").slice(-300) });
      continue;
    }
    const r = JSON.parse(line) as ChildResult;
    // what the forward keeps for backward (+ gradients accumulated from earlier micro-batches)
    const activations = Math.max(0, r.forwardLiveBytes - r.stateBytes);
    const detail = `${(r.params / 1e9).toFixed(3)}B params, ${(r.trainable / 1e6).toFixed(2)}M trainable; ` +
      `${PROMPTS}×K=${K}, ${PROMPT_TOKENS}+${r.newTokens} tokens, 4 micro-batches; ${r.backend}`;
    report({ name: `${c}: load (BF16 → f32, streamed)`, value: r.loadSeconds, unit: "s", detail });
    report({
      name: `${c}: peak RSS after load`,
      value: r.peakAfterLoad / GB,
      unit: "GB",
      detail: `f32 weights ${(r.weightBytes / GB).toFixed(2)} GB; ratio ${
        (r.peakAfterLoad / r.weightBytes).toFixed(2)
      }`,
    });
    report({ name: `${c}: step total`, value: r.total, unit: "s", detail });
    for (const ph of ["sampling", "reference", "policy", "optimizer"] as const) {
      report({ name: `${c}: step ${ph}`, value: r[ph], unit: "s" });
    }
    report({ name: `${c}: peak RSS`, value: r.peakRss / GB, unit: "GB", detail });
    report({
      name: `${c}: activations (live tensors at forward end − live before the step)`,
      value: activations / GB,
      unit: "GB",
      detail: `live ${(r.forwardLiveBytes / GB).toFixed(2)} GB, before ${(r.stateBytes / GB).toFixed(2)} GB`,
    });
    report({
      name: `${c}: (peak RSS − activations) / f32 weights`,
      value: (r.peakRss - activations) / r.weightBytes,
      unit: "×",
      detail: `target ≤ 1.3 for LoRA; gradient checkpointing ${r.checkpointing ? "on" : "off"}`,
    });
    report({
      name: `${c}: peak live tensor buffers`,
      value: r.livePeak / GB,
      unit: "GB",
      detail: `peak RSS − this = ${((r.peakRss - r.livePeak) / GB).toFixed(2)} GB outside live tensors`,
    });
    const g = (x: number) => (x / GB).toFixed(2);
    for (const ph of r.phases) {
      report({
        name: `${c}: phase ${ph.name}: peak RSS`,
        value: ph.peakRss / GB,
        unit: "GB",
        detail: `${ph.seconds.toFixed(1)} s; live tensors peak ${g(ph.livePeak)} / end ${g(ph.liveEnd)} GB; RSS end ` +
          `${g(ph.endRss)} GB${ph.afterGcRss !== undefined ? `, after gc ${g(ph.afterGcRss)} GB` : ""}`,
      });
    }
  }
}

if (import.meta.main) {
  const i = Deno.args.indexOf("--child");
  if (i >= 0) {
    const r = await child(Deno.args[i + 1] as CaseName, Deno.args[i + 2]);
    console.log(JSON.stringify(r));
  } else {
    await run((r) => console.log(`${r.name}: ${r.value.toFixed(3)} ${r.unit} (${r.detail ?? ""})`));
  }
}
