/**
 * `maxent upload DIR REPO_ID`: pushes a local folder to a Hub repo in one commit, creating the repo and the branch
 * when missing.
 */
import { readEnv } from "../env.ts";
import { Command } from "@commander-js/extra-typings";
import type { CliContext } from "./context.ts";
import { uploadFolder } from "../hub/upload.ts";
import { hubOptionsFromEnv } from "../hub/options.ts";

/** Builds the `upload` subcommand. */
export function uploadCommand(ctx: CliContext) {
  return new Command("upload")
    .description("upload the files of DIR to a Hub model repo in one commit; prints the commit sha and the repo URL")
    .argument("<dir>", "local folder, e.g. a checkpoint")
    .argument("<repo_id>", "Hub repo id, e.g. me/my-model (created if missing)")
    .option("--private", "create the repo as private (when it does not exist yet)")
    .option("--revision <branch>", "branch to commit to (created from main if missing)", "main")
    .option("--message <m>", "commit message")
    .option("--token <token>", "Hugging Face access token with write access (default: $HF_TOKEN); never printed")
    .action(async (dir, repoId, opts) => {
      const hub = hubOptionsFromEnv(readEnv(), {
        token: opts.token,
        progress: ctx.isTerminal,
        log: ctx.isTerminal ? (line) => ctx.err(line) : undefined,
      });
      const res = await uploadFolder(dir, repoId, {
        ...hub,
        private: opts.private ?? false,
        revision: opts.revision,
        message: opts.message,
      });
      ctx.out(`${res.commit} ${res.url}`);
    });
}
