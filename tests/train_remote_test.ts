// `maxent train` with the remote sampler against a real OpenAI-compatible server (`maxent serve`'s, in-process), with
// and without weight sync.
import { join } from "node:path";
import { assert, assertEquals } from "./assert.ts";
import { initTinyModel, recipeYaml, runCli } from "./cli_helpers.ts";
import { initBackend } from "../src/backend/mod.ts";
import { CausalLM } from "../src/model/transformer.ts";
import { readSafetensorsDir } from "../src/model/safetensors.ts";
import { Tokenizer } from "../src/tokenizer/mod.ts";
import { serveCompletions } from "../src/sampler/server.ts";
import { pushWeights, serverAcceptsWeights } from "../src/sampler/weight_sync.ts";

await initBackend("cpu");
const root = await Deno.makeTempDir({ prefix: "maxent-train-remote-" });
const model = join(root, "model"), data = join(root, "train.jsonl");
await initTinyModel(model, 5);
await Deno.writeTextFile(
  data,
  Array.from({ length: 4 }, (_, i) => JSON.stringify({ problem: `${i}+1=`, answer: String(i + 1) })).join("\n"),
);
const tokenizer = await Tokenizer.load(model);

/** Serves a fresh copy of the initial model (taking weights when `accept`), runs `fn`, shuts down. */
async function withServer(accept: boolean, fn: (url: string, served: CausalLM) => Promise<void>): Promise<void> {
  const served = await CausalLM.load(model, { trainable: false });
  const server = serveCompletions(served, tokenizer, {
    port: 0,
    acceptWeights: accept ? (name, t) => served.assignHostWeight(name, t, "weight sync") : undefined,
  });
  try {
    await fn(server.url, served);
  } finally {
    await server.shutdown();
    served.dispose();
  }
}

async function trainAgainst(url: string, out: string, extra: Record<string, unknown> = {}) {
  const recipe = join(root, "recipe.yaml");
  const keys = {
    model_name_or_path: model,
    dataset_name: data,
    reward_funcs: ["format"],
    num_generations: 4,
    per_device_train_batch_size: 2,
    max_completion_length: 5,
    max_steps: 2,
    learning_rate: 0.05,
    output_dir: out,
    logging_steps: 1,
    save_steps: 1,
    backend: "cpu",
    sampler: "remote",
    vllm_url: url,
    ...extra,
  };
  await Deno.writeTextFile(recipe, recipeYaml(keys));
  const r = await runCli(["train", recipe]);
  assertEquals(r.code, 0, r.err);
  const rows = (await Deno.readTextFile(join(out, "metrics.jsonl"))).trim().split("\n").map((l) => JSON.parse(l));
  assertEquals(rows.length, 2);
  for (const row of rows) assert(row["completions/mean_length"] > 0 && Number.isFinite(row.loss), JSON.stringify(row));
  return r.err;
}

/** Every weight of `served` equals the Hugging Face-layout tensors in `dir` exactly. */
async function assertServes(served: CausalLM, dir: string) {
  const want = await readSafetensorsDir(dir);
  for (const [name, t] of await served.hostTensors()) {
    assertEquals(Array.from(t.data), Array.from(want.get(name)!.data), name);
  }
}

Deno.test({
  name: "train against a server that takes no weights: trains, and warns that candidates go off-policy",
  sanitizeResources: false,
  async fn() {
    await withServer(false, async (url) => {
      assertEquals(await serverAcceptsWeights(url), false);
      const err = await trainAgainst(url, join(root, "out-plain"));
      assert(err.includes("does not take weight updates"), err);
    });
  },
});

Deno.test({
  name: "train against maxent serve --accept-weights: the server samples the policy of the step (full fine-tune)",
  sanitizeResources: false,
  async fn() {
    await withServer(true, async (url, served) => {
      const out = join(root, "out-sync");
      const err = await trainAgainst(url, out);
      assert(err.includes("takes weights") && err.includes("weight sync:"), err);
      // the last push happened before step 2's sampling: the server holds checkpoint-1's weights, not the initial ones
      await assertServes(served, join(out, "checkpoint-1"));
      const initial = await readSafetensorsDir(model);
      const moved = [...(await served.hostTensors())].some(([n, t]) =>
        t.data.some((x, i) => x !== initial.get(n)!.data[i])
      );
      assert(moved, "the served weights never changed");
    });
  },
});

Deno.test({
  name: "train with LoRA against maxent serve --accept-weights: the server holds base + the step's adapter, merged",
  sanitizeResources: false,
  async fn() {
    await withServer(true, async (url, served) => {
      const out = join(root, "out-lora");
      await trainAgainst(url, out, { use_peft: true, lora_r: 2, lora_alpha: 4, lora_dropout: 0 });
      const merged = join(root, "merged-lora-1");
      const m = await runCli(["merge", join(out, "checkpoint-1"), merged, "--base", model]);
      assertEquals(m.code, 0, m.err);
      await assertServes(served, merged);
    });
  },
});

Deno.test({
  name: "the weight endpoint refuses unknown names, wrong shapes and servers without --accept-weights",
  sanitizeResources: false,
  async fn() {
    await withServer(true, async (url, served) => {
      const [name, t] = [...(await served.hostTensors())][0];
      const bad = { shape: [t.shape[0] + 1, ...t.shape.slice(1)], data: new Float32Array(t.data.length + 1) };
      try {
        await pushWeights(url, [[name, bad]]);
        throw new Error("a wrong shape was accepted");
      } catch (e) {
        assert(String(e).includes(name) && String(e).includes("400"), String(e));
      }
      try {
        await pushWeights(url, [["model.nonsense.weight", t]]);
        throw new Error("an unknown name was accepted");
      } catch (e) {
        assert(String(e).includes("unexpected tensor"), String(e));
      }
    });
    await withServer(false, async (url, served) => {
      const [name, t] = [...(await served.hostTensors())][0];
      try {
        await pushWeights(url, [[name, t]]);
        throw new Error("a server without --accept-weights took weights");
      } catch (e) {
        assert(String(e).includes("403") && String(e).includes("--accept-weights"), String(e));
      }
    });
  },
});

Deno.test({
  name: "cleanup remote training temp dir",
  fn: async () => await Deno.remove(root, { recursive: true }),
});
