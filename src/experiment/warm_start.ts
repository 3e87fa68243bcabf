/**
 * The supervised warm start of the multi-answer experiment: a mix of valid answers per training prompt (several of
 * its enumerated modes, each as its own `\boxed{…}` row), so the start model already earns reward often and spreads
 * its probability over several answers — the RL phase then shows whether an objective keeps or collapses that spread.
 */
import { mulberry32, shuffled } from "../data/shuffle.ts";
import type { TaskRow } from "../tasks/types.ts";

/** One supervised row: the task prompt and a target completion. */
export interface WarmStartRow {
  prompt: string;
  completion: string;
}

/**
 * Up to `perPrompt` distinct modes of every row (chosen with `seed`), each as `\boxed{mode}`; the result is shuffled.
 *
 * @example
 * ```ts
 * warmStartRows([{ prompt: "p", modes: ["a", "b"] } as TaskRow], 8, 0).length; // 2
 * ```
 */
export function warmStartRows(rows: TaskRow[], perPrompt: number, seed: number): WarmStartRow[] {
  const next = mulberry32(seed);
  const out: WarmStartRow[] = [];
  for (const row of rows) {
    const picks = shuffled(row.modes.map((_, i) => i), next() >>> 0).slice(0, Math.max(1, perPrompt));
    for (const i of picks) out.push({ prompt: row.prompt, completion: `\\boxed{${row.modes[i]}}` });
  }
  return shuffled(out, seed + 1);
}
