/**
 * `format`, `tag_count`, `length` and `soft_overlong_punishment`. The format/tag_count table was produced by running
 * open-r1's `format_reward` regex (`re.match` with DOTALL | MULTILINE) and `tag_count_reward` counting under CPython
 * (huggingface/open-r1 at 1416fa0); length and overlong values are computed by hand in the comments.
 */
import { lengthReward, softOverlongPunishment } from "../src/rewards/length.ts";
import { builtinRewards, RewardSampleError } from "../src/rewards/mod.ts";
import type { RewardInput } from "../src/rewards/mod.ts";
import { formatOne, tagCountOne } from "../src/rewards/format.ts";
import { assertClose, assertEquals, assertThrows } from "./assert.ts";

/** [completion, open-r1 format_reward, open-r1 tag_count_reward] from CPython. */
const TEMPLATE: [string, number, number][] = [
  ["<think>\nr\n</think>\n<answer>\n4\n</answer>", 1.0, 1.0],
  ["<think>\nr\n</think>\n<answer>\n4\n</answer>\n", 1.0, 1.0],
  ["<think>\nr\n</think>\n<answer>\n4\n</answer>\ntrailing text", 1.0, 1.0],
  ["<think>\nr\n</think>\n<answer>\n4\n</answer> trailing", 0.0, 1.0],
  ["<think>\nr\n</think>\n<answer>\n4\n</answer>\r\n", 0.0, 1.0],
  ["<think>\nmany\nlines\n\n</think>\n<answer>\na\nb\n</answer>", 1.0, 1.0],
  ["<think>\n\n</think>\n<answer>\n\n</answer>", 1.0, 1.0],
  ["<think>\n</think>\n<answer>\n4\n</answer>", 0.0, 1.0],
  ["<think>r</think>\n<answer>\n4\n</answer>", 0.0, 0.5],
  ["<think>\nr\n</think><answer>\n4\n</answer>", 0.0, 0.5],
  ["<think>\nr\n</think>\n<answer>4</answer>", 0.0, 0.5],
  [" <think>\nr\n</think>\n<answer>\n4\n</answer>", 0.0, 1.0],
  ["x\n<think>\nr\n</think>\n<answer>\n4\n</answer>", 0.0, 1.0],
  ["<THINK>\nr\n</THINK>\n<ANSWER>\n4\n</ANSWER>", 0.0, 0.0],
  ["<think>\nr\n</think>\n<answer>\n4\n</answer>\n</answer>", 1.0, 0.75],
  ["<think>\na\n</think>\n<answer>\n1\n</answer> x \n<answer>\n2\n</answer>", 1.0, 0.5],
  ["<think>\n<think>\nr\n</think>\n<answer>\n4\n</answer>", 1.0, 0.75],
  ["no tags", 0.0, 0.0],
  ["<think>\nr\n</think>\n", 0.0, 0.5],
  ["<think>\nr\n</think>\n<answer>\n4\n</answer>\n<answer>\n5\n</answer>", 1.0, 0.5],
  ["\n</think>\n", 0.0, 0.25],
  ["<think>\r\nr\r\n</think>\r\n<answer>\r\n4\r\n</answer>", 0.0, 0.25],
  ["<think>\nr\u2028\n</think>\n<answer>\n4\n</answer>\u2028", 0.0, 1.0],
];

Deno.test("format and tag_count match open-r1 (CPython) on positives, negatives and partial credit", () => {
  for (const [text, fmt, tags] of TEMPLATE) {
    assertEquals(formatOne(text), fmt, `format(${JSON.stringify(text)})`);
    assertEquals(tagCountOne(text), tags, `tag_count(${JSON.stringify(text)})`);
  }
});

Deno.test("tag_count partial credits: 0.25 per tag counted exactly once", () => {
  assertEquals(tagCountOne("<think>\n"), 0.25); // only the opening think tag
  assertEquals(tagCountOne("<think>\nx\n</think>\n"), 0.5); // + closing think
  assertEquals(tagCountOne("<think>\nx\n</think>\n<answer>\n"), 0.75); // + opening answer
  assertEquals(tagCountOne("<think>\nx\n</think>\n<answer>\n4\n</answer>"), 1.0); // all four
  assertEquals(tagCountOne("<think>\n<think>\nx\n</think>\n<answer>\n4\n</answer>"), 0.75); // think twice
  assertEquals(tagCountOne([{ content: "<think>\nx\n</think>\n" }]), 0.5); // message list → first content
});

function sample(prompt: string, completion: string, answer: string | undefined): RewardInput {
  return { prompt, completion, row: answer === undefined ? {} : { answer } };
}

Deno.test("length: Kimi 1.5 reward per prompt group, by hand", () => {
  const ctx = { solutionColumn: "answer", maxCompletionLength: 256 };
  const pad = (s: string, n: number) => s + " ".repeat(n - [...s].length);
  const batch = [
    sample("p", pad("\\boxed{4}", 10), "4"), // len 10, correct: λ = 0.5 − 0/20 = 0.5
    sample("p", pad("\\boxed{5}", 20), "4"), // len 20, wrong: λ = 0.5 − 10/20 = 0 → min(0, 0) = 0
    sample("p", pad("\\boxed{4}", 30), "4"), // len 30, correct: λ = 0.5 − 20/20 = −0.5
    sample("p", pad("\\boxed{5}", 11), "4"), // len 11, wrong: λ = 0.5 − 1/20 = 0.45 → min(0, 0.45) = 0
    sample("q", pad("\\boxed{1}", 15), "2"), // group q: equal lengths → 0
    sample("q", pad("\\boxed{2}", 15), "2"),
    sample("r", "\\boxed{7}😀😀", "7"), // len 11 code points (13 UTF-16 units), correct: λ = 0.5
    sample("r", "\\boxed{7}" + " ".repeat(12), undefined), // len 21, no gold → counted correct: λ = −0.5
    sample("r", pad("\\boxed{7}", 16), "7"), // len 16: λ = 0.5 − 5/10 = 0 (UTF-16 lengths would give 0.125)
  ];
  assertClose(lengthReward(batch, ctx) as number[], [0.5, 0, -0.5, 0, 0, 0, 0.5, -0.5, 0], 1e-12);
});

Deno.test("soft_overlong_punishment: DAPO piecewise values by hand", () => {
  const ctx = { solutionColumn: "answer", maxCompletionLength: 100 };
  const tok = (n: number): RewardInput => ({ prompt: "", completion: "", row: {}, completionTokens: n });
  // L_max = 100, default L_cache = ⌊0.2·100⌋ = 20: 0 up to 80, then (80 − L)/20, −1 beyond 100.
  const out = builtinRewards.soft_overlong_punishment([0, 80, 81, 90, 100, 101, 5000].map(tok), ctx) as number[];
  assertClose(out, [0, 0, -0.05, -0.5, -1, -1, -1], 1e-12);
  // L_cache = 50: 0 up to 50; L = 75 → (50 − 75)/50 = −0.5.
  assertClose(softOverlongPunishment(50)([tok(50), tok(75)], ctx) as number[], [0, -0.5], 1e-12);
  const e = assertThrows(
    () => builtinRewards.soft_overlong_punishment([tok(1), { prompt: "", completion: "", row: {} }], ctx),
    RewardSampleError,
    "completionTokens",
  );
  assertEquals(e.index, 1);
});
