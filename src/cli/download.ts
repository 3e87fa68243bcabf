/**
 * `maxent download REPO_ID`: fetches a Hub repo (or the files matching --include) into the Hugging Face cache and
 * prints the local snapshot path.
 */
import { readEnv } from "../env.ts";
import { Command, Option } from "@commander-js/extra-typings";
import type { CliContext } from "./context.ts";
import { downloadRepo } from "../hub/download.ts";
import { hubOptionsFromEnv } from "../hub/options.ts";

function collect(value: string, previous: string[] = []): string[] {
  return [...previous, value];
}

/** Builds the `download` subcommand. */
export function downloadCommand(ctx: CliContext) {
  return new Command("download")
    .description(
      "download a Hub repo into the Hugging Face cache (shared with Python) and print its local snapshot path",
    )
    .argument("<repo_id>", "Hub repo id, e.g. Qwen/Qwen2.5-0.5B-Instruct")
    .addOption(
      new Option("--repo-type <type>", "repo type").choices(["model", "dataset"] as const).default("model" as const),
    )
    .option("--revision <rev>", "branch, tag or commit sha", "main")
    .option("--include <glob>", "only files matching this glob (repeatable), e.g. --include '*.json'", collect)
    .option("--token <token>", "Hugging Face access token (default: $HF_TOKEN); never printed")
    .action(async (repoId, opts) => {
      const hub = hubOptionsFromEnv(readEnv(), {
        token: opts.token,
        progress: ctx.isTerminal,
        log: ctx.isTerminal ? (line) => ctx.err(line) : undefined,
      });
      const dir = await downloadRepo(repoId, {
        ...hub,
        repoType: opts.repoType,
        revision: opts.revision,
        include: opts.include,
      });
      ctx.out(dir);
    });
}
