/**
 * The task registry of `maxent data`: task names → generators, rewards and mode canonicalisers, and the writer of
 * `DIR/train.jsonl` / `DIR/test.jsonl` (one {@linkcode TaskRow} per line).
 */
import { join } from "node:path";
import { MaxentError } from "../errors.ts";
import type { RewardFunction } from "../rewards/types.ts";
import {
  countdownAnswerMode,
  countdownModes,
  countdownProblemOf,
  countdownReward,
  generateCountdown,
  parseCountdownPrompt,
} from "./countdown.ts";
import {
  colouringAnswerMode,
  colouringModes,
  colouringProblemOf,
  generateColouring,
  graphColouringReward,
  parseColouringPrompt,
} from "./graph_colouring.ts";
import type { SplitOptions, TaskRow, TaskSplits } from "./types.ts";

/** The task names `maxent data` accepts (`graph-coloring` is accepted as a spelling of `graph-colouring`). */
export const TASK_NAMES = ["countdown", "graph-colouring"] as const;
/** A task name. */
export type TaskName = (typeof TASK_NAMES)[number];

/** Generates a task's train and test splits (see `generateCountdown` / `generateColouring`). */
export function generateTask(task: TaskName, opts: SplitOptions): TaskSplits {
  switch (task) {
    case "countdown":
      return generateCountdown(opts);
    case "graph-colouring":
      return generateColouring(opts);
    default:
      throw new MaxentError(`unknown task "${task}"; use ${TASK_NAMES.join(" or ")}`);
  }
}

/**
 * The rewards of the tasks by `reward_funcs` name, for the reward registry: `countdown` and `graph_colouring`.
 * Each reads its problem from the row's columns (numbers/target; edges/partial) and returns 1 or 0.
 */
export const taskRewards: Record<string, RewardFunction> = {
  countdown: countdownReward,
  graph_colouring: graphColouringReward,
};

/** Which task a dataset row belongs to: its `task` column, else recognised from its prompt text. */
export function taskOfRow(row: Record<string, unknown>): "countdown" | "graph_colouring" {
  if (row.task === "countdown" || row.task === "graph_colouring") return row.task;
  const prompt = String(row.prompt ?? "");
  if (parseCountdownPrompt(prompt)) return "countdown";
  if (parseColouringPrompt(prompt)) return "graph_colouring";
  throw new MaxentError(
    "row is neither a countdown nor a graph_colouring problem: it has no `task` column and its `prompt` is not a " +
      "task prompt (generate the data with `maxent data`)",
  );
}

/**
 * The answer mode of a completion for a dataset row of either task: the canonical mode when the completion is
 * correct, else null. This is what evaluation feeds to `promptMetrics` as `sampleModes`. The row needs the problem
 * columns (numbers/target, edges/partial) or at least the `prompt` column (problems are read back from the prompt).
 */
export function answerModeOf(completion: string, row: Record<string, unknown>): string | null {
  const input = { completion, prompt: String(row.prompt ?? ""), row };
  return taskOfRow(row) === "countdown"
    ? countdownAnswerMode(completion, countdownProblemOf(input))
    : colouringAnswerMode(completion, colouringProblemOf(input));
}

/**
 * Every valid answer mode of a row's problem: its `modes` column, else enumerated from the problem (so a row read
 * with only the prompt column still gives `numModes` for coverage).
 */
export function modesOf(row: Record<string, unknown>): string[] {
  if (Array.isArray(row.modes) && row.modes.every((m) => typeof m === "string")) return row.modes as string[];
  const input = { completion: "", prompt: String(row.prompt ?? ""), row };
  return taskOfRow(row) === "countdown"
    ? countdownModes(countdownProblemOf(input))
    : colouringModes(colouringProblemOf(input));
}

async function writeAtomically(path: string, text: string): Promise<void> {
  const tmp = `${path}.tmp-${crypto.randomUUID().slice(0, 8)}`;
  try {
    await Deno.writeTextFile(tmp, text);
    await Deno.rename(tmp, path);
  } catch (e) {
    await Deno.remove(tmp).catch(() => {});
    throw new MaxentError(`cannot write ${path}: ${e instanceof Error ? e.message : String(e)}`);
  }
}

/** Writes `dir/train.jsonl` and `dir/test.jsonl` (creating `dir`), each file atomically; returns their paths. */
export async function writeTaskSplits(dir: string, splits: TaskSplits): Promise<{ train: string; test: string }> {
  await Deno.mkdir(dir, { recursive: true });
  const lines = (rows: TaskRow[]) => rows.map((r) => JSON.stringify(r) + "\n").join("");
  const train = join(dir, "train.jsonl"), test = join(dir, "test.jsonl");
  await writeAtomically(train, lines(splits.train));
  await writeAtomically(test, lines(splits.test));
  return { train, test };
}
