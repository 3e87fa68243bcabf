/**
 * xDr.GRPO ("Exploration Should Act at the Group Level in RL LLM Fine-Tuning", the MaxEnt-GRPO authors' later form):
 * Dr.GRPO's per-candidate clipped surrogate, aggregated over each prompt group with frozen tempered-softmax weights
 * `K · softmax(U / τ)` instead of Dr.GRPO's uniform weights. τ = ∞ is exactly Dr.GRPO; τ = 0 is uniform weight on
 * the group's arg-max set; an optional reference tilt λ pulls the weights towards candidates π_ref finds plausible.
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs";
import { MaxentError } from "../errors.ts";
import { groupAdvantages, type GrpoLossInputs, type GrpoLossMetrics, grpoTokenLoss } from "./grpo.ts";
import { softmax } from "./maxent.ts";

/**
 * Dr.GRPO advantages: the group-mean-centred rewards, no std scaling.
 *
 * A_i = r_i − mean_group r
 *
 * @param rewards one reward per candidate, grouped consecutively (group g is rewards[g·K .. g·K+K)).
 * @param groupSize K (`num_generations`).
 * @example
 * ```ts
 * drGrpoAdvantages([1, 0, 0, 0], 4); // [0.75, -0.25, -0.25, -0.25]
 * ```
 */
export function drGrpoAdvantages(rewards: ArrayLike<number>, groupSize: number): number[] {
  return groupAdvantages(rewards, groupSize, "none");
}

/**
 * Candidate utilities at the rollout policy, where the importance ratio is 1 and the clipped Dr.GRPO surrogate of
 * candidate i reduces to its advantage times its share of the length normaliser.
 *
 * U_i = A_i · T_i / T_max
 *
 * @param advantages A_i (Dr.GRPO advantages).
 * @param lengths T_i, completion token counts (EOS included, padding excluded).
 * @param tMax T_max = `max_completion_length` (> 0).
 * @example
 * ```ts
 * xdrUtilities([0.5, -0.5], [4, 8], 8); // [0.25, -0.5]
 * ```
 */
export function xdrUtilities(advantages: ArrayLike<number>, lengths: ArrayLike<number>, tMax: number): number[] {
  if (!(tMax > 0) || !Number.isFinite(tMax)) {
    throw new MaxentError(`T_max (max_completion_length) must be a finite number > 0, got ${tMax}`);
  }
  if (advantages.length !== lengths.length) {
    throw new MaxentError(
      `advantages has ${advantages.length} entries but lengths has ${lengths.length}; give one per candidate`,
    );
  }
  return Array.from(advantages, (a, i) => {
    const t = lengths[i];
    if (!Number.isFinite(a)) throw new MaxentError(`advantages[${i}] is ${a}; advantages must be finite`);
    if (!Number.isFinite(t) || t < 0) throw new MaxentError(`lengths[${i}] is ${t}; token counts must be ≥ 0`);
    return (a * t) / tMax;
  });
}

/** Options of {@linkcode xdrGroupWeights} and {@linkcode xdrWeights}. */
export interface XdrWeightOptions {
  /** τ ≥ 0 (`xdr_tau`); `Infinity` is Dr.GRPO (weight 1 on every valid candidate, no softmax evaluated). */
  tau: number;
  /** λ ≥ 0, the reference tilt (`xdr_ref_tilt`, default 0). */
  refTilt?: number;
  /**
   * s_i, the candidates' reference scores: the length-normalised log π_ref of each completion (the paper's ℓ^ref;
   * `referenceScores(sums, lengths, true)` of maxent.ts). Required when `refTilt` > 0 and τ is finite.
   */
  refScores?: ArrayLike<number>;
  /** Which candidates take part in the loss (1/true) and which are masked out (0/false); default all. */
  valid?: ArrayLike<number | boolean>;
}

/**
 * The xDr.GRPO weights of one prompt group, as the closed-form maximiser over the group's simplex of
 * ⟨w, U⟩ + τ·H(w) − λ·KL(w ‖ π_ref), scaled to sum to the number of valid candidates n:
 *
 * w_i = n · softmax_valid( U/(τ+λ) + (λ/(τ+λ))·s )_i      (masked candidates: w_i = 0)
 *
 * Limits: τ = ∞ → w_i = 1 on every valid candidate (exactly, no softmax: the Dr.GRPO path); τ + λ = 0 → uniform
 * over the valid arg-max set of U (exact ties only), i.e. w_i = n / |argmax| there and 0 elsewhere.
 *
 * @param utilities U_i of the group's candidates (from {@linkcode xdrUtilities}).
 * @example
 * ```ts
 * xdrGroupWeights([0.5, -0.5, -0.5, 0.5], { tau: 0 });        // [2, 0, 0, 2]
 * xdrGroupWeights([0.5, -0.5], { tau: Infinity });           // [1, 1]
 * xdrGroupWeights([1, 0, 0], { tau: 1, valid: [1, 1, 0] });  // [2e/(e+1), 2/(e+1), 0]
 * ```
 */
export function xdrGroupWeights(utilities: ArrayLike<number>, opts: XdrWeightOptions): number[] {
  const k = utilities.length;
  const { tau } = opts;
  const lambda = opts.refTilt ?? 0;
  if (Number.isNaN(tau) || tau < 0) throw new MaxentError(`xdr_tau (τ) must be ≥ 0 or infinity, got ${tau}`);
  if (!(lambda >= 0) || !Number.isFinite(lambda)) {
    throw new MaxentError(`xdr_ref_tilt (λ) must be a finite number ≥ 0, got ${lambda}`);
  }
  if (opts.valid !== undefined && opts.valid.length !== k) {
    throw new MaxentError(`valid mask has ${opts.valid.length} entries but the group has ${k} candidates`);
  }
  for (let i = 0; i < k; i++) {
    if (!Number.isFinite(utilities[i])) throw new MaxentError(`utilities[${i}] is ${utilities[i]}; must be finite`);
  }
  const valid = Array.from({ length: k }, (_, i) => opts.valid === undefined || Boolean(opts.valid[i]));
  const n = valid.filter((v) => v).length;
  const out = new Array<number>(k).fill(0);
  if (n === 0) return out; // an all-masked group trains nothing
  // τ = ∞: Dr.GRPO's uniform aggregation, weight exactly 1 per valid candidate.
  if (tau === Infinity) return valid.map((v) => (v ? 1 : 0));

  const kappa = tau + lambda;
  if (kappa === 0) {
    // τ → 0⁺ (λ = 0): uniform over the valid candidates whose utility equals the group maximum.
    let max = -Infinity;
    for (let i = 0; i < k; i++) if (valid[i] && utilities[i] > max) max = utilities[i];
    const argmax = valid.map((v, i) => v && utilities[i] === max);
    const size = argmax.filter((a) => a).length;
    return argmax.map((a) => (a ? n / size : 0));
  }
  let s: ArrayLike<number> | undefined;
  if (lambda > 0) {
    s = opts.refScores;
    if (s === undefined) throw new MaxentError("xdr_ref_tilt > 0 needs the candidates' reference scores (refScores)");
    if (s.length !== k) throw new MaxentError(`refScores has ${s.length} entries but the group has ${k} candidates`);
    for (let i = 0; i < k; i++) {
      if (valid[i] && !Number.isFinite(s[i])) throw new MaxentError(`refScores[${i}] is ${s[i]}; must be finite`);
    }
  }
  // logits_i = U_i/(τ+λ) + (λ/(τ+λ))·s_i on valid candidates, −∞ on masked ones
  const logits = Array.from(
    { length: k },
    (_, i) => (valid[i] ? utilities[i] / kappa + (s ? (lambda / kappa) * s[i] : 0) : -Infinity),
  );
  const p = softmax(logits);
  return p.map((v, i) => (valid[i] ? n * v : 0));
}

/**
 * The xDr.GRPO weights of a batch of prompt groups, computed once per rollout batch and frozen for the update:
 * Dr.GRPO advantages in, {@linkcode xdrUtilities}, then {@linkcode xdrGroupWeights} group by group.
 *
 * @param advantages A_i for all candidates, grouped consecutively ([G·K]).
 * @param lengths T_i for all candidates ([G·K]).
 * @param groupSize K (`num_generations`).
 * @param tMax T_max (`max_completion_length`).
 * @param opts τ, λ, and (batch-wide, [G·K]) `refScores` and `valid`.
 * @example
 * ```ts
 * xdrWeights([0.5, -0.5, 0.5, -0.5], [4, 4, 2, 2], 2, 4, { tau: 0 }); // [2, 0, 2, 0]
 * ```
 */
export function xdrWeights(
  advantages: ArrayLike<number>,
  lengths: ArrayLike<number>,
  groupSize: number,
  tMax: number,
  opts: XdrWeightOptions,
): number[] {
  if (!Number.isInteger(groupSize) || groupSize <= 0) {
    throw new MaxentError(`groupSize must be a positive integer, got ${groupSize}`);
  }
  if (advantages.length === 0 || advantages.length % groupSize !== 0) {
    throw new MaxentError(`${advantages.length} candidates do not form whole groups of ${groupSize}`);
  }
  for (const [name, xs] of [["refScores", opts.refScores], ["valid", opts.valid]] as const) {
    if (xs !== undefined && xs.length !== advantages.length) {
      throw new MaxentError(`${name} has ${xs.length} entries but the batch has ${advantages.length} candidates`);
    }
  }
  const u = xdrUtilities(advantages, lengths, tMax);
  const out: number[] = [];
  for (let g = 0; g < u.length; g += groupSize) {
    const slice = <T>(xs: ArrayLike<T> | undefined) =>
      xs === undefined ? undefined : Array.from(xs).slice(g, g + groupSize);
    out.push(
      ...xdrGroupWeights(u.slice(g, g + groupSize), {
        tau: opts.tau,
        refTilt: opts.refTilt,
        refScores: slice(opts.refScores),
        valid: slice(opts.valid),
      }),
    );
  }
  return out;
}

/** Inputs of {@linkcode xdrTokenLoss}: those of `grpoTokenLoss` (always `dr_grpo` aggregation) plus the weights. */
export interface XdrLossInputs extends Omit<GrpoLossInputs, "lossType"> {
  /**
   * The frozen per-candidate weights w_i ≥ 0 ([N], from {@linkcode xdrWeights}); unset / null: Dr.GRPO (τ = ∞),
   * which then runs exactly `grpoTokenLoss` with `loss_type: dr_grpo`.
   */
  weights?: ArrayLike<number> | null;
}

/**
 * The xDr.GRPO loss: Dr.GRPO's per-token clipped surrogate with each candidate's term multiplied by its frozen
 * weight; the β·k3 KL term keeps Dr.GRPO's uniform aggregation (as the authors' code: only the policy-gradient
 * aggregation is reweighted).
 *
 * L = Σ_i Σ_t m_it · ( w_i · −min(ρ_it·A_i, clip(ρ_it, 1−ε, 1+ε_high)·A_i) + β·k3_it ) / (N · T_max)
 *
 * Since w_i ≥ 0, w_i · −min(ρA, clip(ρ)A) = −min(ρ·(w_i A), clip(ρ)·(w_i A)), so this is `grpoTokenLoss` (dr_grpo)
 * with advantages w_i·A_i; the clip-ratio metrics are those of the unweighted advantages (Dr.GRPO's semantics).
 *
 * @returns the scalar loss (the caller owns it) and TRL's metrics.
 */
export function xdrTokenLoss(inputs: XdrLossInputs): { loss: tf.Scalar; metrics: GrpoLossMetrics } {
  const { weights, ...rest } = inputs;
  const base: GrpoLossInputs = { ...rest, lossType: "dr_grpo" };
  if (weights === undefined || weights === null) return grpoTokenLoss(base);
  const n = inputs.logProbs.shape[0];
  if (weights.length !== n) throw new MaxentError(`weights has ${weights.length} entries but the batch has ${n}`);
  for (let i = 0; i < n; i++) {
    if (!(weights[i] >= 0) || !Number.isFinite(weights[i])) {
      throw new MaxentError(`weights[${i}] is ${weights[i]}; xDr.GRPO weights must be finite and ≥ 0`);
    }
  }
  const adv = inputs.advantages instanceof tf.Tensor ? inputs.advantages.dataSync() : Array.from(inputs.advantages);
  if (adv.length !== n) throw new MaxentError(`advantages has ${adv.length} entries but the batch has ${n} candidates`);
  const weighted = Array.from(adv, (a, i) => weights[i] * a);
  const { loss } = grpoTokenLoss({ ...base, advantages: weighted, withMetrics: false });
  if (!(inputs.withMetrics ?? true)) {
    return { loss, metrics: { clipRatioLow: 0, clipRatioHigh: 0, clipRatioRegion: 0, kl: NaN } };
  }
  const unweighted = grpoTokenLoss({ ...base, withMetrics: true });
  unweighted.loss.dispose();
  return { loss, metrics: unweighted.metrics };
}
