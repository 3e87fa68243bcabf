// `maxent train` with the remote sampler against a real OpenAI-compatible server (`maxent serve`'s, in-process).
import { join } from "node:path";
import { assert, assertEquals } from "./assert.ts";
import { initTinyModel, runCli } from "./cli_helpers.ts";
import { initBackend } from "../src/backend/mod.ts";
import { CausalLM } from "../src/model/transformer.ts";
import { Tokenizer } from "../src/tokenizer/mod.ts";
import { serveCompletions } from "../src/sampler/server.ts";

Deno.test({
  name: "train with sampler: remote samples from the server, trains, and warns that the server's weights stay put",
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    await initBackend("cpu");
    const root = await Deno.makeTempDir({ prefix: "maxent-train-remote-" });
    const model = join(root, "model"), out = join(root, "out"), data = join(root, "train.jsonl");
    await initTinyModel(model, 5);
    await Deno.writeTextFile(
      data,
      Array.from({ length: 4 }, (_, i) => JSON.stringify({ problem: `${i}+1=`, answer: String(i + 1) })).join("\n"),
    );
    const served = await CausalLM.load(model, { trainable: false });
    const server = serveCompletions(served, await Tokenizer.load(model), { port: 0 });
    try {
      const recipe = join(root, "recipe.yaml");
      await Deno.writeTextFile(
        recipe,
        Object.entries({
          model_name_or_path: model,
          dataset_name: data,
          reward_funcs: ["format"],
          num_generations: 4,
          per_device_train_batch_size: 2,
          max_completion_length: 5,
          max_steps: 2,
          learning_rate: 0.01,
          output_dir: out,
          logging_steps: 1,
          backend: "cpu",
          sampler: "remote",
          vllm_url: server.url,
        }).map(([k, v]) => `${k}: ${JSON.stringify(v)}`).join("\n") + "\n",
      );
      const r = await runCli(["train", recipe]);
      assertEquals(r.code, 0, r.err);
      assert(r.err.includes("does not send it the updated policy"), r.err);
      const rows = (await Deno.readTextFile(join(out, "metrics.jsonl"))).trim().split("\n").map((l) => JSON.parse(l));
      assertEquals(rows.length, 2);
      for (const row of rows) {
        assert(row["completions/mean_length"] > 0 && Number.isFinite(row.loss), JSON.stringify(row));
      }
    } finally {
      await server.shutdown();
      served.dispose();
      await Deno.remove(root, { recursive: true });
    }
  },
});
