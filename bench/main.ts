/**
 * The benchmark runner behind `deno task bench`: runs the registered suites (all, or those named on the command line)
 * and prints one Markdown table with the machine it ran on, ready to paste into BENCHMARKS.md.
 *
 * A suite is a module `bench/<area>.ts` exporting `async function run(report: Report)` (types and helpers in
 * `bench/report.ts`); register it in `SUITES`.
 *
 * Usage: `deno task bench [suite …] [--json FILE]`
 *
 * @module
 */

import type { BenchResult, Suite } from "./report.ts";
import { machineLine } from "./report.ts";

/** The registered suites, by name; add one line per `bench/<area>.ts`. */
export const SUITES: Record<string, () => Promise<Suite>> = {
  objective: () => import("./objective.ts"),
  model: () => import("./model.ts"),
  backend: () => import("./backend.ts"),
  sampling: () => import("./sampling.ts"),
  train_step: () => import("./train_step.ts"),
  peer: () => import("./peer.ts"),
  memory: () => import("./memory.ts"),
  lora_peer: () => import("./lora_peer.ts"),
};

async function main(args: string[]): Promise<number> {
  const names: string[] = [];
  let jsonFile: string | undefined;
  for (let i = 0; i < args.length; i++) {
    if (args[i] !== "--json") names.push(args[i]);
    else if ((jsonFile = args[++i]) === undefined) {
      console.error("--json needs a file name");
      return 2;
    }
  }
  const selected = names.length > 0 ? names : Object.keys(SUITES);
  const unknown = selected.filter((n) => !(n in SUITES));
  if (unknown.length > 0) {
    console.error(`unknown suite(s): ${unknown.join(", ")}; known: ${Object.keys(SUITES).join(", ")}`);
    return 2;
  }
  const results: Array<BenchResult & { suite: string }> = [];
  console.log(`machine: ${machineLine()}\n`);
  console.log("| suite | benchmark | value | unit | detail |");
  console.log("| --- | --- | ---: | --- | --- |");
  for (const suite of selected) {
    const mod = await SUITES[suite]();
    await mod.run((r) => {
      results.push({ suite, ...r });
      const v = Math.abs(r.value) >= 100 ? r.value.toFixed(0) : r.value.toPrecision(3);
      console.log(`| ${suite} | ${r.name} | ${v} | ${r.unit} | ${r.detail ?? ""} |`);
    });
  }
  if (jsonFile) {
    const tmp = `${jsonFile}.tmp-${crypto.randomUUID().slice(0, 8)}`;
    await Deno.writeTextFile(tmp, JSON.stringify({ machine: machineLine(), results }, null, 2) + "\n");
    await Deno.rename(tmp, jsonFile);
  }
  return 0;
}

if (import.meta.main) {
  Deno.exit(await main(Deno.args));
}
