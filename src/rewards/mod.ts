/**
 * Rewards: the registry that turns `reward_funcs` / `reward_weights` / `reward_url` into a scorer, the built-in
 * rewards (`pure_accuracy_math`, `accuracy`, `format`, `tag_count`, `length`, `soft_overlong_punishment`) and the
 * pieces custom rewards may reuse.
 *
 * @example
 * ```ts
 * import { resolveRewards } from "./mod.ts";
 * const rewards = await resolveRewards({ names: ["pure_accuracy_math"], solutionColumn: "answer" });
 * const completion = "<think>…</think><answer>42</answer>";
 * const { total } = await rewards.score([{ completion, prompt: "", row: { answer: "42" } }]); // total = [1]
 * ```
 *
 * @module
 */
export type { RewardContext, RewardFunction, RewardInput, RewardScores, RewardSet, RewardValue } from "./types.ts";
export { completionText, RewardSampleError } from "./types.ts";
export { builtinRewards, resolveRewards, type ResolveRewardsOptions } from "./registry.ts";
export { remoteReward, type RemoteRewardOptions } from "./remote.ts";
export { canonMath } from "./pure_accuracy_math.ts";
export { answersMatch, extractPrediction } from "./math_answer.ts";
