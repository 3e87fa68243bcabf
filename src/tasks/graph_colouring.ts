/**
 * Graph 3-colouring completion, the paper's second multi-answer task: a small graph and a partial colouring with
 * some vertices hidden (`?`); the answer is the colours of the hidden vertices, in vertex order, inside `\boxed{}`
 * (e.g. `\boxed{GBR}`; colours R, G, B). A completion is valid when the full colouring gives the two ends of every
 * edge different colours. Answer modes = the distinct valid completions (the hidden-colour strings), enumerated
 * exactly.
 *
 * The reward accepts upper- or lower-case letters, separated by nothing, commas or spaces (`\boxed{G, B, R}`); it
 * needs exactly one colour per hidden vertex. Anything else scores 0.
 */
import { MaxentError } from "../errors.ts";
import { mulberry32 } from "../data/shuffle.ts";
import { lastBoxed } from "../rewards/math_answer.ts";
import type { RewardFunction, RewardInput } from "../rewards/types.ts";
import { checkSizes } from "./countdown.ts";
import { modeBounds, type SplitOptions, type TaskRow, type TaskSplits } from "./types.ts";

/** The three colours, in the order modes are listed. */
export const COLOURS = ["R", "G", "B"] as const;

/** One colouring-completion problem. */
export interface ColouringProblem {
  /** Undirected edges [u, v] with 0 ≤ u < v < number of vertices. */
  edges: [number, number][];
  /** The partial colouring, one character per vertex: R, G, B, or `?` for a hidden vertex. */
  partial: string;
}

function checkProblem(p: ColouringProblem): void {
  const n = p.partial.length;
  if (!/^[RGB?]+$/.test(p.partial)) throw new MaxentError(`partial colouring "${p.partial}" must use only R, G, B, ?`);
  for (const [u, v] of p.edges) {
    if (!(Number.isInteger(u) && Number.isInteger(v) && u >= 0 && v >= 0 && u < n && v < n && u !== v)) {
      throw new MaxentError(`edge ${u}-${v} is not a pair of distinct vertices of 0..${n - 1}`);
    }
  }
}

/** Whether a full colouring (one of R/G/B per vertex) gives every edge two different colours. */
export function isProperColouring(colours: string, edges: [number, number][]): boolean {
  return edges.every(([u, v]) => colours[u] !== colours[v]);
}

// Writes the hidden-colour string `fill` into the `?` positions of `partial`.
function complete(partial: string, fill: string): string {
  let k = 0;
  return Array.from(partial, (c) => (c === "?" ? fill[k++] : c)).join("");
}

/**
 * Every valid completion of a problem (the answer modes): hidden-colour strings in vertex order, sorted in R < G < B
 * order. Enumerates all 3^h assignments of the h hidden vertices.
 *
 * @example
 * ```ts
 * colouringModes({ edges: [[0, 1], [1, 2]], partial: "R?R" }); // ["G", "B"]
 * ```
 */
export function colouringModes(problem: ColouringProblem): string[] {
  checkProblem(problem);
  const h = [...problem.partial].filter((c) => c === "?").length;
  const out: string[] = [];
  const total = 3 ** h;
  for (let code = 0; code < total; code++) {
    let fill = "";
    // most significant digit first, so codes count up in R < G < B order
    for (let i = h - 1, x = code; i >= 0; i--) {
      fill = COLOURS[x % 3] + fill;
      x = Math.floor(x / 3);
    }
    if (isProperColouring(complete(problem.partial, fill), problem.edges)) out.push(fill);
  }
  return out;
}

/**
 * The answer mode of a completion: the hidden-colour string of its last `\boxed{…}` if it has one colour per hidden
 * vertex and completes the partial colouring properly; otherwise null. Never throws.
 *
 * @example
 * ```ts
 * colouringAnswerMode("\\boxed{b}", { edges: [[0, 1], [1, 2]], partial: "R?R" }); // "B"
 * ```
 */
export function colouringAnswerMode(completion: string, problem: ColouringProblem): string | null {
  try {
    const boxed = lastBoxed(String(completion));
    if (boxed === null) return null;
    const fill = boxed.replace(/[\s,]+/g, "").toUpperCase();
    const h = [...problem.partial].filter((c) => c === "?").length;
    if (fill.length !== h || !/^[RGB]*$/.test(fill)) return null;
    return isProperColouring(complete(problem.partial, fill), problem.edges) ? fill : null;
  } catch {
    return null;
  }
}

/** 1 if the completion's boxed colours complete the colouring properly, else 0. */
export function scoreColouring(completion: string, problem: ColouringProblem): number {
  return colouringAnswerMode(completion, problem) === null ? 0 : 1;
}

/**
 * The prompt text: short and ASCII, for a character-level tokenizer.
 *
 * @example
 * ```ts
 * colouringPrompt({ edges: [[0, 1], [1, 2]], partial: "R?R" });
 * // "Edges 0-1 1-2; colours R?R; fill each ? with R, G or B so every edge has two colours."
 * ```
 */
export function colouringPrompt(problem: ColouringProblem): string {
  const edges = problem.edges.map(([u, v]) => `${u}-${v}`).join(" ");
  return `Edges ${edges}; colours ${problem.partial}; fill each ? with R, G or B so every edge has two colours.`;
}

/** Reads a problem back from {@linkcode colouringPrompt}'s text, or null. */
export function parseColouringPrompt(prompt: string): ColouringProblem | null {
  const m = /Edges ([\d\- ]+); colours ([RGB?]+);/.exec(prompt);
  if (!m) return null;
  const edges = m[1].trim().split(/\s+/).map((e) => e.split("-").map(Number) as [number, number]);
  return { edges, partial: m[2] };
}

/** Graph settings of the generator. */
export interface ColouringGraphOptions {
  /** Fewest vertices (default 4). */
  minVertices?: number;
  /** Most vertices (default 6). */
  maxVertices?: number;
  /** Fewest hidden vertices (default 2). */
  minHidden?: number;
  /** Most hidden vertices (default 4; at least one vertex stays shown). */
  maxHidden?: number;
}

/** The dataset row of a problem; `answer` is one mode chosen by `pick` ∈ [0, 1). */
export function colouringRow(problem: ColouringProblem, modes: string[], pick: number): TaskRow {
  const mode = modes[Math.min(modes.length - 1, Math.floor(pick * modes.length))];
  const edgeKey = problem.edges.map(([u, v]) => `${u}${v}`).join(".");
  return {
    id: `graph-${problem.partial.length}-${edgeKey}-${problem.partial.replaceAll("?", "x")}`,
    task: "graph_colouring",
    prompt: colouringPrompt(problem),
    answer: `\\boxed{${mode}}`,
    modes,
    num_modes: modes.length,
    vertices: problem.partial.length,
    edges: problem.edges,
    partial: problem.partial,
  };
}

/**
 * Generates graph-colouring train and test splits from one mulberry32(seed) stream. Each draw: n vertices uniform in
 * [minVertices, maxVertices]; m distinct edges, m uniform in [n − 1, min(n + 3, n(n−1)/2)]; a proper 3-colouring
 * drawn uniformly among all proper colourings (the graph is redrawn if it has none); h hidden vertices, h uniform in
 * [minHidden, min(maxHidden, n − 1)], chosen uniformly. The problem is kept if its number of valid completions lies
 * in [minModes, maxModes] (2–8; exactly 1 with `singleAnswer`) and its identity (edges + partial colouring) is new.
 * The first `train` kept problems form the training split, the next `eval` the test split.
 */
export function generateColouring(opts: SplitOptions & ColouringGraphOptions): TaskSplits {
  const [minModes, maxModes] = modeBounds(opts);
  checkSizes(opts);
  const minV = opts.minVertices ?? 4, maxV = opts.maxVertices ?? 6;
  const minH = opts.minHidden ?? 2, maxH = opts.maxHidden ?? 4;
  if (!(minV >= 2 && maxV >= minV && maxV <= 12)) throw new MaxentError(`vertices must satisfy 2 ≤ min ≤ max ≤ 12`);
  if (!(minH >= 1 && maxH >= minH && minH <= minV - 1)) {
    throw new MaxentError(`hidden vertices must satisfy 1 ≤ min ≤ max and min < vertices`);
  }
  const next = mulberry32(opts.seed);
  const rand = () => next() / 0x1_0000_0000;
  const int = (lo: number, hi: number) => lo + Math.floor(rand() * (hi - lo + 1));
  const want = opts.train + opts.eval;
  const rows: TaskRow[] = [];
  const seen = new Set<string>();
  const maxAttempts = 2000 + 500 * want;
  for (let attempt = 0; attempt < maxAttempts && rows.length < want; attempt++) {
    const n = int(minV, maxV);
    const pairs: [number, number][] = [];
    for (let u = 0; u < n; u++) for (let v = u + 1; v < n; v++) pairs.push([u, v]);
    const m = int(Math.min(n - 1, pairs.length), Math.min(n + 3, pairs.length));
    // partial Fisher–Yates: the first m pairs of a random permutation
    for (let i = 0; i < m; i++) {
      const j = int(i, pairs.length - 1);
      [pairs[i], pairs[j]] = [pairs[j], pairs[i]];
    }
    const edges = pairs.slice(0, m).sort((a, b) => a[0] - b[0] || a[1] - b[1]);
    const proper = colouringModes({ edges, partial: "?".repeat(n) });
    if (proper.length === 0) continue;
    const target = proper[int(0, proper.length - 1)];
    const h = int(minH, Math.min(maxH, n - 1));
    const order = Array.from({ length: n }, (_, i) => i);
    for (let i = 0; i < h; i++) {
      const j = int(i, n - 1);
      [order[i], order[j]] = [order[j], order[i]];
    }
    const hidden = new Set(order.slice(0, h));
    const partial = Array.from(target, (c, i) => (hidden.has(i) ? "?" : c)).join("");
    const problem: ColouringProblem = { edges, partial };
    const modes = colouringModes(problem);
    if (modes.length < minModes || modes.length > maxModes) continue;
    const row = colouringRow(problem, modes, rand());
    if (seen.has(row.id)) continue;
    seen.add(row.id);
    rows.push(row);
  }
  if (rows.length < want) {
    throw new MaxentError(
      `graph-colouring: found only ${rows.length} distinct problems with ${minModes}–${maxModes} answer modes in ` +
        `${maxAttempts} draws, but --train ${opts.train} + --eval ${opts.eval} were asked for; ask for fewer rows`,
    );
  }
  return { train: rows.slice(0, opts.train), test: rows.slice(opts.train) };
}

/** The problem of a dataset row: its `edges` and `partial` columns, else parsed from the prompt. */
export function colouringProblemOf(input: RewardInput): ColouringProblem {
  const { edges, partial } = input.row;
  if (Array.isArray(edges) && typeof partial === "string") return { edges: edges as [number, number][], partial };
  const fromPrompt = parseColouringPrompt(String(input.row.prompt ?? input.prompt));
  if (fromPrompt) return fromPrompt;
  throw new MaxentError(
    "graph_colouring reward: the dataset row has no `edges`/`partial` columns and the prompt is not a colouring " +
      "prompt; generate the data with `maxent data graph-colouring`",
  );
}

/**
 * The `graph_colouring` reward: 1 when the completion's last `\boxed{…}` holds one colour per hidden vertex that
 * completes the partial colouring properly, else 0 (malformed output scores 0). Reads `edges`/`partial` from the row.
 */
export const graphColouringReward: RewardFunction = (batch) =>
  batch.map((input) => scoreColouring(input.completion, colouringProblemOf(input)));
