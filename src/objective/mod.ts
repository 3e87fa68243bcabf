/**
 * The training objectives as pure functions: MaxEnt-GRPO's listwise target, reference distribution, closed-form
 * weights and weighted-MLE loss, and GRPO's group advantages and clipped-surrogate token loss.
 *
 * @module
 */
export {
  effectiveSampleSize,
  listwiseTarget,
  maxentGroup,
  type MaxentGroupOptions,
  type MaxentGroupResult,
  maxentWeights,
  referenceDistribution,
  referenceScores,
  softmax,
  weightedNllLoss,
  weightEntropy,
} from "./maxent.ts";
export {
  groupAdvantages,
  type GrpoLossInputs,
  type GrpoLossMetrics,
  type GrpoLossType,
  grpoMetricsFromValues,
  grpoMetricsTensor,
  grpoTokenLoss,
  type ScaleRewards,
  stopGradient,
} from "./grpo.ts";
export {
  drGrpoAdvantages,
  xdrGroupWeights,
  type XdrLossInputs,
  xdrTokenLoss,
  xdrUtilities,
  type XdrWeightOptions,
  xdrWeights,
} from "./xdr.ts";
