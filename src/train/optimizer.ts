/**
 * AdamW with PyTorch's exact update (decoupled weight decay, bias correction as `torch.optim.AdamW`), global-norm
 * gradient clipping as `torch.nn.utils.clip_grad_norm_`, and optimiser state that round-trips through plain
 * Float32Arrays so checkpoints resume exactly. The update is one fused kernel per parameter (`src/backend/adamw.ts`)
 * that reads the gradient scaled by the clipping coefficient and writes the moments in place (and on wasm the
 * parameter too), so a step needs at most one full-size temporary: the new parameter on cpu.
 */
import * as tf from "@tensorflow/tfjs";
import { adamWUpdate, sumSquares } from "../backend/adamw.ts";

/** AdamW hyper-parameters (recipe: adam_beta1, adam_beta2, adam_epsilon, weight_decay). */
export interface AdamWConfig {
  beta1: number;
  beta2: number;
  epsilon: number;
  weightDecay: number;
}

/** A tensor's shape and float32 values, off the tfjs heap (for checkpoints). */
export interface HostTensor {
  shape: number[];
  data: Float32Array;
}

/** HF Trainer's rule: no weight decay for biases and normalisation weights. */
export function decays(name: string): boolean {
  return !/bias|norm/i.test(name);
}

/** AdamW over named tfjs variables. */
export class AdamW {
  readonly config: AdamWConfig;
  /** Optimiser steps taken so far (torch's `state["step"]`). */
  stepCount = 0;
  private readonly params: Map<string, tf.Variable>;
  private readonly m = new Map<string, tf.Variable>();
  private readonly v = new Map<string, tf.Variable>();

  constructor(params: Map<string, tf.Variable>, config: AdamWConfig) {
    this.params = params;
    this.config = config;
    const zeros = (p: tf.Variable, suffix: string) => {
      const z = tf.zerosLike(p);
      const v = tf.variable(z, false, `${p.name}/${suffix}`);
      z.dispose();
      return v;
    };
    for (const [name, p] of params) {
      this.m.set(name, zeros(p, "exp_avg"));
      this.v.set(name, zeros(p, "exp_avg_sq"));
    }
  }

  /**
   * One update at learning rate `lr` with gradients by parameter name (missing names are skipped), each gradient
   * first multiplied by `gradScale` (the clipping coefficient from {@link clipCoefficient}; 1 = none):
   *   g ← g·gradScale
   *   p ← p·(1 − lr·λ)            (λ = weight_decay, only where `decays(name)`)
   *   m ← β1·m + (1 − β1)·g;  v ← β2·v + (1 − β2)·g²
   *   p ← p − (lr / (1 − β1^t)) · m / (√v / √(1 − β2^t) + ε)
   * The gradients stay the caller's (not disposed, not changed).
   */
  step(grads: Map<string, tf.Tensor>, lr: number, gradScale = 1): void {
    this.stepCount++;
    const { beta1, beta2, epsilon, weightDecay } = this.config;
    const t = this.stepCount;
    const stepSize = lr / (1 - beta1 ** t);
    const bc2Sqrt = Math.sqrt(1 - beta2 ** t);
    for (const [name, p] of this.params) {
      const g = grads.get(name);
      if (!g) continue;
      const m = this.m.get(name)!, v = this.v.get(name)!;
      const decay = weightDecay !== 0 && decays(name) ? 1 - lr * weightDecay : 1;
      // the moments are this optimiser's alone (never handed out: stateTensors copies), so they update in place; the
      // parameter too where the backend makes that safe (wasm, buffer not shared)
      const [p1, m1, v1] = adamWUpdate(p, g, m, v, { beta1, beta2, epsilon, stepSize, bc2Sqrt, decay, gradScale }, {
        inPlaceMoments: true,
        inPlaceParam: true,
      });
      p.assign(p1);
      m.assign(m1);
      v.assign(v1);
      tf.dispose([p1, m1, v1]);
    }
  }

  /** The moments as host tensors named `<param>.exp_avg` / `<param>.exp_avg_sq`, for optimizer.safetensors. */
  async stateTensors(): Promise<Map<string, HostTensor>> {
    const out = new Map<string, HostTensor>();
    for (const [name, m] of this.m) {
      // copies: the cpu backend's data() is the live buffer, which the next step overwrites in place
      out.set(`${name}.exp_avg`, { shape: m.shape, data: ((await m.data()) as Float32Array).slice() });
      const v = this.v.get(name)!;
      out.set(`${name}.exp_avg_sq`, { shape: v.shape, data: ((await v.data()) as Float32Array).slice() });
    }
    return out;
  }

  /** Restores moments saved by `stateTensors` and the step count; every parameter's moments must be present. */
  loadState(state: Map<string, HostTensor>, stepCount: number): void {
    for (const [name, m] of this.m) {
      for (const [suffix, target] of [["exp_avg", m], ["exp_avg_sq", this.v.get(name)!]] as const) {
        const saved = state.get(`${name}.${suffix}`);
        if (!saved) throw new Error(`optimizer state has no ${name}.${suffix}`);
        if (saved.shape.join(",") !== target.shape.join(",")) {
          throw new Error(`optimizer state ${name}.${suffix} has shape [${saved.shape}], expected [${target.shape}]`);
        }
        // a copy: on cpu a tensor made from a Float32Array uses that array, and the moments are updated in place
        tf.tidy(() => target.assign(tf.tensor(saved.data.slice(), saved.shape)));
      }
    }
    this.stepCount = stepCount;
  }

  dispose(): void {
    for (const t of [...this.m.values(), ...this.v.values()]) t.dispose();
  }
}

/**
 * The global L2 norm of gradients, n = √(Σ_i ‖g_i‖²) (torch clip_grad_norm_'s total_norm). Each ‖g_i‖² is one
 * reduction on the backend; they are added in float64 in the order of the parameter names, so the result does not
 * depend on the map's insertion order (which follows the order the weights were loaded in: a model read back from a
 * checkpoint lists them sorted) — a resumed run clips exactly as the straight one.
 */
export async function globalNorm(grads: Map<string, tf.Tensor>): Promise<number> {
  const names = [...grads.keys()].sort();
  if (names.length === 0) return 0;
  const sums = tf.tidy(() => tf.stack(names.map((n) => sumSquares(grads.get(n)!))));
  let host: Float32Array;
  try {
    host = (await sums.data()) as Float32Array; // asynchronous: webgpu has no synchronous readback
  } finally {
    sums.dispose();
  }
  let total = 0;
  for (const x of host) total += x;
  return Math.sqrt(total);
}

/** torch clip_grad_norm_'s factor: min(1, maxNorm / (norm + 1e-6)); 1 when maxNorm ≤ 0 (no clipping). */
export function clipCoefficient(norm: number, maxNorm: number): number {
  if (!(maxNorm > 0)) return 1;
  return Math.min(1, maxNorm / (norm + 1e-6));
}
