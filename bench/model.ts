/**
 * Model benchmarks: forward (token log-probs) and forward+backward tokens/s of the bench config (Qwen2,
 * 4 layers, hidden 256, 4 heads, 2 KV heads, intermediate 1024, vocab 151,936 tied: ~42M parameters) at batch
 * 8 × 128 tokens, per available backend (wasm and cpu with OpenBLAS kernels where present; webgpu only with a
 * hardware adapter; `MAXENT_BENCH_WEBGPU_SOFTWARE=1` also on a software one, as a slow smoke test), or the
 * backends in `MAXENT_BENCH_BACKENDS` (e.g. `webgpu`). Also KV-cache decode steps/s at batch 8. Every timed call ends
 * with an async read (webgpu has no synchronous one).
 *
 * Usage: `deno task bench model` (or `deno run -A bench/model.ts [backend …]`).
 */
import * as tf from "@tensorflow/tfjs";
import { type BackendChoice, initBackend } from "../src/backend/mod.ts";
import { MODEL_PRESETS, parseModelConfig } from "../src/model/config.ts";
import { CausalLM } from "../src/model/transformer.ts";
import { benchBackends, measureAsync, type Report, skipSoftwareWebgpu } from "./report.ts";

const BATCH = 8;
const SEQ = 128;

/** Runs the model suite on `backends` (default: wasm, cpu, and webgpu when a hardware adapter exists). */
export async function run(
  report: Report,
  backends: BackendChoice[] = benchBackends<BackendChoice>(["wasm", "cpu", "webgpu"]),
): Promise<void> {
  const config = parseModelConfig(MODEL_PRESETS.bench(), "bench preset");
  for (const choice of backends) {
    let detail: string;
    try {
      const info = await initBackend(choice);
      if (skipSoftwareWebgpu(info)) {
        continue; // a software adapter says nothing about a GPU and takes minutes
      }
      detail = info.detail;
    } catch (e) {
      console.error(`model bench: skipping ${choice}: ${(e as Error).message}`);
      continue;
    }
    const model = CausalLM.random(config, 0);
    const rows = Array.from(
      { length: BATCH },
      (_, b) => Array.from({ length: SEQ }, (_, t) => (b * 7919 + t * 104729) % config.vocabSize),
    );
    const ids = tf.tensor2d(rows, [BATCH, SEQ], "int32");
    const mask = tf.ones([BATCH, SEQ]) as tf.Tensor2D;
    const tokens = BATCH * SEQ;
    const fwd = await measureAsync(async () => {
      const lp = model.tokenLogProbs(ids, mask);
      await lp.data();
      lp.dispose();
    }, { warmup: 1, minIters: 3, minMs: 0 });
    report({
      name: `forward log-probs, ${config.numHiddenLayers}L h${config.hiddenSize} V${config.vocabSize}, ${BATCH}×${SEQ}`,
      value: tokens / (fwd / 1000),
      unit: "tok/s",
      detail: `${choice}: ${detail}; ${fwd.toFixed(0)} ms/batch`,
    });
    const fb = await measureAsync(async () => {
      const { value, grads } = tf.variableGrads(() => tf.sum(model.tokenLogProbs(ids, mask)) as tf.Scalar);
      await value.data(); // the GPU queue is in order: the gradients are done too
      tf.dispose([value, ...Object.values(grads)]);
    }, { warmup: 1, minIters: 3, minMs: 0 });
    report({
      name: `forward+backward, ${config.numHiddenLayers}L h${config.hiddenSize} V${config.vocabSize}, ${BATCH}×${SEQ}`,
      value: tokens / (fb / 1000),
      unit: "tok/s",
      detail: `${choice}: ${detail}; ${fb.toFixed(0)} ms/batch`,
    });
    // Incremental decoding: a 64-token prompt, then one token per row per step.
    const prompt = tf.slice(ids, [0, 0], [BATCH, 64]) as tf.Tensor2D;
    const pmask = tf.ones([BATCH, 64]) as tf.Tensor2D;
    const { cache, lastLogits } = model.prefill(prompt, pmask, 64);
    lastLogits.dispose();
    const next = tf.tensor1d(Array(BATCH).fill(5), "int32");
    const step = await measureAsync(async () => {
      const l = model.decodeStep(cache, next);
      await l.data();
      l.dispose();
    }, { warmup: 1, minIters: 8, minMs: 0 });
    report({
      name: `decode step (KV cache, prompt 64), batch ${BATCH}`,
      value: BATCH / (step / 1000),
      unit: "tok/s",
      detail: `${choice}; ${step.toFixed(0)} ms/step`,
    });
    cache.dispose();
    tf.dispose([ids, mask, prompt, pmask, next]);
    model.dispose();
  }
}

if (import.meta.main) {
  const { machineLine } = await import("./report.ts");
  console.log(`machine: ${machineLine()}`);
  const args = Deno.args as BackendChoice[];
  await run(
    (r) => console.log(`${r.name}: ${r.value.toFixed(1)} ${r.unit} (${r.detail ?? ""})`),
    args.length ? args : undefined,
  );
}
