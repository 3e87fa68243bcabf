/**
 * Length rewards: `length` (open-r1's `len_reward`, the Kimi 1.5 length penalty) and `soft_overlong_punishment`
 * (DAPO's soft overlong punishment, Eq. 13 of arXiv:2503.14476, as open-r1's / TRL's `get_soft_overlong_punishment`).
 */
import { accuracyOne } from "./accuracy.ts";
import { completionText, perSample, type RewardContext, type RewardInput, type RewardValue } from "./types.ts";

/**
 * Kimi 1.5 length reward within each group of candidates for the same prompt. Length = Unicode code points of the
 * completion (Python's `len`, as open-r1). With λ_i = 0.5 − (len_i − min_len)/(max_len − min_len):
 * reward_i = λ_i if the answer is correct, min(0, λ_i) if not; all 0 when every length in the group is equal.
 * A sample whose gold answer is missing counts as correct (open-r1 "avoids penalising" unparseable golds).
 *
 * Deviation: open-r1 takes min/max over the whole batch it receives; here the group is the samples that share the
 * same prompt text, as in the Kimi 1.5 report (the two agree when a batch holds one prompt's group).
 */
export function lengthReward(batch: RewardInput[], ctx: RewardContext): RewardValue[] {
  const lengths = batch.map((s) => [...completionText(s.completion)].length);
  const correct = perSample(batch, (s) => accuracyOne(s.completion, s.row[ctx.solutionColumn]) !== 0);
  const groups = new Map<string, number[]>();
  batch.forEach((s, i) => groups.set(s.prompt, [...(groups.get(s.prompt) ?? []), i]));
  const out: RewardValue[] = new Array(batch.length).fill(0);
  for (const idx of groups.values()) {
    const ls = idx.map((i) => lengths[i]);
    const minLen = Math.min(...ls), maxLen = Math.max(...ls);
    if (maxLen === minLen) continue;
    for (const i of idx) {
      const lambda = 0.5 - (lengths[i] - minLen) / (maxLen - minLen);
      out[i] = correct[i] ? lambda : Math.min(0, lambda);
    }
  }
  return out;
}

/** DAPO's default cache fraction: L_cache = 4096 of L_max = 20480 tokens, i.e. 20 % of `max_completion_length`. */
export const DEFAULT_OVERLONG_CACHE_FRACTION = 0.2;

/**
 * Soft overlong punishment with L_max = `ctx.maxCompletionLength` and cache L_cache (default
 * ⌊0.2 · L_max⌋, at least 1), on the completion's token count L:
 * r = 0 if L ≤ L_max − L_cache; (L_max − L_cache − L)/L_cache if L_max − L_cache < L ≤ L_max; −1 if L > L_max.
 */
export function softOverlongPunishment(cache?: number): (batch: RewardInput[], ctx: RewardContext) => RewardValue[] {
  return (batch, ctx) => {
    const maxLen = ctx.maxCompletionLength;
    const lCache = cache ?? Math.max(1, Math.floor(DEFAULT_OVERLONG_CACHE_FRACTION * maxLen));
    return perSample(batch, (s) => {
      const len = s.completionTokens;
      if (len === undefined || !Number.isInteger(len) || len < 0) {
        throw new Error("soft_overlong_punishment needs completionTokens (the sampler's token count)");
      }
      if (len <= maxLen - lCache) return 0.0;
      if (len <= maxLen) return (maxLen - lCache - len) / lCache;
      return -1.0;
    });
  };
}
