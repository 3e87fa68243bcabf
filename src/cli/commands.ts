/** The list of subcommands, in the order `maxent --help` shows them. One line per subcommand module. */
import type { Command } from "@commander-js/extra-typings";
import type { CliContext } from "./context.ts";

// deno-lint-ignore no-explicit-any
type AnyCommand = Command<any, any, any>;

/** Each entry builds one subcommand. */
export const commands: Array<(ctx: CliContext) => AnyCommand> = [];
