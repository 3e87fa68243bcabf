/** Runs maxent's CLI in-process for tests, capturing what it prints. */
import { main } from "../src/cli/main.ts";
import type { CliContext } from "../src/cli/context.ts";

/** Runs the CLI in-process and captures what it prints. */
export async function runCli(args: string[]): Promise<{ code: number; out: string; err: string }> {
  const out: string[] = [];
  const err: string[] = [];
  const ctx: CliContext = { out: (l) => out.push(l), err: (l) => err.push(l), isTerminal: false };
  const code = await main(args, ctx);
  return { code, out: out.join("\n"), err: err.join("\n") };
}
