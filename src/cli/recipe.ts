/**
 * `maxent recipe check FILE`: validates a recipe the way training will load it (defaults, MAXENT_* environment,
 * `--set` overrides) and prints every resolved value, the derived settings, and the warnings.
 */
import { Command } from "@commander-js/extra-typings";
import YAML from "yaml";
import {
  generationTemperature,
  generationTopP,
  grpoBeta,
  loadRecipe,
  maxentBeta,
  type Recipe,
  samplerKind,
} from "../recipe/mod.ts";
import type { CliContext } from "./context.ts";

/** Values derived from a recipe by the rules other modules apply (β rule, aliases, sampler choice). */
export function derivedSettings(recipe: Recipe): Record<string, unknown> {
  return {
    beta: recipe.algorithm === "grpo" ? grpoBeta(recipe) : maxentBeta(recipe),
    temperature: generationTemperature(recipe),
    top_p: generationTopP(recipe),
    sampler: samplerKind(recipe),
    epsilon_high: recipe.epsilon_high ?? recipe.epsilon,
  };
}

function collect(value: string, previous: string[]): string[] {
  return [...previous, value];
}

/** Builds the `recipe` subcommand group (`recipe check`). */
export function recipeCommand(ctx: CliContext) {
  const output = {
    writeOut: (s: string) => ctx.out(s.replace(/\n$/, "")),
    writeErr: (s: string) => ctx.err(s.replace(/\n$/, "")),
  };
  const check = new Command("check")
    .description(
      "Validate a recipe and print the resolved values (defaults, MAXENT_* environment and --set applied), the " +
        "derived settings and any warnings.",
    )
    .argument("<file>", "the recipe YAML file")
    .option("--set <key=value>", "override a recipe key (YAML value; repeatable)", collect, [] as string[])
    .option("--json", "print one JSON object {file, recipe, derived, warnings}")
    .exitOverride()
    .configureOutput(output)
    .showHelpAfterError("(run with --help for usage)")
    .action(async (file, opts) => {
      const { recipe, warnings } = await loadRecipe(file, { overrides: opts.set });
      if (opts.json) {
        ctx.out(JSON.stringify({ file, recipe, derived: derivedSettings(recipe), warnings }));
        return;
      }
      for (const w of warnings) ctx.err(`warning: ${w}`);
      ctx.out(`# ${file}: valid (${recipe.algorithm}); every value as training will use it`);
      ctx.out(YAML.stringify(recipe, { lineWidth: 0 }).replace(/\n$/, ""));
      ctx.out("# derived");
      for (const [k, v] of Object.entries(derivedSettings(recipe))) ctx.out(`#   ${k}: ${JSON.stringify(v)}`);
    });
  return new Command("recipe")
    .description("Work with recipe files (see `recipe check`).")
    .addCommand(check);
}
