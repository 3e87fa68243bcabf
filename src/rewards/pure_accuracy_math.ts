/**
 * `pure_accuracy_math`: the original MaxEnt-GRPO project's binary reward, a port of its Python code
 * (`src/open_r1/rewards_core.py`: `_format_pat`, `_answer_pat`, `_canon_math`) that gives the same value on every
 * input. Spec: shared/reference/PURE_ACCURACY_MATH.md.
 *
 * Python-regex details reproduced exactly: `\s` and `str.strip()` are Unicode whitespace as Python defines it
 * (which differs from JavaScript's: U+001C–U+001F and U+0085 are whitespace, U+FEFF is not); `\d` is any Unicode
 * decimal digit (category Nd); `(?i)` folds `i` with `İ`/`ı`, `k` with the Kelvin sign and `s` with `ſ`.
 */
import { completionText, perSample, type RewardContext, type RewardInput, type RewardValue } from "./types.ts";

/** Python's whitespace set (`str.isspace()`, which is also what `\s` matches in a `str` pattern). */
const PY_WS = "\\t\\n\\v\\f\\r\\x1c-\\x1f \\x85\\xa0\\u1680\\u2000-\\u200a\\u2028\\u2029\\u202f\\u205f\\u3000";

/** A letter as Python's case-insensitive matching sees it. */
function ci(word: string): string {
  const extra: Record<string, string> = { i: "\\u0130\\u0131", k: "\\u212a", s: "\\u017f" };
  return [...word].map((c) => /[a-z]/.test(c) ? `[${c}${c.toUpperCase()}${extra[c] ?? ""}]` : c).join("");
}

const THINK = ci("<think>"), THINK_END = ci("</think>"), ANSWER = ci("<answer>"), ANSWER_END = ci("</answer>");

/** `re.compile(r"(?si)<think>.*?</think>.*?<answer>.*?</answer>").match`: anchored at the start only. */
const FORMAT_RE = new RegExp(`^${THINK}[^]*?${THINK_END}[^]*?${ANSWER}[^]*?${ANSWER_END}`);
/** `re.compile(r"(?si)<answer>\s*(.*?)\s*</answer>").search`. */
const ANSWER_RE = new RegExp(`${ANSWER}[${PY_WS}]*([^]*?)[${PY_WS}]*${ANSWER_END}`);
const STRIP_START_RE = new RegExp(`^[${PY_WS}]+`);
const STRIP_END_RE = new RegExp(`[${PY_WS}]+$`);

/** Python's `str.strip()` with no argument. */
export function pyStrip(s: string): string {
  return s.replace(STRIP_START_RE, "").replace(STRIP_END_RE, "");
}

/**
 * The original `_canon_math`: trim; drop one wrapping `{…}` (no inner braces); drop a wrapping `(…)` around a plain
 * number/radical (inner chars only `\d . - \ s q r t`); delete ASCII spaces; `-0`/`+0` → `0`; `-?\d+\.0+` → the
 * part before the dot. A missing value is "".
 *
 * @example
 * ```ts
 * import { canonMath } from "./pure_accuracy_math.ts";
 * canonMath(" { 42 } "); // "42"
 * ```
 */
export function canonMath(value: string | null | undefined): string {
  if (value === null || value === undefined) return "";
  let s = pyStrip(value);
  if (/^\{[^{}]+\}$/.test(s)) s = s.slice(1, -1);
  if (/^\([^()]+\)$/.test(s)) {
    const inner = pyStrip(s.slice(1, -1));
    // Python `re.match(r"^[\d\.\-\\sqrt]+$")`: `$` also matches before one final "\n", but `inner` is stripped.
    if (/^[\p{Nd}.\-\\sqrt]+$/u.test(inner)) s = inner;
  }
  s = s.replaceAll(" ", "");
  if (s === "-0" || s === "+0") s = "0";
  if (/^-?\p{Nd}+\.0+$/u.test(s)) s = s.split(".")[0];
  return s;
}

/** The prediction the original code grades: the payload of the first `<answer>…</answer>`, or null. */
export function extractTaggedAnswer(text: string): string | null {
  if (!FORMAT_RE.test(text)) return null;
  const m = ANSWER_RE.exec(text);
  return m ? m[1] : null;
}

/** reward = 1 if canon(answer in tags) = canon(gold) and the think/answer template is present, else 0. */
export function pureAccuracyMathOne(completion: unknown, gold: unknown): number {
  const pred = extractTaggedAnswer(completionText(completion));
  if (pred === null) return 0.0;
  return canonMath(pred) === canonMath(goldText(gold)) ? 1.0 : 0.0;
}

/**
 * The gold value as text. Python's code needs a string (None → ""); a number would crash it, so here a finite
 * number is written in decimal (`3` → "3") and anything else non-string is rejected.
 */
function goldText(gold: unknown): string {
  if (gold === null || gold === undefined) return "";
  if (typeof gold === "string") return gold;
  if (typeof gold === "number" && Number.isFinite(gold)) return String(gold);
  if (typeof gold === "bigint") return gold.toString();
  throw new Error(`gold answer must be a string, got ${typeof gold}`);
}

/**
 * The `pure_accuracy_math` reward function: binary exact match of canonicalised answers inside the tag template,
 * gold from `row[ctx.solutionColumn]`.
 */
export function pureAccuracyMath(batch: RewardInput[], ctx: RewardContext): RewardValue[] {
  return perSample(batch, (s) => pureAccuracyMathOne(s.completion, s.row[ctx.solutionColumn]));
}
