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
}

/** The wasm backend: tensors live in the wasm heap. */
export const wasmAccess: Access = {
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
};

/** The cpu backend: tensors are JS TypedArrays. */
export const cpuAccess: Access = {
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
};

/** The access object of a backend that custom kernels support. */
export function accessFor(backendName: "wasm" | "cpu"): Access {
  return backendName === "wasm" ? wasmAccess : cpuAccess;
}
