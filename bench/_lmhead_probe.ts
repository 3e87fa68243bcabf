// temporary probe (deleted before report): stock targetLogProbs vs fused kernels on the bench LM head
import * as tf from "@tensorflow/tfjs";
import { initBackend } from "../src/backend/mod.ts";
import { lmHeadGrad, lmHeadLogProbs } from "../src/backend/lm_head.ts";
import { targetLogProbs } from "../src/model/logprobs.ts";
await initBackend((Deno.args[0] ?? "wasm") as "wasm");
const N = 1016, H = 256, V = 151936;
const h = tf.randomNormal([N, H]) as tf.Tensor2D;
const w = tf.variable(tf.randomNormal([V, H], 0, 0.02)) as unknown as tf.Tensor2D;
const t = tf.tensor1d(Array.from({ length: N }, (_, i) => (i * 7919) % V), "int32");
function fused(hIn: tf.Tensor2D, wIn: tf.Tensor2D) {
  const fn = tf.customGrad(((a: tf.Tensor2D, b: tf.Tensor2D, save: tf.GradSaveFunc) => {
    const r = lmHeadLogProbs(a, b, t)!;
    save([a, b, r.lse]);
    return { value: r.logp, gradFunc: (dy: tf.Tensor1D, s: tf.Tensor[]) => { const g = lmHeadGrad(s[0] as tf.Tensor2D, s[1] as tf.Tensor2D, t, s[2] as tf.Tensor1D, dy)!; return [g.dh, g.dw]; } };
    // deno-lint-ignore no-explicit-any
  }) as any);
  return fn(hIn, wIn) as tf.Tensor1D;
}
for (const [name, f] of [["stock", (a: tf.Tensor2D, b: tf.Tensor2D) => targetLogProbs(a, b, t)], ["fused", fused]] as const) {
  for (let rep = 0; rep < 3; rep++) {
    const t0 = performance.now();
    const v = f(h, w); v.dataSync(); const t1 = performance.now();
    const { value, grads } = tf.variableGrads(() => tf.sum(f(h, w)) as tf.Scalar, [w as unknown as tf.Variable]);
    value.dataSync(); const t2 = performance.now();
    if (rep === 2) console.log(name, "fwd", (t1 - t0).toFixed(0), "ms; fwd+bwd", (t2 - t1).toFixed(0), "ms; sum", value.dataSync()[0], "heapMB", ((tf.backend() as any).wasm?.HEAPU8?.buffer?.byteLength ?? 0) / 2 ** 20);
    tf.dispose([v, value, ...Object.values(grads)]);
  }
}
