/**
 * `format` and `tag_count`: the think/answer template rewards of open-r1 (`src/open_r1/rewards.py`,
 * `format_reward` and `tag_count_reward`, checked against huggingface/open-r1 at commit 1416fa0, April 2026).
 */
import { completionText, perSample, type RewardInput, type RewardValue } from "./types.ts";

/**
 * open-r1's `re.match(r"^<think>\n.*?\n</think>\n<answer>\n.*?\n</answer>$", text, re.DOTALL | re.MULTILINE)`.
 * `re.match` anchors at the start of the text; under MULTILINE, `$` also matches before any "\n", so text after
 * `</answer>` is accepted when it starts with a newline ("…</answer>\nmore" → 1, "…</answer> more" → 0).
 */
const FORMAT_RE = /^<think>\n[^]*?\n<\/think>\n<answer>\n[^]*?\n<\/answer>(?=\n|$)/;

/** format(y) = 1 if y follows `<think>\n…\n</think>\n<answer>\n…\n</answer>`, else 0. */
export function formatOne(completion: unknown): number {
  return FORMAT_RE.test(completionText(completion)) ? 1.0 : 0.0;
}

/** Non-overlapping occurrences of `needle` in `text` (Python's `str.count`). */
function countOf(text: string, needle: string): number {
  return text.split(needle).length - 1;
}

/**
 * tag_count(y) = 0.25 · ([count("<think>\n") = 1] + [count("\n</think>\n") = 1] + [count("\n<answer>\n") = 1]
 * + [count("\n</answer>") = 1]).
 */
export function tagCountOne(completion: unknown): number {
  const text = completionText(completion);
  let count = 0.0;
  if (countOf(text, "<think>\n") === 1) count += 0.25;
  if (countOf(text, "\n</think>\n") === 1) count += 0.25;
  if (countOf(text, "\n<answer>\n") === 1) count += 0.25;
  if (countOf(text, "\n</answer>") === 1) count += 0.25;
  return count;
}

/** The `format` reward function. */
export function format(batch: RewardInput[]): RewardValue[] {
  return perSample(batch, (s) => formatOne(s.completion));
}

/** The `tag_count` reward function. */
export function tagCount(batch: RewardInput[]): RewardValue[] {
  return perSample(batch, (s) => tagCountOne(s.completion));
}
