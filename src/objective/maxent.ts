/**
 * The MaxEnt-GRPO objective for one group of K candidates (DESIGN.md, "The math"): the listwise target q from the
 * utilities, the reference scores and distribution from π_ref's log-probs, the closed-form target weights
 * w ∝ q^{1/(τ+β)} · π_ref^{β/(τ+β)} computed in log space, their entropy and effective sample size, and the
 * weighted-MLE loss on tfjs tensors.
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs";
import { MaxentError } from "../errors.ts";

function checkFinite(values: ArrayLike<number>, name: string): void {
  if (values.length === 0) throw new MaxentError(`${name} is empty: a group needs at least one candidate`);
  for (let i = 0; i < values.length; i++) {
    if (!Number.isFinite(values[i])) {
      throw new MaxentError(`${name}[${i}] is ${values[i]}; every entry must be a finite number`);
    }
  }
}

/**
 * Numerically stable softmax of log-weights (entries may be −∞, at least one must be finite).
 *
 * softmax(z)_i = exp(z_i − max z) / Σ_j exp(z_j − max z)
 */
export function softmax(logits: ArrayLike<number>): number[] {
  let max = -Infinity;
  for (let i = 0; i < logits.length; i++) if (logits[i] > max) max = logits[i];
  if (!Number.isFinite(max)) throw new MaxentError("softmax: no finite entry (all log-weights are −∞ or NaN)");
  const out = new Array<number>(logits.length);
  let sum = 0;
  for (let i = 0; i < logits.length; i++) {
    out[i] = Math.exp(logits[i] - max);
    sum += out[i];
  }
  for (let i = 0; i < out.length; i++) out[i] /= sum;
  return out;
}

/**
 * The listwise target over a group: a softmax of the utilities at temperature T_q with an ε floor for full support.
 *
 * q = softmax(u / T_q);  q_i ← q_i·(1 − K·ε) + ε;  q ← q / Σ q
 *
 * @param utilities u_i, one per candidate (finite).
 * @param temperature T_q > 0 (`maxent_q_temperature`).
 * @param eps ε ≥ 0 with K·ε < 1 (`maxent_q_epsilon`).
 * @example
 * ```ts
 * listwiseTarget([1, 0], 1, 0); // [0.731…, 0.268…]
 * ```
 */
export function listwiseTarget(utilities: ArrayLike<number>, temperature = 1, eps = 1e-6): number[] {
  checkFinite(utilities, "utilities");
  const k = utilities.length;
  if (!(temperature > 0) || !Number.isFinite(temperature)) {
    throw new MaxentError(`maxent_q_temperature (T_q) must be a finite number > 0, got ${temperature}`);
  }
  if (!(eps >= 0) || k * eps >= 1) {
    throw new MaxentError(`maxent_q_epsilon (ε) must satisfy 0 ≤ ε < 1/K = ${1 / k} for K = ${k}, got ${eps}`);
  }
  const q = softmax(Array.from(utilities, (u) => u / temperature));
  let sum = 0;
  for (let i = 0; i < k; i++) {
    q[i] = q[i] * (1 - k * eps) + eps;
    sum += q[i];
  }
  return q.map((v) => v / sum);
}

/**
 * Reference scores of the candidates: the reference model's summed completion log-prob, divided by the completion
 * token count (at least 1) when length-normalised.
 *
 * s_i = Σ_t log π_ref(y_i,t | x, y_i,<t)  [ / max(1, T_i) when lengthNormalize ]
 *
 * @param refLogProbSums Σ_t log π_ref over each candidate's completion tokens (EOS included, padding excluded).
 * @param lengths T_i, each candidate's completion token count; required when `lengthNormalize` is true.
 * @param lengthNormalize divide by max(1, T_i) (`maxent_length_normalize_ref`).
 * @example
 * ```ts
 * referenceScores([-10, -6], [10, 3], true); // [-1, -2]
 * ```
 */
export function referenceScores(
  refLogProbSums: ArrayLike<number>,
  lengths: ArrayLike<number> | undefined,
  lengthNormalize: boolean,
): number[] {
  checkFinite(refLogProbSums, "reference log-probs");
  if (!lengthNormalize) return Array.from(refLogProbSums);
  if (lengths === undefined) throw new MaxentError("length-normalised reference scores need the completion lengths");
  if (lengths.length !== refLogProbSums.length) {
    throw new MaxentError(
      `lengths has ${lengths.length} entries but reference log-probs has ${refLogProbSums.length}; give one per candidate`,
    );
  }
  checkFinite(lengths, "lengths");
  return Array.from(refLogProbSums, (s, i) => {
    if (lengths[i] < 0) throw new MaxentError(`lengths[${i}] is ${lengths[i]}; token counts cannot be negative`);
    return s / Math.max(1, lengths[i]);
  });
}

/**
 * π_ref restricted to the group: the softmax of the reference scores (uniform when all scores are equal).
 *
 * π_ref(i) = softmax(s)_i
 *
 * @example
 * ```ts
 * referenceDistribution([-3.1, -2.0], undefined, false); // softmax([-3.1, -2.0])
 * ```
 */
export function referenceDistribution(
  refLogProbSums: ArrayLike<number>,
  lengths: ArrayLike<number> | undefined,
  lengthNormalize: boolean,
): number[] {
  return softmax(referenceScores(refLogProbSums, lengths, lengthNormalize));
}

/**
 * The MaxEnt target weights: the maximiser over the group's simplex of E_π[log q] + τ·H(π) − β·KL(π ‖ π_ref),
 * computed in log space so reference scores of −1e4 are harmless.
 *
 * log w_i = log q_i / (τ+β) + (β/(τ+β)) · s_i,  w = softmax(log w);  if τ+β ≤ 0 the denominator is 1
 *
 * @param q the listwise target (entries ≥ 0, at least one > 0), e.g. from `listwiseTarget`.
 * @param s the reference scores (same length), e.g. from `referenceScores`; all zeros for a uniform reference.
 * @param tau τ ≥ 0 (`maxent_tau`).
 * @param beta β ≥ 0 (`maxentBeta(recipe)`).
 * @example
 * ```ts
 * maxentWeights([0.7, 0.3], [0, 0], 1, 0); // [0.7, 0.3]  (β = 0, τ = 1: w = q)
 * ```
 */
export function maxentWeights(q: ArrayLike<number>, s: ArrayLike<number>, tau: number, beta: number): number[] {
  if (q.length === 0) throw new MaxentError("q is empty: a group needs at least one candidate");
  if (s.length !== q.length) {
    throw new MaxentError(`reference scores have ${s.length} entries but q has ${q.length}; give one per candidate`);
  }
  checkFinite(s, "reference scores");
  if (!Number.isFinite(tau) || !Number.isFinite(beta)) {
    throw new MaxentError(`tau and beta must be finite, got τ = ${tau}, β = ${beta}`);
  }
  for (let i = 0; i < q.length; i++) {
    if (!(q[i] >= 0) || !Number.isFinite(q[i])) throw new MaxentError(`q[${i}] is ${q[i]}; q must be a distribution`);
  }
  const denom = tau + beta > 0 ? tau + beta : 1;
  const refCoef = beta / denom;
  const logW = Array.from(q, (qi, i) => Math.log(qi) / denom + refCoef * s[i]);
  return softmax(logW);
}

/**
 * Shannon entropy of a distribution over the group, in nats (0·log 0 = 0).
 *
 * H(w) = −Σ_i w_i log w_i
 */
export function weightEntropy(w: ArrayLike<number>): number {
  let h = 0;
  for (let i = 0; i < w.length; i++) if (w[i] > 0) h -= w[i] * Math.log(w[i]);
  return h;
}

/**
 * Effective sample size of normalised weights: K for uniform weights, 1 when one candidate has all the weight.
 *
 * ESS(w) = 1 / Σ_i w_i²
 */
export function effectiveSampleSize(w: ArrayLike<number>): number {
  let s2 = 0;
  for (let i = 0; i < w.length; i++) s2 += w[i] * w[i];
  return 1 / s2;
}

/** What `maxentGroup` returns for one group: the target, reference, weights and their summaries. */
export interface MaxentGroupResult {
  /** The listwise target q. */
  q: number[];
  /** The reference scores s. */
  scores: number[];
  /** π_ref over the group, softmax(s). */
  ref: number[];
  /** The target weights w. */
  weights: number[];
  /** H(w) in nats. */
  entropy: number;
  /** 1 / Σ w². */
  ess: number;
}

/** Options of `maxentGroup`; names and defaults as the recipe keys (see `MAXENT_DEFAULTS`). */
export interface MaxentGroupOptions {
  /** Σ_t log π_ref per candidate; unset: a uniform reference (all scores 0). */
  refLogProbSums?: ArrayLike<number>;
  /** Completion token counts, for length normalisation. */
  lengths?: ArrayLike<number>;
  /** τ. */
  tau: number;
  /** β. */
  beta: number;
  /** T_q. */
  qTemperature: number;
  /** ε. */
  qEpsilon: number;
  /** Divide reference sums by the token counts. */
  lengthNormalizeRef: boolean;
}

/**
 * Everything about one group in one call: q, s, π_ref, w, H(w) and ESS (what `maxent weights` prints).
 *
 * @example
 * ```ts
 * maxentGroup([1, 0, 0, 1], { tau: 0.2, beta: 0, qTemperature: 1, qEpsilon: 1e-6, lengthNormalizeRef: true }).weights;
 * ```
 */
export function maxentGroup(utilities: ArrayLike<number>, opts: MaxentGroupOptions): MaxentGroupResult {
  const q = listwiseTarget(utilities, opts.qTemperature, opts.qEpsilon);
  if (opts.refLogProbSums !== undefined && opts.refLogProbSums.length !== q.length) {
    throw new MaxentError(
      `reference log-probs have ${opts.refLogProbSums.length} entries but utilities have ${q.length}`,
    );
  }
  const scores = opts.refLogProbSums === undefined
    ? new Array<number>(q.length).fill(0)
    : referenceScores(opts.refLogProbSums, opts.lengths, opts.lengthNormalizeRef);
  const weights = maxentWeights(q, scores, opts.tau, opts.beta);
  return {
    q,
    scores,
    ref: softmax(scores),
    weights,
    entropy: weightEntropy(weights),
    ess: effectiveSampleSize(weights),
  };
}

/**
 * The weighted maximum-likelihood loss over a batch of G groups (w is a constant: pass it as data, not a variable).
 *
 * L = (1/G) Σ_i w_i · NLL_i,  NLL_i = −Σ_t mask_i,t · log π_θ(y_i,t | x, y_i,<t)
 *
 * @param tokenLogProbs [N, T] log-probs of the completion tokens under the policy (N = candidates in the batch).
 * @param completionMask [N, T] 1 for completion tokens (EOS included), 0 for padding.
 * @param weights [N] the MaxEnt weights, each group's entries summing to 1.
 * @param numGroups G, the number of groups in the batch (> 0).
 * @returns a scalar tensor (the caller disposes it, or calls this inside `tf.tidy` / a gradient function).
 */
export function weightedNllLoss(
  tokenLogProbs: tf.Tensor2D,
  completionMask: tf.Tensor2D,
  weights: tf.Tensor1D | ArrayLike<number>,
  numGroups: number,
): tf.Scalar {
  if (!(numGroups > 0)) throw new MaxentError(`numGroups must be > 0, got ${numGroups}`);
  const [n] = tokenLogProbs.shape;
  const wLen = weights instanceof tf.Tensor ? weights.shape[0] : weights.length;
  if (wLen !== n) throw new MaxentError(`weights has ${wLen} entries but the batch has ${n} candidates`);
  return tf.tidy(() => {
    const w = weights instanceof tf.Tensor ? weights : tf.tensor1d(Array.from(weights), "float32");
    const nll = tf.neg(tf.sum(tf.mul(tokenLogProbs, completionMask), 1)); // [N]
    return tf.div(tf.sum(tf.mul(w, nll)), numGroups) as tf.Scalar;
  });
}
