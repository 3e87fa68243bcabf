/**
 * `maxent data TASK --out DIR`: writes a multi-answer task dataset (`DIR/train.jsonl`, `DIR/test.jsonl`) with every
 * prompt's valid answer modes enumerated, for training with the task's reward and evaluating coverage.
 */
import { Command } from "@commander-js/extra-typings";
import { UsageError } from "../errors.ts";
import { generateTask, TASK_NAMES, type TaskName, writeTaskSplits } from "../tasks/dataset.ts";
import type { CliContext } from "./context.ts";

function parseCount(flag: string) {
  return (value: string): number => {
    const n = Number(value);
    if (value.trim() === "" || !Number.isSafeInteger(n) || n < 0) {
      throw new UsageError(`${flag} expects an integer ≥ 0, got "${value}"`);
    }
    return n;
  };
}

/** Builds the `data` subcommand. */
export function dataCommand(ctx: CliContext) {
  return new Command("data")
    .description(
      "write a multi-answer task dataset: DIR/train.jsonl and DIR/test.jsonl with columns prompt, answer (one valid " +
        "\\boxed{} answer), modes (every valid answer, canonical), num_modes, id and the problem's own columns; " +
        "train and test never share a problem",
    )
    .argument("<task>", `the task: ${TASK_NAMES.join(" or ")}`)
    .requiredOption("--out <dir>", "output directory")
    .option("--train <n>", "training prompts", parseCount("--train"), 256)
    .option("--eval <n>", "evaluation prompts", parseCount("--eval"), 64)
    .option("--seed <n>", "generator seed", parseCount("--seed"), 0)
    .option("--single-answer", "only prompts with exactly one valid answer (a control split)")
    .action(async (taskArg, opts) => {
      const task = (taskArg === "graph-coloring" ? "graph-colouring" : taskArg) as TaskName;
      if (!TASK_NAMES.includes(task)) {
        throw new UsageError(`unknown task "${taskArg}": use ${TASK_NAMES.join(" or ")}`);
      }
      const splits = generateTask(task, {
        seed: opts.seed,
        train: opts.train,
        eval: opts.eval,
        singleAnswer: opts.singleAnswer ?? false,
      });
      const paths = await writeTaskSplits(opts.out, splits);
      const modes = (rows: { num_modes: number }[]) =>
        rows.length === 0 ? 0 : rows.reduce((a, r) => a + r.num_modes, 0) / rows.length;
      ctx.out(
        `${task}: ${splits.train.length} train prompts → ${paths.train}, ${splits.test.length} test prompts → ` +
          `${paths.test} (mean answer modes ${modes(splits.train).toFixed(2)} / ${modes(splits.test).toFixed(2)})`,
      );
    });
}
