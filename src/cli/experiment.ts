/**
 * `maxent experiment compare RECIPE --arms …`: MaxEnt-GRPO, xDr.GRPO, Dr.GRPO and GRPO trained from the same start on
 * the same prompts and budget, evaluated on a multi-answer test split, with bootstrap intervals of each arm's
 * difference to Dr.GRPO, as results.json + report.html (src/experiment/).
 */
import { Command, Option } from "@commander-js/extra-typings";
import type { Backend } from "../recipe/mod.ts";
import { parseArms, parseSweep, runCompare } from "../experiment/mod.ts";
import type { CliContext } from "./context.ts";
import { parseNumber, parsePositiveInt } from "./parse.ts";

/** Builds the `experiment` subcommand (with its `compare` subcommand). */
export function experimentCommand(ctx: CliContext) {
  const compare = new Command("compare")
    .description(
      "train every arm × seed from RECIPE (same start model, prompts, group size and sampling budget; arms differ " +
        "only in objective keys), evaluate on the test split (k samples at temperature 1 + greedy, several " +
        "evaluation seeds) and write OUT/results.json, OUT/report.html and OUT/figure.svg",
    )
    .argument("<recipe>", "base recipe (YAML); e.g. recipes/experiments/countdown.yaml")
    .option(
      "--arms <list>",
      "arms: name[:key=value,...] separated by commas; name = grpo | dr_grpo | maxent-grpo | xdr-grpo; tau = " +
        "maxent_tau / xdr_tau",
      parseArms,
    )
    .option(
      "--sweep <spec>",
      "dose-response sweep, e.g. xdr-grpo:tau=0.001,0.01,0.05,0.5 (adds one arm per value)",
      parseSweep,
    )
    .option("--seeds <n>", "training seeds per arm", parsePositiveInt("--seeds"), 1)
    .option("--eval-seeds <n>", "evaluation seeds per trained model", parsePositiveInt("--eval-seeds"), 1)
    .option("--k <n>", "samples per test prompt", parsePositiveInt("--k"), 8)
    .option("--temperature <x>", "evaluation sampling temperature", parseNumber("--temperature"), 1)
    .option("--out <dir>", "output folder", "runs/experiment")
    .option("--set <key=value...>", "override recipe keys for every arm (the value is YAML), e.g. --set max_steps=10")
    .option("--baseline <arm>", "arm the differences are taken to (default dr_grpo when listed, else the first)")
    .option("--eval-limit <n>", "evaluate only the first n test prompts", parsePositiveInt("--eval-limit"))
    .option("--resamples <n>", "bootstrap resamples", parsePositiveInt("--resamples"), 2000)
    .option("--verbose", "print every training log line")
    .addOption(
      new Option("--backend <name>", "tfjs backend (overrides the recipe)").choices([
        "auto",
        "tensorflow",
        "webgpu",
        "wasm",
        "cpu",
      ]),
    )
    .action(async (recipe, opts) => {
      const arms = opts.arms ?? parseArms("dr_grpo,maxent-grpo:tau=0.2,xdr-grpo:tau=0.05");
      const result = await runCompare({
        recipe,
        arms,
        sweep: opts.sweep,
        seeds: opts.seeds,
        evalSeeds: opts.evalSeeds,
        k: opts.k,
        temperature: opts.temperature,
        out: opts.out,
        overrides: opts.set,
        baseline: opts.baseline,
        evalLimit: opts.evalLimit,
        resamples: opts.resamples,
        backend: opts.backend as Backend | undefined,
        log: (l) => ctx.err(l),
        trainLog: opts.verbose ? (l) => ctx.err(`  ${l}`) : undefined,
      });
      ctx.out(JSON.stringify({
        results: result.resultsPath,
        report: result.reportPath,
        figure: result.figurePath,
        missing: result.results.missing.length,
      }));
    });
  const out = (s: string) => ctx.out(s.replace(/\n$/, ""));
  const err = (s: string) => ctx.err(s.replace(/\n$/, ""));
  compare.exitOverride().configureOutput({ writeOut: out, writeErr: err }).showHelpAfterError(
    "(run with --help for usage)",
  );
  return new Command("experiment")
    .description("multi-answer experiments: `compare` trains and evaluates several objectives side by side")
    .addCommand(compare);
}
