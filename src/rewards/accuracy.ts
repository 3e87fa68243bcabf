/**
 * `accuracy`: 1 when the completion's final answer (last `<answer>` payload, else last `\boxed{}`) is equivalent to
 * the gold answer under the rules of `math_answer.ts`, 0 when it is not or when there is no answer, and null (skip,
 * as open-r1's current `accuracy_reward` does for an unparseable gold) when the row has no gold answer.
 */
import { answersMatch, extractGold, extractPrediction } from "./math_answer.ts";
import { completionText, perSample, type RewardContext, type RewardInput, type RewardValue } from "./types.ts";

/** The gold answer text of a row value, or null when there is none (missing, empty, not a string or number). */
export function goldAnswer(value: unknown): string | null {
  if (typeof value === "number" && Number.isFinite(value)) return String(value);
  if (typeof value === "bigint") return value.toString();
  if (typeof value !== "string" || value.trim() === "") return null;
  return extractGold(value);
}

/** accuracy(y, gold) ∈ {0, 1}, or null without a gold answer. */
export function accuracyOne(completion: unknown, gold: unknown): RewardValue {
  const goldText = goldAnswer(gold);
  if (goldText === null) return null;
  const pred = extractPrediction(completionText(completion));
  if (pred === null) return 0;
  return answersMatch(pred, goldText) ? 1 : 0;
}

/** The `accuracy` reward function; gold from `row[ctx.solutionColumn]`. */
export function accuracy(batch: RewardInput[], ctx: RewardContext): RewardValue[] {
  return perSample(batch, (s) => accuracyOne(s.completion, s.row[ctx.solutionColumn]));
}
