import { assert, assertEquals, assertThrows } from "./assert.ts";
import {
  colouringAnswerMode,
  colouringModes,
  type ColouringProblem,
  colouringPrompt,
  generateColouring,
  graphColouringReward,
  parseColouringPrompt,
  scoreColouring,
} from "../src/tasks/graph_colouring.ts";
import { answerModeOf, modesOf } from "../src/tasks/dataset.ts";
import { MaxentError } from "../src/errors.ts";

const PATH: ColouringProblem = { edges: [[0, 1], [1, 2]], partial: "R?R" };
const TRIANGLE: ColouringProblem = { edges: [[0, 1], [1, 2], [0, 2], [2, 3]], partial: "R???" };

Deno.test("graph colouring: hand-made cases have exactly the expected completions", () => {
  assertEquals(colouringModes(PATH), ["G", "B"]);
  // triangle 0-1-2 plus a pendant 3 on 2: (1, 2) ∈ {(G, B), (B, G)}, 3 ≠ colour of 2
  assertEquals(colouringModes(TRIANGLE), ["GBR", "GBG", "BGR", "BGB"]);
  assertEquals(colouringModes({ edges: [[0, 1]], partial: "RG" }), [""]);
  assertEquals(colouringModes({ edges: [[0, 1]], partial: "RR" }), []);
});

Deno.test("graph colouring reward: accepted formats, and malformed answers score 0 without throwing", () => {
  for (
    const [text, mode] of [
      ["\\boxed{GBR}", "GBR"],
      ["\\boxed{g, b, r}", "GBR"],
      ["\\boxed{B G B}", "BGB"],
      ["so \\boxed{RRR} no, \\boxed{BGR}", "BGR"],
    ]
  ) {
    assertEquals(colouringAnswerMode(text, TRIANGLE), mode, text);
    assertEquals(scoreColouring(text, TRIANGLE), 1, text);
  }
  for (
    const text of [
      "",
      "GBR",
      "\\boxed{GB}",
      "\\boxed{GBRR}",
      "\\boxed{GGR}",
      "\\boxed{GBX}",
      "\\boxed{123}",
      "\\boxed{GBR",
      "\\boxed{}",
      "\\boxed{RBR}",
    ]
  ) {
    assertEquals(scoreColouring(text, TRIANGLE), 0, text);
    assertEquals(colouringAnswerMode(text, TRIANGLE), null, text);
  }
  assertEquals(colouringAnswerMode(null as unknown as string, TRIANGLE), null);
});

Deno.test("graph colouring reward function: reads edges/partial columns, else the prompt", async () => {
  const ctx = { solutionColumn: "answer", maxCompletionLength: 32 };
  const prompt = colouringPrompt(TRIANGLE);
  assertEquals(parseColouringPrompt(prompt), TRIANGLE);
  const row = { prompt, edges: TRIANGLE.edges, partial: TRIANGLE.partial };
  assertEquals(
    await graphColouringReward([
      { completion: "\\boxed{GBR}", prompt, row },
      { completion: "\\boxed{GGR}", prompt, row },
      { completion: "\\boxed{BGB}", prompt: "", row: { prompt } },
    ], ctx),
    [1, 0, 1],
  );
  assertThrows(() => graphColouringReward([{ completion: "x", prompt: "hi", row: {} }], ctx), MaxentError, "edges");
  assertEquals(answerModeOf("\\boxed{b,g,b}", row), "BGB");
  assertEquals(modesOf({ prompt }), ["GBR", "GBG", "BGR", "BGB"]);
});

// Independent brute force: every one of the 3^n full colourings, kept when proper and agreeing with the partial one.
function bruteModes(p: ColouringProblem): string[] {
  const n = p.partial.length;
  const out = new Set<string>();
  for (let code = 0; code < 3 ** n; code++) {
    const colours = Array.from({ length: n }, (_, i) => "RGB"[Math.floor(code / 3 ** i) % 3]);
    if (p.edges.some(([u, v]) => colours[u] === colours[v])) continue;
    if ([...p.partial].some((c, i) => c !== "?" && c !== colours[i])) continue;
    out.add(colours.filter((_, i) => p.partial[i] === "?").join(""));
  }
  return [...out].sort();
}

Deno.test("graph colouring generator: deterministic, modes match a brute force, 2–8 modes, disjoint splits", () => {
  const a = generateColouring({ seed: 5, train: 40, eval: 20 });
  assertEquals(JSON.stringify(a), JSON.stringify(generateColouring({ seed: 5, train: 40, eval: 20 })));
  assert(JSON.stringify(a) !== JSON.stringify(generateColouring({ seed: 6, train: 40, eval: 20 })));
  const trainKeys = new Set(a.train.map((r) => JSON.stringify([r.edges, r.partial])));
  for (const r of a.test) assert(!trainKeys.has(JSON.stringify([r.edges, r.partial])), r.id);
  assertEquals(new Set([...a.train, ...a.test].map((r) => r.id)).size, 60);
  for (const r of [...a.train, ...a.test]) {
    const p = { edges: r.edges as [number, number][], partial: r.partial as string };
    assertEquals([...r.modes].sort(), bruteModes(p), r.id);
    assert(r.num_modes >= 2 && r.num_modes <= 8 && r.num_modes === r.modes.length);
    assert(p.partial.includes("?") && /[RGB]/.test(p.partial), `${r.id}: some hidden, some shown`);
    assert(r.modes.includes(colouringAnswerMode(r.answer, p)!), `${r.id}: answer ${r.answer}`);
    assert(/^[\x20-\x7e]+$/.test(r.prompt) && r.prompt.length <= 130, r.prompt);
  }
  const single = generateColouring({ seed: 5, train: 10, eval: 5, singleAnswer: true });
  for (const r of [...single.train, ...single.test]) assertEquals(r.num_modes, 1);
  // two vertices, one edge, one hidden: only 6 distinct problems exist (R?, G?, B?, ?R, ?G, ?B)
  assertThrows(
    () => generateColouring({ seed: 0, train: 7, eval: 0, minVertices: 2, maxVertices: 2, minHidden: 1, maxHidden: 1 }),
    MaxentError,
    "ask for fewer",
  );
});
