import { assert, assertEquals, assertThrows } from "./assert.ts";
import {
  canonicalCountdown,
  countdownAnswerMode,
  countdownModes,
  countdownPool,
  countdownPrompt,
  countdownReward,
  countdownValueModes,
  evaluateCountdown,
  formatCountdown,
  generateCountdown,
  parseCountdown,
  scoreCountdown,
} from "../src/tasks/countdown.ts";
import { answerModeOf, modesOf } from "../src/tasks/dataset.ts";
import { MaxentError } from "../src/errors.ts";

const P = { numbers: [2, 3, 4], target: 10 };

Deno.test("countdown: 2, 3, 4 → 10 has exactly the two modes 2×3+4 and 3×4−2", () => {
  assertEquals(countdownModes(P), ["2*3+4", "3*4-2"]);
  // every surface form of those two answers maps onto them
  for (
    const [text, mode] of [
      ["\\boxed{2*3+4}", "2*3+4"],
      ["\\boxed{4+3*2}", "2*3+4"],
      ["\\boxed{(3 \\times 2) + 4}", "2*3+4"],
      ["\\boxed{4 + (2×3)}", "2*3+4"],
      ["\\boxed{4*3-2}", "3*4-2"],
      ["\\boxed{(4·3) − 2}", "3*4-2"],
      ["\\boxed{3 \\cdot 4 - 2 = 10}", "3*4-2"],
      ["<think>try</think> \\boxed{7} no wait \\boxed{((3*4))-2}", "3*4-2"],
    ]
  ) {
    assertEquals(countdownAnswerMode(text, P), mode, text);
    assertEquals(scoreCountdown(text, P), 1, text);
  }
});

Deno.test("countdown reward: wrong or malformed answers score 0 and never throw", () => {
  const bad = [
    "",
    "2*3+4",
    "\\boxed{}",
    "\\boxed{2*3+4",
    "\\boxed{2*3+5}",
    "\\boxed{2*4+2}",
    "\\boxed{2*3*4}",
    "\\boxed{3*4}",
    "\\boxed{2*3+4+0}",
    "\\boxed{-2+3*4}",
    "\\boxed{3*4-2 = 11}",
    "\\boxed{2.0*3+4}",
    "\\boxed{2^3+2}",
    "\\boxed{(2*3+4}",
    "\\boxed{2*3+4)}",
    "\\boxed{2**3+4}",
    "\\boxed{10}",
    "\\boxed{999999999999999999999999999999*3+4}",
    "\\boxed{" + "(".repeat(5000) + "2" + ")".repeat(5000) + "}",
    "\\boxed{\\frac{4}{2}*3+4}",
    "\\boxed{2*3+4} \\boxed{nonsense}",
  ];
  for (const text of bad) {
    assertEquals(scoreCountdown(text, P), 0, text.slice(0, 60));
    assertEquals(countdownAnswerMode(text, P), null, text.slice(0, 60));
  }
  // division by zero is invalid, not an exception
  assertEquals(evaluateCountdown(parseCountdown("2/(3-3)")!), null);
  assertEquals(countdownAnswerMode("\\boxed{2/(3-3)}", { numbers: [2, 3, 3], target: 1 }), null);
  // non-string completions do not throw either
  assertEquals(countdownAnswerMode(undefined as unknown as string, P), null);
});

Deno.test("countdown reward function: reads numbers/target columns, else the prompt", async () => {
  const ctx = { solutionColumn: "answer", maxCompletionLength: 32 };
  const row = { prompt: countdownPrompt(P), numbers: [2, 3, 4], target: 10 };
  const values = await countdownReward([
    { completion: "\\boxed{4+2*3}", prompt: "", row },
    { completion: "\\boxed{4+2+3}", prompt: "", row },
    { completion: "\\boxed{3*4-2}", prompt: "", row: { prompt: countdownPrompt(P) } },
    { completion: "\\boxed{3*4-2}", prompt: "<|im_start|>user\n" + countdownPrompt(P), row: {} },
  ], ctx);
  assertEquals(values, [1, 0, 1, 1]);
  assertThrows(
    () => countdownReward([{ completion: "\\boxed{1}", prompt: "hello", row: {} }], ctx),
    MaxentError,
    "numbers",
  );
  assertEquals(answerModeOf("\\boxed{4 + 3*2}", row), "2*3+4");
  assertEquals(modesOf({ prompt: countdownPrompt(P) }), ["2*3+4", "3*4-2"]);
});

// An independent brute force: all permutations × both tree shapes × 4² operators, evaluated with JS-number
// fractions, keyed by the paper's prefix AST form (add/mul operands sorted as strings, sub/div ordered).
type T = number | { op: string; l: T; r: T };
function frac(t: T): [number, number] | null {
  if (typeof t === "number") return [t, 1];
  const a = frac(t.l), b = frac(t.r);
  if (!a || !b) return null;
  const [p, q] = a, [r, s] = b;
  let out: [number, number];
  if (t.op === "+") out = [p * s + r * q, q * s];
  else if (t.op === "-") out = [p * s - r * q, q * s];
  else if (t.op === "*") out = [p * r, q * s];
  else if (r === 0) return null;
  else out = [p * s, q * r];
  if (out[1] < 0) out = [-out[0], -out[1]];
  const g = gcd(Math.abs(out[0]), out[1]);
  return [out[0] / g, out[1] / g];
}
function gcd(a: number, b: number): number {
  return b === 0 ? a : gcd(b, a % b);
}
function paperKey(t: T): string {
  if (typeof t === "number") return String(t);
  const l = paperKey(t.l), r = paperKey(t.r);
  const name = { "+": "add", "-": "sub", "*": "mul", "/": "div" }[t.op]!;
  if (t.op === "+" || t.op === "*") {
    const [x, y] = [l, r].sort();
    return `${name}(${x},${y})`;
  }
  return `${name}(${l},${r})`;
}
function infix(t: T): string {
  return typeof t === "number" ? String(t) : `(${infix(t.l)}${t.op}${infix(t.r)})`;
}
function perms(xs: number[]): number[][] {
  return xs.length <= 1
    ? [xs]
    : xs.flatMap((x, i) => perms([...xs.slice(0, i), ...xs.slice(i + 1)]).map((p) => [x, ...p]));
}

Deno.test("countdown enumeration matches an independent brute force on small cases", () => {
  for (const numbers of [[2, 3, 4], [2, 3, 12], [3, 4, 6], [2, 6, 12], [5, 7, 11]]) {
    const brute = new Map<string, Map<string, string>>(); // value → paper key → our canonical string
    for (const [a, b, c] of perms(numbers)) {
      for (const o1 of "+-*/") {
        for (const o2 of "+-*/") {
          for (const t of [{ op: o2, l: { op: o1, l: a, r: b }, r: c }, { op: o1, l: a, r: { op: o2, l: b, r: c } }]) {
            const v = frac(t);
            if (!v) continue;
            const key = `${v[0]}/${v[1]}`;
            if (!brute.has(key)) brute.set(key, new Map());
            // our parser + canonicaliser on the fully parenthesised text
            const ours = canonicalCountdown(parseCountdown(infix(t))!);
            const pk = paperKey(t);
            const prev = brute.get(key)!.get(pk);
            assert(prev === undefined || prev === ours, `${infix(t)}: one paper mode, two canonical forms`);
            brute.get(key)!.set(pk, ours);
          }
        }
      }
    }
    const enumerated = countdownValueModes(numbers);
    assertEquals([...enumerated.keys()].sort(), [...brute.keys()].sort(), `values of ${numbers}`);
    for (const [value, byPaperKey] of brute) {
      const ours = [...byPaperKey.values()];
      // canonical forms are in bijection with the paper's modes …
      assertEquals(new Set(ours).size, byPaperKey.size, `${numbers} → ${value}: canonical forms merge paper modes`);
      // … and are exactly what the enumerator lists
      assertEquals([...enumerated.get(value)!].sort(), ours.sort(), `${numbers} → ${value}`);
    }
  }
});

Deno.test("countdown canonical strings round-trip: parse(format(e)) has the same canonical form and value", () => {
  for (const modes of countdownValueModes([2, 5, 9]).values()) {
    for (const m of modes) {
      const e = parseCountdown(m)!;
      assertEquals(formatCountdown(e), m, "canonical strings print back unchanged");
      assertEquals(canonicalCountdown(e), m);
    }
  }
  // only commutative swaps are identified, not associativity
  assertEquals(canonicalCountdown(parseCountdown("(2+3)+4")!), "2+3+4");
  assertEquals(canonicalCountdown(parseCountdown("2+(3+4)")!), "2+(3+4)");
  // … but a swap of the outer + turns 4+(3+2) into (2+3)+4
  assertEquals(canonicalCountdown(parseCountdown("4+(3+2)")!), "2+3+4");
  assertEquals(canonicalCountdown(parseCountdown("12*2")!), "2*12");
});

Deno.test("countdown generator: deterministic, 2–8 modes, enumerated modes, disjoint splits, valid answers", () => {
  const a = generateCountdown({ seed: 3, train: 40, eval: 15 });
  const b = generateCountdown({ seed: 3, train: 40, eval: 15 });
  assertEquals(JSON.stringify(a), JSON.stringify(b));
  const c = generateCountdown({ seed: 4, train: 40, eval: 15 });
  assert(JSON.stringify(a) !== JSON.stringify(c), "another seed gives other rows");
  assertEquals(a.train.length, 40);
  assertEquals(a.test.length, 15);
  const trainIds = new Set(a.train.map((r) => `${(r.numbers as number[]).join(",")}|${r.target}`));
  for (const r of a.test) assert(!trainIds.has(`${(r.numbers as number[]).join(",")}|${r.target}`), r.id);
  assertEquals(new Set([...a.train, ...a.test].map((r) => r.id)).size, 55);
  for (const r of [...a.train, ...a.test]) {
    const numbers = r.numbers as number[];
    assertEquals(new Set(numbers).size, 3);
    assert(numbers.every((n) => n >= 2 && n <= 12));
    assert(r.num_modes >= 2 && r.num_modes <= 8 && r.num_modes === r.modes.length);
    assertEquals(r.modes, countdownModes({ numbers, target: r.target as number }));
    const mode = countdownAnswerMode(r.answer, { numbers, target: r.target as number });
    assert(mode !== null && r.modes.includes(mode), `${r.id}: answer ${r.answer}`);
    // every listed mode is itself a correct answer that canonicalises to itself
    for (const m of r.modes) {
      assertEquals(countdownAnswerMode(`\\boxed{${m}}`, { numbers, target: r.target as number }), m);
    }
    assert(/^[\x20-\x7e]+$/.test(r.prompt) && r.prompt.length <= 60, r.prompt);
  }
  const single = generateCountdown({ seed: 3, train: 10, eval: 5, singleAnswer: true });
  for (const r of [...single.train, ...single.test]) assertEquals(r.num_modes, 1);
  assertThrows(() => generateCountdown({ seed: 0, train: 5000, eval: 1 }), MaxentError, "ask for fewer");
  assertEquals(countdownPool(2, 8).length, 787);
});
