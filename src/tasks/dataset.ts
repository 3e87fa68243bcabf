/**
 * The task registry of `maxent data`: task names → generators, rewards and mode canonicalisers, and the writer of
 * `DIR/train.jsonl` / `DIR/test.jsonl` (one {@linkcode TaskRow} per line).
 */
import { join } from "node:path";
import { MaxentError } from "../errors.ts";
import type { RewardFunction } from "../rewards/types.ts";
import { countdownAnswerMode, countdownReward, generateCountdown } from "./countdown.ts";
import { colouringAnswerMode, generateColouring, graphColouringReward } from "./graph_colouring.ts";
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

/**
 * The answer mode of a completion for a dataset row of either task (by its `task` column): the canonical mode when
 * the completion is correct, else null. This is what evaluation feeds to `promptMetrics` as `sampleModes`.
 */
export function answerModeOf(completion: string, row: Record<string, unknown>): string | null {
  if (row.task === "countdown") {
    return countdownAnswerMode(completion, { numbers: row.numbers as number[], target: row.target as number });
  }
  if (row.task === "graph_colouring") {
    return colouringAnswerMode(completion, {
      edges: row.edges as [number, number][],
      partial: row.partial as string,
    });
  }
  throw new MaxentError(`row has task "${String(row.task)}"; expected countdown or graph_colouring`);
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
