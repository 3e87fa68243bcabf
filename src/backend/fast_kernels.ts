/**
 * Tight hand-written kernels for the hot non-matmul ops of a transformer training step, replacing the stock ones of
 * the wasm and cpu backends. Measured on a block fwd+bwd+Adam step (bench/backend.ts): on wasm the copies made by
 * Identity/Cast and the transpose-then-reduce of Sum (bias gradients); on cpu the generic broadcasting loops of the
 * elementwise ops (11–13 ns/element), Softmax and Transpose. Unsupported dtypes or shapes go to the stock kernel.
 */
import * as tf from "@tensorflow/tfjs";
import { type Access, accessFor } from "./access.ts";
import { type KernelSwap, replaceKernel } from "./registry.ts";

type Info = tf.TensorInfo;

/** Registers the fast kernels for `backendName`; returns the swaps made (restore them to go back to stock). */
export function registerFastKernels(backendName: "wasm" | "cpu"): KernelSwap[] {
  const access = accessFor(backendName);
  const swaps: KernelSwap[] = [registerSum(backendName, access)];
  if (backendName === "wasm") {
    swaps.push(registerSharingIdentity(access), registerSharingCast(access));
  } else {
    for (const op of BINARY_OPS) swaps.push(registerBinary(op, access));
    for (const op of UNARY_OPS) swaps.push(registerUnary(op, access));
    swaps.push(registerSoftmax(access), registerTranspose(access));
  }
  return swaps;
}

/** The names of the kernels {@link registerFastKernels} replaces on a backend. */
export function fastKernelNames(backendName: "wasm" | "cpu"): string[] {
  return backendName === "wasm"
    ? ["Sum", "Identity", "Cast"]
    : ["Sum", ...BINARY_OPS, ...UNARY_OPS, "Softmax", "Transpose"];
}

// ---------------------------------------------------------------------------------------------------------------
// Identity and same-dtype Cast without a copy (wasm copies the whole buffer; tfjs tensors are immutable, so sharing
// the data with a reference count is what the cpu backend does too).

function registerSharingIdentity(access: Access): KernelSwap {
  return replaceKernel("Identity", "wasm", (stock) => (args) => {
    const { x } = args.inputs as { x: Info };
    if (x.dtype === "string") return stock(args);
    return access.share(args.backend, x, x.shape, x.dtype);
  });
}

function registerSharingCast(access: Access): KernelSwap {
  return replaceKernel("Cast", "wasm", (stock) => (args) => {
    const { x } = args.inputs as { x: Info };
    const { dtype } = args.attrs as unknown as { dtype: tf.DataType };
    if (x.dtype !== dtype || dtype === "string" || dtype === "complex64") return stock(args);
    return access.share(args.backend, x, x.shape, dtype);
  });
}

// ---------------------------------------------------------------------------------------------------------------
// Sum over a contiguous block of axes: x viewed as [outer, R, inner], out[o, j] = Σ_r x[o, r, j].

function registerSum(backendName: "wasm" | "cpu", access: Access): KernelSwap {
  return replaceKernel("Sum", backendName, (stock) => (args) => {
    const { x } = args.inputs as { x: Info };
    const { axis, keepDims } = args.attrs as unknown as { axis: number | number[]; keepDims: boolean };
    if (x.dtype !== "float32") return stock(args);
    const axes = tf.util.parseAxisParam(axis, x.shape).sort((p, q) => p - q);
    for (let i = 1; i < axes.length; i++) if (axes[i] !== axes[i - 1] + 1) return stock(args);
    const shape = x.shape;
    const first = axes.length ? axes[0] : 0, last = axes.length ? axes[axes.length - 1] : -1;
    const outer = tf.util.sizeFromShape(shape.slice(0, first));
    const r = axes.length ? tf.util.sizeFromShape(shape.slice(first, last + 1)) : 1;
    const inner = tf.util.sizeFromShape(shape.slice(last + 1));
    // wasm's own kernel is as fast for innermost-axis sums; it loses where it must transpose first (inner > 1).
    if (backendName === "wasm" && inner === 1) return stock(args);
    const outShape = keepDims
      ? shape.map((d, i) => (axes.includes(i) ? 1 : d))
      : shape.filter((_, i) => !axes.includes(i));
    const out = access.output(args.backend, outShape, [x]);
    const [xv, ov] = out.views();
    sumBlock(xv, ov, outer, r, inner);
    return out.info;
  });
}

/** out[o·inner + j] = Σ_{k<r} x[(o·r + k)·inner + j], accumulated in float64. */
export function sumBlock(x: Float32Array, out: Float32Array, outer: number, r: number, inner: number): void {
  if (inner === 1) {
    for (let o = 0; o < outer; o++) {
      let s = 0;
      const base = o * r;
      for (let k = 0; k < r; k++) s += x[base + k];
      out[o] = s;
    }
    return;
  }
  const acc = new Float64Array(inner);
  for (let o = 0; o < outer; o++) {
    acc.fill(0);
    let p = o * r * inner;
    for (let k = 0; k < r; k++, p += inner) for (let j = 0; j < inner; j++) acc[j] += x[p + j];
    const q = o * inner;
    for (let j = 0; j < inner; j++) out[q + j] = acc[j];
  }
}

// ---------------------------------------------------------------------------------------------------------------
// Broadcasting binary ops (cpu): out = a ∘ b, one tight loop per row of the last output dimension.

const BINARY_OPS = ["Add", "Sub", "Multiply", "RealDiv"] as const;
type BinaryOp = typeof BINARY_OPS[number];

function registerBinary(op: BinaryOp, access: Access): KernelSwap {
  const code = BINARY_OPS.indexOf(op);
  return replaceKernel(op, "cpu", (stock) => (args) => {
    const { a, b } = args.inputs as { a: Info; b: Info };
    if (a.dtype !== "float32" || b.dtype !== "float32") return stock(args);
    const outShape = tf.backend_util.assertAndGetBroadcastShape(a.shape, b.shape);
    const out = access.output(args.backend, outShape, [a, b]);
    const [av, bv, ov] = out.views();
    binaryBroadcast(code, av, a.shape, bv, b.shape, ov, outShape);
    return out.info;
  });
}

/** Strides of `shape` right-aligned to `rank` dimensions, 0 where the dimension is broadcast. */
function broadcastStrides(shape: number[], rank: number): number[] {
  const strides = new Array(rank).fill(0);
  let s = 1;
  for (let d = shape.length - 1; d >= 0; d--) {
    strides[d + rank - shape.length] = shape[d] === 1 ? 0 : s;
    s *= shape[d];
  }
  return strides;
}

/** out = a ∘ b with numpy broadcasting, ∘ = + − × ÷ for code 0 1 2 3. */
export function binaryBroadcast(
  code: number,
  a: Float32Array,
  aShape: number[],
  b: Float32Array,
  bShape: number[],
  out: Float32Array,
  outShape: number[],
): void {
  const size = out.length;
  if (size === 0) return;
  if (a.length === size && b.length === size) return binaryRow(code, out, 0, a, 0, 1, b, 0, 1, size);
  if (b.length === 1 && a.length === size) return binaryRow(code, out, 0, a, 0, 1, b, 0, 0, size);
  if (a.length === 1 && b.length === size) return binaryRow(code, out, 0, a, 0, 0, b, 0, 1, size);
  const rank = outShape.length;
  const as = broadcastStrides(aShape, rank), bs = broadcastStrides(bShape, rank);
  const n = outShape[rank - 1];
  const loc = new Array(Math.max(rank - 1, 0)).fill(0);
  let aOff = 0, bOff = 0;
  for (let o = 0; o < size; o += n) {
    binaryRow(code, out, o, a, aOff, as[rank - 1], b, bOff, bs[rank - 1], n);
    // Odometer over the outer dimensions, keeping the input offsets in step.
    for (let d = rank - 2; d >= 0; d--) {
      loc[d]++;
      aOff += as[d];
      bOff += bs[d];
      if (loc[d] < outShape[d]) break;
      aOff -= as[d] * outShape[d];
      bOff -= bs[d] * outShape[d];
      loc[d] = 0;
    }
  }
}

function binaryRow(
  code: number,
  out: Float32Array,
  o: number,
  a: Float32Array,
  ai: number,
  sa: number,
  b: Float32Array,
  bi: number,
  sb: number,
  n: number,
): void {
  switch (code) {
    case 0:
      for (let j = 0; j < n; j++, ai += sa, bi += sb) out[o + j] = a[ai] + b[bi];
      return;
    case 1:
      for (let j = 0; j < n; j++, ai += sa, bi += sb) out[o + j] = a[ai] - b[bi];
      return;
    case 2:
      for (let j = 0; j < n; j++, ai += sa, bi += sb) out[o + j] = a[ai] * b[bi];
      return;
    default:
      for (let j = 0; j < n; j++, ai += sa, bi += sb) out[o + j] = a[ai] / b[bi];
  }
}

// ---------------------------------------------------------------------------------------------------------------
// Unary float32 ops (cpu) as plain loops without a per-element closure call.

const UNARY_OPS = ["Sigmoid", "Sqrt", "Rsqrt", "Exp", "Square", "Neg"] as const;
type UnaryOp = typeof UNARY_OPS[number];

function registerUnary(op: UnaryOp, access: Access): KernelSwap {
  return replaceKernel(op, "cpu", (stock) => (args) => {
    const { x } = args.inputs as { x: Info };
    if (x.dtype !== "float32") return stock(args);
    const out = access.output(args.backend, x.shape, [x]);
    const [xv, ov] = out.views();
    unary(op, xv, ov);
    return out.info;
  });
}

/** out = f(x) elementwise for the ops in UNARY_OPS. */
export function unary(op: UnaryOp, x: Float32Array, out: Float32Array): void {
  const n = x.length;
  switch (op) {
    case "Sigmoid": // σ(x) = 1 / (1 + e^(−x))
      for (let i = 0; i < n; i++) out[i] = 1 / (1 + Math.exp(-x[i]));
      return;
    case "Sqrt":
      for (let i = 0; i < n; i++) out[i] = Math.sqrt(x[i]);
      return;
    case "Rsqrt":
      for (let i = 0; i < n; i++) out[i] = 1 / Math.sqrt(x[i]);
      return;
    case "Exp":
      for (let i = 0; i < n; i++) out[i] = Math.exp(x[i]);
      return;
    case "Square":
      for (let i = 0; i < n; i++) out[i] = x[i] * x[i];
      return;
    case "Neg":
      for (let i = 0; i < n; i++) out[i] = -x[i];
      return;
  }
}

// ---------------------------------------------------------------------------------------------------------------
// Softmax over the last axis (cpu): softmax(x)_j = e^(x_j − max x) / Σ_k e^(x_k − max x).

function registerSoftmax(access: Access): KernelSwap {
  return replaceKernel("Softmax", "cpu", (stock) => (args) => {
    const { logits } = args.inputs as { logits: Info };
    const { dim } = args.attrs as unknown as { dim: number };
    const rank = logits.shape.length;
    if (logits.dtype !== "float32" || rank === 0 || (dim !== -1 && dim !== rank - 1)) return stock(args);
    const out = access.output(args.backend, logits.shape, [logits]);
    const [xv, ov] = out.views();
    softmaxRows(xv, ov, logits.shape[rank - 1]);
    return out.info;
  });
}

/** Row-wise softmax of x viewed as [rows, n]. */
export function softmaxRows(x: Float32Array, out: Float32Array, n: number): void {
  if (n === 0) return;
  for (let o = 0; o < x.length; o += n) {
    let max = -Infinity;
    for (let j = 0; j < n; j++) if (x[o + j] > max) max = x[o + j];
    let sum = 0;
    for (let j = 0; j < n; j++) {
      const e = Math.exp(x[o + j] - max);
      out[o + j] = e;
      sum += e;
    }
    const inv = 1 / sum;
    for (let j = 0; j < n; j++) out[o + j] *= inv;
  }
}

// ---------------------------------------------------------------------------------------------------------------
// Transpose (cpu): out[loc] = x[perm⁻¹(loc)], an odometer over the output with the input stride of each output axis.

function registerTranspose(access: Access): KernelSwap {
  return replaceKernel("Transpose", "cpu", (stock) => (args) => {
    const { x } = args.inputs as { x: Info };
    const { perm } = args.attrs as unknown as { perm: number[] };
    if (x.dtype !== "float32") return stock(args);
    const outShape = perm.map((p) => x.shape[p]);
    const out = access.output(args.backend, outShape, [x]);
    const [xv, ov] = out.views();
    transpose(xv, x.shape, perm, ov);
    return out.info;
  });
}

/** out = x.transpose(perm) for row-major x of `shape`. */
export function transpose(x: Float32Array, shape: number[], perm: number[], out: Float32Array): void {
  const rank = shape.length;
  const size = out.length;
  if (size === 0) return;
  if (rank <= 1 || perm.every((p, i) => p === i)) {
    out.set(x);
    return;
  }
  const inStrides = new Array(rank).fill(1);
  for (let d = rank - 2; d >= 0; d--) inStrides[d] = inStrides[d + 1] * shape[d + 1];
  const outShape = perm.map((p) => shape[p]);
  const st = perm.map((p) => inStrides[p]);
  const n = outShape[rank - 1], s = st[rank - 1];
  const loc = new Array(rank - 1).fill(0);
  let off = 0;
  for (let o = 0; o < size; o += n) {
    for (let j = 0, p = off; j < n; j++, p += s) out[o + j] = x[p];
    for (let d = rank - 2; d >= 0; d--) {
      loc[d]++;
      off += st[d];
      if (loc[d] < outShape[d]) break;
      off -= st[d] * outShape[d];
      loc[d] = 0;
    }
  }
}
