/**
 * The gradient of BatchMatMul with broadcast batch dimensions. tfjs's own gradient returns dA and dB with the
 * broadcast (output) batch shape, so `tf.grad` throws for e.g. a [B, T, H] · [H, O] product; this one sums the
 * gradient over the broadcast batch dimensions, as the gradient of a broadcast add does. Same products otherwise
 * (they run through the BLAS kernel with its native transposes).
 */
import * as tf from "@tensorflow/tfjs";

/** Sums `g` over the dimensions along which `shape` was broadcast and reshapes it to `shape`. */
function reduceToShape(g: tf.Tensor, shape: number[]): tf.Tensor {
  if (g.shape.length === shape.length && g.shape.every((d, i) => d === shape[i])) return g;
  const axes = tf.backend_util.getReductionAxes(shape, g.shape);
  const summed = axes.length > 0 ? tf.sum(g, axes) : g;
  return tf.reshape(summed, shape);
}

let registered = false;

/** Registers the broadcast-aware BatchMatMul gradient (global, once per process). */
export function registerBroadcastMatMulGradient(): void {
  if (registered) return;
  registered = true;
  tf.registerGradient({
    kernelName: "BatchMatMul",
    inputsToSave: ["a", "b"],
    gradFunc: (dy, saved, attrs) => {
      const [a, b] = saved;
      const dyT = dy as tf.Tensor;
      const { transposeA, transposeB } = attrs as unknown as { transposeA: boolean; transposeB: boolean };
      // d(op(A)·op(B)): dop(A) = dY·op(B)ᵀ, dop(B) = op(A)ᵀ·dY, transposed back where the operand was transposed.
      let da: () => tf.Tensor, db: () => tf.Tensor;
      if (!transposeA && !transposeB) {
        da = () => tf.matMul(dyT, b, false, true);
        db = () => tf.matMul(a, dyT, true, false);
      } else if (!transposeA && transposeB) {
        da = () => tf.matMul(dyT, b, false, false);
        db = () => tf.matMul(dyT, a, true, false);
      } else if (transposeA && !transposeB) {
        da = () => tf.matMul(b, dyT, false, true);
        db = () => tf.matMul(a, dyT, false, false);
      } else {
        da = () => tf.matMul(b, dyT, true, true);
        db = () => tf.matMul(dyT, a, true, true);
      }
      return { a: () => reduceToShape(da(), a.shape), b: () => reduceToShape(db(), b.shape) };
    },
  });
}
