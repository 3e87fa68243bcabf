/**
 * The backend kernels are transparent to the model: token log-probs and their gradients of a tiny random Qwen2 model
 * (GQA, biases, tied head) agree between the stock cpu backend and wasm/cpu with maxent's BLAS and fast kernels.
 */
import * as tf from "@tensorflow/tfjs";
import { assert, assertEquals } from "./assert.ts";
import { initBackend } from "../src/backend/mod.ts";
import { restoreStockKernels } from "../src/backend/registry.ts";
import { configJson, parseModelConfig } from "../src/model/config.ts";
import { CausalLM } from "../src/model/transformer.ts";

const opts = { sanitizeResources: false, sanitizeOps: false };

/** Log-probs and the gradient of their mean w.r.t. every trainable variable, as plain arrays. */
function logProbsAndGrads(): { lp: number[]; grads: number[][] } {
  const cfg = parseModelConfig(
    configJson({ arch: "qwen2", layers: 2, hidden: 32, heads: 4, kvHeads: 2, intermediate: 48, vocab: 97, tied: true }),
    "test config",
  );
  const model = CausalLM.random(cfg, 3);
  const ids = tf.tensor2d([[0, 0, 5, 17, 42, 8, 96, 3], [1, 2, 3, 4, 5, 6, 7, 8]], [2, 8], "int32");
  const mask = tf.tensor2d([[0, 0, 1, 1, 1, 1, 1, 1], [1, 1, 1, 1, 1, 1, 1, 1]], [2, 8], "float32");
  const lp = tf.tidy(() => Array.from(model.tokenLogProbs(ids, mask).dataSync()));
  const vars = model.trainableVariables();
  const { value, grads } = tf.variableGrads(() => tf.mean(model.tokenLogProbs(ids, mask)) as tf.Scalar, vars);
  const g = vars.map((v) => Array.from(grads[v.name].dataSync()));
  tf.dispose(Object.values(grads));
  tf.dispose([value, ids, mask]);
  model.dispose();
  return { lp, grads: g };
}

Deno.test("model log-probs and gradients match stock cpu on wasm and cpu with maxent's kernels", opts, async () => {
  await initBackend("cpu");
  restoreStockKernels("cpu");
  const want = logProbsAndGrads();
  for (const name of ["wasm", "cpu"] as const) {
    const info = await initBackend(name);
    logProbsAndGrads(); // the first call may create per-backend caches
    const start = tf.memory().numTensors;
    const got = logProbsAndGrads();
    assertEquals(tf.memory().numTensors, start, `${name}: tensor leak`);
    let maxLp = 0, maxG = 0, scaleG = 0;
    got.lp.forEach((v, i) => (maxLp = Math.max(maxLp, Math.abs(v - want.lp[i]))));
    got.grads.forEach((g, j) =>
      g.forEach((v, i) => {
        maxG = Math.max(maxG, Math.abs(v - want.grads[j][i]));
        scaleG = Math.max(scaleG, Math.abs(want.grads[j][i]));
      })
    );
    assert(maxLp < 1e-4, `${info.detail}: max |Δ log-prob| ${maxLp}`);
    assert(maxG < 1e-4 * Math.max(1, scaleG), `${info.detail}: max |Δ grad| ${maxG} (scale ${scaleG})`);
  }
  await initBackend("cpu");
});
