import * as tf from "@tensorflow/tfjs";
import { join } from "node:path";
import { assert, assertClose, assertEquals, assertRejects } from "./assert.ts";
import { recipeYaml, runCli, tinyTrainingSetup } from "./cli_helpers.ts";
import { parseRecipe } from "../src/recipe/mod.ts";
import { train } from "../src/train/trainer.ts";
import { latestCheckpoint } from "../src/train/checkpoint.ts";
import { CausalLM } from "../src/model/transformer.ts";
import { readSafetensorsDir } from "../src/model/safetensors.ts";
import { MaxentError } from "../src/errors.ts";

const { root, model, data } = await tinyTrainingSetup("maxent-train-", 5);

/** A recipe for the tiny model; `extra` overrides keys. */
function recipeText(out: string, extra: Record<string, unknown> = {}): string {
  const base: Record<string, unknown> = {
    model_name_or_path: model,
    dataset_name: data,
    reward_funcs: ["format", "tag_count"],
    num_generations: 4,
    per_device_train_batch_size: 2,
    gradient_accumulation_steps: 1,
    max_completion_length: 6,
    max_steps: 4,
    learning_rate: 0.01,
    init_kl_coeff: 0.1,
    output_dir: out,
    save_steps: 2,
    logging_steps: 1,
    backend: "cpu",
    seed: 3,
    ...extra,
  };
  return recipeYaml(base);
}

const quiet = { log: () => {}, env: {} };

async function readJsonl(path: string) {
  return (await Deno.readTextFile(path)).trim().split("\n").map((l) => JSON.parse(l));
}

Deno.test("MaxEnt-GRPO and GRPO each train from a recipe file, writing metrics, checkpoints, model and report", async () => {
  for (const algorithm of ["maxent-grpo", "grpo", "xdr-grpo"]) {
    const out = join(root, `run-${algorithm}`);
    const file = join(root, `${algorithm}.yaml`);
    const extra = algorithm === "xdr-grpo" ? { xdr_tau: 0.05, beta: 0.04 } : {};
    await Deno.writeTextFile(file, recipeText(out, { algorithm, log_completions: true, ...extra }));
    const r = await runCli(["train", file]);
    assertEquals(r.code, 0, r.err);
    const rows = await readJsonl(join(out, "metrics.jsonl"));
    assertEquals(rows.map((x) => x.step), [1, 2, 3, 4]);
    for (const key of ["reward", "reward_std", "kl", "entropy", "loss", "grad_norm", "learning_rate", "num_tokens"]) {
      assert(Number.isFinite(rows[0][key]), `${algorithm}: ${key} = ${rows[0][key]}`);
    }
    if (algorithm === "maxent-grpo") assert(rows[0]["maxent/ess"] > 0 && rows[0]["maxent/ess"] <= 4);
    else assert("clip_ratio/region_mean" in rows[0]);
    assertEquals((await latestCheckpoint(out))?.step, 2);
    for (const f of ["config.json", "model.safetensors", "tokenizer.json", "report.html", "README.md"]) {
      await Deno.stat(join(out, f));
    }
    const logged = await readJsonl(join(out, "completions.jsonl"));
    assertEquals(logged[0].candidates.length, 4);
  }
});

Deno.test("xdr-grpo with τ = ∞ trains exactly as GRPO with loss_type dr_grpo (the Dr.GRPO path)", async () => {
  const common = { max_steps: 2, save_steps: 100, beta: 0, init_kl_coeff: undefined };
  const xdr = join(root, "xdr-inf"), dr = join(root, "dr-grpo");
  await train(parseRecipe(recipeText(xdr, { ...common, algorithm: "xdr-grpo" }), "xdr.yaml"), quiet);
  await train(
    parseRecipe(
      recipeText(dr, { ...common, algorithm: "grpo", loss_type: "dr_grpo", scale_rewards: "none" }),
      "dr.yaml",
    ),
    quiet,
  );
  const a = await readSafetensorsDir(xdr), b = await readSafetensorsDir(dr);
  for (const [name, t] of a) assertEquals(Array.from(b.get(name)!.data), Array.from(t.data), name);
});

Deno.test("a checkpoint reloads and scores identically to the model that wrote it", async () => {
  const out = join(root, "run-maxent-grpo");
  const ckpt = (await latestCheckpoint(out))!.path;
  await tf.setBackend("cpu");
  const a = await CausalLM.load(ckpt, { trainable: false });
  const tensors = await readSafetensorsDir(ckpt);
  const b = CausalLM.fromTensors(a.config, tensors, { trainable: false });
  const ids = tf.tensor2d([[5, 9, 12, 40, 3]], [1, 5], "int32");
  const mask = tf.ones([1, 5]) as tf.Tensor2D;
  assertEquals(Array.from(a.tokenLogProbs(ids, mask).dataSync()), Array.from(b.tokenLogProbs(ids, mask).dataSync()));
  // and it differs from the base model: training moved the weights
  const base = await CausalLM.load(model, { trainable: false });
  const d = tf.sub(a.tokenLogProbs(ids, mask), base.tokenLogProbs(ids, mask)).abs().max().dataSync()[0];
  assert(d > 1e-4, `checkpoint equals the base model (max |Δ| ${d})`);
  for (const m of [a, b, base]) m.dispose();
  ids.dispose();
  mask.dispose();
});

Deno.test("resuming is exact: 4 steps straight equal 2 steps + resume + 2 steps", async () => {
  const straight = join(root, "straight");
  await train(parseRecipe(recipeText(straight), "straight.yaml"), quiet);
  const split = join(root, "split");
  const first = await train(parseRecipe(recipeText(split), "split.yaml"), { ...quiet, stopAfterSteps: 2 });
  assertEquals(first.steps, 2);
  assertEquals(first.reportPath, null);
  const second = await train(
    parseRecipe(recipeText(split, { resume_from_checkpoint: true }), "split.yaml"),
    quiet,
  );
  assertEquals(second.steps, 4);
  const a = await readSafetensorsDir(straight), b = await readSafetensorsDir(split);
  for (const [name, t] of a) assertEquals(Array.from(b.get(name)!.data), Array.from(t.data), name);
  const ma = await readJsonl(join(straight, "metrics.jsonl")), mb = await readJsonl(join(split, "metrics.jsonl"));
  assertEquals(mb.map((r) => r.step), [1, 2, 3, 4]);
  assertClose(mb.map((r) => r.loss), ma.map((r) => r.loss), 0);
});

Deno.test("bad recipes fail before any work with clear messages", async () => {
  const out = join(root, "bad");
  await assertRejects(
    () => train(parseRecipe(recipeText(out, { dataset_name: join(root, "missing.jsonl") }), "bad.yaml"), quiet),
    MaxentError,
    "missing.jsonl",
  );
  await assertRejects(
    () => train(parseRecipe(recipeText(out, { dataset_prompt_column: "question" }), "bad.yaml"), quiet),
    MaxentError,
    "question",
  );
  await assertRejects(
    () => train(parseRecipe(recipeText(out, { reward_funcs: ["no_such_reward"] }), "bad.yaml"), quiet),
    MaxentError,
    "no_such_reward",
  );
  // a non-empty output_dir without overwrite/resume is refused
  const used = join(root, "run-grpo");
  await assertRejects(
    () => train(parseRecipe(recipeText(used, { overwrite_output_dir: false }), "bad.yaml"), quiet),
    MaxentError,
    "overwrite_output_dir",
  );
  const r = await runCli(["train", join(root, "nope.yaml")]);
  assertEquals(r.code, 1);
  assert(r.err.includes("nope.yaml"), r.err);
});

Deno.test("no tensor leak over 20 training steps", async () => {
  const out = join(root, "leak");
  // a per-step leak would outlive train(), which disposes the models and optimiser it made
  const recipe = () =>
    parseRecipe(recipeText(out, { max_steps: 22, save_steps: 100, overwrite_output_dir: true }), "leak.yaml");
  await train(recipe(), { ...quiet, stopAfterSteps: 2 });
  const before = tf.memory().numTensors;
  await train(recipe(), { ...quiet, stopAfterSteps: 20 });
  assertEquals(tf.memory().numTensors, before);
});

globalThis.addEventListener("unload", () => Deno.removeSync(root, { recursive: true }));

Deno.test("maxent train takes the recipe as an argument or --recipe, not both or neither", async () => {
  const neither = await runCli(["train"]);
  assertEquals(neither.code, 2);
  const both = await runCli(["train", "a.yaml", "--recipe", "b.yaml"]);
  assertEquals(both.code, 2);
  const flag = await runCli(["train", "--recipe", join(root, "absent.yaml")]);
  assertEquals(flag.code, 1);
  assert(flag.err.includes("absent.yaml"), flag.err);
});
