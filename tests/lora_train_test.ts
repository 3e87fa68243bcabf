/**
 * `maxent train` with `use_peft: true` on a tiny model: only the adapter trains (base frozen, reference = base with
 * adapters off, so the first step's KL is exactly 0), checkpoints and the final output are PEFT adapter directories
 * with optimizer state over the adapter, resume is exact (dropout masks included), and `maxent merge` writes full
 * weights that score like base + adapter.
 */
import * as tf from "@tensorflow/tfjs";
import { join } from "node:path";
import { assert, assertClose, assertEquals, assertMatch } from "./assert.ts";
import { recipeYaml, runCli, tinyTrainingSetup } from "./cli_helpers.ts";
import { loadRecipe, parseRecipe } from "../src/recipe/mod.ts";
import { train } from "../src/train/trainer.ts";
import { latestCheckpoint } from "../src/train/checkpoint.ts";
import { CausalLM } from "../src/model/transformer.ts";
import { type HostTensor, readSafetensorsHeader, readSafetensorsTensor } from "../src/model/safetensors.ts";
import { LoraAdapters } from "../src/model/lora.ts";

const { root, model, data } = await tinyTrainingSetup("maxent-lora-train-", 5);

function recipeText(out: string, extra: Record<string, unknown> = {}): string {
  const base: Record<string, unknown> = {
    model_name_or_path: model,
    dataset_name: data,
    reward_funcs: ["format", "tag_count"],
    num_generations: 4,
    per_device_train_batch_size: 2,
    max_completion_length: 6,
    max_steps: 4,
    learning_rate: 0.05,
    init_kl_coeff: 0.1,
    output_dir: out,
    save_steps: 2,
    logging_steps: 1,
    backend: "cpu",
    seed: 3,
    use_peft: true,
    lora_r: 4,
    lora_alpha: 8,
    lora_dropout: 0.1,
    ...extra,
  };
  return recipeYaml(base);
}

const quiet = { log: () => {}, env: {} };

async function readFile(path: string): Promise<Map<string, HostTensor>> {
  const h = await readSafetensorsHeader(path);
  const out = new Map<string, HostTensor>();
  for (const name of h.tensors.keys()) out.set(name, await readSafetensorsTensor(h, name));
  return out;
}

async function readJsonl(path: string) {
  return (await Deno.readTextFile(path)).trim().split("\n").map((l) => JSON.parse(l));
}

async function exists(p: string): Promise<boolean> {
  return await Deno.stat(p).then(() => true, () => false);
}

Deno.test("use_peft trains only the adapter and writes PEFT adapter checkpoints and output", async () => {
  const out = join(root, "run");
  const file = join(root, "lora.yaml");
  await Deno.writeTextFile(file, recipeText(out));
  const r = await runCli(["train", file]);
  assertEquals(r.code, 0, r.err);
  const rows = await readJsonl(join(out, "metrics.jsonl"));
  assertEquals(rows.map((x) => x.step), [1, 2, 3, 4]);
  // step 1: B = 0, so the policy is exactly the reference (the base with adapters off): KL 0
  assertEquals(rows[0].kl, 0);
  assert(rows[3].kl > 0, `the adapter should move the policy away from the reference (kl ${rows[3].kl})`);
  for (const dir of [out, (await latestCheckpoint(out))!.path]) {
    for (const f of ["adapter_model.safetensors", "adapter_config.json", "tokenizer.json"]) {
      assert(await exists(join(dir, f)), `${dir}/${f}`);
    }
    assert(!(await exists(join(dir, "model.safetensors"))), `${dir} should not hold full weights`);
  }
  const cfg = JSON.parse(await Deno.readTextFile(join(out, "adapter_config.json")));
  assertEquals([cfg.peft_type, cfg.r, cfg.lora_alpha, cfg.lora_dropout], ["LORA", 4, 8, 0.1]);
  assertEquals(cfg.base_model_name_or_path, model);
  const card = await Deno.readTextFile(join(out, "README.md"));
  assertMatch(card, /^library_name: peft$/m);
  assertMatch(card, new RegExp(`base_model: ${model.replaceAll("/", "\\/")}`));
  // the optimiser state covers exactly the adapter variables
  const ckpt = (await latestCheckpoint(out))!.path;
  const opt = await readFile(join(ckpt, "optimizer.safetensors"));
  const adapter = await readFile(join(ckpt, "adapter_model.safetensors"));
  assertEquals(
    [...opt.keys()].sort(),
    [...adapter.keys()].flatMap((n) => [`${n}.exp_avg`, `${n}.exp_avg_sq`]).sort(),
  );
  const state = JSON.parse(await Deno.readTextFile(join(ckpt, "trainer_state.json")));
  assert(state.lora_dropout_calls > 0, "dropout masks were drawn in training passes");
  // the base model on disk is untouched, and B moved away from 0
  const fin = await readFile(join(out, "adapter_model.safetensors"));
  assert([...fin].some(([n, t]) => n.endsWith("lora_B.weight") && t.data.some((x) => x !== 0)));
});

Deno.test("LoRA resume is exact: 4 steps straight equal 2 steps + resume + 2 steps", async () => {
  const straight = join(root, "straight");
  await train(parseRecipe(recipeText(straight), "straight.yaml"), quiet);
  const split = join(root, "split");
  const first = await train(parseRecipe(recipeText(split), "split.yaml"), { ...quiet, stopAfterSteps: 2 });
  assertEquals(first.steps, 2);
  const second = await train(parseRecipe(recipeText(split, { resume_from_checkpoint: true }), "split.yaml"), quiet);
  assertEquals(second.steps, 4);
  const a = await readFile(join(straight, "adapter_model.safetensors"));
  const b = await readFile(join(split, "adapter_model.safetensors"));
  assertEquals([...a.keys()], [...b.keys()]);
  for (const [name, t] of a) assertEquals(Array.from(b.get(name)!.data), Array.from(t.data), name);
  const ma = await readJsonl(join(straight, "metrics.jsonl")), mb = await readJsonl(join(split, "metrics.jsonl"));
  assertEquals(mb.map((r) => r.step), [1, 2, 3, 4]);
  assertClose(mb.map((r) => r.loss), ma.map((r) => r.loss), 0);
});

Deno.test("maxent merge writes full HF weights that score like base + adapter", async () => {
  const adapterDir = join(root, "run");
  const merged = join(root, "merged");
  const r = await runCli(["merge", adapterDir, merged]);
  assertEquals(r.code, 0, r.err);
  for (const f of ["config.json", "model.safetensors", "tokenizer.json"]) assert(await exists(join(merged, f)), f);
  await tf.setBackend("cpu");
  const full = await CausalLM.load(merged, { trainable: false });
  const withAdapter = await CausalLM.load(model, { trainable: false });
  const ad = (await LoraAdapters.load(adapterDir, withAdapter)).attach(withAdapter);
  const ids = tf.tensor2d([[5, 9, 12, 40, 3, 77, 8]], undefined, "int32");
  const mask = tf.onesLike(ids) as tf.Tensor2D;
  const got = Array.from(full.tokenLogProbs(ids, mask).dataSync());
  const want = Array.from(withAdapter.tokenLogProbs(ids, mask).dataSync());
  for (let i = 0; i < got.length; i++) assertClose(got[i], want[i], 1e-5);
  // --base overrides adapter_config's base; a bad adapter dir is a clear error
  const again = await runCli(["merge", adapterDir, join(root, "merged2"), "--base", model, "--dtype", "bf16"]);
  assertEquals(again.code, 0, again.err);
  const bad = await runCli(["merge", root, join(root, "merged3")]);
  assertEquals(bad.code, 1);
  assertMatch(bad.err, /adapter_config\.json/);
  ad.dispose();
  full.dispose();
  withAdapter.dispose();
  ids.dispose();
  mask.dispose();
});

Deno.test("the LoRA recipe is the original MaxEnt-GRPO recipe plus use_peft (and local sampling)", async () => {
  const dir = new URL("../recipes/Qwen2.5-1.5B-Instruct/maxent-grpo/", import.meta.url).pathname;
  const orig = (await loadRecipe(join(dir, "config_math.yaml"), { env: {} })).recipe as unknown as Record<
    string,
    unknown
  >;
  const lora = (await loadRecipe(join(dir, "config_math_lora.yaml"), { env: {} })).recipe as unknown as Record<
    string,
    unknown
  >;
  const changed = Object.keys({ ...orig, ...lora }).filter((k) => JSON.stringify(orig[k]) !== JSON.stringify(lora[k]));
  assertEquals(changed.sort(), ["hub_model_id", "lora_target_modules", "output_dir", "sampler", "use_peft"]);
  assertEquals([lora.use_peft, lora.lora_r, lora.lora_alpha, lora.lora_dropout], [true, 16, 32, 0.05]);
  assertEquals(lora.output_dir, `${orig.output_dir}-lora`);
});

globalThis.addEventListener("unload", () => {
  try {
    Deno.removeSync(root, { recursive: true });
  } catch { /* already gone */ }
});
