/**
 * Countdown, the paper's multi-answer arithmetic task: three distinct numbers from 2..12 and a target; the answer is a
 * `\boxed{}` expression using each number exactly once with + − × ÷ and parentheses, checked with exact rational
 * arithmetic. Every valid expression is enumerated (all permutations × all binary expression trees × all operators)
 * and reduced to a canonical form; the prompt's answer modes are the distinct canonical forms.
 *
 * Canonical form (the paper's `_canonical_countdown_ast`): the expression tree with the two operands of every + and
 * × put in a fixed order; nothing else is identified. So 4+2×3 ≡ 2×3+4 and 4×3−2 ≡ 3×4−2, but associativity is not
 * used ((a+b)+c and a+(b+c) are different modes, as are a−b+c and a+c−b, and a×b÷c and a÷c×b), and there is no
 * unary minus. Canonical strings are infix with the fewest parentheses that keep the tree (`*` for ×, `/` for ÷);
 * operands are ordered token by token, numbers by value and before symbols (so `2*3+4`, `2*12`).
 *
 * The reward accepts `*` `×` `\times` `\cdot` for ×, `/` `÷` `\div` for ÷, `-` `−` for −, whitespace anywhere and an
 * optional trailing `= target`; unary signs, decimals and other numbers score 0 (the enumerated modes are binary
 * trees over the given numbers, so the reward's correct set and the mode list are exactly the same set).
 */
import { MaxentError } from "../errors.ts";
import { mulberry32, shuffled } from "../data/shuffle.ts";
import { add, div, eq, mul, type Rational, rational, sub } from "../rewards/rational.ts";
import { lastBoxed } from "../rewards/math_answer.ts";
import type { RewardFunction, RewardInput } from "../rewards/types.ts";
import { modeBounds, type SplitOptions, type TaskRow, type TaskSplits } from "./types.ts";

/** A binary operator of Countdown. */
export type CountdownOp = "+" | "-" | "*" | "/";

/** An expression tree: a number leaf or a binary operation. */
export type CountdownExpr =
  | { kind: "num"; value: bigint }
  | { kind: "op"; op: CountdownOp; left: CountdownExpr; right: CountdownExpr };

/** One Countdown problem: the numbers (each used exactly once) and the target. */
export interface CountdownProblem {
  numbers: number[];
  target: number;
}

const PREC: Record<CountdownOp, number> = { "+": 1, "-": 1, "*": 2, "/": 2 };

// ── exact evaluation ─────────────────────────────────────────────────────────────────────────────────────────────

/** The exact value of an expression, or null on division by zero. */
export function evaluateCountdown(e: CountdownExpr): Rational | null {
  if (e.kind === "num") return rational(e.value);
  const l = evaluateCountdown(e.left);
  const r = evaluateCountdown(e.right);
  if (l === null || r === null) return null;
  switch (e.op) {
    case "+":
      return add(l, r);
    case "-":
      return sub(l, r);
    case "*":
      return mul(l, r);
    case "/":
      return r.num === 0n ? null : div(l, r);
  }
}

/** The leaves of an expression, left to right. */
export function countdownLeaves(e: CountdownExpr): bigint[] {
  return e.kind === "num" ? [e.value] : [...countdownLeaves(e.left), ...countdownLeaves(e.right)];
}

// ── canonical form ───────────────────────────────────────────────────────────────────────────────────────────────

// Tokens of a canonical string: numbers and single-character symbols.
function tokens(s: string): (bigint | string)[] {
  return s.match(/\d+|[^\d]/g)!.map((t) => (/^\d/.test(t) ? BigInt(t) : t));
}

// Operand order: token by token; numbers by value and before symbols; symbols by code point; a prefix first.
function compareCanonical(a: string, b: string): number {
  const ta = tokens(a), tb = tokens(b);
  for (let i = 0; i < Math.min(ta.length, tb.length); i++) {
    const x = ta[i], y = tb[i];
    if (typeof x === "bigint" && typeof y === "bigint") {
      if (x !== y) return x < y ? -1 : 1;
    } else if (typeof x === "bigint") return -1;
    else if (typeof y === "bigint") return 1;
    else if (x !== y) return x < y ? -1 : 1;
  }
  return ta.length - tb.length;
}

/**
 * Infix text of a tree with the fewest parentheses that keep its shape: an operand is parenthesised when its
 * operator binds less tightly than its parent's, or, on the right, equally tightly (all four operators group left).
 */
export function formatCountdown(e: CountdownExpr): string {
  if (e.kind === "num") return e.value.toString();
  const p = PREC[e.op];
  const wrap = (c: CountdownExpr, right: boolean) => {
    const s = formatCountdown(c);
    if (c.kind === "op" && (PREC[c.op] < p || (right && PREC[c.op] === p))) return `(${s})`;
    return s;
  };
  return `${wrap(e.left, false)}${e.op}${wrap(e.right, true)}`;
}

/** The canonical tree: the operands of every + and × in canonical order (see the module notes). */
export function canonicalTree(e: CountdownExpr): CountdownExpr {
  if (e.kind === "num") return e;
  let left = canonicalTree(e.left);
  let right = canonicalTree(e.right);
  if ((e.op === "+" || e.op === "*") && compareCanonical(formatCountdown(left), formatCountdown(right)) > 0) {
    [left, right] = [right, left];
  }
  return { kind: "op", op: e.op, left, right };
}

/**
 * The canonical string of an expression: its answer mode.
 *
 * @example
 * ```ts
 * canonicalCountdown(parseCountdown("4 + 3*2")!); // "2*3+4"
 * ```
 */
export function canonicalCountdown(e: CountdownExpr): string {
  return formatCountdown(canonicalTree(e));
}

// ── parsing ──────────────────────────────────────────────────────────────────────────────────────────────────────

const MAX_EXPRESSION_CHARS = 256;

/**
 * Parses an infix expression over non-negative integers with + − × ÷ and parentheses (binary operators only), or
 * returns null. Accepts `*` `×` `\times` `\cdot`, `/` `÷` `\div`, `-` `−`, and whitespace. Never throws.
 *
 * @example
 * ```ts
 * formatCountdown(parseCountdown("(2 \\times 3) + 4")!); // "2*3+4"
 * parseCountdown("-2+12");                               // null (unary minus)
 * ```
 */
export function parseCountdown(text: string): CountdownExpr | null {
  if (text.length > MAX_EXPRESSION_CHARS) return null;
  const s = text
    .replace(/\\times|\\cdot|×|·/g, "*")
    .replace(/\\div|÷/g, "/")
    .replace(/−/g, "-")
    .replace(/\s+/g, "");
  if (!/^[0-9+\-*/()]+$/.test(s)) return null;
  let pos = 0;
  const peek = () => s[pos];
  // expr := term (('+' | '-') term)*
  const expr = (): CountdownExpr | null => {
    let left = term();
    while (left && (peek() === "+" || peek() === "-")) {
      const op = s[pos++] as CountdownOp;
      const right = term();
      if (!right) return null;
      left = { kind: "op", op, left, right };
    }
    return left;
  };
  // term := factor (('*' | '/') factor)*
  const term = (): CountdownExpr | null => {
    let left = factor();
    while (left && (peek() === "*" || peek() === "/")) {
      const op = s[pos++] as CountdownOp;
      const right = factor();
      if (!right) return null;
      left = { kind: "op", op, left, right };
    }
    return left;
  };
  // factor := number | '(' expr ')'
  const factor = (): CountdownExpr | null => {
    if (peek() === "(") {
      pos++;
      const inner = expr();
      if (!inner || peek() !== ")") return null;
      pos++;
      return inner;
    }
    const m = /^\d+/.exec(s.slice(pos));
    if (!m) return null;
    pos += m[0].length;
    return { kind: "num", value: BigInt(m[0]) };
  };
  const e = expr();
  return e && pos === s.length ? e : null;
}

// ── the answer check ─────────────────────────────────────────────────────────────────────────────────────────────

function sameMultiset(a: bigint[], b: number[]): boolean {
  if (a.length !== b.length) return false;
  const x = a.map(String).sort(), y = b.map(String).sort();
  return x.every((v, i) => v === y[i]);
}

/**
 * The answer mode of a completion: the canonical form of its last `\boxed{…}` expression if that expression uses
 * each of `problem.numbers` exactly once and equals the target exactly; otherwise null. Never throws.
 *
 * @example
 * ```ts
 * countdownAnswerMode("so \\boxed{4+3*2}", { numbers: [2, 3, 4], target: 10 }); // "2*3+4"
 * countdownAnswerMode("\\boxed{2*3}", { numbers: [2, 3, 4], target: 6 });      // null (4 unused)
 * ```
 */
export function countdownAnswerMode(completion: string, problem: CountdownProblem): string | null {
  try {
    const boxed = lastBoxed(String(completion));
    if (boxed === null) return null;
    let body = boxed;
    const eqAt = body.indexOf("=");
    if (eqAt >= 0) {
      const rhs = body.slice(eqAt + 1).trim();
      if (!/^\d+$/.test(rhs) || BigInt(rhs) !== BigInt(problem.target)) return null;
      body = body.slice(0, eqAt);
    }
    const e = parseCountdown(body);
    if (e === null || !sameMultiset(countdownLeaves(e), problem.numbers)) return null;
    const v = evaluateCountdown(e);
    if (v === null || !eq(v, rational(BigInt(problem.target)))) return null;
    return canonicalCountdown(e);
  } catch {
    return null;
  }
}

/** 1 if the completion's last boxed expression solves the problem (see {@linkcode countdownAnswerMode}), else 0. */
export function scoreCountdown(completion: string, problem: CountdownProblem): number {
  return countdownAnswerMode(completion, problem) === null ? 0 : 1;
}

// ── enumeration ──────────────────────────────────────────────────────────────────────────────────────────────────

function permutations<T>(xs: T[]): T[][] {
  if (xs.length <= 1) return [xs.slice()];
  const out: T[][] = [];
  xs.forEach((x, i) => {
    for (const rest of permutations([...xs.slice(0, i), ...xs.slice(i + 1)])) out.push([x, ...rest]);
  });
  return out;
}

// Every binary tree with the given leaves in this order and every operator at every node.
function trees(leaves: bigint[]): CountdownExpr[] {
  if (leaves.length === 1) return [{ kind: "num", value: leaves[0] }];
  const out: CountdownExpr[] = [];
  for (let split = 1; split < leaves.length; split++) {
    for (const left of trees(leaves.slice(0, split))) {
      for (const right of trees(leaves.slice(split))) {
        for (const op of ["+", "-", "*", "/"] as const) out.push({ kind: "op", op, left, right });
      }
    }
  }
  return out;
}

/**
 * Every value reachable from `numbers` (each used exactly once, all permutations, all expression trees, + − × ÷,
 * exact rationals, division by zero skipped) with the canonical expressions reaching it. Keys are `num/den`.
 */
export function countdownValueModes(numbers: number[]): Map<string, Set<string>> {
  const byValue = new Map<string, Set<string>>();
  for (const order of permutations(numbers.map((n) => BigInt(n)))) {
    for (const e of trees(order)) {
      const v = evaluateCountdown(e);
      if (v === null) continue;
      const key = `${v.num}/${v.den}`;
      let set = byValue.get(key);
      if (!set) byValue.set(key, set = new Set());
      set.add(canonicalCountdown(e));
    }
  }
  return byValue;
}

/**
 * The answer modes of a problem: the distinct canonical expressions equal to the target, sorted.
 *
 * @example
 * ```ts
 * countdownModes({ numbers: [2, 3, 4], target: 10 }); // ["2*3+4", "3*4-2"]
 * ```
 */
export function countdownModes(problem: CountdownProblem): string[] {
  const set = countdownValueModes(problem.numbers).get(`${problem.target}/1`);
  return set ? [...set].sort(compareCanonical) : [];
}

// ── prompts and datasets ─────────────────────────────────────────────────────────────────────────────────────────

/**
 * The prompt text: short and ASCII, for a character-level tokenizer.
 *
 * @example
 * ```ts
 * countdownPrompt({ numbers: [2, 3, 4], target: 10 }); // "Use 2 3 4 once each with + - * / to make 10."
 * ```
 */
export function countdownPrompt(problem: CountdownProblem): string {
  return `Use ${problem.numbers.join(" ")} once each with + - * / to make ${problem.target}.`;
}

/** Reads a problem back from {@linkcode countdownPrompt}'s text, or null. */
export function parseCountdownPrompt(prompt: string): CountdownProblem | null {
  const m = /Use ([\d ]+) once each with \+ - \* \/ to make (\d+)\./.exec(prompt);
  if (!m) return null;
  return { numbers: m[1].trim().split(/\s+/).map(Number), target: Number(m[2]) };
}

/** Pool settings of the Countdown generator (the paper's: 3 distinct numbers from 2..12, targets 1..36). */
export interface CountdownPoolOptions {
  /** How many numbers per problem (default 3). */
  count?: number;
  /** Smallest number (default 2). */
  minNumber?: number;
  /** Largest number (default 12). */
  maxNumber?: number;
  /** Largest target (default maxNumber × count = 36); targets are positive integers not among the numbers. */
  maxTarget?: number;
}

/** A problem with its enumerated modes. */
export interface CountdownItem extends CountdownProblem {
  modes: string[];
}

/**
 * Every problem with a mode count in [minModes, maxModes], in a fixed order (number sets ascending, then targets):
 * all sets of `count` distinct numbers from minNumber..maxNumber, every positive integer target ≤ maxTarget that is
 * not one of the numbers.
 */
export function countdownPool(minModes: number, maxModes: number, opts: CountdownPoolOptions = {}): CountdownItem[] {
  const count = opts.count ?? 3, lo = opts.minNumber ?? 2, hi = opts.maxNumber ?? 12;
  const maxTarget = opts.maxTarget ?? hi * count;
  const out: CountdownItem[] = [];
  const choose = (start: number, picked: number[]) => {
    if (picked.length === count) {
      const byValue = countdownValueModes(picked);
      for (let target = 1; target <= maxTarget; target++) {
        if (picked.includes(target)) continue;
        const set = byValue.get(`${target}/1`);
        const n = set ? set.size : 0;
        if (n >= minModes && n <= maxModes) {
          out.push({ numbers: picked.slice(), target, modes: [...set!].sort(compareCanonical) });
        }
      }
      return;
    }
    for (let x = start; x <= hi; x++) choose(x + 1, [...picked, x]);
  };
  choose(lo, []);
  return out;
}

/** The dataset row of a problem; `answer` is one mode chosen by `pick` ∈ [0, 1). */
export function countdownRow(item: CountdownItem, pick: number): TaskRow {
  const mode = item.modes[Math.min(item.modes.length - 1, Math.floor(pick * item.modes.length))];
  return {
    id: `countdown-${item.numbers.join("-")}-${item.target}`,
    task: "countdown",
    prompt: countdownPrompt(item),
    answer: `\\boxed{${mode}}`,
    modes: item.modes,
    num_modes: item.modes.length,
    numbers: item.numbers,
    target: item.target,
  };
}

/**
 * Generates Countdown train and test splits: the pool of problems with 2–8 modes (exactly 1 with `singleAnswer`) is
 * shuffled with `seed` (Fisher–Yates, mulberry32: `shuffled` of src/data); the first `train` problems are the
 * training split and the next `eval` the test split, so the splits never share a problem (numbers + target). The
 * `answer` mode of each row is drawn from mulberry32(seed + 1).
 *
 * @example
 * ```ts
 * const { train, test } = generateCountdown({ seed: 0, train: 100, eval: 20 });
 * ```
 */
export function generateCountdown(opts: SplitOptions & CountdownPoolOptions): TaskSplits {
  const [minModes, maxModes] = modeBounds(opts);
  checkSizes(opts);
  const pool = shuffled(countdownPool(minModes, maxModes, opts), opts.seed);
  if (pool.length < opts.train + opts.eval) {
    throw new MaxentError(
      `countdown: only ${pool.length} problems have ${minModes}–${maxModes} answer modes, but --train ${opts.train} ` +
        `+ --eval ${opts.eval} were asked for; ask for fewer rows`,
    );
  }
  const next = mulberry32(opts.seed + 1);
  const rows = pool.slice(0, opts.train + opts.eval).map((item) => countdownRow(item, next() / 0x1_0000_0000));
  return { train: rows.slice(0, opts.train), test: rows.slice(opts.train) };
}

/** Throws a MaxentError unless the split sizes are non-negative integers. */
export function checkSizes(opts: SplitOptions): void {
  for (const [name, v] of [["train", opts.train], ["eval", opts.eval], ["seed", opts.seed]] as const) {
    if (!Number.isSafeInteger(v) || v < 0) throw new MaxentError(`${name} must be an integer ≥ 0, got ${v}`);
  }
}

// ── the reward ───────────────────────────────────────────────────────────────────────────────────────────────────

/** The problem of a dataset row: its `numbers` and `target` columns, else parsed from the prompt. */
export function countdownProblemOf(input: RewardInput): CountdownProblem {
  const { numbers, target } = input.row;
  if (Array.isArray(numbers) && numbers.every((n) => Number.isInteger(n)) && Number.isInteger(target)) {
    return { numbers: numbers as number[], target: target as number };
  }
  const fromPrompt = parseCountdownPrompt(String(input.row.prompt ?? input.prompt));
  if (fromPrompt) return fromPrompt;
  throw new MaxentError(
    "countdown reward: the dataset row has no `numbers`/`target` columns and the prompt is not a Countdown prompt; " +
      "generate the data with `maxent data countdown`",
  );
}

/**
 * The `countdown` reward: 1 when the completion's last `\boxed{…}` expression uses each number exactly once and
 * equals the target exactly, else 0 (malformed output scores 0). Reads `numbers`/`target` from the dataset row.
 */
export const countdownReward: RewardFunction = (batch) =>
  batch.map((input) => scoreCountdown(input.completion, countdownProblemOf(input)));
