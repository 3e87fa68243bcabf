/**
 * The fused LM-head log-softmax of src/backend/lm_head.ts against a naive float64 reference (logits, logsumexp,
 * softmax gradient written out), with small blocks so several row blocks and vocabulary tiles (and a ragged last
 * tile) are exercised, and through the registered kernels on wasm and cpu without tensor leaks.
 */
import * as tf from "@tensorflow/tfjs";
import { assert, assertEquals } from "./assert.ts";
import { loadBlas } from "../src/backend/blas.ts";
import { initBackend } from "../src/backend/init.ts";
import { restoreStockKernels } from "../src/backend/registry.ts";
import { lmHeadGrad, lmHeadGradLoop, lmHeadLogProbs, lmHeadLogProbsLoop } from "../src/backend/lm_head.ts";
import { jsRowKernels, simdRowKernels } from "../src/backend/simd_exp.ts";

const opts = { sanitizeResources: false, sanitizeOps: false };

function rand(n: number, seed: number, scale = 1): Float32Array {
  const v = new Float32Array(n);
  let s = seed >>> 0 || 1;
  for (let i = 0; i < n; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    v[i] = scale * (2 * (s / 2 ** 32) - 1);
  }
  return v;
}

/** Naive reference in float64: logp, lse, dh = g·w, dw = gᵀ·h with g = dy·(onehot − softmax). */
function reference(h: Float32Array, w: Float32Array, t: Int32Array, dy: Float32Array, N: number, H: number, V: number) {
  const logp = new Float64Array(N), lse = new Float64Array(N);
  const dh = new Float64Array(N * H), dw = new Float64Array(V * H);
  for (let r = 0; r < N; r++) {
    const x = new Float64Array(V);
    for (let v = 0; v < V; v++) {
      let acc = 0;
      for (let k = 0; k < H; k++) acc += h[r * H + k] * w[v * H + k];
      x[v] = acc;
    }
    const m = Math.max(...x);
    const l = m + Math.log(x.reduce((a, b) => a + Math.exp(b - m), 0));
    lse[r] = l;
    logp[r] = x[t[r]] - l;
    for (let v = 0; v < V; v++) {
      const g = dy[r] * ((v === t[r] ? 1 : 0) - Math.exp(x[v] - l));
      for (let k = 0; k < H; k++) {
        dh[r * H + k] += g * w[v * H + k];
        dw[v * H + k] += g * h[r * H + k];
      }
    }
  }
  return { logp, lse, dh, dw };
}

function assertClose(actual: ArrayLike<number>, expected: ArrayLike<number>, tol: number, msg: string) {
  assertEquals(actual.length, expected.length, `${msg}: length`);
  for (let i = 0; i < expected.length; i++) {
    const d = Math.abs(actual[i] - expected[i]);
    if (!(d <= tol * Math.max(1, Math.abs(expected[i])))) {
      throw new Error(`${msg} [${i}]: ${actual[i]} vs ${expected[i]} (|Δ| = ${d})`);
    }
  }
}

function problem(N: number, H: number, V: number, seed: number) {
  const h = rand(N * H, seed, 2), w = rand(V * H, seed + 1, 2), dy = rand(N, seed + 2);
  const t = Int32Array.from({ length: N }, (_, r) => (r * 7919 + seed) % V);
  t[0] = V - 1; // a target in the last, ragged tile
  return { h, w, t, dy };
}

Deno.test("fused LM head loops match a float64 reference across row blocks and vocabulary tiles", () => {
  const { blas } = loadBlas();
  if (!blas) {
    console.error("skipped: no BLAS");
    return;
  }
  const [N, H, V] = [11, 8, 1003];
  const { h, w, t, dy } = problem(N, H, V, 5);
  const ref = reference(h, w, t, dy, N, H, V);
  const simd = simdRowKernels();
  assert(simd !== null, "WebAssembly SIMD is available in Deno");
  const tilings = [undefined, { tileElements: 400, maxRows: 4, minTile: 64 }, {
    tileElements: 1,
    maxRows: 1,
    minTile: 1000,
  }];
  for (const rows of [simd, jsRowKernels()]) {
    for (const tiles of tilings) {
      const label = `${rows.kind} ${JSON.stringify(tiles ?? "default")}`;
      const logp = new Float32Array(N), lse = new Float32Array(N);
      lmHeadLogProbsLoop(blas, h, w, t, N, H, V, logp, lse, tiles, rows);
      assertClose(logp, ref.logp, 1e-5, `logp ${label}`);
      assertClose(lse, ref.lse, 1e-5, `lse ${label}`);
      const dh = new Float32Array(N * H).fill(NaN), dw = new Float32Array(V * H).fill(NaN); // outputs start as garbage
      lmHeadGradLoop(blas, h, w, t, lse, dy, N, H, V, dh, dw, tiles, rows);
      assertClose(dh, ref.dh, 1e-5, `dh ${label}`);
      assertClose(dw, ref.dw, 1e-5, `dw ${label}`);
    }
  }
});

Deno.test("SIMD row kernels (max, Σ exp, scaled exp) match Math.exp to float32 precision, ragged tails included", () => {
  const simd = simdRowKernels()!;
  for (const n of [1, 3, 4, 7, 64, 1001]) {
    const x = simd.scratch(n + 5);
    const base = 5;
    const src = rand(n, n, 40); // x − s spans about [−80, 0] and below the −87 clamp
    x.set(src, base);
    const m = simd.rowMax(x, base, n);
    assertEquals(m, Math.max(...src), `max n=${n}`);
    // the kernels subtract in float32, as the stock tfjs ops do: compare against exp of the float32 difference
    const s = Math.fround(m + 10);
    const want = src.reduce((a, v) => a + Math.exp(Math.fround(v - s)), 0);
    const got = simd.sumExp(x, base, n, s);
    assert(Math.abs(got - want) <= 3e-6 * want, `sumExp n=${n}: ${got} vs ${want}`);
    simd.scaledExp(x, base, n, m, -0.5);
    for (let j = 0; j < n; j++) {
      const e = -0.5 * Math.exp(Math.fround(src[j] - m));
      // the exp's own error plus the float32 rounding of the difference (relative |x − l|·2^−24)
      const tol = (3e-7 + Math.abs(src[j] - m) * 6e-8) * Math.abs(e) + 1e-37;
      assert(
        Math.abs(x[base + j] - e) <= tol,
        `scaledExp n=${n} [${j}]: ${x[base + j]} vs ${e}`,
      );
    }
  }
});

for (const backend of ["wasm", "cpu"] as const) {
  Deno.test(
    `fused LM head kernels on ${backend}: values and gradients match the reference, no leaks`,
    opts,
    async () => {
      const info = await initBackend(backend);
      if (!info.blas) {
        assertEquals(lmHeadLogProbs(tf.zeros([1, 2]), tf.zeros([3, 2]), tf.tensor1d([0], "int32")), null);
        return;
      }
      const [N, H, V] = [6, 5, 301];
      const { h, w, t, dy } = problem(N, H, V, 9);
      const ref = reference(h, w, t, dy, N, H, V);
      const before = tf.memory().numTensors;
      const ht = tf.tensor2d(h, [N, H]), wt = tf.tensor2d(w, [V, H]), tt = tf.tensor1d(t, "int32");
      const dyt = tf.tensor1d(dy);
      const f = lmHeadLogProbs(ht, wt, tt);
      assert(f !== null, "kernel registered with BLAS");
      assertClose(f.logp.dataSync(), ref.logp, 1e-5, "logp");
      const g = lmHeadGrad(ht, wt, tt, f.lse, dyt)!;
      assertClose(g.dh.dataSync(), ref.dh, 1e-5, "dh");
      assertClose(g.dw.dataSync(), ref.dw, 1e-5, "dw");
      tf.dispose([ht, wt, tt, dyt, f.logp, f.lse, g.dh, g.dw]);
      assertEquals(tf.memory().numTensors, before, "tensors leaked");
      // restoring the stock kernels removes the fused ones (callers then take their tfjs-ops path)
      restoreStockKernels(backend);
      const x = tf.zeros([1, 2]) as tf.Tensor2D, y = tf.zeros([3, 2]) as tf.Tensor2D, z = tf.tensor1d([0], "int32");
      assertEquals(lmHeadLogProbs(x, y, z), null);
      tf.dispose([x, y, z]);
      await initBackend(backend);
      assert(tf.getKernel("MaxentLmHeadGrad", backend) !== undefined, "registered again by initBackend");
    },
  );
}
