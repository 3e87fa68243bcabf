/**
 * A fused AdamW update: one pass over (parameter, gradient, first and second moment) instead of a dozen elementwise
 * tfjs ops, each of which allocates and writes a full-size tensor. Registered as the kernel `MaxentAdamW` for wasm and
 * cpu; on other backends {@link adamWUpdate} falls back to the same formula in tfjs ops.
 */
import * as tf from "@tensorflow/tfjs";
import { type Access, accessFor } from "./access.ts";

/** Kernel name of the fused update. */
export const ADAMW_KERNEL = "MaxentAdamW";

/** Per-step constants of one AdamW update (torch.optim.AdamW's formula). */
export interface AdamWStep {
  beta1: number;
  beta2: number;
  epsilon: number;
  /** lr / (1 − β1^t). */
  stepSize: number;
  /** √(1 − β2^t). */
  bc2Sqrt: number;
  /** 1 − lr·λ where weight decay applies, else 1. */
  decay: number;
}

/**
 * One AdamW update of a parameter; returns new tensors [p', m', v'] (the caller assigns and disposes them):
 *   m' = β1·m + (1 − β1)·g;  v' = β2·v + (1 − β2)·g²
 *   p' = p·decay − stepSize · m' / (√v' / bc2Sqrt + ε)
 *
 * @example
 * ```ts
 * const [p1, m1, v1] = adamWUpdate(p, g, m, v, { beta1: 0.9, beta2: 0.999, epsilon: 1e-8, stepSize: 1e-3,
 *   bc2Sqrt: Math.sqrt(1 - 0.999), decay: 1 });
 * p.assign(p1); m.assign(m1); v.assign(v1); tf.dispose([p1, m1, v1]);
 * ```
 */
export function adamWUpdate(
  p: tf.Tensor,
  g: tf.Tensor,
  m: tf.Tensor,
  v: tf.Tensor,
  s: AdamWStep,
): [tf.Tensor, tf.Tensor, tf.Tensor] {
  const fused = [p, g, m, v].every((t) => t.dtype === "float32") &&
    [g, m, v].every((t) => t.size === p.size) &&
    tf.getKernel(ADAMW_KERNEL, tf.getBackend()) !== undefined;
  if (fused) {
    const out = tf.engine().runKernel(ADAMW_KERNEL, { p, g, m, v }, s as unknown as tf.NamedAttrMap) as tf.Tensor[];
    return [out[0], out[1], out[2]];
  }
  return tf.tidy(() => {
    const m1 = m.mul(s.beta1).add(g.mul(1 - s.beta1));
    const v1 = v.mul(s.beta2).add(g.square().mul(1 - s.beta2));
    const denom = v1.sqrt().div(s.bc2Sqrt).add(s.epsilon);
    const p1 = (s.decay === 1 ? p : p.mul(s.decay)).sub(m1.div(denom).mul(s.stepSize));
    return [p1, m1, v1] as [tf.Tensor, tf.Tensor, tf.Tensor];
  });
}

/** The fused loop over Float32Arrays (outputs may not alias inputs). */
export function adamWLoop(
  p: Float32Array,
  g: Float32Array,
  m: Float32Array,
  v: Float32Array,
  p1: Float32Array,
  m1: Float32Array,
  v1: Float32Array,
  s: AdamWStep,
): void {
  const { beta1, beta2, epsilon, stepSize, bc2Sqrt, decay } = s;
  const c1 = 1 - beta1, c2 = 1 - beta2, invBc2 = 1 / bc2Sqrt;
  for (let i = 0; i < p.length; i++) {
    const gi = g[i];
    const mi = beta1 * m[i] + c1 * gi;
    const vi = beta2 * v[i] + c2 * gi * gi;
    m1[i] = mi;
    v1[i] = vi;
    p1[i] = p[i] * decay - stepSize * (mi / (Math.sqrt(vi) * invBc2 + epsilon));
  }
}

/** Registers `MaxentAdamW` for wasm or cpu (idempotent). */
export function registerAdamW(backendName: "wasm" | "cpu"): void {
  if (tf.getKernel(ADAMW_KERNEL, backendName)) return;
  const access: Access = accessFor(backendName);
  tf.registerKernel({
    kernelName: ADAMW_KERNEL,
    backendName,
    kernelFunc: ({ inputs, backend, attrs }) => {
      const { p, g, m, v } = inputs as Record<"p" | "g" | "m" | "v", tf.TensorInfo>;
      const out = access.outputs(backend, [p.shape, p.shape, p.shape], [p, g, m, v]);
      const [pv, gv, mv, vv, p1, m1, v1] = out.views();
      adamWLoop(pv, gv, mv, vv, p1, m1, v1, attrs as unknown as AdamWStep);
      return out.infos;
    },
  });
}
