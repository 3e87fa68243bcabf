/** `maxent train RECIPE`: trains with MaxEnt-GRPO or GRPO as the recipe says (see src/train/trainer.ts). */
import { Command, Option } from "@commander-js/extra-typings";
import { loadRecipe } from "../recipe/mod.ts";
import type { Backend } from "../recipe/mod.ts";
import { train } from "../train/trainer.ts";
import { resolveRecipeArg } from "../train/demo_recipe.ts";
import type { CliContext } from "./context.ts";
import { UsageError } from "../errors.ts";
import { parsePositiveInt } from "./parse.ts";

/** Builds the `train` subcommand. */
export function trainCommand(ctx: CliContext) {
  return new Command("train")
    .description("train a model with MaxEnt-GRPO or GRPO from a YAML recipe")
    .argument("[recipe]", "recipe file (YAML, open-r1/TRL keys), or `demo` for the built-in CPU demo recipe")
    .option("--recipe <file|name>", "the recipe, as a flag (same as the argument), e.g. --recipe demo")
    .option("--set <key=value...>", "override recipe keys (the value is YAML), e.g. --set max_steps=10")
    .addOption(
      new Option("--backend <name>", "tfjs backend (overrides the recipe)").choices([
        "auto",
        "tensorflow",
        "webgpu",
        "wasm",
        "cpu",
      ]),
    )
    .option("--token <token>", "Hugging Face token (default: HF_TOKEN)")
    .option("--stop-after <steps>", "stop after this many steps (resume later)", parsePositiveInt("--stop-after"))
    .action(async (recipeArg, opts) => {
      if ((recipeArg === undefined) === (opts.recipe === undefined)) {
        throw new UsageError("give the recipe once: `maxent train RECIPE` or `maxent train --recipe RECIPE`");
      }
      const recipePath = (recipeArg ?? opts.recipe)!;
      const loaded = await loadRecipe(resolveRecipeArg(recipePath), { overrides: opts.set });
      const result = await train(loaded, {
        log: (l) => ctx.err(l),
        isTerminal: ctx.isTerminal,
        backend: opts.backend as Backend | undefined,
        hub: opts.token ? { token: opts.token } : {},
        stopAfterSteps: opts.stopAfter,
      });
      ctx.out(JSON.stringify({
        output_dir: result.outputDir,
        steps: result.steps,
        report: result.reportPath,
        reward: result.lastMetrics?.reward ?? null,
      }));
    });
}
