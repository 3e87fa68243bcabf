/**
 * How a hand-written kernel reads its inputs and makes its output on the wasm backend (views into the wasm heap) and
 * on the cpu backend (the backend's TypedArrays), so each kernel is written once over plain Float32Arrays.
 */
import * as tf from "@tensorflow/tfjs";

/** Backend-specific memory access for custom kernels. */
export interface Access {
  /**
   * Allocates a float32 output of `shape`; `views()` then returns the current views of (...inputs, output).
   * On wasm the views must be taken after the allocation (the heap may grow and detach older views).
   */
  output(
    backend: unknown,
    shape: number[],
    inputs: tf.TensorInfo[],
  ): { info: tf.TensorInfo; views: () => Float32Array[] };
  /** Like `output` for several float32 outputs: `views()` gives (...inputs, ...outputs). */
  outputs(
    backend: unknown,
    shapes: number[][],
    inputs: tf.TensorInfo[],
  ): { infos: tf.TensorInfo[]; views: () => Float32Array[] };
  /** A new tensor info that shares `x`'s data (read-only sharing, like reshape). */
  share(backend: unknown, x: tf.TensorInfo, shape: number[], dtype: tf.DataType): tf.TensorInfo;
  /**
   * `x`'s buffer handed over as a kernel output that the kernel overwrites in place (same shape and dtype), or null
   * when another tensor also references it (backend reference count > 1): then the kernel allocates a new output.
   * Only for inputs the caller gave up (it disposes or reassigns them right after the kernel and never reads them
   * again) and whose data nothing outside can see: on cpu a tensor made from a caller's Float32Array uses that array,
   * `dataSync()` returns the live array, and a contiguous slice is a view of its input's array under another data id
   * (the reference count does not see those); on wasm every tensor owns its bytes.
   */
  donate(backend: unknown, x: tf.TensorInfo): tf.TensorInfo | null;
  /** Current views of existing tensors' data (on wasm, take them after the last allocation). */
  views(backend: unknown, xs: tf.TensorInfo[]): Float32Array[];
  /**
   * Whether each tensor's storage is its own: true on wasm (data is copied into and out of the wasm heap, slices are
   * copies), false on cpu (`tf.tensor(array)` keeps the caller's Float32Array, `dataSync()` returns the live one,
   * contiguous slices are views), where only buffers the caller made itself and never handed out may be donated.
   */
  readonly privateBuffers: boolean;
}

/** x's buffer as a writable output when x is its only reference (see `Access.donate`). */
function donateBuffer(backend: unknown, x: tf.TensorInfo): tf.TensorInfo | null {
  const be = backend as { refCount(id: unknown): number; incRef(id: unknown): void };
  if (x.dtype !== "float32" || be.refCount(x.dataId) !== 1) return null;
  be.incRef(x.dataId);
  return { dataId: x.dataId, shape: [...x.shape], dtype: x.dtype };
}

/** The wasm backend: tensors live in the wasm heap. */
export const wasmAccess: Access = {
  privateBuffers: true,
  output(backend, shape, inputs) {
    // deno-lint-ignore no-explicit-any
    const be = backend as any;
    const info = be.makeOutput(shape, "float32") as tf.TensorInfo;
    return {
      info,
      views: () => [...inputs.map((t) => be.typedArrayFromHeap(t) as Float32Array), be.typedArrayFromHeap(info)],
    };
  },
  outputs(backend, shapes, inputs) {
    // deno-lint-ignore no-explicit-any
    const be = backend as any;
    const infos = shapes.map((s) => be.makeOutput(s, "float32") as tf.TensorInfo);
    return {
      infos,
      views: () => [...inputs, ...infos].map((t) => be.typedArrayFromHeap(t) as Float32Array),
    };
  },
  share(backend, x, shape, dtype) {
    (backend as { incRef(id: unknown): void }).incRef(x.dataId);
    return { dataId: x.dataId, shape, dtype };
  },
  donate: donateBuffer,
  views(backend, xs) {
    // deno-lint-ignore no-explicit-any
    return xs.map((t) => (backend as any).typedArrayFromHeap(t) as Float32Array);
  },
};

/** The cpu backend: tensors are JS TypedArrays. */
export const cpuAccess: Access = {
  privateBuffers: false,
  output(backend, shape, inputs) {
    // deno-lint-ignore no-explicit-any
    const be = backend as any;
    const out = new Float32Array(tf.util.sizeFromShape(shape));
    const info = be.makeTensorInfo(shape, "float32", out) as tf.TensorInfo;
    return { info, views: () => [...inputs.map((t) => be.data.get(t.dataId).values as Float32Array), out] };
  },
  outputs(backend, shapes, inputs) {
    // deno-lint-ignore no-explicit-any
    const be = backend as any;
    const outs = shapes.map((s) => new Float32Array(tf.util.sizeFromShape(s)));
    const infos = shapes.map((s, i) => be.makeTensorInfo(s, "float32", outs[i]) as tf.TensorInfo);
    return { infos, views: () => [...inputs.map((t) => be.data.get(t.dataId).values as Float32Array), ...outs] };
  },
  share(backend, x, shape, dtype) {
    (backend as { incRef(id: unknown): void }).incRef(x.dataId);
    return { dataId: x.dataId, shape, dtype };
  },
  donate: donateBuffer,
  views(backend, xs) {
    // deno-lint-ignore no-explicit-any
    return xs.map((t) => (backend as any).data.get(t.dataId).values as Float32Array);
  },
};

/** The access object of a backend that custom kernels support. */
export function accessFor(backendName: "wasm" | "cpu"): Access {
  return backendName === "wasm" ? wasmAccess : cpuAccess;
}

/**
 * Copies float32 tensor `t`'s values into `out` (length ≥ t.size; the first t.size elements are written) synchronously,
 * straight from the backend's storage — on cpu its own values array, on wasm a view of the wasm heap — and returns
 * true; false (nothing written) where that is not possible (webgpu, tensorflow, another dtype): the caller then
 * reads with `await t.data()`. Unlike `data()`/`dataSync()` on cpu, which hand out the backend's own array (it then
 * cannot be freed when the tensor is disposed, only when V8 collects it), this leaves no array behind: a loop that
 * reads a tensor per step (the sampler's logits) reuses one buffer instead of producing garbage.
 *
 * @example
 * ```ts
 * const buf = new Float32Array(logits.size);
 * const values = readFloat32Into(logits, buf) ? buf : (await logits.data()) as Float32Array;
 * ```
 */
export function readFloat32Into(t: tf.Tensor, out: Float32Array): boolean {
  if (t.dtype !== "float32" || t.isDisposed || out.length < t.size) return false;
  // deno-lint-ignore no-explicit-any
  const engine = tf.engine() as any;
  const be = engine.state.tensorInfo.get(t.dataId)?.backend;
  if (!be) return false;
  const registry = engine.registry as Record<string, unknown>;
  let src: Float32Array | undefined;
  if (registry.cpu === be) src = be.data.get(t.dataId)?.values;
  else if (registry.wasm === be) src = be.typedArrayFromHeap(t);
  else return false;
  if (!(src instanceof Float32Array) || src.length !== t.size) return false;
  out.set(src);
  return true;
}
