/**
 * BatchMatMul and _FusedMatMul kernels for the tfjs wasm and cpu backends that hand the products to OpenBLAS
 * (`cblas_sgemm` through FFI). Transposes are passed to BLAS as flags, so the transposed products of the backward
 * pass are as fast as the forward ones; batch dimensions broadcast like tfjs's; non-float32 inputs and unusual
 * fused activations go to the backend's own kernel.
 */
import * as tf from "@tensorflow/tfjs";
import type { Blas } from "./blas.ts";
import { accessFor } from "./access.ts";
import { type KernelSwap, replaceKernel } from "./registry.ts";

type Info = tf.TensorInfo;
type Activation = "linear" | "relu" | "relu6" | "prelu" | "elu" | "leakyrelu" | "sigmoid";

/** The backend-neutral part: shapes of a (broadcast) batched product. */
interface MatMulPlan {
  outShape: number[];
  m: number;
  n: number;
  k: number;
  batch: number;
  /** Batch index of A and of B for each output batch. */
  aBatch: Int32Array;
  bBatch: Int32Array;
  aBatchSize: number;
  bBatchSize: number;
}

/** Output shape and batch mapping of op(A)·op(B) with tfjs's broadcasting of the leading dimensions. */
export function planMatMul(aShape: number[], bShape: number[], transA: boolean, transB: boolean): MatMulPlan {
  const ra = aShape.length, rb = bShape.length;
  if (ra < 2 || rb < 2) throw new Error(`BatchMatMul needs rank ≥ 2 inputs, got ${aShape} and ${bShape}`);
  const m = transA ? aShape[ra - 1] : aShape[ra - 2];
  const kA = transA ? aShape[ra - 2] : aShape[ra - 1];
  const kB = transB ? bShape[rb - 1] : bShape[rb - 2];
  const n = transB ? bShape[rb - 2] : bShape[rb - 1];
  if (kA !== kB) {
    throw new Error(`BatchMatMul inner dimensions differ: ${kA} vs ${kB} (shapes ${aShape} and ${bShape})`);
  }
  const aOuter = aShape.slice(0, -2), bOuter = bShape.slice(0, -2);
  const outer = tf.backend_util.assertAndGetBroadcastShape(aOuter, bOuter);
  const batch = tf.util.sizeFromShape(outer);
  const aBatch = new Int32Array(batch), bBatch = new Int32Array(batch);
  const aStrides = outerStrides(aOuter, outer), bStrides = outerStrides(bOuter, outer);
  const loc = new Array(outer.length).fill(0);
  for (let i = 0; i < batch; i++) {
    let ai = 0, bi = 0;
    for (let d = 0; d < outer.length; d++) {
      ai += loc[d] * aStrides[d];
      bi += loc[d] * bStrides[d];
    }
    aBatch[i] = ai;
    bBatch[i] = bi;
    for (let d = outer.length - 1; d >= 0; d--) {
      if (++loc[d] < outer[d]) break;
      loc[d] = 0;
    }
  }
  return {
    outShape: [...outer, m, n],
    m,
    n,
    k: kA,
    batch,
    aBatch,
    bBatch,
    aBatchSize: tf.util.sizeFromShape(aOuter),
    bBatchSize: tf.util.sizeFromShape(bOuter),
  };
}

/** Strides of `shape` (right-aligned against `outer`) in units of whole matrices; broadcast dims get stride 0. */
function outerStrides(shape: number[], outer: number[]): number[] {
  const strides = new Array(outer.length).fill(0);
  let s = 1;
  for (let d = shape.length - 1; d >= 0; d--) {
    const od = d + outer.length - shape.length;
    strides[od] = shape[d] === 1 ? 0 : s;
    s *= shape[d];
  }
  return strides;
}

/** Counts of products done by BLAS (tests use it to see that a matmul, e.g. a gradient, went through BLAS). */
export const blasMatMulStats = { calls: 0, flops: 0 };

/** C[b] = op(A[aBatch[b]]) · op(B[bBatch[b]]) for every output batch b, through BLAS. */
export function runMatMul(
  blas: Blas,
  p: MatMulPlan,
  transA: boolean,
  transB: boolean,
  a: Float32Array,
  b: Float32Array,
  c: Float32Array,
): void {
  const { m, n, k, batch } = p;
  if (m === 0 || n === 0 || batch === 0) return;
  blasMatMulStats.calls++;
  blasMatMulStats.flops += 2 * m * n * k * batch;
  if (k === 0) {
    c.fill(0);
    return;
  }
  // A stack of untransposed A against one shared B is one tall product: [batch·M, K] · op(B).
  if (!transA && p.bBatchSize === 1 && p.aBatchSize === batch) {
    blas.sgemm(false, transB, batch * m, n, k, 1, a, b, 0, c);
    return;
  }
  const aSize = m * k, bSize = k * n, cSize = m * n;
  for (let i = 0; i < batch; i++) {
    const av = a.subarray(p.aBatch[i] * aSize, (p.aBatch[i] + 1) * aSize);
    const bv = b.subarray(p.bBatch[i] * bSize, (p.bBatch[i] + 1) * bSize);
    blas.sgemm(transA, transB, m, n, k, 1, av, bv, 0, c.subarray(i * cSize, (i + 1) * cSize));
  }
}

/** Adds a bias (broadcast against [..., M, N]) and applies a fused activation in place. */
function biasAndActivate(
  c: Float32Array,
  outShape: number[],
  bias: Float32Array | null,
  biasShape: number[] | null,
  activation: Activation,
  prelu: Float32Array | null,
  preluShape: number[] | null,
  leakyAlpha: number,
): void {
  if (bias && biasShape) addBroadcast(c, outShape, bias, biasShape);
  switch (activation) {
    case "linear":
      return;
    case "relu":
      for (let i = 0; i < c.length; i++) if (c[i] < 0) c[i] = 0;
      return;
    case "relu6":
      for (let i = 0; i < c.length; i++) c[i] = c[i] < 0 ? 0 : c[i] > 6 ? 6 : c[i];
      return;
    case "elu":
      for (let i = 0; i < c.length; i++) if (c[i] < 0) c[i] = Math.expm1(c[i]);
      return;
    case "leakyrelu":
      for (let i = 0; i < c.length; i++) if (c[i] < 0) c[i] *= leakyAlpha;
      return;
    case "sigmoid":
      for (let i = 0; i < c.length; i++) c[i] = 1 / (1 + Math.exp(-c[i]));
      return;
    case "prelu": {
      if (!prelu || !preluShape) throw new Error("_FusedMatMul prelu without preluActivationWeights");
      const idx = broadcastIndex(outShape, preluShape);
      for (let i = 0; i < c.length; i++) if (c[i] < 0) c[i] *= prelu[idx(i)];
      return;
    }
  }
}

/** c += bias with bias broadcast to `shape`; the common [N] bias is a tight loop. */
function addBroadcast(c: Float32Array, shape: number[], bias: Float32Array, biasShape: number[]): void {
  const n = shape[shape.length - 1];
  if (bias.length === n && (biasShape.length <= 1 || biasShape.slice(0, -1).every((d) => d === 1))) {
    for (let r = 0; r < c.length; r += n) for (let j = 0; j < n; j++) c[r + j] += bias[j];
    return;
  }
  if (bias.length === 1) {
    const v = bias[0];
    for (let i = 0; i < c.length; i++) c[i] += v;
    return;
  }
  const idx = broadcastIndex(shape, biasShape);
  for (let i = 0; i < c.length; i++) c[i] += bias[idx(i)];
}

/** Maps a flat index of `shape` to the flat index of a tensor of `small` shape broadcast against it. */
export function broadcastIndex(shape: number[], small: number[]): (i: number) => number {
  const rank = shape.length;
  const strides = new Array(rank).fill(0);
  let s = 1;
  for (let d = small.length - 1; d >= 0; d--) {
    const od = d + rank - small.length;
    strides[od] = small[d] === 1 ? 0 : s;
    s *= small[d];
  }
  const dims = shape.slice();
  return (i: number) => {
    let j = 0;
    for (let d = rank - 1; d >= 0; d--) {
      const q = i % dims[d];
      j += q * strides[d];
      i = (i - q) / dims[d];
    }
    return j;
  };
}

const ACTIVATIONS = new Set<string>(["linear", "relu", "relu6", "prelu", "elu", "leakyrelu", "sigmoid"]);

/** Registers the BLAS BatchMatMul and _FusedMatMul for `backendName` ("wasm" or "cpu"); returns the swaps made. */
export function registerBlasMatMul(blas: Blas, backendName: "wasm" | "cpu"): KernelSwap[] {
  const access = accessFor(backendName);
  const swaps: KernelSwap[] = [];

  swaps.push(replaceKernel("BatchMatMul", backendName, (stock) => (args) => {
    const { a, b } = args.inputs as { a: Info; b: Info };
    const { transposeA, transposeB } = args.attrs as unknown as { transposeA: boolean; transposeB: boolean };
    if (a.dtype !== "float32" || b.dtype !== "float32") return stock(args);
    const plan = planMatMul(a.shape, b.shape, transposeA, transposeB);
    const out = access.output(args.backend, plan.outShape, [a, b]);
    const [av, bv, cv] = out.views();
    runMatMul(blas, plan, transposeA, transposeB, av, bv, cv);
    return out.info;
  }));

  swaps.push(replaceKernel("_FusedMatMul", backendName, (stock) => (args) => {
    const { a, b, bias, preluActivationWeights } = args.inputs as {
      a: Info;
      b: Info;
      bias?: Info;
      preluActivationWeights?: Info;
    };
    const { transposeA, transposeB, activation, leakyreluAlpha } = args.attrs as unknown as {
      transposeA: boolean;
      transposeB: boolean;
      activation: Activation;
      leakyreluAlpha?: number;
    };
    const extra = [bias, preluActivationWeights].filter((t): t is Info => t != null);
    if (
      a.dtype !== "float32" || b.dtype !== "float32" || extra.some((t) => t.dtype !== "float32") ||
      !ACTIVATIONS.has(activation ?? "linear")
    ) return stock(args);
    const plan = planMatMul(a.shape, b.shape, transposeA, transposeB);
    const out = access.output(args.backend, plan.outShape, [a, b, ...extra]);
    const views = out.views();
    const cv = views[views.length - 1];
    runMatMul(blas, plan, transposeA, transposeB, views[0], views[1], cv);
    const biasView = bias ? views[2] : null;
    const preluView = preluActivationWeights ? views[bias ? 3 : 2] : null;
    biasAndActivate(
      cv,
      plan.outShape,
      biasView,
      bias?.shape ?? null,
      activation ?? "linear",
      preluView,
      preluActivationWeights?.shape ?? null,
      leakyreluAlpha ?? 0.2,
    );
    return out.info;
  }));
  return swaps;
}
