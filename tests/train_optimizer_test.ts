import * as tf from "@tensorflow/tfjs";
import { assertClose, assertEquals } from "./assert.ts";
import { AdamW, clipByGlobalNorm } from "../src/train/optimizer.ts";

await tf.setBackend("cpu");

/** torch.optim.AdamW written naively in float64 for one parameter. */
function naiveAdamW(p: number[], grads: number[][], lrs: number[], b1: number, b2: number, eps: number, wd: number) {
  const m = p.map(() => 0), v = p.map(() => 0);
  p = [...p];
  grads.forEach((g, k) => {
    const t = k + 1, lr = lrs[k];
    for (let i = 0; i < p.length; i++) {
      p[i] *= 1 - lr * wd;
      m[i] = b1 * m[i] + (1 - b1) * g[i];
      v[i] = b2 * v[i] + (1 - b2) * g[i] * g[i];
      const denom = Math.sqrt(v[i]) / Math.sqrt(1 - b2 ** t) + eps;
      p[i] -= (lr / (1 - b1 ** t)) * m[i] / denom;
    }
  });
  return p;
}

Deno.test("AdamW matches a float64 transcription of torch.optim.AdamW, decay skipped for biases", () => {
  const w0 = [0.5, -1.2, 3.0], b0 = [0.1, -0.2, 0.3];
  const grads = [[0.1, -0.3, 2.0], [-0.5, 0.2, 0.1], [0.05, 0.0, -1.0]];
  const lrs = [1e-2, 5e-3, 2e-2];
  const w = tf.variable(tf.tensor1d(w0)), b = tf.variable(tf.tensor1d(b0));
  const opt = new AdamW(new Map([["layer.weight", w], ["layer.bias", b]]), {
    beta1: 0.9,
    beta2: 0.99,
    epsilon: 1e-6,
    weightDecay: 0.1,
  });
  for (let k = 0; k < grads.length; k++) {
    const g = new Map([["layer.weight", tf.tensor1d(grads[k])], ["layer.bias", tf.tensor1d(grads[k])]]);
    opt.step(g, lrs[k]);
    g.forEach((t) => t.dispose());
  }
  assertClose(w.dataSync(), naiveAdamW(w0, grads, lrs, 0.9, 0.99, 1e-6, 0.1), 1e-6);
  assertClose(b.dataSync(), naiveAdamW(b0, grads, lrs, 0.9, 0.99, 1e-6, 0), 1e-6);
  opt.dispose();
  w.dispose();
  b.dispose();
});

Deno.test("AdamW state round-trips: a restored optimiser continues identically", async () => {
  const make = () => tf.variable(tf.tensor2d([[1, 2], [3, 4]]));
  const cfg = { beta1: 0.9, beta2: 0.999, epsilon: 1e-8, weightDecay: 0.01 };
  const g = new Map([["w", tf.tensor2d([[0.3, -0.1], [0.2, 0.4]])]]);
  const a = make(), optA = new AdamW(new Map([["w", a]]), cfg);
  optA.step(g, 0.1);
  const saved = await optA.stateTensors();
  const b = tf.variable(a.clone()), optB = new AdamW(new Map([["w", b]]), cfg);
  optB.loadState(saved, optA.stepCount);
  optA.step(g, 0.05);
  optB.step(g, 0.05);
  assertEquals(Array.from(b.dataSync()), Array.from(a.dataSync()));
  [a, b, ...g.values()].forEach((t) => t.dispose());
  optA.dispose();
  optB.dispose();
});

Deno.test("global-norm clipping scales by max_norm / (norm + 1e-6) and leaves small gradients alone", () => {
  const before = tf.memory().numTensors;
  const grads = new Map([["a", tf.tensor1d([3, 0])], ["b", tf.tensor1d([0, 4])]]);
  const { norm, grads: clipped } = clipByGlobalNorm(grads, 1);
  assertClose(norm, 5, 1e-6);
  assertClose(clipped.get("a")!.dataSync(), [3 / (5 + 1e-6), 0], 1e-6);
  assertClose(clipped.get("b")!.dataSync(), [0, 4 / (5 + 1e-6)], 1e-6);
  const small = clipByGlobalNorm(clipped, 10);
  assertClose(small.grads.get("a")!.dataSync(), clipped.get("a")!.dataSync(), 0);
  small.grads.forEach((t) => t.dispose());
  assertEquals(tf.memory().numTensors, before);
});
