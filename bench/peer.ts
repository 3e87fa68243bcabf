/**
 * maxent against its PyTorch peer (issue 8) on the bench model (Qwen2, 4 layers, hidden 256, 4/2 heads, FF 1024,
 * vocab 151,936 tied; ~42.8M parameters): forward+backward training tokens/s (batch 8 × 128), sampling tokens/s at
 * K = 8 with a KV cache (64-token prompt, 128 new tokens, top-p 0.9), and one full MaxEnt-GRPO step (P prompts × K
 * candidates sampled together, reference log-probs, policy fwd+bwd of the weighted NLL per group, clip + AdamW).
 * The peer is `bench/torch_peer.py` (PyTorch eager, same config and sizes) run as a subprocess in the same
 * invocation, before maxent in each round, with as many threads as OpenBLAS uses for maxent.
 *
 * Prints the maxent/PyTorch speed ratios, the machine's raw FFI sgemm GFLOP/s at 2048², each phase's model GFLOP/s
 * (forward 2·N_params FLOPs per token + attention, fwd+bwd 3×) as a fraction of that peak, and the peak RSS of both
 * processes (maxent: VmHWM of the Deno process; also the wasm heap, which holds every tensor).
 *
 * Environment: `MAXENT_PEER_ROUNDS` (default 1) repeats torch-then-maxent to give ranges; `MAXENT_PEER_GRPO`
 * "P,K,prompt,new" (default "2,8,64,128"; the full step is "8,8,64,128", ~4× longer); `MAXENT_PEER_PHASES` a comma list of fwdbwd,sampling,memory,grpo (default all; memory = live tensor bytes of a training step under tf.profile, maxent only);
 * `MAXENT_PEER_TORCH2=1` also runs the pyenv `python3` (a newer torch) as a second column; `MAXENT_PEER_PYTHON` the
 * interpreter of the first column (default /usr/bin/python3).
 *
 * GPU (issue 8 item 3): `MAXENT_PEER_BACKEND=webgpu MAXENT_PEER_DEVICE=cuda deno task bench peer` runs maxent on
 * WebGPU and the peer on CUDA (a CUDA torch as `MAXENT_PEER_PYTHON`); the peak is then torch's CUDA sgemm (float32,
 * TF32 off) and tfjs-webgpu's own matMul is reported beside it. Phases that still read GPU tensors synchronously
 * (memory, grpo: the trainer's step) are skipped on webgpu with the reason on stderr.
 *
 * Usage: `deno task bench peer`.
 */
import { trackBuffers } from "./buffers.ts";
import * as tf from "@tensorflow/tfjs";
import process from "node:process";
import { type BackendChoice, initBackend } from "../src/backend/mod.ts";
import { loadBlas } from "../src/backend/blas.ts";
import { MODEL_PRESETS, parseModelConfig } from "../src/model/config.ts";
import type { ModelConfig } from "../src/model/config.ts";
import { CausalLM } from "../src/model/transformer.ts";
import { sampleLocal } from "../src/sampler/local.ts";
import { collectRollouts } from "../src/train/rollout.ts";
import { accumulateGradients, objectiveMicroStep } from "../src/train/objective_step.ts";
import { packBatch } from "../src/train/batch.ts";
import { AdamW, clipCoefficient, globalNorm } from "../src/train/optimizer.ts";
import type { Report } from "./report.ts";
import { BENCH_MAXENT_SETTINGS, benchOptimizer, stepFixture } from "./step_fixture.ts";

const BATCH = 8;
const SEQ = 128;
const K = 8;
const PROMPT = 64;
const NEW = 128;

type Phase = "fwdbwd" | "sampling" | "memory" | "grpo";

interface GrpoTimes {
  sampling_s: number;
  reference_s: number;
  policy_s: number;
  optimizer_s: number;
  total_s: number;
}

/** What one side measured (seconds). */
interface SideResult {
  fwdbwd_s?: number;
  sampling_s?: number;
  /** CPU seconds (all threads) of the same phases: the fairer comparison on a shared, loaded machine. */
  fwdbwd_cpu_s?: number;
  sampling_cpu_s?: number;
  grpo_cpu_s?: number;
  grpo?: GrpoTimes;
  peak_rss_mb: number;
  /** torch on a GPU: float32 sgemm GFLOP/s at 2048² and the peak of allocated GPU memory. */
  sgemm_gflops?: number;
  gpu_peak_mb?: number;
  threads: number | string;
  torch?: string;
  wasm_heap_mb?: number;
  params?: number;
  memory?: TrainMemory;
  memoryCheckpointed?: TrainMemory;
}

/** Tensor buffer bytes of one training step (fwd+bwd of 8 × 128 + AdamW) as the tfjs engine counts them. */
interface TrainMemory {
  /** float32 weights. */
  weights: number;
  /** Live bytes at the end of the forward pass minus those before it: what the tape keeps for the backward. */
  activations: number;
  /** Peak bytes of live tensor buffers over the step (weights, AdamW moments, activations, gradients, temporaries). */
  peak: number;
  /** The same up to the end of the backward pass (before clipping and AdamW). */
  backwardPeak: number;
  /** The largest groups of same-shape buffers live at the peak, e.g. "3 × [151936,256] 445 MB". */
  atPeak: string;
}

function env(name: string): string | undefined {
  try {
    return Deno.env.get(name);
  } catch {
    return undefined;
  }
}

/** Peak resident set of this process (VmHWM), read through `cat` (Deno needs --allow-all to read /proc itself). */
function peakRssMb(): number {
  try {
    const out = new Deno.Command("cat", { args: [`/proc/${Deno.pid}/status`] }).outputSync();
    const kb = /VmHWM:\s*(\d+)\s*kB/.exec(new TextDecoder().decode(out.stdout))?.[1];
    return kb ? Number(kb) / 1024 : NaN;
  } catch {
    return NaN;
  }
}

/** CPU seconds (user + system, all threads of this process) since `from`. */
function cpuSeconds(from: { user: number; system: number }): number {
  const d = process.cpuUsage(from);
  return (d.user + d.system) / 1e6;
}

/** Bytes of the wasm backend's heap (it only grows, so this is its peak), or NaN on another backend. */
function wasmHeapMb(): number {
  // deno-lint-ignore no-explicit-any
  const be = tf.backend() as any;
  const n = be?.wasm?.HEAPU8?.buffer?.byteLength;
  return typeof n === "number" ? n / 2 ** 20 : NaN;
}

/** Best of `reps` tf.matMul calls at n³ on the active backend (GFLOP/s), timed to the end of an async read. */
async function tfjsMatMulGflops(n: number, reps = 3): Promise<number> {
  const a = tf.randomNormal([n, n], 0, 1, "float32", 1), b = tf.randomNormal([n, n], 0, 1, "float32", 2);
  let best = Infinity;
  for (let i = 0; i <= reps; i++) {
    const t0 = performance.now();
    const c = tf.matMul(a, b);
    await c.data();
    c.dispose();
    if (i > 0) best = Math.min(best, performance.now() - t0); // the first call compiles the shader
  }
  tf.dispose([a, b]);
  return (2 * n ** 3) / (best / 1000) / 1e9;
}

/** Best of `reps` raw FFI sgemm calls at n³ (GFLOP/s), 2·n³ FLOPs each. */
function sgemmGflops(n: number, reps = 3): number {
  const { blas } = loadBlas();
  if (!blas) return NaN;
  const a = new Float32Array(n * n).map((_, i) => (i % 7) * 0.1);
  const b = new Float32Array(n * n).map((_, i) => (i % 5) * 0.1);
  const c = new Float32Array(n * n);
  blas.sgemm(false, false, n, n, n, 1, a, b, 0, c);
  let best = Infinity;
  for (let i = 0; i < reps; i++) {
    const t0 = performance.now();
    blas.sgemm(false, false, n, n, n, 1, a, b, 0, c);
    best = Math.min(best, performance.now() - t0);
  }
  return (2 * n ** 3) / (best / 1000) / 1e9;
}

/**
 * Model FLOPs of a forward pass over `tokens` tokens whose attention spans `ctx` keys on average: 2 per weight of
 * every matmul (the tied head included, the embedding lookup not) plus 4·ctx·(heads·headDim) per layer for q·kᵀ and
 * probs·v.
 */
function forwardFlops(c: ModelConfig, tokens: number, ctx: number): number {
  const H = c.hiddenSize, I = c.intermediateSize, d = c.headDim;
  const q = c.numAttentionHeads * d, kv = c.numKeyValueHeads * d;
  const perLayer = H * q + 2 * H * kv + q * H + 3 * H * I;
  const matmulParams = c.numHiddenLayers * perLayer + c.vocabSize * H;
  return tokens * (2 * matmulParams + c.numHiddenLayers * 4 * ctx * q);
}

/** FLOPs of the phases, for GFLOP/s (fwd+bwd = 3 × forward; sampling = prefill + one forward per new token). */
function phaseFlops(c: ModelConfig, grpo: number[]) {
  const [P, G, T0, N] = grpo;
  const sampling = (rows: number, prompts: number) =>
    forwardFlops(c, prompts * T0, (T0 + 1) / 2) + forwardFlops(c, rows * N, T0 + N / 2);
  const seqTokens = P * G * (T0 + N - 1);
  return {
    fwdbwd: 3 * forwardFlops(c, BATCH * (SEQ - 1), (SEQ + 1) / 2),
    sampling: forwardFlops(c, PROMPT, (PROMPT + 1) / 2) + forwardFlops(c, K * NEW, PROMPT + NEW / 2),
    grpoSampling: sampling(P * G, P),
    grpoReference: forwardFlops(c, seqTokens, (T0 + N) / 2),
    grpoPolicy: 3 * forwardFlops(c, seqTokens, (T0 + N) / 2),
  };
}

/** Runs the PyTorch peer; returns its JSON or null (with the reason on stderr) when it cannot run. */
async function runTorch(python: string, args: Record<string, unknown>): Promise<SideResult | null> {
  const script = new URL("./torch_peer.py", import.meta.url).pathname;
  try {
    const out = await new Deno.Command(python, {
      args: [script, JSON.stringify(args)],
      stdout: "piped",
      stderr: "piped",
    }).output();
    const text = new TextDecoder().decode(out.stdout).trim().split("\n").pop() ?? "";
    if (!out.success) throw new Error(new TextDecoder().decode(out.stderr).trim().split("\n").slice(-3).join(" | "));
    return JSON.parse(text) as SideResult;
  } catch (e) {
    console.error(`peer bench: ${python} bench/torch_peer.py failed: ${(e as Error).message}`);
    return null;
  }
}

/** maxent's side of one round. */
async function runMaxent(config: ModelConfig, phases: Phase[], grpo: number[]): Promise<SideResult> {
  const result: SideResult = { peak_rss_mb: NaN, threads: "" };
  const model = CausalLM.random(config, 0);
  if (phases.includes("fwdbwd")) {
    const rows = Array.from(
      { length: BATCH },
      (_, b) => Array.from({ length: SEQ }, (_, t) => (b * 7919 + t * 104729) % config.vocabSize),
    );
    const ids = tf.tensor2d(rows, [BATCH, SEQ], "int32");
    const mask = tf.ones([BATCH, SEQ]) as tf.Tensor2D;
    const once = async () => {
      const c0 = process.cpuUsage();
      const t0 = performance.now();
      const { value, grads } = tf.variableGrads(() => tf.sum(model.tokenLogProbs(ids, mask)) as tf.Scalar);
      await value.data(); // (webgpu has no synchronous read; the queue is in order, so the gradients are done too)
      tf.dispose([value, ...Object.values(grads)]);
      return [(performance.now() - t0) / 1000, cpuSeconds(c0)];
    };
    await once(); // warm-up
    const runs = [await once(), await once()];
    result.fwdbwd_s = (runs[0][0] + runs[1][0]) / 2;
    result.fwdbwd_cpu_s = (runs[0][1] + runs[1][1]) / 2;
    tf.dispose([ids, mask]);
  }
  if (phases.includes("sampling")) {
    const prompt = Array.from({ length: PROMPT }, (_, t) => (t * 104729) % config.vocabSize);
    const tokenizer = { eosTokenIds: [-1], padTokenId: 0, decode: (ids: number[]) => ids.join(" ") };
    const params = { temperature: 1, topP: 0.9, topK: 0, minP: 0, repetitionPenalty: 1, maxTokens: NEW, seed: 1 };
    await sampleLocal(model, tokenizer, { promptIds: [prompt], k: 1, params: { ...params, maxTokens: 4 } });
    const times: number[] = [], cpu: number[] = [];
    for (let i = 0; i < 2; i++) {
      const c0 = process.cpuUsage();
      const t0 = performance.now();
      await sampleLocal(model, tokenizer, { promptIds: [prompt], k: K, params: { ...params, seed: 1 + i } });
      times.push((performance.now() - t0) / 1000);
      cpu.push(cpuSeconds(c0));
    }
    result.sampling_s = (times[0] + times[1]) / 2;
    result.sampling_cpu_s = (cpu[0] + cpu[1]) / 2;
  }
  try {
    if (phases.includes("memory")) {
      result.memory = await trainMemory(model);
      // the same step with gradient checkpointing (each decoder layer recomputed in the backward pass)
      model.gradientCheckpointing = true;
      result.memoryCheckpointed = await trainMemory(model);
      model.gradientCheckpointing = false;
    }
    if (phases.includes("grpo")) {
      const c0 = process.cpuUsage();
      result.grpo = await grpoStep(model, config, grpo);
      result.grpo_cpu_s = cpuSeconds(c0);
    }
  } catch (e) {
    // webgpu: the trainer's step still reads GPU tensors synchronously (src/backend/webgpu.ts names the fix)
    if (!(e instanceof Error && e.message.startsWith("webgpu: synchronous read"))) throw e;
    console.error(`peer bench: skipping maxent's memory/grpo phases on webgpu: ${e.message}`);
  }
  result.params = model.parameterCount();
  model.dispose();
  result.wasm_heap_mb = wasmHeapMb();
  result.peak_rss_mb = peakRssMb();
  return result;
}

/**
 * One training step as the trainer takes it (fwd+bwd of the mean NLL of 8 × 128 tokens, the global gradient norm,
 * and `AdamW.step` with the clipping coefficient folded into its fused update) with its buffer bytes tracked.
 */
async function trainMemory(model: CausalLM): Promise<TrainMemory> {
  const config = model.config;
  const params = new Map<string, tf.Variable>();
  for (const [name, v] of model.weights) if (v.trainable) params.set(name, v);
  const optimizer = new AdamW(params, { beta1: 0.9, beta2: 0.999, epsilon: 1e-8, weightDecay: 0 });
  const rows = Array.from(
    { length: BATCH },
    (_, b) => Array.from({ length: SEQ }, (_, t) => (b * 31 + t * 104729) % config.vocabSize),
  );
  const ids = tf.tensor2d(rows, [BATCH, SEQ], "int32");
  const mask = tf.ones([BATCH, SEQ]) as tf.Tensor2D;
  let before = 0, afterForward = 0, backwardPeak = 0;
  const bytes = trackBuffers(); // after the moments are allocated
  try {
    const { value, grads } = tf.variableGrads(() => {
      before = bytes.live();
      const loss = tf.neg(tf.mean(model.tokenLogProbs(ids, mask))) as tf.Scalar;
      afterForward = bytes.live();
      return loss;
    });
    value.dispose();
    backwardPeak = bytes.peak();
    const byName = new Map<string, tf.Tensor>();
    for (const [name, v] of params) byName.set(name, grads[v.name]);
    optimizer.step(byName, 1e-5, clipCoefficient(await globalNorm(byName), 1));
    for (const g of byName.values()) g.dispose();
  } finally {
    bytes.stop();
  }
  tf.dispose([ids, mask]);
  optimizer.dispose();
  // live before the step: the weights and two AdamW moments (ids and mask are a few kB)
  const weights = 4 * model.parameterCount();
  return {
    weights,
    activations: afterForward - before,
    peak: 3 * weights + bytes.peak(),
    backwardPeak: 3 * weights + backwardPeak,
    atPeak: bytes.atPeak(),
  };
}

/** One MaxEnt-GRPO step as the trainer runs it, micro-batch = one group of K, timed by phase. */
async function grpoStep(policy: CausalLM, config: ModelConfig, grpo: number[]): Promise<GrpoTimes> {
  const [P, G, T0, N] = grpo;
  const reference = policy.frozenCopy();
  const optimizer = benchOptimizer(policy);
  const { tokenizer, rewards, prompts, examples } = stepFixture(config.vocabSize, P, T0);
  const generation = { temperature: 1, topP: 0.9, topK: 0, minP: 0, repetitionPenalty: 1, maxTokens: N, seed: 1 };
  const settings = BENCH_MAXENT_SETTINGS;
  const t0 = performance.now();
  const groups = await collectRollouts(
    { kind: "local", model: policy },
    tokenizer,
    rewards,
    examples,
    prompts,
    prompts.map((_, p) => p),
    G,
    generation,
  );
  const t1 = performance.now();
  for (const g of groups) {
    const batch = packBatch(g.candidates.map(() => g.prompt.ids), g.candidates.map((c) => c.ids), 0);
    const lp = reference.tokenLogProbs(batch.ids, batch.attention);
    await lp.data();
    lp.dispose();
    batch.dispose();
  }
  const t2 = performance.now();
  let sum = new Map<string, tf.Tensor>();
  for (const g of groups) {
    const { grads } = await objectiveMicroStep(policy, null, [g], settings, 1 / P, 0);
    sum = accumulateGradients(sum, grads);
  }
  await Promise.all([...sum.values()].map((g) => g.data()));
  const t3 = performance.now();
  optimizer.step(sum, 1e-5, clipCoefficient(await globalNorm(sum), 1));
  for (const g of sum.values()) g.dispose();
  await policy.trainableVariables()[0].data();
  const t4 = performance.now();
  optimizer.dispose();
  reference.dispose();
  const s = (ms: number) => ms / 1000;
  return {
    sampling_s: s(t1 - t0),
    reference_s: s(t2 - t1),
    policy_s: s(t3 - t2),
    optimizer_s: s(t4 - t3),
    total_s: s(t4 - t0),
  };
}

function range(xs: number[], digits = 2): string {
  const ok = xs.filter((x) => Number.isFinite(x));
  if (ok.length === 0) return "–";
  const lo = Math.min(...ok), hi = Math.max(...ok);
  return lo.toFixed(digits) === hi.toFixed(digits) ? lo.toFixed(digits) : `${lo.toFixed(digits)}–${hi.toFixed(digits)}`;
}

function median(xs: number[]): number {
  const ok = xs.filter((x) => Number.isFinite(x)).sort((a, b) => a - b);
  if (ok.length === 0) return NaN;
  const m = Math.floor(ok.length / 2);
  return ok.length % 2 ? ok[m] : (ok[m - 1] + ok[m]) / 2;
}

/** Runs the peer suite. */
export async function run(report: Report): Promise<void> {
  const info = await initBackend((env("MAXENT_PEER_BACKEND") ?? "wasm") as BackendChoice);
  const device = env("MAXENT_PEER_DEVICE") ?? "cpu";
  const { blas } = loadBlas();
  const threads = blas?.threads ?? 1;
  const config = parseModelConfig(MODEL_PRESETS.bench(), "bench preset");
  const rounds = Math.max(1, Number(env("MAXENT_PEER_ROUNDS") ?? "1") || 1);
  const grpo = (env("MAXENT_PEER_GRPO") ?? "2,8,64,128").split(",").map(Number);
  const phases = (env("MAXENT_PEER_PHASES") ?? "fwdbwd,sampling,memory,grpo").split(",") as Phase[];
  const pythons = [env("MAXENT_PEER_PYTHON") ?? "/usr/bin/python3"];
  if (env("MAXENT_PEER_TORCH2") === "1") pythons.push("python3");
  const torchArgs = {
    threads,
    batch: BATCH,
    seq: SEQ,
    k: K,
    prompt: PROMPT,
    new: NEW,
    grpo,
    micro: grpo[1],
    reps: 2,
    phases,
    device,
  };
  const flops = phaseFlops(config, grpo);

  const peaks: number[] = [];
  const torchRuns: SideResult[][] = pythons.map(() => []);
  const maxentRuns: SideResult[] = [];
  const webgpuPeaks: number[] = [];
  for (let r = 0; r < rounds; r++) {
    peaks.push(sgemmGflops(2048));
    if (info.name === "webgpu") webgpuPeaks.push(await tfjsMatMulGflops(2048));
    for (let p = 0; p < pythons.length; p++) {
      const t = await runTorch(pythons[p], torchArgs);
      if (t) torchRuns[p].push(t);
    }
    maxentRuns.push(await runMaxent(config, phases, grpo));
  }
  let peak = median(peaks);
  report({
    name: "sgemm 2048², raw FFI",
    value: peak,
    unit: "GFLOP/s",
    detail: `OpenBLAS ${threads} threads; ${range(peaks, 0)} over ${rounds} round(s)`,
  });
  if (webgpuPeaks.length > 0) {
    report({ name: "tf.matMul 2048², webgpu", value: median(webgpuPeaks), unit: "GFLOP/s", detail: info.detail });
  }
  const cudaPeaks = torchRuns[0].map((t) => t.sgemm_gflops ?? NaN).filter(Number.isFinite);
  if (cudaPeaks.length > 0) {
    // on a GPU the CPU's sgemm says nothing: fractions below are of the GPU's float32 sgemm as torch reaches it
    peak = median(cudaPeaks);
    report({ name: `sgemm 2048², torch ${device}`, value: peak, unit: "GFLOP/s", detail: "float32, TF32 off" });
  }
  const torchDesc = torchRuns.map((runs, p) =>
    runs.length ? `torch ${runs[0].torch} (${pythons[p]}, ${runs[0].threads} threads)` : `${pythons[p]}: failed`
  );
  const fusedHead = tf.getKernel("MaxentLmHeadLogProbs", tf.getBackend()) !== undefined;
  const maxentDesc = `maxent ${info.detail}, fused LM head ${fusedHead ? "on" : "off"}`;

  // one row per phase: maxent tok/s, ratio range against each torch, GFLOP/s and share of the sgemm peak
  const phaseRows: Array<
    {
      name: string;
      unit: string;
      tokens: number;
      flops: number;
      get: (s: SideResult) => number | undefined;
      cpu: (s: SideResult) => number | undefined;
    }
  > = [
    {
      name: `fwd+bwd training, ${BATCH}×${SEQ}`,
      unit: "tok/s",
      tokens: BATCH * SEQ,
      flops: flops.fwdbwd,
      get: (s) => s.fwdbwd_s,
      cpu: (s) => s.fwdbwd_cpu_s,
    },
    {
      name: `sampling K=${K}, ${PROMPT}+${NEW} tokens, KV cache`,
      unit: "tok/s",
      tokens: K * NEW,
      flops: flops.sampling,
      get: (s) => s.sampling_s,
      cpu: (s) => s.sampling_cpu_s,
    },
    {
      name: `MaxEnt-GRPO step, ${grpo[0]} prompts × K=${grpo[1]}, ${grpo[2]}+${grpo[3]} tokens`,
      unit: "tok/s",
      tokens: grpo[0] * grpo[1] * (grpo[2] + grpo[3]),
      flops: flops.grpoSampling + flops.grpoReference + flops.grpoPolicy,
      get: (s) => s.grpo?.total_s,
      cpu: (s) => s.grpo_cpu_s,
    },
  ];
  for (const row of phaseRows) {
    const ms = maxentRuns.map(row.get).filter((x): x is number => x !== undefined);
    if (ms.length === 0) continue;
    const gflops = ms.map((s) => row.flops / s / 1e9);
    const ratios = torchRuns.map((runs) =>
      runs.map((t, i) => {
        const ts = row.get(t);
        return ts === undefined || maxentRuns[i] === undefined ? NaN : ts / row.get(maxentRuns[i])!;
      })
    );
    const cpuRatios = torchRuns.map((runs) =>
      runs.map((t, i) => {
        const tc = row.cpu(t), mc = maxentRuns[i] ? row.cpu(maxentRuns[i]) : undefined;
        return tc === undefined || mc === undefined ? NaN : tc / mc;
      })
    );
    report({
      name: `${row.name}: maxent/PyTorch speed`,
      value: median(ratios[0] ?? []),
      unit: "×",
      detail: ratios.map((rs, p) => `wall ${range(rs)}, CPU-time ${range(cpuRatios[p])} vs ${torchDesc[p]}`)
        .join("; ") + `; maxent LM head ${fusedHead ? "fused" : "on tfjs ops"}`,
    });
    report({
      name: `${row.name}: maxent`,
      value: row.tokens / median(ms),
      unit: row.unit,
      detail: `${range(gflops, 0)} GFLOP/s model FLOPs = ${
        range(gflops.map((g) => (100 * g) / peak), 0)
      }% of sgemm peak`,
    });
    torchRuns.forEach((runs, p) => {
      const ts = runs.map(row.get).filter((x): x is number => x !== undefined);
      if (ts.length === 0) return;
      const g = ts.map((s) => row.flops / s / 1e9);
      report({
        name: `${row.name}: PyTorch`,
        value: row.tokens / median(ts),
        unit: row.unit,
        detail: `${torchDesc[p]}; ${range(g, 0)} GFLOP/s = ${range(g.map((x) => (100 * x) / peak), 0)}% of sgemm peak`,
      });
    });
  }
  // GRPO phases of maxent vs torch
  if (maxentRuns[0]?.grpo) {
    const parts: Array<[keyof GrpoTimes, string, number]> = [
      ["sampling_s", "sampling", flops.grpoSampling],
      ["reference_s", "reference log-probs", flops.grpoReference],
      ["policy_s", "policy fwd+bwd", flops.grpoPolicy],
      ["optimizer_s", "clip + AdamW", 0],
    ];
    for (const [key, what, f] of parts) {
      const ms = maxentRuns.map((s) => s.grpo![key]);
      const ratios = torchRuns.map((runs) =>
        runs.map((t, i) => (t.grpo ? t.grpo[key] / maxentRuns[i].grpo![key] : NaN))
      );
      const g = f ? `; maxent ${range(ms.map((s) => f / s / 1e9 / peak * 100), 0)}% of sgemm peak` : "";
      report({
        name: `GRPO step: ${what}: maxent/PyTorch speed`,
        value: median(ratios[0] ?? []),
        unit: "×",
        detail: `maxent ${range(ms)} s; ` + ratios.map((rs, p) => `${range(rs)} vs ${torchDesc[p]}`).join("; ") + g,
      });
    }
  }
  const weightMb = (4 * (maxentRuns[0]?.params ?? NaN)) / 2 ** 20;
  report({
    name: "peak RSS, maxent",
    value: median(maxentRuns.map((s) => s.peak_rss_mb)),
    unit: "MB",
    detail: `${maxentDesc}; wasm heap ${range(maxentRuns.map((s) => s.wasm_heap_mb ?? NaN), 0)} MB; f32 weights ${
      weightMb.toFixed(0)
    } MB`,
  });
  // issue 8: training must not need more than 4 × the float32 weights (weights, gradients, two AdamW moments) plus
  // activations; measured on the trainer's step (fused AdamW, clipping folded in, one tied-embedding gradient)
  const mb = (b: number) => b / 2 ** 20;
  for (const [key, what] of [["memory", ""], ["memoryCheckpointed", ", gradient checkpointing"]] as const) {
    const mem = maxentRuns.map((s) => s[key]).filter((m): m is TrainMemory => m !== undefined);
    const budget = mem.map((m) => 4 * m.weights + m.activations);
    if (mem.length === 0) continue;
    report({
      name: `training step memory (fwd+bwd ${BATCH}×${SEQ}, trainer's step${what}): peak / (4·weights + activations)`,
      value: median(mem.map((m, i) => m.peak / budget[i])),
      unit: "×",
      detail: `peak ${range(mem.map((m) => mb(m.peak)), 0)} MB (to the end of the backward ${
        range(mem.map((m) => mb(m.backwardPeak)), 0)
      } MB); weights ${mb(mem[0].weights).toFixed(0)} MB, activations kept for the backward ${
        range(mem.map((m) => mb(m.activations)), 0)
      } MB, budget ${range(budget.map(mb), 0)} MB; live at the peak besides weights and moments: ${mem[0].atPeak}`,
    });
  }
  torchRuns.forEach((runs, p) => {
    if (runs.length === 0) return;
    report({
      name: "peak RSS, PyTorch",
      value: median(runs.map((s) => s.peak_rss_mb)),
      unit: "MB",
      detail: torchDesc[p],
    });
    const gpuMb = runs.map((s) => s.gpu_peak_mb ?? NaN).filter(Number.isFinite);
    if (gpuMb.length > 0) {
      report({ name: "peak GPU memory allocated, PyTorch", value: median(gpuMb), unit: "MB", detail: torchDesc[p] });
    }
  });
}

if (import.meta.main) {
  const { machineLine } = await import("./report.ts");
  console.log(machineLine());
  await run((r) => console.log(`${r.name}: ${r.value.toFixed(3)} ${r.unit} (${r.detail ?? ""})`));
}
