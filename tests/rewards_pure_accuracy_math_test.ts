/**
 * `pure_accuracy_math` must give the original Python reward's value on every input. The tables below were produced
 * by running the original code (liv-daliberti/maxent-grpo `src/open_r1/rewards_core.py`, `_canon_math` and
 * `pure_accuracy_reward_math`) under CPython 3 on these inputs; they include the cases of the original tests
 * (PURE_ACCURACY_MATH.md) and edge cases for every rule (Unicode whitespace/digits, case folding, tag order).
 */
import { builtinRewards } from "../src/rewards/mod.ts";
import { canonMath, pureAccuracyMathOne } from "../src/rewards/pure_accuracy_math.ts";
import { assertEquals } from "./assert.ts";

/** [input, _canon_math(input)] from CPython. */
const CANON: [string | null, string][] = [
  [" { 42 } ", "42"],
  ["( 3.0 )", "3"],
  ["-0", "0"],
  ["+0", "0"],
  ["12.0", "12"],
  ["  \\sqrt  { 4 }  ", "\\sqrt{4}"],
  ["{x}", "x"],
  ["{{x}}", "{{x}}"],
  ["{}", "{}"],
  ["{ }", ""],
  ["(1, 2)", "(1,2)"],
  ["(-3)", "-3"],
  ["( -3.50 )", "-3.50"],
  ["(3.0)", "3"],
  ["( \\sqrt{2} )", "(\\sqrt{2})"],
  ["(\\sqrt 2)", "(\\sqrt2)"],
  ["(x)", "(x)"],
  ["(2.000)", "2"],
  ["-3.0", "-3"],
  ["-3.10", "-3.10"],
  ["3.", "3."],
  [".0", ".0"],
  ["12.00", "12"],
  ["+3", "+3"],
  ["+3.0", "+3.0"],
  ["- 0", "0"],
  ["-0.0", "-0"],
  ["1 000", "1000"],
  ["1\u00a0000", "1\u00a0000"],
  ["\u3000 7 \u3000", "7"],
  ["\u001c5\u001f", "5"],
  ["\ufeff5", "\ufeff5"],
  ["\u00855\u0085", "5"],
  ["\u0663.0", "\u0663"],
  ["(\u0663)", "\u0663"],
  ["{(3.0)}", "3"],
  ["({3})", "({3})"],
  ["( 3.0 ) ", "3"],
  ["\t(2.0)\n", "2"],
  ["(s)", "s"],
  ["(q)", "q"],
  ["(rt)", "rt"],
  ["(3 .0)", "(3.0)"],
  ["(1-2)", "1-2"],
  ["(--)", "--"],
  ["\\frac{1}{2}", "\\frac{1}{2}"],
  ["0.5", "0.5"],
  ["1/2", "1/2"],
  ["00.0", "00"],
  ["0.00", "0"],
  ["-00", "-00"],
  [null, ""],
  ["", ""],
  [" ", ""],
  ["5\n", "5"],
  ["(5\n)", "5"],
];

/** [completion, gold, pure_accuracy_reward_math([completion], [gold])[0]] from CPython. */
const REWARD: [unknown, string | null, number][] = [
  ["<think>r</think><answer> 42 </answer>", "42", 1.0],
  ["<think>r</think><answer> 42 </answer>", "41", 0.0],
  ["no tags here", "42", 0.0],
  [" <think>r</think><answer>42</answer>", "42", 0.0],
  ["<THINK>r</Think><ANSWER>42</answer>", "42", 1.0],
  ["<think>\nmulti\nline\n</think>\n<answer>\n7\n</answer>\ntrailing", "7", 1.0],
  ["<think>a</think><answer>1</answer><answer>2</answer>", "1", 1.0],
  ["<think>a</think><answer>1</answer><answer>2</answer>", "2", 0.0],
  ["<think><answer>5</answer></think><answer>6</answer>", "5", 1.0],
  ["<think><answer>5</answer></think><answer>6</answer>", "6", 0.0],
  ["<answer>4</answer><think>x</think>", "4", 0.0],
  ["<think>x</think>", "4", 0.0],
  ["<think>x</think><answer>4", "4", 0.0],
  ["<th\u0130nk>x</think><answer>4</answer>", "4", 1.0],
  ["<th\u0131nk>x</think><answer>4</answer>", "4", 1.0],
  ["<thin\u212a>x</think><an\u017fwer>4</answer>", "4", 1.0],
  ["<think>r</think><answer>\u3000 4 \u00a0</answer>", "4", 1.0],
  ["<think>r</think><answer>\ufeff4</answer>", "4", 0.0],
  ["<think>r</think><answer>\u001c4\u001d</answer>", "4", 1.0],
  ["<think>r</think><answer></answer>", "", 1.0],
  ["<think>r</think><answer>  </answer>", null, 1.0],
  ["<think>r</think><answer>3.0</answer>", "3", 1.0],
  ["<think>r</think><answer>{ 3 }</answer>", "( 3.00 )", 1.0],
  ["<think>r</think><answer>+3</answer>", "3", 0.0],
  ["<think>r</think><answer>0.5</answer>", "1/2", 0.0],
  ["<think>r</think><answer>\\boxed{4}</answer>", "4", 0.0],
  ["<think>r</think><answer>-0</answer>", "+0", 1.0],
  [[{ "role": "assistant", "content": "<think>r</think><answer>9</answer>" }], "9", 1.0],
  [[{ "role": "assistant", "content": "x" }, { "content": "<think>r</think><answer>9</answer>" }], "9", 0.0],
  [[{ "role": "assistant" }], "", 0.0],
  [null, "", 0.0],
  ["<think>r</think><answer>A B</answer>", "AB", 1.0],
  ["<think>r</think><answer>a\tb</answer>", "ab", 0.0],
  ["<think>r</think><answer>a\tb</answer>", "a\tb", 1.0],
];

Deno.test("pure_accuracy_math: the original tests' canonicalisation cases", () => {
  assertEquals(canonMath(" { 42 } "), "42");
  assertEquals(canonMath("( 3.0 )"), "3");
  assertEquals(canonMath("-0"), "0");
  assertEquals(canonMath("12.0"), "12");
  assertEquals(canonMath("  \\sqrt  { 4 }  "), "\\sqrt{4}");
  const ctx = { solutionColumn: "answer", maxCompletionLength: 256 };
  const batch = [
    { completion: "<think>...</think><answer> 42 </answer>", prompt: "p", row: { answer: "42" } },
    { completion: "<think>...</think><answer> 42 </answer>", prompt: "p", row: { answer: "41" } },
    { completion: "no tags here", prompt: "p", row: { answer: "42" } },
  ];
  assertEquals(builtinRewards.pure_accuracy_math(batch, ctx), [1, 0, 0]);
});

Deno.test("pure_accuracy_math: _canon_math matches CPython on every rule's edge cases", () => {
  for (const [input, expected] of CANON) assertEquals(canonMath(input), expected, `canon(${JSON.stringify(input)})`);
});

Deno.test("pure_accuracy_math: reward matches CPython (format gate, first <answer>, message lists, Unicode)", () => {
  for (const [completion, gold, expected] of REWARD) {
    assertEquals(pureAccuracyMathOne(completion, gold), expected, `reward(${JSON.stringify(completion)}, ${gold})`);
  }
});

Deno.test("pure_accuracy_math: gold from the configured solution column; numbers are written in decimal", async () => {
  const ctx = { solutionColumn: "solution", maxCompletionLength: 256 };
  const c = "<think>x</think><answer>3</answer>";
  const out = await builtinRewards.pure_accuracy_math([
    { completion: c, prompt: "", row: { solution: "3", answer: "4" } },
    { completion: c, prompt: "", row: { answer: "3" } },
    { completion: c, prompt: "", row: { solution: 3 } },
    { completion: c, prompt: "", row: { solution: 3.0 } },
  ], ctx);
  assertEquals(out, [1, 0, 1, 1]);
});
