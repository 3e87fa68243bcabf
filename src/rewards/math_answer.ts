/**
 * Math answer grading for the `accuracy` reward: find the final answer in a completion (`<answer>` tags or the last
 * `\boxed{}`), read it as a number, tuple, interval, set or text, and decide equivalence with the gold answer using
 * exact rational arithmetic. A small, dependency-free subset of what math-verify does, documented rule by rule.
 *
 * Normalisation (both sides): `$`, `\(`/`\)`, `\[`/`\]` delimiters, `\left`/`\right`/`\big…`, `\!`,
 * `\displaystyle` and a trailing period are dropped; spacing commands (`\,` `\;` `\:` `\ ` `~` `\quad`) are
 * spaces; `\dfrac`/`\tfrac` → `\frac` (`\frac12` → `\frac{1}{2}`); `^\circ`, `^{\circ}`, `°` and `\degree` are
 * dropped; `\text{…}`/`\mathrm{…}`/`\mbox{…}` are units and dropped (with a `^2` after them), unless they are the
 * whole answer (then unwrapped); `\cdot`, `\times` → `*`, `\div` → `/`, `−` → `-`; `{,}`, `1,234,567`-style and
 * `10 000`-style thousands separators are removed (other whitespace between digits keeps them apart, as does removed
 * text: `1\text{ and }2` ≢ `12`); a leading `x =` or `x \in` is dropped.
 *
 * Values: arithmetic on decimals, `\frac{a}{b}`, `a/b`, `+ - * /`, parentheses and integer powers is evaluated
 * exactly (BigInt rationals), so `0.5` ≡ `\frac{1}{2}` ≡ `2/4` but `0.333` ≢ `\frac{1}{3}`. Percentages: `p\%`
 * matches `p\%`, `p` (the MATH-dataset convention of dropping the sign) and `p/100` (math-verify's conversion), so
 * `50\%` ≡ `50` and `50\%` ≡ `0.5`, while `50` ≢ `0.5`. `(a, b)` and `[a, b]`, `(a, b]`, `[a, b)` compare bracket
 * kinds and elements in order; `\{a, b\}` and a bare `a, b` compare as sets (order-free). Anything else compares
 * as text with whitespace removed (words of two or more letters case-insensitively).
 */
import { add, div, eq as ratEq, mul, parseDecimal, pow, type Rational, rational, sub } from "./rational.ts";

/** A parsed answer. */
export type MathValue =
  | { kind: "number"; value: Rational; percent: boolean }
  | { kind: "tuple"; open: string; close: string; items: MathValue[] }
  | { kind: "set"; items: MathValue[] }
  | { kind: "text"; text: string };

/**
 * The contents of the last `\boxed{…}` (or `\fbox{…}`) whose braces balance, or null.
 *
 * @example
 * ```ts
 * import { lastBoxed } from "./math_answer.ts";
 * lastBoxed("so \\boxed{\\frac{1}{2}}."); // "\\frac{1}{2}"
 * ```
 */
export function lastBoxed(text: string): string | null {
  const starts = [...text.matchAll(/\\(?:boxed|fbox)\s*\{/g)].map((m) => m.index! + m[0].length);
  for (let k = starts.length - 1; k >= 0; k--) {
    let depth = 1;
    for (let i = starts[k]; i < text.length; i++) {
      if (text[i] === "{") depth++;
      else if (text[i] === "}" && --depth === 0) return text.slice(starts[k], i);
    }
  }
  return null;
}

/** The payload of the last `<answer>…</answer>` (case-insensitive), or null. */
export function lastAnswerTag(text: string): string | null {
  const all = [...text.matchAll(/<answer>([^]*?)<\/answer>/gi)];
  return all.length ? all[all.length - 1][1] : null;
}

/** The predicted answer: the last `<answer>` payload (its `\boxed{}` if any), else the last `\boxed{}`, else null. */
export function extractPrediction(completion: string): string | null {
  const tagged = lastAnswerTag(completion);
  if (tagged !== null) return lastBoxed(tagged) ?? tagged;
  return lastBoxed(completion);
}

/** The gold answer of a dataset value: its last `\boxed{}`, else its `<answer>` payload, else the whole text. */
export function extractGold(gold: string): string {
  return lastBoxed(gold) ?? lastAnswerTag(gold) ?? gold;
}

/** Replaces `\cmd{…}` (balanced) by `f(inner)`. */
function replaceCommandArg(s: string, cmd: string, f: (inner: string) => string): string {
  let out = "";
  let i = 0;
  const re = new RegExp(`\\\\${cmd}\\s*\\{`, "g");
  for (let m = re.exec(s); m; m = re.exec(s)) {
    let depth = 1, j = m.index + m[0].length;
    for (; j < s.length && depth > 0; j++) {
      if (s[j] === "{") depth++;
      else if (s[j] === "}") depth--;
    }
    if (depth !== 0) break;
    out += s.slice(i, m.index) + f(s.slice(m.index + m[0].length, j - 1));
    i = j;
    re.lastIndex = j;
  }
  return out + s.slice(i);
}

const TEXT_CMDS = ["text", "textbf", "textrm", "mathrm", "mbox", "operatorname"];
/** Stands for removed text (units, words) inside an answer, so that `1\text{ and }2` does not read as `12`. */
const GAP = "\u0000";

/** The normalisation listed in the module comment; returns a string without whitespace. */
export function normalizeAnswer(raw: string): string {
  let s = raw.trim();
  s = s.replace(/^\\\(|\\\)$/g, "").replace(/^\\\[|\\\]$/g, "").replaceAll("$", "");
  s = s.replace(/\\(?:left|right|bigl|bigr|Bigl|Bigr|big|Big)(?![a-zA-Z])/g, "");
  s = s.replaceAll("\\!", "").replace(/\\displaystyle|\\q?quad(?![a-zA-Z])|\\[,;: ]|~/g, " ");
  s = s.replace(/\\[dt]frac/g, "\\frac");
  s = s.replace(/\^\s*\{\s*\\circ\s*\}|\^\s*\\circ|\\circ|°|\\degree/g, "");
  s = s.replaceAll("−", "-").replaceAll("{,}", "");
  const whole = new RegExp(`^\\\\(?:${TEXT_CMDS.join("|")})\\s*\\{([^{}]*)\\}$`).exec(s.trim());
  if (whole) s = whole[1];
  else for (const cmd of TEXT_CMDS) s = replaceCommandArg(s, cmd, () => GAP);
  s = s.replace(new RegExp(`${GAP}\\s*\\^\\s*(?:\\{\\s*\\d+\\s*\\}|\\d)`, "g"), GAP); // cm^2, m^{3}
  s = s.replace(/\\cdot|\\times/g, "*").replace(/\\div/g, "/").replaceAll("\\%", "%");
  s = s.replace(/\\frac\s*(\d)\s*(\d)/g, "\\frac{$1}{$2}").replace(/\\frac\s*(\d)\s*\{/g, "\\frac{$1}{")
    .replace(/\\frac\s*(\{[^{}]*\})\s*(\d)/g, "\\frac$1{$2}").replace(
      /\\sqrt\s*(\d|[a-zA-Z])(?![a-zA-Z])/g,
      "\\sqrt{$1}",
    );
  // Whitespace between digits is a thousands separator only in the `10 000` shape; otherwise it keeps them apart.
  if (/^[+-]?\d{1,3}(?:\s+\d{3})+(?:\.\d+)?%?$/.test(s.trim())) s = s.replace(/\s+/g, "");
  s = s.replace(/(\d)\s+(?=\d)/g, `$1${GAP}`).replace(/\s+/g, "");
  s = s.replace(new RegExp(`^${GAP}+|${GAP}+$`, "g"), "");
  s = s.replace(/^(?:[a-zA-Z](?:_\{?[a-zA-Z0-9]+\}?)?)(?:=|\\in(?![a-zA-Z]))(?!=)/, "");
  s = s.replace(/\.$/, "");
  if (/^[+-]?\d{1,3}(?:,\d{3})+(?:\.\d+)?%?$/.test(s)) s = s.replaceAll(",", "");
  return s;
}

/** Splits at commas that are not inside (), [], {} (a `\{`/`\}` counts as a brace). */
function splitTopLevel(s: string): string[] {
  const parts: string[] = [];
  let depth = 0, start = 0;
  for (let i = 0; i < s.length; i++) {
    const c = s[i];
    if (c === "\\" && (s[i + 1] === "{" || s[i + 1] === "}")) {
      depth += s[i + 1] === "{" ? 1 : -1;
      i++;
    } else if (c === "(" || c === "[" || c === "{") depth++;
    else if (c === ")" || c === "]" || c === "}") depth--;
    else if (c === "," && depth === 0) {
      parts.push(s.slice(start, i));
      start = i + 1;
    }
  }
  parts.push(s.slice(start));
  return parts;
}

/** Index of the bracket closing the one at `open` (any of ( [ { as a single nesting count), or -1. */
function closingIndex(s: string, open: number): number {
  let depth = 0;
  for (let i = open; i < s.length; i++) {
    if ("([{".includes(s[i])) depth++;
    else if (")]}".includes(s[i]) && --depth === 0) return i;
  }
  return -1;
}

/** Reads a normalised answer as a value (see the module comment). */
export function parseAnswer(normalized: string): MathValue {
  const s = normalized;
  if (s.startsWith("\\{") && s.endsWith("\\}")) {
    return { kind: "set", items: splitTopLevel(s.slice(2, -2)).filter((p) => p !== "").map(parseItem) };
  }
  if (/^[([]/.test(s) && /[)\]]$/.test(s) && closingIndex(s, 0) === s.length - 1) {
    const parts = splitTopLevel(s.slice(1, -1));
    if (parts.length > 1) return { kind: "tuple", open: s[0], close: s[s.length - 1], items: parts.map(parseItem) };
  }
  const parts = splitTopLevel(s);
  if (parts.length > 1) return { kind: "set", items: parts.map(parseItem) };
  const percent = s.endsWith("%");
  const value = evaluate(percent ? s.slice(0, -1) : s);
  if (value) return { kind: "number", value, percent };
  return { kind: "text", text: s };
}

function parseItem(item: string): MathValue {
  return parseAnswer(item.replace(/^[a-zA-Z](?:_\{?[a-zA-Z0-9]+\}?)?=(?!=)/, ""));
}

/**
 * Exact value of a rational arithmetic expression, or null when it is not one.
 * Grammar: expr = term (± term)*; term = unary ((*|/) unary)*; unary = ±unary | power;
 * power = atom (^ int | ^{int})?; atom = number | \frac{expr}{expr} | (expr) | {expr}.
 */
export function evaluate(src: string): Rational | null {
  let i = 0;
  const fail = (): never => {
    throw new SyntaxError("not a rational expression");
  };
  const expect = (t: string) => {
    if (!src.startsWith(t, i)) fail();
    i += t.length;
  };
  const expr = (): Rational => {
    let v = term();
    while (src[i] === "+" || src[i] === "-") v = src[i++] === "+" ? add(v, term()) : sub(v, term());
    return v;
  };
  const term = (): Rational => {
    let v = unary();
    while (src[i] === "*" || src[i] === "/") v = src[i++] === "*" ? mul(v, unary()) : div(v, unary());
    return v;
  };
  const unary = (): Rational => {
    if (src[i] === "-") return i++, sub(rational(0n), unary());
    if (src[i] === "+") return i++, unary();
    return power();
  };
  const power = (): Rational => {
    const base = atom();
    if (src[i] !== "^") return base;
    i++;
    const m = /^(?:\{([+-]?\d{1,3})\}|(\d))/.exec(src.slice(i)) ?? fail();
    i += m[0].length;
    return pow(base, BigInt(m[1] ?? m[2]));
  };
  const atom = (): Rational => {
    if (src.startsWith("\\frac{", i)) {
      i += 6;
      const n = expr();
      expect("}{");
      const d = expr();
      expect("}");
      return div(n, d);
    }
    for (const [o, c] of [["(", ")"], ["{", "}"]]) {
      if (src[i] === o) {
        i++;
        const v = expr();
        expect(c);
        return v;
      }
    }
    const m = /^(?:\d+\.?\d*|\.\d+)/.exec(src.slice(i)) ?? fail();
    i += m[0].length;
    return parseDecimal(m[0]) ?? fail();
  };
  try {
    if (src === "") return null;
    const v = expr();
    return i === src.length ? v : null;
  } catch {
    return null;
  }
}

const HUNDRED = rational(100n);

/** Equivalence of two parsed answers (the rules in the module comment). */
export function equivalent(a: MathValue, b: MathValue): boolean {
  if (a.kind === "number" && b.kind === "number") {
    if (a.percent === b.percent) return ratEq(a.value, b.value);
    const [p, plain] = a.percent ? [a.value, b.value] : [b.value, a.value];
    return ratEq(p, plain) || ratEq(div(p, HUNDRED), plain);
  }
  if (a.kind === "tuple" && b.kind === "tuple") {
    return a.open === b.open && a.close === b.close && a.items.length === b.items.length &&
      a.items.every((x, k) => equivalent(x, b.items[k]));
  }
  if (a.kind === "set" && b.kind === "set") {
    return a.items.every((x) => b.items.some((y) => equivalent(x, y))) &&
      b.items.every((y) => a.items.some((x) => equivalent(x, y)));
  }
  if (a.kind === "text" && b.kind === "text") {
    if (a.text === b.text) return true;
    // Multi-letter words ("NOSOLUTION") ignore case; single letters (variables) do not.
    return /^[a-zA-Z]{2,}$/.test(a.text) && a.text.toLowerCase() === b.text.toLowerCase();
  }
  return false;
}

/**
 * Whether a predicted answer (already extracted) is equivalent to a gold answer (already extracted).
 *
 * @example
 * ```ts
 * import { answersMatch } from "./math_answer.ts";
 * answersMatch("\\dfrac{1}{2}", "0.5"); // true
 * ```
 */
export function answersMatch(pred: string, gold: string): boolean {
  return equivalent(parseAnswer(normalizeAnswer(pred)), parseAnswer(normalizeAnswer(gold)));
}
