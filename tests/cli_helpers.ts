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

/**
 * Writes a randomly initialised `tiny`-preset model to `dir` with `maxent init` (`flags` are extra init flags such as
 * `--hidden 32`); throws with init's stderr when it fails.
 */
export async function initTinyModel(dir: string, seed: number, flags: Record<string, number> = {}): Promise<void> {
  const extra = Object.entries(flags).flatMap(([k, v]) => [`--${k}`, String(v)]);
  const r = await runCli(["init", dir, "--preset", "tiny", "--seed", String(seed), ...extra]);
  if (r.code !== 0) throw new Error(`maxent init ${dir} failed: ${r.err}`);
}
