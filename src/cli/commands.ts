/**
 * The list of subcommands, in the order `maxent --help` shows them. One import and one entry per subcommand module.
 *
 * A subcommand module (`src/cli/<name>.ts`) exports a builder such as:
 * ```ts
 * export function weightsCommand(ctx: CliContext) {
 *   return new Command("weights").description("…").requiredOption("--utilities <list>", "…", parseNumberList("--utilities"))
 *     .action((opts) => { ctx.out(JSON.stringify(compute(opts))); });
 * }
 * ```
 * and throws `UsageError` (exit 2) for bad flags and `MaxentError` (exit 1) for runtime failures.
 */
import type { Command } from "@commander-js/extra-typings";
import type { CliContext } from "./context.ts";
import { initCommand } from "./init.ts";
import { trainCommand } from "./train.ts";
import { scoreCommand } from "./score.ts";
import { sampleCommand } from "./sample.ts";
import { serveCommand } from "./serve.ts";
import { reportCommand } from "./report.ts";
import { recipeCommand } from "./recipe.ts";
import { weightsCommand } from "./weights.ts";
import { dataCommand } from "./data.ts";
import { downloadCommand } from "./download.ts";
import { uploadCommand } from "./upload.ts";
import { mergeCommand } from "./merge.ts";
import { sftCommand } from "./sft.ts";
import { evalCommand } from "./eval.ts";
import { experimentCommand } from "./experiment.ts";

// deno-lint-ignore no-explicit-any
type AnyCommand = Command<any, any, any>;

/** Each entry builds one subcommand. */
export const commands: Array<(ctx: CliContext) => AnyCommand> = [
  trainCommand,
  sftCommand,
  evalCommand,
  experimentCommand,
  initCommand,
  scoreCommand,
  sampleCommand,
  serveCommand,
  reportCommand,
  recipeCommand,
  weightsCommand,
  dataCommand,
  downloadCommand,
  uploadCommand,
  mergeCommand,
];
