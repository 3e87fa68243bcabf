/**
 * The multi-answer experiment: arms (objectives) trained from the same start on the same prompts, evaluated with
 * pass@k / mean@k / distinct@k / coverage@k, compared to Dr.GRPO by a paired bootstrap, reported as JSON + HTML.
 *
 * @example
 * ```ts
 * import { parseArms, runCompare } from "./mod.ts";
 * await runCompare({
 *   recipe: "recipes/experiments/countdown.yaml",
 *   arms: parseArms("dr_grpo,xdr-grpo:tau=0.05"),
 *   seeds: 1,
 *   out: "runs/experiment",
 * });
 * ```
 *
 * @module
 */
export {
  ARM_KEYS,
  armDirName,
  armOverrides,
  type ArmSpec,
  parseArm,
  parseArms,
  parseSweep,
  type SweepSpec,
} from "./arms.ts";
export { type ArmEval, type ArmEvalOptions, evaluateArm } from "./evaluate_arm.ts";
export {
  type ArmResult,
  type ExperimentResults,
  meanRewardCurve,
  metricLabel,
  metricMatrix,
  metricMeans,
  type RunResult,
  summarizeArms,
  type SweepResult,
} from "./results.ts";
export { experimentFigure, experimentHtml, markdownTable, movingAverage, shortLabel } from "./report.ts";
export { type CompareOptions, type CompareResult, comparisonArms, runCompare } from "./compare.ts";
export { warmStartRows } from "./warm_start.ts";
