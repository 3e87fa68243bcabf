/**
 * The command-line program: builds the subcommand tree (each subcommand lives in its own module beside this one)
 * and maps failures to exit codes — 0 success, 1 runtime error (one line: what is wrong, how to fix it), 2 usage
 * error. A stack trace is printed only with `--debug`.
 */
import { Command, CommanderError } from "@commander-js/extra-typings";
import { MaxentError, UsageError } from "../errors.ts";
import { versionLine, versionReport } from "./version_info.ts";
import { type CliContext, processContext } from "./context.ts";
import { commands } from "./commands.ts";

/** Builds the `maxent` program with every subcommand, printing through `ctx`. */
export function buildProgram(ctx: CliContext): Command<[], { debug?: true }> {
  const program = new Command()
    .name("maxent")
    .description("Fine-tune language models with MaxEnt-GRPO and GRPO from a YAML recipe.")
    .version(versionText(), "-V, --version", "print maxent's, Deno's and tfjs's versions and the backend auto picks")
    .option("--debug", "print stack traces on errors")
    .showHelpAfterError("(run with --help for usage)")
    .exitOverride()
    .configureOutput({
      writeOut: (s) => ctx.out(s.replace(/\n$/, "")),
      writeErr: (s) => ctx.err(s.replace(/\n$/, "")),
    });
  for (const make of commands) {
    const cmd = make(ctx);
    cmd.exitOverride().configureOutput({
      writeOut: (s) => ctx.out(s.replace(/\n$/, "")),
      writeErr: (s) => ctx.err(s.replace(/\n$/, "")),
    }).showHelpAfterError("(run with --help for usage)");
    program.addCommand(cmd);
  }
  return program;
}

/** The first line `--version` prints (the whole report is versionReport() in ./version_info.ts). */
export function versionText(): string {
  return versionLine();
}

/** Runs the CLI on `args` (without the program name) and returns the process exit code. */
export async function main(args: string[], ctx: CliContext = processContext()): Promise<number> {
  const program = buildProgram(ctx);
  const debug = args.includes("--debug");
  if (args.length === 1 && (args[0] === "--version" || args[0] === "-V")) {
    // Handled here rather than by commander: the backend line is probed (~0.1 s) only when asked for.
    ctx.out(await versionReport());
    return 0;
  }
  try {
    await program.parseAsync(args, { from: "user" });
    return 0;
  } catch (e) {
    if (e instanceof CommanderError) {
      // Commander has already printed its message (and the help hint) through ctx.err.
      if (e.code === "commander.helpDisplayed" || e.code === "commander.version" || e.code === "commander.help") {
        return 0;
      }
      return e.exitCode === 0 ? 0 : 2;
    }
    if (e instanceof UsageError) {
      ctx.err(`maxent: ${e.message}`);
      ctx.err("(run with --help for usage)");
      if (debug) ctx.err(e.stack ?? "");
      return 2;
    }
    if (e instanceof MaxentError) {
      ctx.err(`maxent: error: ${e.message}`);
      if (debug) ctx.err(e.stack ?? "");
      return 1;
    }
    const message = e instanceof Error ? e.message : String(e);
    ctx.err(`maxent: unexpected error: ${message}${debug ? "" : " (rerun with --debug for a stack trace)"}`);
    if (debug && e instanceof Error) ctx.err(e.stack ?? "");
    return 1;
  }
}
