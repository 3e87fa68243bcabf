/**
 * maxent's entry point: `deno run … cli.ts <subcommand> [options]` or the compiled `./maxent` binary.
 *
 * @module
 */
import { main } from "./src/cli/main.ts";

if (import.meta.main) {
  Deno.exit(await main(Deno.args));
}
