import * as tf from "@tensorflow/tfjs";
import { assert, assertClose, assertEquals } from "./assert.ts";
import { initTinyModel, runCli } from "./cli_helpers.ts";
import { CausalLM } from "../src/model/transformer.ts";
import { Tokenizer } from "../src/tokenizer/mod.ts";
import { serveCompletions } from "../src/sampler/server.ts";
import { sampleRemote } from "../src/sampler/remote.ts";
import { sampleLocal } from "../src/sampler/local.ts";
import { MaxentError } from "../src/errors.ts";
import { assertRejects } from "./assert.ts";

const dir = await Deno.makeTempDir({ prefix: "maxent-sample-" });
await initTinyModel(dir, 3);

Deno.test({
  name: "maxent sample --json prints K candidates per prompt with ids, text, logprobs and finish reason",
  sanitizeResources: false,
  async fn() {
    const args = `sample --model ${dir} --prompt-ids 5,6,7 -k 3 --max-tokens 4 --seed 2 --json --backend cpu`
      .split(" ");
    const r = await runCli(args);
    assertEquals(r.code, 0, r.err);
    const lines = r.out.trim().split("\n").map((l) => JSON.parse(l));
    assertEquals(lines.length, 3);
    assertEquals(lines.map((l) => l.candidate), [0, 1, 2]);
    for (const l of lines) {
      assertEquals(l.prompt_index, 0);
      assertEquals(l.ids.length, l.logprobs.length);
      assert(l.ids.length <= 4 && l.ids.length > 0);
      assert(["stop", "length"].includes(l.finish_reason));
    }
    // same seed → same output
    const again = await runCli(args);
    assertEquals(again.out, r.out);
  },
});

Deno.test("maxent sample: usage errors exit 2", async () => {
  const none = await runCli(["sample", "--model", dir]);
  assertEquals(none.code, 2);
  assert(none.err.includes("exactly one of --prompt"), none.err);
  const badK = await runCli(["sample", "--model", dir, "--prompt", "hi", "-k", "0"]);
  assertEquals(badK.code, 2);
});

Deno.test({
  name: "the remote sampler against maxent's own OpenAI-compatible server equals local sampling",
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    await tf.setBackend("cpu");
    const tokenizer = await Tokenizer.load(dir);
    const model = await CausalLM.load(dir, { trainable: false });
    const server = serveCompletions(model, tokenizer, {});
    try {
      const params = { temperature: 1, topP: 0.9, topK: 0, minP: 0, repetitionPenalty: 1, maxTokens: 5, seed: 4 };
      const prompts = ["ab", "hello"];
      const remote = await sampleRemote(prompts, 2, params, { url: server.url });
      const local = await sampleLocal(model, tokenizer, {
        promptIds: prompts.map((p) => tokenizer.encode(p)),
        k: 2,
        params,
      });
      assertEquals(remote.map((g) => g.map((c) => c.ids)), local.map((g) => g.map((c) => c.ids)));
      assertEquals(remote.map((g) => g.map((c) => c.text)), local.map((g) => g.map((c) => c.text)));
      for (let p = 0; p < 2; p++) {
        for (let j = 0; j < 2; j++) assertClose(remote[p][j].logprobs!, local[p][j].logprobs!, 1e-9);
      }
      // a request the server rejects (400) is reported, not retried
      await assertRejects(
        () => sampleRemote(prompts, 2, { ...params, topP: 0 }, { url: server.url, attempts: 1 }),
        MaxentError,
        "HTTP 400",
      );
    } finally {
      await server.shutdown();
      model.dispose();
    }
  },
});

globalThis.addEventListener("unload", () => Deno.removeSync(dir, { recursive: true }));
