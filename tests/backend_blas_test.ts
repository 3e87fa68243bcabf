/**
 * OpenBLAS matmul kernels (src/backend/blas.ts, matmul.ts): every transpose, batch and broadcast of BatchMatMul and
 * _FusedMatMul against a naive float64 loop, gradients through tf.grad, the fallback when the library is missing, and
 * no tensor leaks — on both the wasm and the cpu backend. Skips (with a note) where libopenblas is not installed.
 */
import * as tf from "@tensorflow/tfjs";
import "@tensorflow/tfjs-backend-wasm";
import { assert, assertEquals } from "./assert.ts";
import { loadBlas, resetBlas } from "../src/backend/blas.ts";
import { blasMatMulStats, registerBlasMatMul } from "../src/backend/matmul.ts";
import { registerBroadcastMatMulGradient } from "../src/backend/matmul_grad.ts";
import { registerWasmUnsortedSegmentSum } from "../src/backend/segment_sum.ts";
import type { KernelSwap } from "../src/backend/registry.ts";

const BACKENDS = ["cpu", "wasm"] as const;
const opts = { sanitizeResources: false, sanitizeOps: false };

function blasOrSkip(what: string) {
  const { blas, reason } = loadBlas();
  if (!blas) console.log(`  note: skipping ${what}: ${reason}`);
  return blas;
}

/** Deterministic pseudo-random floats in [-1, 1). */
function rand(n: number, seed: number): Float32Array {
  const out = new Float32Array(n);
  let s = seed >>> 0 || 1;
  for (let i = 0; i < n; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    out[i] = s / 2 ** 31 - 1;
  }
  return out;
}

/** |a − e| ≤ tol · max(1, |e|) elementwise. */
function assertRelClose(actual: ArrayLike<number>, expected: ArrayLike<number>, tol: number, msg: string) {
  assertEquals(actual.length, expected.length, `${msg}: length`);
  for (let i = 0; i < expected.length; i++) {
    const d = Math.abs(actual[i] - expected[i]);
    if (!(d <= tol * Math.max(1, Math.abs(expected[i])))) {
      throw new Error(`${msg} [${i}]: ${actual[i]} vs ${expected[i]} (|Δ| = ${d})`);
    }
  }
}

/** Naive float64 reference of tf.matMul(a, b, transA, transB) with batch broadcasting. */
function naiveMatMul(
  a: Float32Array,
  aShape: number[],
  b: Float32Array,
  bShape: number[],
  transA: boolean,
  transB: boolean,
): { values: Float64Array; shape: number[] } {
  const ra = aShape.length, rb = bShape.length;
  const m = transA ? aShape[ra - 1] : aShape[ra - 2], k = transA ? aShape[ra - 2] : aShape[ra - 1];
  const n = transB ? bShape[rb - 2] : bShape[rb - 1];
  const aOut = aShape.slice(0, -2), bOut = bShape.slice(0, -2);
  const rank = Math.max(aOut.length, bOut.length);
  const pad = (s: number[]) => [...new Array(rank - s.length).fill(1), ...s];
  const pa = pad(aOut), pb = pad(bOut);
  const outer = pa.map((d, i) => Math.max(d, pb[i]));
  const batch = outer.reduce((x, y) => x * y, 1);
  const values = new Float64Array(batch * m * n);
  for (let bi = 0; bi < batch; bi++) {
    // Decompose the output batch index and map it into a's and b's batch (size-1 dims broadcast).
    let rest = bi, ai = 0, bj = 0, aMul = 1, bMul = 1;
    for (let d = rank - 1; d >= 0; d--) {
      const idx = rest % outer[d];
      rest = Math.floor(rest / outer[d]);
      ai += (pa[d] === 1 ? 0 : idx) * aMul;
      bj += (pb[d] === 1 ? 0 : idx) * bMul;
      aMul *= pa[d];
      bMul *= pb[d];
    }
    for (let i = 0; i < m; i++) {
      for (let j = 0; j < n; j++) {
        let s = 0;
        for (let p = 0; p < k; p++) {
          const av = transA ? a[ai * m * k + p * m + i] : a[ai * m * k + i * k + p];
          const bv = transB ? b[bj * k * n + j * k + p] : b[bj * k * n + p * n + j];
          s += av * bv;
        }
        values[bi * m * n + i * n + j] = s;
      }
    }
  }
  return { values, shape: [...outer, m, n] };
}

/** (aShape, bShape) cases before transposition: [.., M, K] and [.., K, N]. */
const CASES: [number[], number[]][] = [
  [[5, 7], [7, 4]],
  [[1, 7], [7, 1]],
  [[6, 1], [1, 3]],
  [[3, 5, 7], [3, 7, 4]],
  [[3, 5, 7], [7, 4]],
  [[5, 7], [2, 7, 4]],
  [[1, 5, 7], [3, 7, 4]],
  [[2, 1, 5, 7], [1, 3, 7, 4]],
  [[2, 3, 4, 33, 17], [17, 9]],
  [[2, 0], [0, 3]],
];

/**
 * dL/dA and dL/dB of L = Σ W ⊙ (op(A)·op(B)) by explicit loops, with tfjs's batch broadcasting: a broadcast batch
 * of A or B receives the sum over the output batches that used it.
 */
function naiveMatMulGrads(
  a: Float32Array,
  aShape: number[],
  b: Float32Array,
  bShape: number[],
  w: Float32Array,
  transA: boolean,
  transB: boolean,
): { dA: Float64Array; dB: Float64Array } {
  const ra = aShape.length, rb = bShape.length;
  const m = transA ? aShape[ra - 1] : aShape[ra - 2], k = transA ? aShape[ra - 2] : aShape[ra - 1];
  const n = transB ? bShape[rb - 2] : bShape[rb - 1];
  const aOut = aShape.slice(0, -2), bOut = bShape.slice(0, -2);
  const rank = Math.max(aOut.length, bOut.length);
  const pad = (s: number[]) => [...new Array(rank - s.length).fill(1), ...s];
  const pa = pad(aOut), pb = pad(bOut);
  const outer = pa.map((d, i) => Math.max(d, pb[i]));
  const batch = outer.reduce((x, y) => x * y, 1);
  const dA = new Float64Array(a.length), dB = new Float64Array(b.length);
  // op(A)(i, p) and op(B)(p, j) as storage indices.
  const ia = (ai: number, i: number, p: number) => ai * m * k + (transA ? p * m + i : i * k + p);
  const ib = (bj: number, p: number, j: number) => bj * k * n + (transB ? j * k + p : p * n + j);
  for (let bi = 0; bi < batch; bi++) {
    let rest = bi, ai = 0, bj = 0, aMul = 1, bMul = 1;
    for (let d = rank - 1; d >= 0; d--) {
      const idx = rest % outer[d];
      rest = Math.floor(rest / outer[d]);
      ai += (pa[d] === 1 ? 0 : idx) * aMul;
      bj += (pb[d] === 1 ? 0 : idx) * bMul;
      aMul *= pa[d];
      bMul *= pb[d];
    }
    for (let i = 0; i < m; i++) {
      for (let j = 0; j < n; j++) {
        const wij = w[bi * m * n + i * n + j];
        for (let p = 0; p < k; p++) {
          dA[ia(ai, i, p)] += wij * b[ib(bj, p, j)];
          dB[ib(bj, p, j)] += wij * a[ia(ai, i, p)];
        }
      }
    }
  }
  return { dA, dB };
}

function transposeLast(shape: number[]): number[] {
  const s = shape.slice();
  [s[s.length - 2], s[s.length - 1]] = [s[s.length - 1], s[s.length - 2]];
  return s;
}

async function withBackend(name: string, fn: (swaps: KernelSwap[]) => void | Promise<void>) {
  if (name === "wasm") registerWasmUnsortedSegmentSum();
  await tf.setBackend(name);
  await tf.ready();
  const swaps = registerBlasMatMul(loadBlas().blas!, name as "cpu" | "wasm");
  try {
    await fn(swaps);
  } finally {
    for (const s of swaps) s.restore();
  }
}

Deno.test("loadBlas opens OpenBLAS with a thread count and a working sgemm", opts, () => {
  const blas = blasOrSkip("sgemm");
  if (!blas) return;
  assert(blas.threads >= 1, `threads ${blas.threads}`);
  // [[1,2],[3,4]] · [[5,6],[7,8]] = [[19,22],[43,50]]; with transB: [[17,23],[39,53]].
  const a = new Float32Array([1, 2, 3, 4]), b = new Float32Array([5, 6, 7, 8]), c = new Float32Array(4);
  blas.sgemm(false, false, 2, 2, 2, 1, a, b, 0, c);
  assertEquals(Array.from(c), [19, 22, 43, 50]);
  blas.sgemm(false, true, 2, 2, 2, 1, a, b, 0, c);
  assertEquals(Array.from(c), [17, 23, 39, 53]);
  // A view with a byte offset: the second row of a [2,2] as a [1,2] matrix.
  const c1 = new Float32Array(2);
  blas.sgemm(false, false, 1, 2, 2, 1, a.subarray(2), b, 0, c1);
  assertEquals(Array.from(c1), [43, 50]);
});

Deno.test("MAXENT_BLAS=/nonexistent falls back without throwing, MAXENT_BLAS=0 disables", opts, () => {
  const before = Deno.env.get("MAXENT_BLAS");
  try {
    Deno.env.set("MAXENT_BLAS", "/nonexistent/libopenblas.so.0");
    resetBlas();
    const r = loadBlas();
    assertEquals(r.blas, null);
    assert(/\/nonexistent\/libopenblas\.so\.0|FFI permission/.test(r.reason!), r.reason);
    Deno.env.set("MAXENT_BLAS", "0");
    resetBlas();
    const off = loadBlas();
    assertEquals(off.blas, null);
    assert(off.reason!.includes("MAXENT_BLAS=0"), off.reason);
  } finally {
    if (before === undefined) Deno.env.delete("MAXENT_BLAS");
    else Deno.env.set("MAXENT_BLAS", before);
    resetBlas();
  }
});

for (const backend of BACKENDS) {
  Deno.test(
    `${backend}: BLAS BatchMatMul matches a naive loop for all transposes, batches, broadcasts`,
    opts,
    async () => {
      if (!blasOrSkip(`${backend} BatchMatMul`)) return;
      await withBackend(backend, () => {
        const start = tf.memory().numTensors;
        let seed = 1;
        for (const [aBase, bBase] of CASES) {
          for (const transA of [false, true]) {
            for (const transB of [false, true]) {
              const aShape = transA ? transposeLast(aBase) : aBase, bShape = transB ? transposeLast(bBase) : bBase;
              const av = rand(aShape.reduce((x, y) => x * y, 1), seed++);
              const bv = rand(bShape.reduce((x, y) => x * y, 1), seed++);
              const want = naiveMatMul(av, aShape, bv, bShape, transA, transB);
              const calls = blasMatMulStats.calls;
              const got = tf.tidy(() => tf.matMul(tf.tensor(av, aShape), tf.tensor(bv, bShape), transA, transB));
              const label = `${backend} ${aShape}·${bShape} tA=${transA} tB=${transB}`;
              assertEquals(got.shape, want.shape, label);
              assertRelClose(got.dataSync(), want.values, 1e-5, label);
              if (want.values.length > 0) assert(blasMatMulStats.calls > calls, `${label} did not go through BLAS`);
              got.dispose();
            }
          }
        }
        assertEquals(tf.memory().numTensors, start, "tensor leak");
      });
    },
  );

  Deno.test(`${backend}: BLAS _FusedMatMul applies bias and activations like the stock cpu kernel`, opts, async () => {
    if (!blasOrSkip(`${backend} _FusedMatMul`)) return;
    await tf.setBackend("cpu"); // the reference: cpu's stock kernel (wasm's supports only rank-1 biases)
    const a = tf.tensor(rand(2 * 5 * 7, 11), [2, 5, 7]);
    const b = tf.tensor(rand(7 * 4, 12), [7, 4]);
    const biases = [tf.tensor(rand(4, 13), [4]), tf.tensor(rand(5 * 4, 14), [5, 4]), tf.scalar(0.3)];
    const prelu = tf.tensor(rand(4, 15), [4]);
    const acts = ["linear", "relu", "relu6", "elu", "leakyrelu", "sigmoid", "prelu"] as const;
    const run = () =>
      acts.flatMap((activation) =>
        biases.map((bias) =>
          tf.tidy(() =>
            tf.fused.matMul({
              a,
              b,
              bias,
              activation,
              preluActivationWeights: activation === "prelu" ? prelu : undefined,
              leakyreluAlpha: 0.1,
            }).dataSync()
          )
        )
      );
    const stock = run();
    await withBackend(backend, () => {
      const calls = blasMatMulStats.calls;
      const got = run();
      assert(blasMatMulStats.calls > calls, "_FusedMatMul did not go through BLAS");
      got.forEach((g, i) => assertRelClose(g, stock[i], 1e-5, `${backend} fused case ${i}`));
      // transposeA/B through the fused path too.
      const t = tf.tidy(() =>
        tf.fused.matMul({ a: a.transpose([0, 2, 1]), b: b.transpose(), transposeA: true, transposeB: true })
          .dataSync()
      );
      assertRelClose(t, stock[0].map((v, i) => v - biases[0].dataSync()[i % 4]), 1e-5, `${backend} fused transposed`);
    });
    tf.dispose([a, b, prelu, ...biases]);
  });

  Deno.test(`${backend}: matmul gradients (incl. broadcast batches) use BLAS and match naive loops`, opts, async () => {
    if (!blasOrSkip(`${backend} gradients`)) return;
    registerBroadcastMatMulGradient();
    await withBackend(backend, () => {
      const start = tf.memory().numTensors;
      // L = Σ (op(A)·op(B) ⊙ W); broadcast batches of A or B get the sum of their gradients over the batch.
      let seed = 30;
      const shapes: [number[], number[]][] = [
        [[18, 5], [5, 4]],
        [[3, 6, 5], [3, 5, 4]],
        [[3, 6, 5], [5, 4]],
        [[6, 5], [2, 5, 4]],
        [[2, 1, 6, 5], [1, 3, 5, 4]],
      ];
      for (const [aShape, bShape] of shapes) {
        for (const transA of [false, true]) {
          for (const transB of [false, true]) {
            const aS = transA ? transposeLast(aShape) : aShape, bS = transB ? transposeLast(bShape) : bShape;
            const av = rand(aS.reduce((x, y) => x * y, 1), seed++), bv = rand(bS.reduce((x, y) => x * y, 1), seed++);
            const outShape = naiveMatMul(av, aS, bv, bS, transA, transB).shape;
            const wv = rand(outShape.reduce((x, y) => x * y, 1), seed++);
            const calls = blasMatMulStats.calls;
            const [ga, gb] = tf.tidy(() => {
              const w = tf.tensor(wv, outShape);
              const g = tf.grads((x: tf.Tensor, y: tf.Tensor) => tf.matMul(x, y, transA, transB).mul(w).sum());
              return g([tf.tensor(av, aS), tf.tensor(bv, bS)]);
            });
            const label = `${backend} grad ${aS}·${bS} tA=${transA} tB=${transB}`;
            assert(blasMatMulStats.calls >= calls + 3, `${label}: gradient matmuls bypassed BLAS`);
            const want = naiveMatMulGrads(av, aS, bv, bS, wv, transA, transB);
            assertEquals(ga.shape, aS, `${label} dA shape`);
            assertEquals(gb.shape, bS, `${label} dB shape`);
            assertRelClose(ga.dataSync(), want.dA, 1e-5, `${label} dA`);
            assertRelClose(gb.dataSync(), want.dB, 1e-5, `${label} dB`);
            tf.dispose([ga, gb]);
          }
        }
      }
      assertEquals(tf.memory().numTensors, start, "tensor leak");
    });
  });
}

Deno.test("leave the cpu backend with stock kernels for other test files", opts, async () => {
  await tf.setBackend("cpu");
  assertEquals(tf.getBackend(), "cpu");
});
