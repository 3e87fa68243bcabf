/**
 * Accumulation into a buffer the caller gives up, so that summing gradients does not hold the old sum, the addend
 * and the new sum at once: `MaxentAccumulate` (sum + x, for gradient accumulation over micro-batches) and
 * `MaxentScatterAddRows` (base + the rows of x scattered to rows `index`, for a tied embedding whose lookup gradient
 * lands in the LM head's dW). Registered for wasm and cpu, where the result is written into the first input's buffer
 * when nothing else references it; elsewhere (and when it is shared) the same sums come from tfjs ops. The rounding is
 * that of the ops they replace: float32 adds, duplicate rows summed in index order before they meet the base.
 */
import * as tf from "@tensorflow/tfjs";
import { type Access, accessFor } from "./access.ts";

/** Kernel name of sum + x. */
export const ACCUMULATE_KERNEL = "MaxentAccumulate";
/** Kernel name of base + scatter(rows, index). */
export const SCATTER_ADD_ROWS_KERNEL = "MaxentScatterAddRows";

/**
 * sum + x (same shape, float32), consuming `sum`: its buffer becomes the result when nothing else references it, and
 * `sum` is disposed either way. `x` stays the caller's. Only for a `sum` whose data no JS array outside the backend
 * sees (see `Access.donate`): tensors computed by tfjs ops, such as gradients.
 */
export function accumulateInto(sum: tf.Tensor, x: tf.Tensor): tf.Tensor {
  if (sum.shape.join() !== x.shape.join()) throw new Error(`accumulateInto: shapes [${sum.shape}] and [${x.shape}]`);
  const out = usable(ACCUMULATE_KERNEL, sum, x)
    ? tf.engine().runKernel(ACCUMULATE_KERNEL, { sum, x }) as tf.Tensor
    : tf.add(sum, x);
  sum.dispose();
  return out;
}

/**
 * base + S where S [V, H] is zero except S[index[n]] = Σ rows[n] (duplicates added in index order), consuming `base`
 * like {@link accumulateInto}. `base` [V, H] float32, `rows` [N, H] float32, `index` [N] int32 in [0, V).
 */
export function scatterAddRowsInto(base: tf.Tensor2D, rows: tf.Tensor2D, index: tf.Tensor1D): tf.Tensor2D {
  const [V, H] = base.shape;
  if (rows.shape[1] !== H || rows.shape[0] !== index.shape[0]) {
    throw new Error(`scatterAddRowsInto: base [${base.shape}], rows [${rows.shape}], index [${index.shape}]`);
  }
  let out: tf.Tensor2D;
  if (usable(SCATTER_ADD_ROWS_KERNEL, base, rows) && index.dtype === "int32") {
    out = tf.engine().runKernel(SCATTER_ADD_ROWS_KERNEL, { base, rows, index }) as tf.Tensor2D;
  } else {
    out = tf.tidy(() => tf.add(base, tf.scatterND(tf.reshape(tf.cast(index, "int32"), [-1, 1]), rows, [V, H])));
  }
  base.dispose();
  return out;
}

function usable(kernel: string, ...ts: tf.Tensor[]): boolean {
  return ts.every((t) => t.dtype === "float32") && tf.getKernel(kernel, tf.getBackend()) !== undefined;
}

/** out[i] = a[i] + x[i] (out may be a). */
export function accumulateLoop(a: Float32Array, x: Float32Array, out: Float32Array): void {
  for (let i = 0; i < out.length; i++) out[i] = a[i] + x[i];
}

/**
 * out = base + scatter: for each distinct id, the rows with that id are summed in float32 in index order, then added
 * to out[id] (out may be base; rows of ids that do not occur are copied from base when out is not base).
 */
export function scatterAddRowsLoop(
  base: Float32Array,
  rows: Float32Array,
  index: Int32Array,
  H: number,
  out: Float32Array,
): void {
  const N = index.length;
  const V = H > 0 ? out.length / H : Infinity;
  for (let n = 0; n < N; n++) {
    if (!(index[n] >= 0 && index[n] < V)) throw new Error(`scatterAddRows: index ${index[n]} outside [0, ${V})`);
  }
  if (out !== base) out.set(base);
  // positions sorted by (id, position): each id's rows are consecutive and in index order
  const order = Array.from({ length: N }, (_, n) => n).sort((a, b) => index[a] - index[b] || a - b);
  const acc = new Float32Array(H);
  for (let k = 0; k < N;) {
    const id = index[order[k]];
    acc.fill(0);
    for (; k < N && index[order[k]] === id; k++) {
      const r = order[k] * H;
      for (let j = 0; j < H; j++) acc[j] += rows[r + j];
    }
    const o = id * H;
    for (let j = 0; j < H; j++) out[o + j] += acc[j];
  }
}

/** Registers both kernels for wasm or cpu (idempotent). */
export function registerAccumulate(backendName: "wasm" | "cpu"): void {
  const access: Access = accessFor(backendName);
  if (!tf.getKernel(ACCUMULATE_KERNEL, backendName)) {
    tf.registerKernel({
      kernelName: ACCUMULATE_KERNEL,
      backendName,
      kernelFunc: ({ inputs, backend }) => {
        const { sum, x } = inputs as Record<"sum" | "x", tf.TensorInfo>;
        const own = access.donate(backend, sum);
        if (own) {
          const [sv, xv] = access.views(backend, [sum, x]);
          accumulateLoop(sv, xv, sv);
          return own;
        }
        const out = access.output(backend, sum.shape, [sum, x]);
        const [sv, xv, ov] = out.views();
        accumulateLoop(sv, xv, ov);
        return out.info;
      },
    });
  }
  if (!tf.getKernel(SCATTER_ADD_ROWS_KERNEL, backendName)) {
    tf.registerKernel({
      kernelName: SCATTER_ADD_ROWS_KERNEL,
      backendName,
      kernelFunc: ({ inputs, backend }) => {
        const { base, rows, index } = inputs as Record<"base" | "rows" | "index", tf.TensorInfo>;
        const H = base.shape[1];
        const own = access.donate(backend, base);
        if (own) {
          const [bv, rv, iv] = access.views(backend, [base, rows, index]);
          scatterAddRowsLoop(bv, rv, iv as unknown as Int32Array, H, bv);
          return own;
        }
        const out = access.output(backend, base.shape, [base, rows, index]);
        const [bv, rv, iv, ov] = out.views();
        scatterAddRowsLoop(bv, rv, iv as unknown as Int32Array, H, ov);
        return out.info;
      },
    });
  }
}
