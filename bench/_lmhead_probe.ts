// temporary probe (deleted before report): stock targetLogProbs vs fused kernels (JS rows, SIMD rows) on the bench LM head
import * as tf from "@tensorflow/tfjs";
import process from "node:process";
import { initBackend } from "../src/backend/mod.ts";
import { loadBlas } from "../src/backend/blas.ts";
import { lmHeadGradLoop, lmHeadLogProbsLoop } from "../src/backend/lm_head.ts";
import { jsRowKernels, simdRowKernels } from "../src/backend/simd_exp.ts";
import { targetLogProbs } from "../src/model/logprobs.ts";
await initBackend("wasm");
const blas = loadBlas().blas!;
const N = 1016, H = 256, V = 151936;
const h = tf.randomNormal([N, H]) as tf.Tensor2D;
const w = tf.variable(tf.randomNormal([V, H], 0, 0.02)) as unknown as tf.Tensor2D;
const tIds = Int32Array.from({ length: N }, (_, i) => (i * 7919) % V);
const t = tf.tensor1d(tIds, "int32");
const cpu = (f: () => void) => { const c0 = process.cpuUsage(); const t0 = performance.now(); f(); const d = process.cpuUsage(c0); return `${((d.user + d.system) / 1e6).toFixed(2)} s CPU / ${((performance.now() - t0) / 1000).toFixed(2)} s wall`; };
const which = Deno.args[0] ?? "all";
if (which === "all" || which === "stock") {
  for (let rep = 0; rep < 2; rep++) {
    const a = cpu(() => { const v = targetLogProbs(h, w, t); v.dataSync(); v.dispose(); });
    const b = cpu(() => { const { value, grads } = tf.variableGrads(() => tf.sum(targetLogProbs(h, w, t)) as tf.Scalar, [w as unknown as tf.Variable]); value.dataSync(); tf.dispose([value, ...Object.values(grads)]); });
    if (rep === 1) console.log("stock tfjs ops: fwd", a, "| fwd+bwd", b);
  }
}
const hv = h.dataSync() as Float32Array, wv = w.dataSync() as Float32Array;
const lp = new Float32Array(N), lse = new Float32Array(N), dy = new Float32Array(N).fill(1);
const dh = new Float32Array(N * H), dw = new Float32Array(V * H);
for (const rows of [jsRowKernels(), simdRowKernels()!]) {
  for (let rep = 0; rep < 2; rep++) {
    const a = cpu(() => lmHeadLogProbsLoop(blas, hv, wv, tIds, N, H, V, lp, lse, undefined, rows));
    const b = cpu(() => lmHeadGradLoop(blas, hv, wv, tIds, lse, dy, N, H, V, dh, dw, undefined, rows));
    if (rep === 1) console.log(`fused ${rows.kind}: fwd`, a, "| bwd only", b, "sum", lp.reduce((x, y) => x + y, 0));
  }
}
const buf = new Float32Array(127 * V);
const sg = cpu(() => { for (let r = 0; r < N; r += 127) blas.sgemm(false, true, 127, V, H, 1, hv.subarray(r * H), wv, 0, buf); });
console.log("one head sgemm pass (fwd+bwd does 4)", sg);
