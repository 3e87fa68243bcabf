/**
 * Attention masks that remember the host array they were made from. The model needs a mask's values on the host
 * (attention biases and positions are built there), and tfjs reads a tensor back synchronously — which the webgpu
 * backend under Deno cannot do for data that lives only on the GPU (src/backend/webgpu.ts keeps host copies of small
 * host-made tensors only). A mask made with {@link maskTensor} is read from its own host array, whatever its size and
 * backend; any other mask tensor is read back as before.
 */
import * as tf from "@tensorflow/tfjs";

const hostValues = new WeakMap<tf.Tensor, Float32Array>();

/**
 * A [rows, cols] float32 mask tensor from host values (1 = real token), remembered so that {@link hostMaskRows} never
 * reads it back from the device. The caller must not change `values` afterwards (a tensor never changes).
 *
 * @example
 * ```ts
 * const mask = maskTensor(new Float32Array([0, 1, 1]), [1, 3]);
 * hostMaskRows(mask); // [[0, 1, 1]]
 * ```
 */
export function maskTensor(values: Float32Array, shape: [number, number]): tf.Tensor2D {
  const t = tf.tensor2d(values, shape);
  hostValues.set(t, values);
  return t;
}

/** The mask's rows as 0/1 numbers: from the host array it was made from, else read back from the backend. */
export function hostMaskRows(mask: tf.Tensor2D): number[][] {
  const host = hostValues.get(mask);
  if (!host) return (mask.arraySync() as number[][]).map((row) => row.map((v) => (v ? 1 : 0)));
  const [rows, cols] = mask.shape;
  return Array.from(
    { length: rows },
    (_, r) => Array.from(host.subarray(r * cols, (r + 1) * cols), (v) => (v ? 1 : 0)),
  );
}
