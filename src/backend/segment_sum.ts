/**
 * UnsortedSegmentSum for the wasm backend, which lacks it: it is the gradient of `tf.gather`, i.e. of the token
 * embedding, so training fails on wasm without it. A plain loop over the wasm heap.
 */
import * as tf from "@tensorflow/tfjs";

/** out[s, …] = Σ_{i : ids[i] = s} x[i, …] for 0 ≤ s < numSegments (ids outside the range are dropped). */
export function registerWasmUnsortedSegmentSum(): void {
  if (tf.getKernel("UnsortedSegmentSum", "wasm")) return;
  tf.registerKernel({
    kernelName: "UnsortedSegmentSum",
    backendName: "wasm",
    kernelFunc: ({ inputs, backend, attrs }) => {
      const { x, segmentIds } = inputs as { x: tf.TensorInfo; segmentIds: tf.TensorInfo };
      const { numSegments } = attrs as unknown as { numSegments: number };
      // deno-lint-ignore no-explicit-any
      const be = backend as any;
      const inner = tf.util.sizeFromShape(x.shape.slice(segmentIds.shape.length));
      const outShape = [numSegments, ...x.shape.slice(segmentIds.shape.length)];
      const dtype = x.dtype === "int32" ? "int32" : "float32";
      const out = be.makeOutput(outShape, dtype) as tf.TensorInfo;
      // Views after the allocation: the heap may have grown.
      const xv = be.typedArrayFromHeap(x) as Float32Array | Int32Array;
      const ids = be.typedArrayFromHeap(segmentIds) as Int32Array | Float32Array;
      const ov = be.typedArrayFromHeap(out) as Float32Array | Int32Array;
      ov.fill(0);
      for (let i = 0; i < ids.length; i++) {
        const s = ids[i];
        if (s < 0 || s >= numSegments) continue;
        const src = i * inner, dst = s * inner;
        for (let j = 0; j < inner; j++) ov[dst + j] += xv[src + j];
      }
      return out;
    },
  });
}
