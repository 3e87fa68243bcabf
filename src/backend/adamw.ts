/**
 * The optimiser's fused kernels. `MaxentAdamW`: one AdamW update in one pass over (parameter, gradient, first and
 * second moment) instead of a dozen elementwise tfjs ops, each of which allocates and writes a full-size tensor; it can
 * scale the gradient as it reads it (global-norm clipping without a clipped copy) and write the moments in place.
 * `MaxentSumSquares`: Σ x² of a tensor without an x² temporary (the global gradient norm). Both are registered for
 * wasm and cpu; on other backends {@link adamWUpdate} and {@link sumSquares} fall back to the same formulas in tfjs
 * ops.
 */
import * as tf from "@tensorflow/tfjs";
import { type Access, accessFor } from "./access.ts";

/** Kernel name of the fused update. */
export const ADAMW_KERNEL = "MaxentAdamW";
/** Kernel name of the sum of squares. */
export const SUM_SQUARES_KERNEL = "MaxentSumSquares";

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
  /**
   * Factor the gradient is multiplied by first (the global-norm clipping coefficient), rounded as torch's float32
   * `g.mul_(clip_coef)`: g ← fl32(g · fl32(gradScale)). Default 1 (no scaling).
   */
  gradScale?: number;
}

/** Options of {@link adamWUpdate}. */
export interface AdamWUpdateOptions {
  /**
   * Write m' and v' into the buffers of m and v instead of new ones (the returned m', v' then share them). Only for
   * moments the caller owns alone — no other tensor, and on the cpu backend no JS array, sees their data — and m, v
   * must not be read afterwards (assign m', v' to them). Where a buffer is shared (backend reference count > 1) a new
   * one is allocated instead.
   */
  inPlaceMoments?: boolean;
  /**
   * Also write p' into p's buffer (the caller then assigns p' to p) where that is safe whatever else holds p: on
   * backends whose tensor storage no JS array shares (wasm) and when no other tensor references the buffer (a frozen
   * copy made by tf.clone shares it until the first update). Elsewhere p' is a new buffer.
   */
  inPlaceParam?: boolean;
}

/**
 * One AdamW update of a parameter; returns tensors [p', m', v'] (the caller assigns and disposes them):
 *   g ← g·gradScale
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
  opts: AdamWUpdateOptions = {},
): [tf.Tensor, tf.Tensor, tf.Tensor] {
  const fused = [p, g, m, v].every((t) => t.dtype === "float32") &&
    [g, m, v].every((t) => t.size === p.size) &&
    tf.getKernel(ADAMW_KERNEL, tf.getBackend()) !== undefined;
  const gradScale = s.gradScale ?? 1;
  if (fused) {
    const attrs = {
      ...s,
      gradScale,
      inPlaceMoments: opts.inPlaceMoments === true,
      inPlaceParam: opts.inPlaceParam === true,
    };
    const out = tf.engine().runKernel(ADAMW_KERNEL, { p, g, m, v }, attrs as unknown as tf.NamedAttrMap) as tf.Tensor[];
    return [out[0], out[1], out[2]];
  }
  return tf.tidy(() => {
    const gs = gradScale === 1 ? g : g.mul(gradScale);
    const m1 = m.mul(s.beta1).add(gs.mul(1 - s.beta1));
    const v1 = v.mul(s.beta2).add(gs.square().mul(1 - s.beta2));
    const denom = v1.sqrt().div(s.bc2Sqrt).add(s.epsilon);
    const p1 = (s.decay === 1 ? p : p.mul(s.decay)).sub(m1.div(denom).mul(s.stepSize));
    return [p1, m1, v1] as [tf.Tensor, tf.Tensor, tf.Tensor];
  });
}

/**
 * The fused loop over Float32Arrays. p1 may be p, m1 may be m and v1 may be v (each element is read before it is
 * written); no other aliasing. The arithmetic is float64, rounded once per stored value.
 */
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
  const scale = Math.fround(s.gradScale ?? 1);
  const c1 = 1 - beta1, c2 = 1 - beta2;
  for (let i = 0; i < p.length; i++) {
    const gi = scale === 1 ? g[i] : Math.fround(g[i] * scale);
    const mi = beta1 * m[i] + c1 * gi;
    const vi = beta2 * v[i] + c2 * gi * gi;
    m1[i] = mi;
    v1[i] = vi;
    // denom = √v' / √(1 − β2^t) + ε;  p' = p·(1 − lr·λ) − (lr / (1 − β1^t)) · m' / denom
    p1[i] = p[i] * decay - stepSize * (mi / (Math.sqrt(vi) / bc2Sqrt + epsilon));
  }
}

/**
 * Σ x² over all elements of a float32 tensor, as a float32 scalar tensor (accumulated in float64 in a fixed order, so
 * the same data always gives the same bits). No x² temporary on wasm and cpu.
 */
export function sumSquares(x: tf.Tensor): tf.Scalar {
  if (x.dtype === "float32" && tf.getKernel(SUM_SQUARES_KERNEL, tf.getBackend()) !== undefined) {
    return tf.engine().runKernel(SUM_SQUARES_KERNEL, { x }) as tf.Scalar;
  }
  return tf.tidy(() => tf.sum(tf.square(x)));
}

/** Registers `MaxentAdamW` and `MaxentSumSquares` for wasm or cpu (idempotent). */
export function registerAdamW(backendName: "wasm" | "cpu"): void {
  const access: Access = accessFor(backendName);
  if (!tf.getKernel(ADAMW_KERNEL, backendName)) {
    tf.registerKernel({
      kernelName: ADAMW_KERNEL,
      backendName,
      kernelFunc: ({ inputs, backend, attrs }) => {
        const { p, g, m, v } = inputs as Record<"p" | "g" | "m" | "v", tf.TensorInfo>;
        const s = attrs as unknown as AdamWStep & { inPlaceMoments: boolean; inPlaceParam: boolean };
        // outputs overwrite inputs the caller gave up when nothing else holds them (see AdamWUpdateOptions)
        const p1 = s.inPlaceParam && access.privateBuffers ? access.donate(backend, p) : null;
        const m1 = s.inPlaceMoments ? access.donate(backend, m) : null;
        const v1 = s.inPlaceMoments ? access.donate(backend, v) : null;
        const fresh = [p1, m1, v1].filter((d) => d === null).map(() => p.shape);
        const out = access.outputs(backend, fresh, [p, g, m, v]);
        const infos = [...out.infos];
        const p1Info = p1 ?? infos.shift()!;
        const m1Info = m1 ?? infos.shift()!;
        const v1Info = v1 ?? infos.shift()!;
        const views = out.views();
        const [pv, gv, mv, vv] = views;
        let k = 4;
        const p1v = p1 ? pv : views[k++];
        const m1v = m1 ? mv : views[k++];
        const v1v = v1 ? vv : views[k++];
        adamWLoop(pv, gv, mv, vv, p1v, m1v, v1v, s);
        return [p1Info, m1Info, v1Info];
      },
    });
  }
  if (!tf.getKernel(SUM_SQUARES_KERNEL, backendName)) {
    tf.registerKernel({
      kernelName: SUM_SQUARES_KERNEL,
      backendName,
      kernelFunc: ({ inputs, backend }) => {
        const { x } = inputs as { x: tf.TensorInfo };
        const out = access.output(backend, [], [x]);
        const [xv, o] = out.views();
        let s = 0;
        for (let i = 0; i < xv.length; i++) s += xv[i] * xv[i];
        o[0] = s;
        return out.info;
      },
    });
  }
}
