import { join } from "node:path";
import { assert, assertEquals } from "./assert.ts";
import { runDemo } from "../scripts/demo.ts";
import { resolveRecipeArg } from "../src/train/demo_recipe.ts";
import { loadRecipe } from "../src/recipe/mod.ts";

Deno.test("demo: `maxent train demo` names the shipped recipe, which is valid", async () => {
  const path = resolveRecipeArg("demo");
  assert(path.endsWith(join("recipes", "demo", "config_countdown.yaml")), path);
  const { recipe } = await loadRecipe(path);
  assertEquals(recipe.algorithm, "maxent-grpo");
  assertEquals(recipe.output_dir, "runs/demo/train");
  assertEquals(resolveRecipeArg("recipes/x.yaml"), "recipes/x.yaml");
});

Deno.test("demo: a shortened demo runs end to end (data → init → sft → train → eval) and writes its artifacts", async () => {
  const out = await Deno.makeTempDir({ prefix: "maxent-demo-" });
  const lines: string[] = [];
  try {
    const r = await runDemo({
      out,
      quick: true,
      ctx: { out: (l) => lines.push(l), err: () => {}, isTerminal: false },
    });
    // the commands were printed before they ran
    for (const cmd of ["init", "sft", "train demo", "eval"]) {
      assert(lines.some((l) => l.startsWith(`$ maxent ${cmd}`)), `no "$ maxent ${cmd}" line in:\n${lines.join("\n")}`);
    }
    for (const f of ["data/train.jsonl", "data/test.jsonl", "sft.jsonl", "init/model.safetensors"]) {
      await Deno.stat(join(out, f));
    }
    for (const f of ["sft/model.safetensors", "sft/tokenizer.json", "train/model.safetensors", "train/metrics.jsonl"]) {
      await Deno.stat(join(out, f));
    }
    assert(r.report !== null, "no report");
    await Deno.stat(r.report!);
    const steps = (await Deno.readTextFile(r.metrics)).trim().split("\n").map((l) => JSON.parse(l));
    assertEquals(steps.length, 3);
    for (const m of steps) {
      for (const k of ["reward", "loss", "grad_norm", "kl", "entropy", "maxent/ess"]) {
        assert(Number.isFinite(m[k]), `step ${m.step}: ${k} = ${m[k]}`);
      }
    }
    // the quick run evaluates during training (do_eval): eval/* in the metrics row of the last step
    assert(Number.isFinite(steps.at(-1)["eval/pass@k"]), JSON.stringify(steps.at(-1)));
    assert(Number.isFinite(r.startReward) && Number.isFinite(r.endReward));
    assert(Number.isFinite(r.eval["pass@k"]), JSON.stringify(r.eval));
    assert(lines.at(-3)!.startsWith("demo: reward "), lines.at(-3));
    assert(Number.isFinite(r.evalBefore["pass@1"]), JSON.stringify(r.evalBefore));
  } finally {
    await Deno.remove(out, { recursive: true });
  }
});
