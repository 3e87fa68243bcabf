// sample / score / eval / serve take a LoRA adapter folder as --model: the adapter is merged into its base on load.
import * as tf from "@tensorflow/tfjs";
import { join } from "node:path";
import { assert, assertClose, assertEquals } from "./assert.ts";
import { initTinyModel, runCli } from "./cli_helpers.ts";
import { initBackend } from "../src/backend/mod.ts";
import { CausalLM } from "../src/model/transformer.ts";
import { ADAPTER_CONFIG_FILE, DEFAULT_TARGET_MODULES, LoraAdapters } from "../src/model/lora.ts";

await initBackend("cpu");
const root = await Deno.makeTempDir({ prefix: "maxent-model-source-" });
const base = join(root, "base"), adapterDir = join(root, "adapter"), merged = join(root, "merged");
await initTinyModel(base, 2, { hidden: 32, intermediate: 64 });
const ids = [1, 5, 7, 9, 11, 4];

/** Log-probs of ids[1:] under `model` (in-process, the reference for the CLI's numbers). */
function logProbs(model: CausalLM): number[] {
  return tf.tidy(() =>
    Array.from(
      model.tokenLogProbs(tf.tensor2d([ids], undefined, "int32"), tf.ones([1, ids.length]) as tf.Tensor2D)
        .dataSync(),
    )
  );
}

// an adapter with non-zero B (a fresh LoRA has B = 0, which would make it equal to the base)
const model = await CausalLM.load(base, { trainable: false });
const adapters = LoraAdapters.create(model, {
  r: 2,
  alpha: 4,
  dropout: 0,
  targetModules: DEFAULT_TARGET_MODULES,
  baseModel: base,
}, 3);
let k = 0;
for (const v of adapters.variables().values()) {
  tf.tidy(() => v.assign(tf.randomNormal(v.shape, 0, 0.2, "float32", 100 + k++)));
}
await adapters.save(adapterDir);
adapters.attach(model);
const withAdapter = logProbs(model);
model.adapter = null;
const baseOnly = logProbs(model);
adapters.dispose();
model.dispose();

async function score(dir: string): Promise<number[]> {
  const r = await runCli(["score", "--model", dir, "--ids", ids.join(","), "--json", "--backend", "cpu"]);
  assertEquals(r.code, 0, r.err);
  return JSON.parse(r.out).logprobs;
}

Deno.test("maxent score on an adapter folder = base + adapter, = the merged model, ≠ the base", async () => {
  const fromAdapter = await score(adapterDir);
  assertEquals(fromAdapter.length, ids.length - 1);
  for (let i = 0; i < fromAdapter.length; i++) assertClose(fromAdapter[i], withAdapter[i], 1e-5);
  assert(fromAdapter.some((x, i) => Math.abs(x - baseOnly[i]) > 1e-3), "the adapter changed nothing");
  const m = await runCli(["merge", adapterDir, merged]);
  assertEquals(m.code, 0, m.err);
  assertEquals(await score(merged), fromAdapter);
});

Deno.test("maxent sample on an adapter folder samples what the merged model samples", async () => {
  const args = (dir: string) => ["sample", "--model", dir, "--prompt-ids", "3,4,5", "-k", "3", "--max-tokens", "5"];
  const a = await runCli([...args(adapterDir), "--seed", "4", "--json", "--backend", "cpu"]);
  assertEquals(a.code, 0, a.err);
  try {
    await Deno.stat(join(merged, "config.json"));
  } catch {
    assertEquals((await runCli(["merge", adapterDir, merged])).code, 0);
  }
  const b = await runCli([...args(merged), "--seed", "4", "--json", "--backend", "cpu"]);
  assertEquals(b.code, 0, b.err);
  const tokens = (out: string) => out.trim().split("\n").map((l) => JSON.parse(l).ids);
  assertEquals(tokens(a.out), tokens(b.out));
});

Deno.test("an adapter folder without base_model_name_or_path: the error names the file and says to merge", async () => {
  const orphan = join(root, "orphan");
  await Deno.mkdir(orphan);
  const cfg = JSON.parse(await Deno.readTextFile(join(adapterDir, ADAPTER_CONFIG_FILE)));
  cfg.base_model_name_or_path = null;
  await Deno.writeTextFile(join(orphan, ADAPTER_CONFIG_FILE), JSON.stringify(cfg));
  await Deno.copyFile(join(adapterDir, "adapter_model.safetensors"), join(orphan, "adapter_model.safetensors"));
  const r = await runCli(["score", "--model", orphan, "--ids", "1,2,3"]);
  assertEquals(r.code, 1);
  assert(r.err.includes(join(orphan, ADAPTER_CONFIG_FILE)) && r.err.includes("maxent merge"), r.err);
});

Deno.test({
  name: "cleanup model source temp dir",
  fn: async () => await Deno.remove(root, { recursive: true }),
});
