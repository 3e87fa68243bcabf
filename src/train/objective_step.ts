/**
 * One micro-batch of the objective: pack the scored groups, run the frozen reference where the objective needs it,
 * form the MaxEnt weights (or GRPO advantages), and take gradients of the loss with respect to the policy's
 * trainable variables. Returns the gradients by weight name plus the numbers the metrics are made of.
 */
import * as tf from "@tensorflow/tfjs";
import type { CausalLM } from "../model/transformer.ts";
import { namedTrainableVariables } from "../model/lora.ts";
import {
  drGrpoAdvantages,
  groupAdvantages,
  grpoMetricsFromValues,
  grpoMetricsTensor,
  grpoTokenLoss,
  maxentGroup,
  referenceScores,
  weightedNllLoss,
  xdrTokenLoss,
  xdrWeights,
} from "../objective/mod.ts";
import type { GrpoLossInputs, GrpoLossType, ScaleRewards } from "../objective/mod.ts";
import { accumulateInto } from "../backend/accumulate.ts";
import { maskedRowSums, packBatch } from "./batch.ts";
import type { RolloutGroup } from "./rollout.ts";

/** The objective's settings, from the recipe. */
export type ObjectiveSettings =
  | {
    algorithm: "maxent-grpo";
    tau: number;
    beta: number;
    qTemperature: number;
    qEpsilon: number;
    lengthNormalizeRef: boolean;
  }
  | {
    algorithm: "grpo";
    beta: number;
    epsilon: number;
    epsilonHigh?: number;
    lossType: GrpoLossType;
    scaleRewards: ScaleRewards;
    maxCompletionLength: number;
  }
  | {
    algorithm: "xdr-grpo";
    beta: number;
    epsilon: number;
    epsilonHigh?: number;
    maxCompletionLength: number;
    /** τ of the group weights; Infinity = exactly Dr.GRPO (no weights). */
    tau: number;
    /** λ, the reference tilt (needs reference log-probs when > 0). */
    refTilt: number;
  };

/** Sums over one micro-batch that the step's metrics are averaged from. */
export interface MicroStats {
  /** This micro-batch's share of the step loss (scaled by lossScale). */
  loss: number;
  /** Completion tokens in the micro-batch. */
  tokens: number;
  /** Σ over completion tokens of −log π_θ (a Monte Carlo estimate of the per-token entropy once divided). */
  negLogProbSum: number;
  /** Σ over completion tokens of the k3 estimate of KL(π_θ ‖ π_ref); NaN without a reference pass. */
  klSum: number;
  /** MaxEnt: per group H(q), H(w), ESS. */
  qEntropy: number[];
  weightEntropy: number[];
  ess: number[];
  /** GRPO: TRL's clip ratios (token means within the micro-batch). */
  clip?: { low: number; high: number; region: number };
  /** Per group, the candidate weights (MaxEnt) or advantages (GRPO), for completion logs. */
  perCandidate: number[][];
}

/** Gradients of one micro-batch, keyed by the policy's weight names (caller disposes them). */
export interface MicroResult {
  grads: Map<string, tf.Tensor>;
  stats: MicroStats;
}

function entropy(p: number[]): number {
  return -p.reduce((acc, x) => (x > 0 ? acc + x * Math.log(x) : acc), 0);
}

/**
 * Runs one micro-batch. `lossScale` multiplies the loss (1 / groups per optimiser step for MaxEnt's 1/G; 1 /
 * accumulation steps for GRPO, as TRL), so gradients of the micro-batches of a step simply add up. Tensors are read
 * back only asynchronously (`await t.data()`), so it runs on webgpu too.
 */
export async function objectiveMicroStep(
  policy: CausalLM,
  reference: CausalLM | null,
  groups: RolloutGroup[],
  settings: ObjectiveSettings,
  lossScale: number,
  padId: number,
): Promise<MicroResult> {
  const prompts = groups.flatMap((g) => g.candidates.map(() => g.prompt.ids));
  const completions = groups.flatMap((g) => g.candidates.map((c) => c.ids));
  const k = groups[0].candidates.length;
  const batch = packBatch(prompts, completions, padId);
  const needRef = reference !== null &&
    (settings.beta !== 0 || (settings.algorithm === "xdr-grpo" && settings.refTilt > 0));
  const refLp = needRef ? tf.tidy(() => reference!.tokenLogProbs(batch.ids, batch.attention)) : null;
  try {
    const stats: MicroStats = {
      loss: 0,
      tokens: batch.lengths.reduce((a, b) => a + b, 0),
      negLogProbSum: 0,
      klSum: NaN,
      qEntropy: [],
      weightEntropy: [],
      ess: [],
      perCandidate: [],
    };
    // the per-candidate constants of the loss: MaxEnt weights w, or GRPO advantages A
    let constants: number[];
    let xdrW: number[] | null = null;
    if (settings.algorithm === "maxent-grpo") {
      const refSums = refLp ? await maskedRowSums(refLp, batch.completionMask) : null;
      constants = [];
      groups.forEach((g, gi) => {
        const r = maxentGroup(g.utilities, {
          refLogProbSums: refSums ? refSums.slice(gi * k, (gi + 1) * k) : undefined,
          lengths: batch.lengths.slice(gi * k, (gi + 1) * k),
          tau: settings.tau,
          beta: settings.beta,
          qTemperature: settings.qTemperature,
          qEpsilon: settings.qEpsilon,
          lengthNormalizeRef: settings.lengthNormalizeRef,
        });
        constants.push(...r.weights);
        stats.qEntropy.push(entropy(r.q));
        stats.weightEntropy.push(r.entropy);
        stats.ess.push(r.ess);
        stats.perCandidate.push(r.weights);
      });
    } else if (settings.algorithm === "grpo") {
      constants = groupAdvantages(groups.flatMap((g) => g.utilities), k, settings.scaleRewards);
      for (let gi = 0; gi < groups.length; gi++) stats.perCandidate.push(constants.slice(gi * k, (gi + 1) * k));
    } else {
      // xDr.GRPO: Dr.GRPO advantages; weights K·softmax(U/τ) frozen for this rollout batch (none at τ = ∞)
      constants = drGrpoAdvantages(groups.flatMap((g) => g.utilities), k);
      if (settings.tau !== Infinity) {
        const refSums = refLp && settings.refTilt > 0 ? await maskedRowSums(refLp, batch.completionMask) : null;
        xdrW = xdrWeights(constants, batch.lengths, k, settings.maxCompletionLength, {
          tau: settings.tau,
          refTilt: settings.refTilt,
          refScores: refSums ? referenceScores(refSums, batch.lengths, true) : undefined,
        });
      }
      for (let gi = 0; gi < groups.length; gi++) {
        stats.perCandidate.push((xdrW ?? constants.map(() => 1)).slice(gi * k, (gi + 1) * k));
        if (xdrW) {
          const w = xdrW.slice(gi * k, (gi + 1) * k).map((x) => x / k);
          stats.weightEntropy.push(entropy(w));
          stats.ess.push(1 / w.reduce((a, x) => a + x * x, 0));
        }
      }
    }

    // what the (x)GRPO losses and their clip metrics read besides the log-probs and the loss type
    const grpoInputs = (
      logProbs: tf.Tensor2D,
      s: Exclude<ObjectiveSettings, { algorithm: "maxent-grpo" }>,
      lossType: GrpoLossInputs["lossType"],
    ): GrpoLossInputs => ({
      logProbs,
      refLogProbs: refLp ?? undefined,
      mask: batch.completionMask,
      advantages: constants,
      beta: s.beta,
      epsilon: s.epsilon,
      epsilonHigh: s.epsilonHigh,
      lossType,
      maxCompletionLength: s.maxCompletionLength,
    });
    const names = new Map<string, string>();
    for (const [name, v] of namedTrainableVariables(policy)) names.set(v.name, name);
    let policyLp: tf.Tensor2D | null = null;
    const { value, grads } = tf.variableGrads(() => {
      const lp = policy.tokenLogProbs(batch.ids, batch.attention);
      policyLp = tf.keep(tf.clone(lp));
      if (settings.algorithm === "maxent-grpo") {
        // L = (1/G) Σ_i w_i · NLL_i, with 1/G folded into lossScale
        return tf.mul(weightedNllLoss(lp, batch.completionMask, constants, 1), lossScale) as tf.Scalar;
      }
      if (settings.algorithm === "xdr-grpo") {
        // xDr.GRPO aggregates as dr_grpo; metrics are read after the backward pass, asynchronously (below)
        const { loss } = xdrTokenLoss({ ...grpoInputs(lp, settings, "dr_grpo"), weights: xdrW, withMetrics: false });
        return tf.mul(loss, lossScale) as tf.Scalar;
      }
      // metrics are read after the backward pass, asynchronously (below)
      const { loss } = grpoTokenLoss({ ...grpoInputs(lp, settings, settings.lossType), withMetrics: false });
      return tf.mul(loss, lossScale) as tf.Scalar;
    }, policy.trainableVariables());
    const lp = policyLp! as tf.Tensor2D;
    // every number of the micro-batch in one asynchronous read:
    // [loss, Σ m·logp, Σ m·k3 (with a reference), TRL's clip ratios low, high, region, kl (GRPO, xDr.GRPO)]
    const numbers = tf.tidy(() => {
      const parts: tf.Tensor[] = [tf.reshape(value, [1]), tf.reshape(tf.sum(tf.mul(lp, batch.completionMask)), [1])];
      if (refLp) {
        // k3 = exp(ref − logp) − (ref − logp) − 1, summed over completion tokens
        const d = tf.sub(refLp, lp);
        parts.push(tf.reshape(tf.sum(tf.mul(tf.sub(tf.sub(tf.exp(d), d), 1), batch.completionMask)), [1]));
      }
      if (settings.algorithm !== "maxent-grpo") {
        // the clip metrics of the unweighted advantages (xDr.GRPO: Dr.GRPO's semantics), on the policy's log-probs
        const metricInputs = grpoInputs(lp, settings, settings.algorithm === "grpo" ? settings.lossType : "dr_grpo");
        parts.push(grpoMetricsTensor(metricInputs));
      }
      return tf.concat(parts);
    });
    let values: Float32Array;
    try {
      values = (await numbers.data()) as Float32Array;
    } catch (e) {
      tf.dispose(Object.values(grads));
      throw e;
    } finally {
      tf.dispose([numbers, value, lp]);
    }
    stats.loss = values[0]; // already scaled: the step's loss is the sum over its micro-batches
    stats.negLogProbSum = -values[1];
    let next = 2;
    if (refLp) stats.klSum = values[next++];
    if (settings.algorithm !== "maxent-grpo") {
      const m = grpoMetricsFromValues(values.subarray(next, next + 4));
      stats.clip = { low: m.clipRatioLow, high: m.clipRatioHigh, region: m.clipRatioRegion };
    }
    const byName = new Map<string, tf.Tensor>();
    for (const [varName, g] of Object.entries(grads)) byName.set(names.get(varName) ?? varName, g);
    return { grads: byName, stats };
  } finally {
    refLp?.dispose();
    batch.dispose();
  }
}

/**
 * Adds one micro-batch's gradients into the running sums of the step: sum_name ← sum_name + g_name, written into the
 * sum's buffer (`accumulateInto`), so only the sum and the addend exist, not a third full-size tensor. Names missing
 * from `sum` are taken over. Consumes both maps' tensors (the returned map owns the sums).
 */
export function accumulateGradients(sum: Map<string, tf.Tensor>, add: Map<string, tf.Tensor>): Map<string, tf.Tensor> {
  if (sum.size === 0) return add;
  for (const [name, g] of add) {
    const prev = sum.get(name);
    if (!prev) {
      sum.set(name, g);
      continue;
    }
    sum.set(name, accumulateInto(prev, g));
    g.dispose();
  }
  return sum;
}
