/**
 * The webgpu backend (Deno's WebGPU; on a CPU-only machine Mesa's lavapipe software adapter) computes what cpu
 * computes for a tiny Qwen2-style model (GQA, q/k/v biases, tied head, left padding): token log-probs, gradients,
 * greedy decoding with the KV cache through the local sampler, and one AdamW training step; it leaks no tensors, and
 * the Deno-specific guards of src/backend/webgpu.ts hold (host-made masks stay readable, a GPU-only dataSync is a
 * clear MaxentError, an oversized binding is refused). And the CLI end to end: 2-step `maxent train` runs of the tiny
 * model (MaxEnt-GRPO, GRPO with LoRA, xDr.GRPO; a checkpoint every step; stop + resume on webgpu), `maxent score` of
 * the result and `maxent sft` give cpu's metrics, weights, log-probs and losses within 1e-4.
 *
 * Both backends run in a subprocess (`deno run` of this same file), so the test process's backend and kernels are
 * untouched (a live webgpu tensor cannot even be moved to another backend synchronously). Ignored, with the reason
 * printed, when no WebGPU adapter exists (`apt-get install mesa-vulkan-drivers libvulkan1` gives a software one).
 */
import * as tf from "@tensorflow/tfjs";
import { assert, assertEquals } from "./assert.ts";

/** What one backend produced, as plain numbers. */
interface BackendRun {
  detail: string;
  logProbs: number[];
  grads: Record<string, number[]>;
  greedy: number[][];
  greedyLogProbs: number[][];
  stepLoss: number;
  afterStep: Record<string, number[]>;
  lossAfterStep: number;
  /** What weight sync sends a `maxent serve` (Hugging Face layout, read asynchronously), after the step. */
  synced: Record<string, number[]>;
  tensorsBefore: number;
  tensorsAfter: number;
}

/** What the subprocess prints (one JSON line). */
interface ParityOutput {
  cpu: BackendRun;
  webgpu: BackendRun;
  guards: { maskAfterUse: number[][]; gpuOnlyDataSync: string; oversized: string };
  seconds: number;
}

// ---------------------------------------------------------------------------------------------------------------
// Subprocess side: `deno run tests/webgpu_test.ts --probe | --parity`
// ---------------------------------------------------------------------------------------------------------------

async function probe(): Promise<string> {
  const gpu = (navigator as unknown as { gpu?: GPU }).gpu;
  if (!gpu) return "no-adapter: navigator.gpu is missing in this Deno";
  const adapter = await gpu.requestAdapter();
  if (!adapter) return "no-adapter: navigator.gpu.requestAdapter() returned null (no Vulkan driver)";
  return "adapter: " + (adapter.info?.description || adapter.info?.vendor || "unknown");
}

async function runOn(backend: "cpu" | "webgpu"): Promise<BackendRun> {
  const { initBackend } = await import("../src/backend/mod.ts");
  const { configJson, parseModelConfig } = await import("../src/model/config.ts");
  const { CausalLM } = await import("../src/model/transformer.ts");
  const { sampleLocal } = await import("../src/sampler/local.ts");
  const { AdamW } = await import("../src/train/optimizer.ts");
  const { samplerWeights } = await import("../src/train/sampler_sync.ts");
  const info = await initBackend(backend);
  const cfg = parseModelConfig(
    configJson({ arch: "qwen2", layers: 2, hidden: 32, heads: 4, kvHeads: 2, intermediate: 48, vocab: 97, tied: true }),
    "webgpu test config",
  );
  const tensorsBefore = tf.memory().numTensors;
  const model = CausalLM.random(cfg, 3);
  const ids = tf.tensor2d([[0, 0, 5, 17, 42, 8, 96, 3], [1, 2, 3, 4, 5, 6, 7, 8]], [2, 8], "int32");
  const mask = tf.tensor2d([[0, 0, 1, 1, 1, 1, 1, 1], [1, 1, 1, 1, 1, 1, 1, 1]], [2, 8], "float32");
  const read = async (t: tf.Tensor) => Array.from(await t.data());

  const lp = model.tokenLogProbs(ids, mask);
  const logProbs = await read(lp);
  lp.dispose();

  // loss = −Σ mask·logp / Σ mask (the padding entries of tokenLogProbs are 0 already)
  const nll = () => tf.neg(tf.div(tf.sum(model.tokenLogProbs(ids, mask)), 13)) as tf.Scalar;
  const vars = model.trainableVariables();
  const { value, grads } = tf.variableGrads(nll, vars);
  const stepLoss = (await read(value))[0];
  const names = new Map([...model.weights].map(([name, v]) => [v.name, name]));
  const byName = new Map<string, tf.Tensor>();
  const gradsOut: Record<string, number[]> = {};
  for (const [vname, g] of Object.entries(grads)) {
    byName.set(names.get(vname)!, g);
    gradsOut[names.get(vname)!] = await read(g);
  }
  const opt = new AdamW(model.weights, { beta1: 0.9, beta2: 0.999, epsilon: 1e-8, weightDecay: 0.01 });
  opt.step(byName, 0.01);
  tf.dispose([value, ...byName.values()]);
  const afterStep: Record<string, number[]> = {};
  for (const [name, v] of model.weights) afterStep[name] = await read(v);
  const after = tf.tidy(nll);
  const lossAfterStep = (await read(after))[0];
  after.dispose();
  const synced: Record<string, number[]> = {};
  for await (const [name, t] of samplerWeights(model, null)) synced[name] = Array.from(t.data);

  // greedy decoding (temperature 0) with the KV cache, two prompts of different lengths, two candidates each
  const tokenizer = { eosTokenIds: [], padTokenId: 0, decode: (t: number[]) => t.join(" ") };
  const params = { temperature: 0, topP: 1, topK: 0, minP: 0, repetitionPenalty: 1, maxTokens: 6, seed: 1 };
  const groups = await sampleLocal(model, tokenizer, { promptIds: [[5, 17, 42], [1, 2, 3, 4, 5]], k: 2, params });
  const cands = groups.flat();

  opt.dispose();
  model.dispose();
  tf.dispose([ids, mask]);
  return {
    detail: info.detail,
    logProbs,
    grads: gradsOut,
    greedy: cands.map((c) => c.ids ?? []),
    greedyLogProbs: cands.map((c) => c.logprobs ?? []),
    stepLoss,
    afterStep,
    lossAfterStep,
    synced,
    tensorsBefore,
    tensorsAfter: tf.memory().numTensors,
  };
}

/** The webgpu-specific guards, on the active webgpu backend. */
function guards(): ParityOutput["guards"] {
  const mask = tf.tensor2d([[0, 1, 1], [1, 1, 1]]);
  const gpuOnly = tf.matMul(mask, tf.ones([3, 3])); // used on the GPU: the upload keeps the small host copy
  const maskAfterUse = mask.arraySync() as number[][];
  let gpuOnlyDataSync = "no error";
  try {
    gpuOnly.dataSync();
  } catch (e) {
    gpuOnlyDataSync = `${(e as Error).name}: ${(e as Error).message}`;
  }
  let oversized = "no error";
  const big = tf.zeros([40 * 1024 * 1024]); // 160 MiB, over lavapipe's 128 MiB binding limit
  try {
    tf.add(big, 1).dispose();
  } catch (e) {
    oversized = `${(e as Error).name}: ${(e as Error).message}`;
  }
  tf.dispose([mask, gpuOnly, big]);
  return { maskAfterUse, gpuOnlyDataSync, oversized };
}

async function parity(): Promise<ParityOutput> {
  const t0 = performance.now();
  const cpu = await runOn("cpu");
  const webgpu = await runOn("webgpu");
  return { cpu, webgpu, guards: guards(), seconds: (performance.now() - t0) / 1000 };
}

/** One `maxent train` run (and a `maxent score` of its final model) on one backend, as plain numbers. */
interface CliRun {
  /** metrics.jsonl rows, numeric keys only, timing keys dropped. */
  metrics: Record<string, number>[];
  /** The final model's (or adapter's) safetensors. */
  weights: Record<string, number[]>;
  checkpoints: string[];
  /** `maxent score --json` of the final model. */
  score: number[];
  /** metrics of the run stopped after step 1 and resumed (same recipe + resume_from_checkpoint). */
  resumed?: Record<string, number>[];
  resumedWeights?: Record<string, number[]>;
  err: string;
}

/** What `--cli` prints: the same recipes trained on cpu and on webgpu, plus `maxent sft` on both. */
interface CliOutput {
  runs: { name: string; cpu: CliRun; webgpu: CliRun }[];
  /** The tiny model before training. */
  initial: Record<string, number[]>;
  sft: { cpu: number[]; webgpu: number[] };
  seconds: number;
}

/** The recipes of `--cli`: every algorithm, full fine-tuning and LoRA, checkpoints every step, 2 steps. */
const CLI_RECIPES: { name: string; extra: Record<string, unknown>; resume?: boolean }[] = [
  { name: "maxent-grpo", extra: { algorithm: "maxent-grpo", beta: 0.04 }, resume: true },
  {
    name: "grpo+lora",
    extra: { algorithm: "grpo", beta: 0.04, use_peft: true, lora_r: 4, lora_alpha: 8 },
    resume: true,
  },
  { name: "xdr-grpo", extra: { algorithm: "xdr-grpo", xdr_tau: 0.05, beta: 0.04 } },
];

/** Trains the tiny model with `maxent train` on `backend` for each of CLI_RECIPES and scores the result. */
async function cliRuns(): Promise<CliOutput> {
  const t0 = performance.now();
  const { join } = await import("node:path");
  const { existsSync } = await import("node:fs");
  const { runCli, initTinyModel } = await import("./cli_helpers.ts");
  const { readSafetensorsDir, readSafetensorsHeader, readSafetensorsTensor } = await import(
    "../src/model/safetensors.ts"
  );
  const root = await Deno.makeTempDir({ prefix: "maxent-webgpu-" });
  try {
    const model = join(root, "model");
    await initTinyModel(model, 5);
    const data = join(root, "train.jsonl");
    await Deno.writeTextFile(
      data,
      Array.from({ length: 8 }, (_, i) => JSON.stringify({ problem: `${i}+1=`, answer: String(i + 1) })).join("\n"),
    );
    const recipe = (out: string, backend: string, extra: Record<string, unknown>) =>
      Object.entries({
        model_name_or_path: model,
        dataset_name: data,
        reward_funcs: ["length", "format"], // length: rewards that differ within a group, so GRPO has a gradient
        num_generations: 4,
        per_device_train_batch_size: 2,
        gradient_accumulation_steps: 1,
        max_completion_length: 6,
        max_steps: 2,
        learning_rate: 1e-3,
        output_dir: out,
        save_steps: 1,
        logging_steps: 1,
        backend,
        seed: 3,
        ...extra,
      }).map(([k, v]) => `${k}: ${JSON.stringify(v)}`).join("\n") + "\n";
    const numeric = async (file: string) =>
      (await Deno.readTextFile(file)).trim().split("\n").map((l) =>
        Object.fromEntries(
          Object.entries(JSON.parse(l) as Record<string, unknown>).filter(([k, v]) =>
            typeof v === "number" && !/time|per_second|epoch/.test(k)
          ),
        ) as Record<string, number>
      );
    const weightsOf = async (dir: string) => {
      const out: Record<string, number[]> = {};
      const adapter = join(dir, "adapter_model.safetensors");
      if (existsSync(adapter)) {
        const h = await readSafetensorsHeader(adapter);
        for (const name of h.tensors.keys()) out[name] = Array.from((await readSafetensorsTensor(h, name)).data);
      } else {
        for (const [name, t] of await readSafetensorsDir(dir)) out[name] = Array.from(t.data);
      }
      return out;
    };
    const train = async (name: string, backend: string, extra: Record<string, unknown>, stop?: number) => {
      const out = join(root, `${name}-${backend}`);
      const file = join(root, `${name}-${backend}.yaml`);
      await Deno.writeTextFile(file, recipe(out, backend, extra));
      const r = await runCli(["train", file, ...(stop ? ["--stop-after", String(stop)] : [])]);
      if (r.code !== 0) throw new Error(`maxent train ${name} on ${backend} exited ${r.code}: ${r.err}`);
      return { out, file, err: r.err };
    };
    const runs: CliOutput["runs"] = [];
    for (const { name, extra, resume } of CLI_RECIPES) {
      const both: Partial<Record<"cpu" | "webgpu", CliRun>> = {};
      for (const backend of ["cpu", "webgpu"] as const) {
        const { out, err } = await train(name, backend, extra);
        const sc = await runCli(["score", "--model", out, "--ids", "1,5,7,9,3,11", "--json", "--backend", backend]);
        if (sc.code !== 0) throw new Error(`maxent score on ${backend} exited ${sc.code}: ${sc.err}`);
        const run: CliRun = {
          metrics: await numeric(join(out, "metrics.jsonl")),
          weights: await weightsOf(out),
          checkpoints: [...Deno.readDirSync(out)].map((e) => e.name).filter((n) => n.startsWith("checkpoint-")).sort(),
          score: JSON.parse(sc.out).logprobs,
          err,
        };
        if (resume && backend === "webgpu") {
          // stop after step 1 (its checkpoint saved), then resume to step 2: the same model as the straight run
          const split = await train(`${name}-split`, backend, extra, 1);
          await Deno.writeTextFile(split.file, recipe(split.out, backend, { ...extra, resume_from_checkpoint: true }));
          const r = await runCli(["train", split.file]);
          if (r.code !== 0) throw new Error(`resume of ${name} on ${backend} exited ${r.code}: ${r.err}`);
          run.resumed = await numeric(join(split.out, "metrics.jsonl"));
          run.resumedWeights = await weightsOf(split.out);
        }
        both[backend] = run;
      }
      runs.push({ name, cpu: both.cpu!, webgpu: both.webgpu! });
    }
    // maxent sft: one epoch of 8 pairs in batches of 4 (2 steps), its per-epoch losses
    const sft: Record<string, number[]> = {};
    for (const backend of ["cpu", "webgpu"]) {
      const out = join(root, `sft-${backend}`);
      const r = await runCli([
        ...["sft", "--model", model, "--dataset", data, "--epochs", "2", "--batch-size", "4", "--lr", "1e-3"],
        ...["--out", out, "--backend", backend],
      ]);
      if (r.code !== 0) throw new Error(`maxent sft on ${backend} exited ${r.code}: ${r.err}`);
      sft[backend] = JSON.parse(await Deno.readTextFile(join(out, "sft_state.json"))).losses;
    }
    return {
      runs,
      initial: await weightsOf(model),
      sft: { cpu: sft.cpu, webgpu: sft.webgpu },
      seconds: (performance.now() - t0) / 1000,
    };
  } finally {
    await Deno.remove(root, { recursive: true });
  }
}

/** What initBackend("webgpu") says when it fails (run with no adapter). */
async function initError(): Promise<string> {
  const { initBackend } = await import("../src/backend/mod.ts");
  try {
    return `no error: ${(await initBackend("webgpu")).detail}`;
  } catch (e) {
    return `${(e as Error).name}: ${(e as Error).message}`;
  }
}

if (import.meta.main) {
  const flag = Deno.args[0];
  const out = flag === "--probe"
    ? await probe()
    : flag === "--init"
    ? await initError()
    : flag === "--cli"
    ? JSON.stringify(await cliRuns())
    : JSON.stringify(await parity());
  console.log(out);
  Deno.exit(0);
}

// ---------------------------------------------------------------------------------------------------------------
// Test side
// ---------------------------------------------------------------------------------------------------------------

const here = new URL(import.meta.url).pathname;
const config = new URL("../deno.json", import.meta.url).pathname;

/** Runs this file as a script; returns its stdout (throws with stderr when it fails). */
async function sub(flag: string, env: Record<string, string> = {}): Promise<string> {
  const cmd = new Deno.Command(Deno.execPath(), {
    env,
    args: [
      "run",
      "--allow-read",
      "--allow-write",
      "--allow-env",
      "--allow-ffi",
      "--no-prompt",
      "--config",
      config,
      here,
      flag,
    ],
    stdout: "piped",
    stderr: "piped",
  });
  const r = await cmd.output();
  const out = new TextDecoder().decode(r.stdout).trim().split("\n").pop() ?? "";
  if (r.code !== 0) throw new Error(`deno run ${flag} exited ${r.code}: ${new TextDecoder().decode(r.stderr)}`);
  return out;
}

let skip: string | null = null;
try {
  const p = await sub("--probe");
  if (!p.startsWith("adapter: ")) skip = p.replace(/^no-adapter: /, "");
} catch (e) {
  skip = `the WebGPU probe failed: ${(e as Error).message.split("\n")[0]}`;
}
if (skip) console.log(`  note: webgpu tests ignored: ${skip} (apt-get install mesa-vulkan-drivers libvulkan1)`);

function maxAbsDiff(a: number[], b: number[]): number {
  assertEquals(a.length, b.length, "length");
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]));
  return m;
}

Deno.test({
  name: "webgpu matches cpu: token log-probs, gradients, greedy KV-cache decoding, an AdamW step; no leaks; guards",
  ignore: skip !== null,
  sanitizeResources: false,
  sanitizeOps: false,
  fn: async () => {
    const out = JSON.parse(await sub("--parity")) as ParityOutput;
    const { cpu, webgpu: gpu } = out;
    assert(gpu.detail.startsWith("webgpu on "), gpu.detail);
    console.log(`  ${gpu.detail}; both backends in ${out.seconds.toFixed(1)} s`);

    // log-probs: same values within 1e-3 (issue 8), and they are real log-probs (≤ 0, padding entries exactly 0)
    const dLp = maxAbsDiff(gpu.logProbs, cpu.logProbs);
    assert(dLp < 1e-3, `max |Δ log-prob| ${dLp}`);
    assert(cpu.logProbs.every((v) => v <= 0) && cpu.logProbs.some((v) => v < -1), "cpu log-probs look wrong");
    assertEquals([gpu.logProbs[0], gpu.logProbs[1]], [0, 0]);

    // gradients of every weight, relative to the largest gradient
    let dG = 0, scale = 0;
    assertEquals(Object.keys(gpu.grads).sort(), Object.keys(cpu.grads).sort());
    for (const [name, g] of Object.entries(cpu.grads)) {
      dG = Math.max(dG, maxAbsDiff(gpu.grads[name], g));
      scale = Math.max(scale, ...g.map(Math.abs));
    }
    assert(scale > 0, "all gradients are zero");
    assert(dG < 1e-3 * scale, `max |Δ grad| ${dG} (largest gradient ${scale})`);

    // one AdamW step: same loss before, same weights after, and the loss fell on both
    assert(Math.abs(gpu.stepLoss - cpu.stepLoss) < 1e-3, `loss ${gpu.stepLoss} vs ${cpu.stepLoss}`);
    // Adam's first step moves a weight by ≈ lr·g/(|g| + ε), which flips with the sign of a near-zero gradient, so
    // weights whose gradient is below a tenth of the gradient tolerance need only have moved by at most 2·lr.
    let dW = 0;
    for (const [name, w] of Object.entries(cpu.afterStep)) {
      const g = cpu.grads[name];
      w.forEach((v, i) => {
        const d = Math.abs(gpu.afterStep[name][i] - v);
        if (Math.abs(g[i]) > 0.1 * scale * 1e-3) dW = Math.max(dW, d);
        else assert(d <= 0.021, `${name}[${i}]: |Δ weight| ${d} with gradient ${g[i]}`);
      });
    }
    assert(dW < 1e-4, `max |Δ weight| after one step ${dW}`); // lr 0.01: the step moved each weight by ≈ 0.01
    assert(Math.abs(gpu.lossAfterStep - cpu.lossAfterStep) < 1e-3, `${gpu.lossAfterStep} vs ${cpu.lossAfterStep}`);
    assert(cpu.lossAfterStep < cpu.stepLoss, `cpu loss did not fall: ${cpu.stepLoss} → ${cpu.lossAfterStep}`);
    // weight sync's tensors (HF layout: projections transposed back to [out, in]) are the stepped weights
    assertEquals(Object.keys(gpu.synced).sort(), Object.keys(cpu.afterStep).sort());
    const q = "model.layers.0.self_attn.q_proj.weight"; // [in 32, out 32] as a variable, [out, in] when synced
    for (const r of [cpu, gpu]) {
      assertEquals(r.synced[q][1 * 32 + 0], r.afterStep[q][0 * 32 + 1]);
      const sorted = (xs: number[]) => Float64Array.from(xs).sort();
      for (const [name, w] of Object.entries(r.synced)) assertEquals(sorted(w), sorted(r.afterStep[name]), name);
    }

    // greedy decoding with the KV cache: identical tokens, log-probs within 1e-3
    assertEquals(gpu.greedy, cpu.greedy);
    assertEquals(cpu.greedy.map((r) => r.length), [6, 6, 6, 6]);
    assertEquals(cpu.greedy[0], cpu.greedy[1]); // temperature 0: both candidates of a prompt are the argmax path
    const dS = maxAbsDiff(gpu.greedyLogProbs.flat(), cpu.greedyLogProbs.flat());
    assert(dS < 1e-3, `max |Δ sampled log-prob| ${dS}`);

    for (const r of [cpu, gpu]) assertEquals(r.tensorsAfter, r.tensorsBefore, `${r.detail}: tensor leak`);

    // guards of src/backend/webgpu.ts
    assertEquals(out.guards.maskAfterUse, [[0, 1, 1], [1, 1, 1]]);
    assert(/^MaxentError: webgpu: synchronous read/.test(out.guards.gpuOnlyDataSync), out.guards.gpuOnlyDataSync);
    assert(/await tensor\.data\(\)/.test(out.guards.gpuOnlyDataSync), out.guards.gpuOnlyDataSync);
    assert(/\(at tests\/webgpu_test\.ts:\d+\)/.test(out.guards.gpuOnlyDataSync), out.guards.gpuOnlyDataSync); // the caller
    if (/max binding 128 MiB/.test(gpu.detail)) {
      assert(/^MaxentError: .*maxStorageBufferBindingSize of 128 MiB/.test(out.guards.oversized), out.guards.oversized);
    }
    console.log(
      `  max |Δ|: log-prob ${dLp.toExponential(1)}, grad ${dG.toExponential(1)} (of ${scale.toFixed(3)}), ` +
        `weight after step ${dW.toExponential(1)}, sampled log-prob ${dS.toExponential(1)}`,
    );
  },
});

Deno.test({
  name: "webgpu: maxent train (every algorithm, LoRA, checkpoint + resume), score and sft give cpu's numbers",
  ignore: skip !== null,
  sanitizeResources: false,
  sanitizeOps: false,
  fn: async () => {
    const out = JSON.parse(await sub("--cli")) as CliOutput;
    const report: string[] = [];
    for (const { name, cpu, webgpu: gpu } of out.runs) {
      // every step's metrics (loss, grad_norm, reward, kl, entropy, clip ratios, ESS, …) within 1e-4, relative to
      // the size of the value for the large ones (the MaxEnt loss is ≈ 27): float32 sums in another order
      assertEquals(gpu.metrics.map((m) => m.step), [1, 2], name);
      assert(cpu.metrics.every((m) => m.reward_std > 0), `${name}: rewards without spread train GRPO nothing`);
      let dM = 0;
      cpu.metrics.forEach((m, i) => {
        assertEquals(Object.keys(gpu.metrics[i]).sort(), Object.keys(m).sort(), `${name} metric keys`);
        for (const [k, v] of Object.entries(m)) {
          const d = Math.abs(gpu.metrics[i][k] - v) / Math.max(1, Math.abs(v));
          assert(d < 1e-4, `${name} step ${i + 1} ${k}: webgpu ${gpu.metrics[i][k]} vs cpu ${v}`);
          dM = Math.max(dM, d);
        }
      });
      // the saved model (full weights, or the LoRA adapter) within 1e-4. Two AdamW steps at lr 1e-3 move a weight
      // by ≈ 2e-3 whatever its gradient's size, so a gradient that is zero up to rounding can move it either way on
      // the two backends (up to 4·lr apart); at most 0.1% of the entries may do that (none did on lavapipe).
      assertEquals(Object.keys(gpu.weights).sort(), Object.keys(cpu.weights).sort(), `${name} tensors`);
      let dW = 0, flips = 0, total = 0, moved = 0;
      for (const [t, w] of Object.entries(cpu.weights)) {
        w.forEach((v, i) => {
          const d = Math.abs(gpu.weights[t][i] - v);
          total++;
          if (d < 1e-4) dW = Math.max(dW, d);
          else if (d <= 4 * 1e-3) flips++;
          else throw new Error(`${name} ${t}[${i}]: webgpu ${gpu.weights[t][i]} vs cpu ${v}`);
        });
      }
      // and training moved them: the full model away from the initial one, LoRA's B away from 0
      for (const [t, w] of Object.entries(gpu.weights)) {
        const w0 = out.initial[t] ?? (/lora_B/.test(t) ? w.map(() => 0) : null);
        if (w0) moved = Math.max(moved, maxAbsDiff(w, w0));
      }
      assert(moved > 1e-3, `${name}: webgpu training did not move the weights (max |Δ| ${moved})`);
      assert(flips <= total * 1e-3, `${name}: ${flips} of ${total} weights differ by more than 1e-4`);
      // checkpoints on both, and `maxent score` of the final model within 1e-4
      assertEquals(gpu.checkpoints, cpu.checkpoints, name);
      assert(cpu.checkpoints.includes("checkpoint-1"), `${name}: ${cpu.checkpoints}`);
      assertEquals(gpu.score.length, 5);
      const dS = maxAbsDiff(gpu.score, cpu.score);
      assert(dS < 1e-4, `${name}: max |Δ score| ${dS}`);
      assert(/backend: webgpu/.test(gpu.err), `${name}: ${gpu.err.split("\n").slice(0, 3).join(" | ")}`);
      let resume = "";
      if (gpu.resumed) {
        // stopped after step 1 and resumed on webgpu: the straight run's metrics and model. Not bit for bit as on
        // cpu: tfjs-webgpu's split-K matmul adds partial products with atomics (in no fixed order), and it runs ops
        // on small tensors whose values are on the host (a checkpoint's norms) on the CPU; measured ≤ 1e-6 here.
        assertEquals(gpu.resumed.map((m) => m.step), [1, 2], `${name} resumed`);
        gpu.resumed.forEach((m, i) => {
          for (const [k, v] of Object.entries(m)) {
            assert(Math.abs(v - gpu.metrics[i][k]) <= 1e-5 * Math.max(1, Math.abs(v)), `${name} resumed ${k}`);
          }
        });
        let dR = 0;
        for (const [t, w] of Object.entries(gpu.weights)) dR = Math.max(dR, maxAbsDiff(gpu.resumedWeights![t], w));
        assert(dR < 1e-5, `${name}: resumed weights differ by ${dR}`);
        resume = `, resume Δ ${dR.toExponential(1)}`;
      }
      report.push(
        `${name}: metrics ${dM.toExponential(1)}, weights ${dW.toExponential(1)} (${flips} flips), ` +
          `score ${dS.toExponential(1)}${resume}`,
      );
    }
    // maxent sft: the per-epoch losses
    assertEquals(out.sft.webgpu.length, 2);
    const dL = maxAbsDiff(out.sft.webgpu, out.sft.cpu);
    assert(dL < 1e-4, `sft losses ${out.sft.webgpu} vs ${out.sft.cpu}`);
    assert(out.sft.cpu[1] < out.sft.cpu[0], `sft loss did not fall: ${out.sft.cpu}`);
    console.log(
      `  both backends in ${out.seconds.toFixed(1)} s; max |Δ| ${report.join("; ")}; sft ${dL.toExponential(1)}`,
    );
  },
});

Deno.test("initBackend('webgpu') without any adapter is a MaxentError that names the packages to install", async () => {
  // DENO_WEBGPU_BACKEND=dx12 makes Deno's wgpu look for Direct3D 12 only, i.e. no adapter on Linux and macOS
  const out = await sub("--init", { DENO_WEBGPU_BACKEND: Deno.build.os === "windows" ? "metal" : "dx12" });
  assert(out.startsWith("MaxentError: WebGPU found no GPU adapter"), out);
  assert(/mesa-vulkan-drivers/.test(out) && /--backend wasm\|cpu/.test(out), out);
});
