import { assert, assertEquals, assertMatch } from "./assert.ts";
import { runCli } from "./cli_helpers.ts";
import { VERSION } from "../src/version.ts";

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
