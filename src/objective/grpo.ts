/**
 * The GRPO baseline objective with TRL's semantics: group-relative advantages (`scale_rewards`) and the per-token
 * clipped surrogate plus β times the k3 KL estimate to π_ref, aggregated by `loss_type` (grpo, bnpo, dr_grpo).
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs";
import { MaxentError } from "../errors.ts";

/** How advantages are scaled: by the reward std of the `group`, of the whole `batch`, or not at all (`none`). */
export type ScaleRewards = "group" | "batch" | "none";
/** How token losses are aggregated (TRL `loss_type`). */
export type GrpoLossType = "grpo" | "bnpo" | "dr_grpo";

function mean(xs: number[]): number {
  return xs.reduce((a, b) => a + b, 0) / xs.length;
}

// Bessel-corrected (unbiased) standard deviation, as torch.std / TRL's nanstd; 0 for a single value.
function unbiasedStd(xs: number[]): number {
  if (xs.length < 2) return 0;
  const m = mean(xs);
  return Math.sqrt(xs.reduce((a, x) => a + (x - m) ** 2, 0) / (xs.length - 1));
}

/**
 * Group-relative advantages as TRL computes them. The mean is always the group's; the std is the group's
 * (`group`, TRL `true`), the whole batch's (`batch`), or not used (`none`, TRL `false`). Standard deviations are
 * unbiased (Bessel-corrected, n − 1), as TRL's `torch.std` / `nanstd`.
 *
 * A_i = (r_i − mean_group r) / (std r + 1e-4)   (no division for `none`)
 *
 * @param rewards one reward per candidate, grouped consecutively (group g is rewards[g·K .. g·K+K)).
 * @param groupSize K (`num_generations`).
 * @example
 * ```ts
 * groupAdvantages([1, 0, 0, 1], 4, "none"); // [0.5, -0.5, -0.5, 0.5]
 * ```
 */
export function groupAdvantages(
  rewards: ArrayLike<number>,
  groupSize: number,
  scaleRewards: ScaleRewards | boolean = "group",
): number[] {
  const scale = scaleRewards === true ? "group" : scaleRewards === false ? "none" : scaleRewards;
  if (!Number.isInteger(groupSize) || groupSize <= 0) {
    throw new MaxentError(`groupSize must be a positive integer, got ${groupSize}`);
  }
  if (rewards.length === 0 || rewards.length % groupSize !== 0) {
    throw new MaxentError(`${rewards.length} rewards do not form whole groups of ${groupSize}`);
  }
  const r = Array.from(rewards);
  r.forEach((v, i) => {
    if (!Number.isFinite(v)) throw new MaxentError(`rewards[${i}] is ${v}; rewards must be finite`);
  });
  const batchStd = unbiasedStd(r);
  const out = new Array<number>(r.length);
  for (let g = 0; g < r.length; g += groupSize) {
    const group = r.slice(g, g + groupSize);
    const m = mean(group);
    const std = scale === "group" ? unbiasedStd(group) : batchStd;
    for (let i = 0; i < groupSize; i++) {
      const centred = group[i] - m;
      out[g + i] = scale === "none" ? centred : centred / (std + 1e-4);
    }
  }
  return out;
}

/** Identity in the forward pass, zero gradient in the backward pass (torch's `.detach()`). */
export function stopGradient<T extends tf.Tensor>(x: T): T {
  // customGrad's callback type mixes tensors and the save function in one rest parameter, hence the cast.
  type GradFn = Parameters<typeof tf.customGrad>[0];
  const identity = (a: tf.Tensor) => ({ value: a.clone(), gradFunc: (dy: tf.Tensor) => tf.zerosLike(dy) });
  return tf.customGrad(identity as unknown as GradFn)(x) as T;
}

/** Inputs of `grpoTokenLoss`. All [N, T] tensors share the shape; N candidates, T completion positions. */
export interface GrpoLossInputs {
  /** log π_θ of each completion token under the policy being trained. */
  logProbs: tf.Tensor2D;
  /** log-probs under the policy that sampled the completions; unset: `logProbs` detached (one update per batch). */
  oldLogProbs?: tf.Tensor2D;
  /** log π_ref of each completion token; required when `beta` ≠ 0. */
  refLogProbs?: tf.Tensor2D;
  /** 1 for completion tokens (EOS included), 0 for padding. */
  mask: tf.Tensor2D;
  /** One advantage per candidate ([N]), e.g. from `groupAdvantages`. */
  advantages: tf.Tensor1D | ArrayLike<number>;
  /** KL coefficient β (`grpoBeta(recipe)`). */
  beta: number;
  /** Lower clip range ε. */
  epsilon: number;
  /** Upper clip range ε_high (unset: ε). */
  epsilonHigh?: number;
  /** Aggregation of token losses. */
  lossType: GrpoLossType;
  /** `max_completion_length`, the constant of `dr_grpo`. */
  maxCompletionLength: number;
  /** Compute the metrics (reads tensors back synchronously); default true. */
  withMetrics?: boolean;
}

/** TRL's loss metrics, as masked token means over the batch. */
export interface GrpoLossMetrics {
  /** Fraction of tokens with ρ < 1 − ε and A < 0 (`clip_ratio/low_mean`). */
  clipRatioLow: number;
  /** Fraction of tokens with ρ > 1 + ε_high and A > 0 (`clip_ratio/high_mean`). */
  clipRatioHigh: number;
  /** Either of the two (`clip_ratio/region_mean`). */
  clipRatioRegion: number;
  /** Mean k3 KL estimate per token (`kl`); NaN without `refLogProbs`. */
  kl: number;
}

/**
 * The GRPO loss with TRL's semantics. Per token, with ρ = exp(log π_θ − log π_old) and
 * k3 = exp(log π_ref − log π_θ) − (log π_ref − log π_θ) − 1:
 *
 * ℓ_t = −min(ρ·A, clip(ρ, 1 − ε, 1 + ε_high)·A) + β·k3
 *
 * aggregated over masked tokens by `lossType`:
 * - `grpo`:    mean_i [ Σ_t m·ℓ / max(1, Σ_t m) ]   (per-sequence token mean, then batch mean)
 * - `bnpo`:    Σ m·ℓ / max(1, Σ m)                   (token mean over the batch)
 * - `dr_grpo`: Σ m·ℓ / (N · max_completion_length)
 *
 * @returns the scalar loss (the caller owns it) and TRL's metrics as numbers (zeros/NaN when `withMetrics` is false).
 */
export function grpoTokenLoss(inputs: GrpoLossInputs): { loss: tf.Scalar; metrics: GrpoLossMetrics } {
  const { logProbs, mask, beta, epsilon, lossType, maxCompletionLength } = inputs;
  const epsilonHigh = inputs.epsilonHigh ?? epsilon;
  const [n] = logProbs.shape;
  const advLen = inputs.advantages instanceof tf.Tensor ? inputs.advantages.shape[0] : inputs.advantages.length;
  if (advLen !== n) throw new MaxentError(`advantages has ${advLen} entries but the batch has ${n} candidates`);
  if (beta !== 0 && inputs.refLogProbs === undefined) {
    throw new MaxentError(
      `beta = ${beta} needs reference log-probs (refLogProbs); set beta to 0 to train without π_ref`,
    );
  }
  if (lossType === "dr_grpo" && !(maxCompletionLength > 0)) {
    throw new MaxentError(`dr_grpo needs max_completion_length > 0, got ${maxCompletionLength}`);
  }

  const loss = tf.tidy(() => {
    const parts = perTokenParts(inputs, epsilonHigh);
    let perToken = parts.surrogate;
    if (beta !== 0 && parts.kl) perToken = tf.add(perToken, tf.mul(parts.kl, beta));
    const masked = tf.mul(perToken, mask);
    switch (lossType) {
      case "grpo":
        return tf.mean(tf.div(tf.sum(masked, 1), tf.maximum(tf.sum(mask, 1), 1))) as tf.Scalar;
      case "bnpo":
        return tf.div(tf.sum(masked), tf.maximum(tf.sum(mask), 1)) as tf.Scalar;
      case "dr_grpo":
        return tf.div(tf.sum(masked), n * maxCompletionLength) as tf.Scalar;
      default:
        throw new MaxentError(`unknown loss_type "${lossType}"; use grpo, bnpo or dr_grpo`);
    }
  });

  let metrics: GrpoLossMetrics = { clipRatioLow: 0, clipRatioHigh: 0, clipRatioRegion: 0, kl: NaN };
  if (inputs.withMetrics ?? true) {
    const stacked = grpoMetricsTensor(inputs);
    const values = stacked.dataSync();
    stacked.dispose();
    metrics = grpoMetricsFromValues(values);
  }
  return { loss, metrics };
}

/**
 * TRL's loss metrics as one tensor [clip low, clip high, clip region, kl] (the caller owns and reads it, e.g. with
 * `await t.data()` where synchronous reads are unavailable, as on webgpu); {@link grpoMetricsFromValues} names them.
 * The values depend on the advantages' signs and the ratio only, not on `lossType`.
 */
export function grpoMetricsTensor(inputs: GrpoLossInputs): tf.Tensor1D {
  const { mask, epsilon } = inputs;
  const epsilonHigh = inputs.epsilonHigh ?? epsilon;
  return tf.tidy(() => {
    const { ratio, adv, kl } = perTokenParts(inputs, epsilonHigh);
    const maskedMean = (x: tf.Tensor) => tf.div(tf.sum(tf.mul(x, mask)), tf.maximum(tf.sum(mask), 1));
    const low = tf.logicalAnd(tf.less(ratio, 1 - epsilon), tf.less(adv, 0));
    const high = tf.logicalAnd(tf.greater(ratio, 1 + epsilonHigh), tf.greater(adv, 0));
    const region = tf.logicalOr(low, high);
    return tf.stack([
      maskedMean(tf.cast(low, "float32")),
      maskedMean(tf.cast(high, "float32")),
      maskedMean(tf.cast(region, "float32")),
      kl ? maskedMean(kl) : tf.scalar(NaN),
    ]) as tf.Tensor1D;
  });
}

/** Names the four values of {@link grpoMetricsTensor}. */
export function grpoMetricsFromValues(values: ArrayLike<number>): GrpoLossMetrics {
  return { clipRatioLow: values[0], clipRatioHigh: values[1], clipRatioRegion: values[2], kl: values[3] };
}

// The per-token pieces shared by the loss and the metrics: ratio ρ, broadcast advantages, surrogate, k3 KL.
function perTokenParts(inputs: GrpoLossInputs, epsilonHigh: number) {
  const { logProbs, epsilon } = inputs;
  const old = inputs.oldLogProbs ?? stopGradient(logProbs);
  const adv = tf.reshape(
    inputs.advantages instanceof tf.Tensor ? inputs.advantages : tf.tensor1d(Array.from(inputs.advantages)),
    [-1, 1],
  );
  // ρ = exp(log π_θ − log π_old)
  const ratio = tf.exp(tf.sub(logProbs, old));
  // −min(ρ·A, clip(ρ, 1−ε, 1+ε_high)·A)
  const clipped = tf.clipByValue(ratio, 1 - epsilon, 1 + epsilonHigh);
  const surrogate = tf.neg(tf.minimum(tf.mul(ratio, adv), tf.mul(clipped, adv)));
  // k3 = exp(ref − logp) − (ref − logp) − 1
  let kl: tf.Tensor | undefined;
  if (inputs.refLogProbs) {
    const d = tf.sub(inputs.refLogProbs, logProbs);
    kl = tf.sub(tf.sub(tf.exp(d), d), 1);
  }
  return { ratio, adv, surrogate, kl };
}
