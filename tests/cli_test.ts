import { assert, assertEquals, assertMatch } from "./assert.ts";
import { main } from "../src/cli/main.ts";
import type { CliContext } from "../src/cli/context.ts";
import { VERSION } from "../src/version.ts";

/** Runs the CLI in-process and captures what it prints. */
export async function runCli(args: string[]): Promise<{ code: number; out: string; err: string }> {
  const out: string[] = [];
  const err: string[] = [];
  const ctx: CliContext = { out: (l) => out.push(l), err: (l) => err.push(l), isTerminal: false };
  const code = await main(args, ctx);
  return { code, out: out.join("\n"), err: err.join("\n") };
}

Deno.test("--version prints maxent's version and exits 0", async () => {
  const r = await runCli(["--version"]);
  assertEquals(r.code, 0);
  assertMatch(r.out, new RegExp(`^maxent ${VERSION.replaceAll(".", "\\.")} `));
});

Deno.test("--help lists usage and exits 0", async () => {
  const r = await runCli(["--help"]);
  assertEquals(r.code, 0);
  assertMatch(r.out, /Usage: maxent/);
});

Deno.test("an unknown option is a usage error with exit code 2", async () => {
  const r = await runCli(["--no-such-flag"]);
  assertEquals(r.code, 2);
  assert(r.err.includes("--no-such-flag"), r.err);
});

Deno.test("an unknown subcommand is a usage error with exit code 2", async () => {
  const r = await runCli(["frobnicate"]);
  assertEquals(r.code, 2);
  assert(r.err.includes("frobnicate"), r.err);
});
