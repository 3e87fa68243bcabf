/**
 * AdamW with PyTorch's exact update (decoupled weight decay, bias correction as `torch.optim.AdamW`), global-norm
 * gradient clipping as `torch.nn.utils.clip_grad_norm_`, and optimiser state that round-trips through plain
 * Float32Arrays so checkpoints resume exactly.
 */
import * as tf from "@tensorflow/tfjs";

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
   * One update at learning rate `lr` with gradients by parameter name (missing names are skipped):
   *   p ← p·(1 − lr·λ)            (λ = weight_decay, only where `decays(name)`)
   *   m ← β1·m + (1 − β1)·g;  v ← β2·v + (1 − β2)·g²
   *   p ← p − (lr / (1 − β1^t)) · m / (√v / √(1 − β2^t) + ε)
   */
  step(grads: Map<string, tf.Tensor>, lr: number): void {
    this.stepCount++;
    const { beta1, beta2, epsilon, weightDecay } = this.config;
    const t = this.stepCount;
    const stepSize = lr / (1 - beta1 ** t);
    const bc2Sqrt = Math.sqrt(1 - beta2 ** t);
    for (const [name, p] of this.params) {
      const g = grads.get(name);
      if (!g) continue;
      const m = this.m.get(name)!, v = this.v.get(name)!;
      tf.tidy(() => {
        const decayed = weightDecay !== 0 && decays(name) ? p.mul(1 - lr * weightDecay) : p;
        const m1 = m.mul(beta1).add(g.mul(1 - beta1));
        const v1 = v.mul(beta2).add(g.square().mul(1 - beta2));
        const denom = v1.sqrt().div(bc2Sqrt).add(epsilon);
        m.assign(m1);
        v.assign(v1);
        p.assign(decayed.sub(m1.div(denom).mul(stepSize)));
      });
    }
  }

  /** The moments as host tensors named `<param>.exp_avg` / `<param>.exp_avg_sq`, for optimizer.safetensors. */
  async stateTensors(): Promise<Map<string, HostTensor>> {
    const out = new Map<string, HostTensor>();
    for (const [name, m] of this.m) {
      out.set(`${name}.exp_avg`, { shape: m.shape, data: (await m.data()) as Float32Array });
      const v = this.v.get(name)!;
      out.set(`${name}.exp_avg_sq`, { shape: v.shape, data: (await v.data()) as Float32Array });
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
        tf.tidy(() => target.assign(tf.tensor(saved.data, saved.shape)));
      }
    }
    this.stepCount = stepCount;
  }

  dispose(): void {
    for (const t of [...this.m.values(), ...this.v.values()]) t.dispose();
  }
}

/**
 * Clips gradients to a global L2 norm of `maxNorm` (torch clip_grad_norm_): n = √(Σ_i ‖g_i‖²),
 * g ← g · min(1, maxNorm / (n + 1e-6)). Returns the norm before clipping and the (new) gradients; the caller
 * owns the returned tensors, and the inputs are disposed when they are replaced.
 */
export function clipByGlobalNorm(
  grads: Map<string, tf.Tensor>,
  maxNorm: number,
): { norm: number; grads: Map<string, tf.Tensor> } {
  const sq = tf.tidy(() => tf.addN([...grads.values()].map((g) => g.square().sum())));
  const norm = Math.sqrt(sq.dataSync()[0]);
  sq.dispose();
  if (!(maxNorm > 0)) return { norm, grads };
  const coef = Math.min(1, maxNorm / (norm + 1e-6));
  if (coef >= 1) return { norm, grads };
  const out = new Map<string, tf.Tensor>();
  for (const [name, g] of grads) {
    out.set(name, tf.tidy(() => g.mul(coef)));
    g.dispose();
  }
  return { norm, grads: out };
}
