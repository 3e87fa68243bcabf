import * as tf from "@tensorflow/tfjs";
import { assert, assertClose, assertEquals, assertNotEquals } from "./assert.ts";
import { CausalLM } from "../src/model/transformer.ts";
import { configJson, parseModelConfig } from "../src/model/config.ts";
import { charTokenizerFiles, Tokenizer } from "../src/tokenizer/mod.ts";
import { leftPad, sampleLocal } from "../src/sampler/local.ts";
import type { GenerationParams } from "../src/sampler/types.ts";

await tf.setBackend("cpu");

const tokenizer = Tokenizer.fromFiles(charTokenizerFiles());
const config = parseModelConfig(
  configJson({
    arch: "qwen2",
    layers: 2,
    hidden: 32,
    heads: 4,
    kvHeads: 2,
    intermediate: 64,
    vocab: tokenizer.vocabSize,
    eosTokenId: tokenizer.eosTokenIds[0],
  }),
  "test config",
);
const model = CausalLM.random(config, 7, { trainable: false });
const prompts = ["2+3=", "hello", "a"].map((s) => tokenizer.encode(s));
const plain: GenerationParams = {
  temperature: 1,
  topP: 1,
  topK: 0,
  minP: 0,
  repetitionPenalty: 1,
  maxTokens: 6,
  seed: 11,
};

/** Full (uncached) forward logits of the last position, for one unpadded row. */
function lastLogitsUncached(ids: number[]): Float32Array {
  return tf.tidy(() => {
    const { ids: t, mask } = leftPad([ids], 0);
    const { cache, lastLogits } = model.prefill(t, mask);
    cache.dispose();
    return lastLogits.dataSync() as Float32Array;
  });
}

Deno.test("greedy sampling equals step-by-step arg-max of the full forward", async () => {
  const groups = await sampleLocal(model, tokenizer, {
    promptIds: prompts,
    k: 2,
    params: { ...plain, temperature: 0 },
  });
  for (let p = 0; p < prompts.length; p++) {
    const ids = [...prompts[p]];
    const expected: number[] = [];
    for (let t = 0; t < plain.maxTokens; t++) {
      const l = lastLogitsUncached(ids);
      const best = l.indexOf(Math.max(...l));
      expected.push(best);
      ids.push(best);
      if (tokenizer.eosTokenIds.includes(best)) break;
    }
    for (const c of groups[p]) assertEquals(c.ids, expected, `prompt ${p}`);
  }
});

Deno.test("sampled log-probs equal the model's scores of the same ids (temperature 1, no truncation)", async () => {
  const groups = await sampleLocal(model, tokenizer, { promptIds: prompts, k: 3, params: plain });
  for (const group of groups) {
    for (const c of group) {
      const full = [...prompts[c.promptIndex], ...c.ids!];
      const scored = tf.tidy(() => {
        const { ids, mask } = leftPad([full], 0);
        return Array.from(model.tokenLogProbs(ids, mask).dataSync()).slice(prompts[c.promptIndex].length - 1);
      });
      assertClose(c.logprobs!, scored, 1e-4);
    }
  }
});

Deno.test("same seed gives identical candidates; another seed differs; batch composition does not matter", async () => {
  const a = await sampleLocal(model, tokenizer, { promptIds: prompts, k: 4, params: plain });
  const b = await sampleLocal(model, tokenizer, { promptIds: prompts, k: 4, params: plain });
  assertEquals(a.map((g) => g.map((c) => c.ids)), b.map((g) => g.map((c) => c.ids)));
  const c = await sampleLocal(model, tokenizer, { promptIds: prompts, k: 4, params: { ...plain, seed: 12 } });
  assertNotEquals(a.map((g) => g.map((x) => x.ids)), c.map((g) => g.map((x) => x.ids)));
  // prompt 1 alone, drawn under its batch key 1, gets the same candidates as inside the batch
  const alone = await sampleLocal(model, tokenizer, { promptIds: [prompts[1]], k: 4, params: plain, promptKeys: [1] });
  assertEquals(alone[0].map((x) => x.ids), a[1].map((x) => x.ids));
});

Deno.test("finish reasons: EOS gives stop (EOS kept in ids, not in text); the cap gives length", async () => {
  // A model whose head strongly prefers EOS: bias the final norm so logits favour the EOS row.
  const eos = tokenizer.eosTokenIds[0];
  const head = model.weights.get("model.embed_tokens.weight")!;
  const saved = tf.clone(head);
  try {
    tf.tidy(() => {
      const rows = head.shape[0];
      const boost = tf.oneHot(tf.tensor1d([eos], "int32"), rows).reshape([rows, 1]).mul(50);
      head.assign(head.add(boost.mul(tf.ones([1, head.shape[1] as number]))));
    });
    const groups = await sampleLocal(model, tokenizer, { promptIds: [prompts[0]], k: 2, params: plain });
    for (const c of groups[0]) {
      assertEquals(c.finishReason, "stop");
      assertEquals(c.ids![c.ids!.length - 1], eos);
      assert(!c.text.includes("<|im_end|>"), c.text);
      assertEquals(c.ids!.length, c.logprobs!.length);
    }
  } finally {
    head.assign(saved);
    saved.dispose();
  }
  const capped = await sampleLocal(model, tokenizer, {
    promptIds: [prompts[0]],
    k: 2,
    params: { ...plain, maxTokens: 3, temperature: 0 },
  });
  for (const c of capped[0]) {
    assert(!tokenizer.eosTokenIds.includes(c.ids![c.ids!.length - 1]), "greedy text of the plain model ends in EOS");
    assertEquals(c.finishReason, "length");
    assertEquals(c.ids!.length, 3);
  }
});

Deno.test("stop strings end a candidate and are cut from its text", async () => {
  const free = await sampleLocal(model, tokenizer, {
    promptIds: [prompts[2]],
    k: 1,
    params: { ...plain, maxTokens: 6 },
  });
  const text = free[0][0].text;
  const stop = text.slice(2, 4);
  assertEquals(stop.length, 2, `the free-running text "${text}" is too short for this test`);
  {
    const stopped = await sampleLocal(model, tokenizer, {
      promptIds: [prompts[2]],
      k: 1,
      params: { ...plain, maxTokens: 6, stop: [stop] },
    });
    assertEquals(stopped[0][0].finishReason, "stop");
    assertEquals(stopped[0][0].text, text.slice(0, text.indexOf(stop)));
  }
});

Deno.test("sampling leaks no tensors", async () => {
  await sampleLocal(model, tokenizer, { promptIds: prompts, k: 2, params: plain });
  const before = tf.memory().numTensors;
  for (let i = 0; i < 3; i++) await sampleLocal(model, tokenizer, { promptIds: prompts, k: 2, params: plain });
  assertEquals(tf.memory().numTensors, before);
});

Deno.test("each step's logits are read into a reused buffer on cpu, not through data()/dataSync()", async () => {
  const proto = tf.Tensor.prototype as unknown as Record<"data" | "dataSync", (...a: unknown[]) => unknown>;
  const orig = { data: proto.data, dataSync: proto.dataSync };
  let reads = 0;
  proto.data = function (this: tf.Tensor, ...a: unknown[]) {
    reads++;
    return orig.data.apply(this, a);
  };
  proto.dataSync = function (this: tf.Tensor, ...a: unknown[]) {
    reads++;
    return orig.dataSync.apply(this, a);
  };
  let groups;
  try {
    groups = await sampleLocal(model, tokenizer, { promptIds: prompts, k: 2, params: plain });
  } finally {
    proto.data = orig.data;
    proto.dataSync = orig.dataSync;
  }
  assertEquals(reads, 0, "tensor reads during sampling");
  assertEquals(groups.flat().length, prompts.length * 2);
  assert(groups.flat().every((c) => (c.ids ?? []).length === plain.maxTokens || c.finishReason === "stop"));
});
