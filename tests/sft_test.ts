import * as tf from "@tensorflow/tfjs";
import { join } from "node:path";
import { assert, assertClose, assertEquals } from "./assert.ts";
import { initTinyModel, runCli } from "./cli_helpers.ts";
import { completionNll, type SftPair, sftPairs, trainSupervised } from "../src/train/sft.ts";
import { CausalLM } from "../src/model/transformer.ts";
import { Tokenizer } from "../src/tokenizer/mod.ts";
import type { Example } from "../src/data/mod.ts";
import { initBackend } from "../src/backend/mod.ts";

await initBackend("cpu");
const root = await Deno.makeTempDir({ prefix: "maxent-sft-" });
const modelDir = join(root, "init");
await initTinyModel(modelDir, 3, { hidden: 32, intermediate: 64 });
const tokenizer = await Tokenizer.load(modelDir);
const rows = [
  { problem: "2+2", answer: "4" },
  { problem: "3+5", answer: "8" },
  { problem: "1+6", answer: "7" },
  { problem: "9-3", answer: "6" },
];
const examples: Example[] = rows.map((r, i) => ({ prompt: r.problem, solution: r.answer, row: r, source: `t#${i}` }));

/** Σ log p(completion tokens | prompt) of one pair, from the full row's token log-probs (no padding, no mask). */
function completionLogProb(model: CausalLM, pair: SftPair): number {
  return tf.tidy(() => {
    const all = [...pair.prompt, ...pair.completion];
    const lp = model.tokenLogProbs(tf.tensor2d([all], [1, all.length], "int32"), tf.ones([1, all.length]));
    const v = lp.dataSync();
    // position t scores token t+1: the completion's tokens are the last L positions
    let s = 0;
    for (let t = v.length - pair.completion.length; t < v.length; t++) s += v[t];
    return s;
  });
}

Deno.test("sft: pairs are the chat-templated prompt and the answer + end token", () => {
  const { pairs, truncated } = sftPairs(examples, tokenizer);
  assertEquals(truncated, 0);
  const eos = tokenizer.eosTokenIds[0];
  assertEquals(pairs[0].completion, [...tokenizer.encode("4", { addSpecialTokens: false }), eos]);
  const text = tokenizer.applyChatTemplate([{ role: "user", content: "2+2" }], { addGenerationPrompt: true });
  assertEquals(pairs[0].prompt, tokenizer.encode(text, { addSpecialTokens: false }));
  // max length: prompt kept, completion cut from the end
  const cut = sftPairs(examples.slice(0, 1), tokenizer, { maxLength: pairs[0].prompt.length + 1 });
  assertEquals(cut.truncated, 1);
  assertEquals(cut.pairs[0].completion, pairs[0].completion.slice(0, 1));
});

Deno.test("sft: the loss counts completion tokens only (prompt and padding get no weight)", async () => {
  const model = await CausalLM.load(modelDir, { trainable: true });
  try {
    const { pairs } = sftPairs(examples, tokenizer);
    // two rows whose prompts differ in length (so one is left-padded) and in content
    const batch = [pairs[0], { prompt: [...pairs[1].prompt, ...pairs[1].prompt], completion: pairs[1].completion }];
    const loss = completionNll(model, batch, tokenizer.padTokenId);
    const tokens = batch[0].completion.length + batch[1].completion.length;
    const expected = -(completionLogProb(model, batch[0]) + completionLogProb(model, batch[1])) / tokens;
    assertClose(loss.dataSync()[0], expected, 1e-4);
    loss.dispose();
    // the whole-sequence mean (prompt tokens included) is a different number: the mask matters
    const all = [...batch[0].prompt, ...batch[0].completion];
    const full = tf.tidy(() =>
      -tf.mean(model.tokenLogProbs(tf.tensor2d([all], [1, all.length], "int32"), tf.ones([1, all.length])))
        .dataSync()[0]
    );
    const single = completionNll(model, [batch[0]], tokenizer.padTokenId);
    assert(Math.abs(single.dataSync()[0] - full) > 1e-3, "completion-only loss equals the full-sequence loss");
    single.dispose();

    // taking gradients leaks no tensor
    const before = tf.memory().numTensors;
    const { value, grads } = tf.variableGrads(() => completionNll(model, [pairs[0]], tokenizer.padTokenId));
    value.dispose();
    for (const g of Object.values(grads)) g.dispose();
    assertEquals(tf.memory().numTensors, before);
  } finally {
    model.dispose();
  }
});

Deno.test("sft: training raises the completion's log-prob, not the prompt tokens' (completion-only masking)", async () => {
  // Train on one pair. Completion-only masking means the prompt's own token predictions get no gradient: their
  // log-prob barely moves, while the completion's rises a lot. (A full-sequence loss would raise both.)
  const model = await CausalLM.load(modelDir, { trainable: true });
  try {
    const { pairs } = sftPairs(examples.slice(0, 1), tokenizer);
    const p = pairs[0];
    const promptLp = () =>
      tf.tidy(() => {
        const lp = model.tokenLogProbs(
          tf.tensor2d([p.prompt], [1, p.prompt.length], "int32"),
          tf.ones([1, p.prompt.length]),
        );
        return tf.sum(lp).dataSync()[0] / (p.prompt.length - 1);
      });
    const completionBefore = completionLogProb(model, p) / p.completion.length;
    const promptBefore = promptLp();
    await trainSupervised(model, tokenizer.padTokenId, pairs, { epochs: 30, learningRate: 1e-2, batchSize: 1 });
    const completionGain = completionLogProb(model, p) / p.completion.length - completionBefore;
    const promptGain = promptLp() - promptBefore;
    assert(completionGain > 2, `completion log-prob per token rose only ${completionGain}`);
    assert(
      promptGain < completionGain / 4,
      `prompt tokens were learnt too (gain ${promptGain} vs completion ${completionGain}): masking is off`,
    );
  } finally {
    model.dispose();
  }
});

Deno.test("sft: maxent sft memorises a tiny set (loss falls, answers' log-prob rises) and writes a model", async () => {
  const data = join(root, "train.jsonl");
  await Deno.writeTextFile(data, rows.map((r) => JSON.stringify(r)).join("\n") + "\n");
  const out = join(root, "sft");
  const base = await CausalLM.load(modelDir, { trainable: false });
  const { pairs } = sftPairs(examples, tokenizer);
  const before = pairs.map((p) => completionLogProb(base, p));
  base.dispose();
  const r = await runCli([
    "sft",
    "--model",
    modelDir,
    "--dataset",
    data,
    "--epochs",
    "25",
    "--lr",
    "1e-2",
    "--batch-size",
    "2",
    "--backend",
    "cpu",
    "--out",
    out,
  ]);
  assertEquals(r.code, 0, r.err);
  const result = JSON.parse(r.out.trim().split("\n").at(-1)!);
  assertEquals(result.losses.length, 25);
  assert(result.losses.at(-1) < result.losses[0] / 3, `loss did not fall: ${result.losses}`);
  assertEquals(result.steps, 25 * 2);
  for (const f of ["config.json", "model.safetensors", "tokenizer.json", "tokenizer_config.json", "sft_state.json"]) {
    await Deno.stat(join(out, f));
  }
  const tuned = await CausalLM.load(out, { trainable: false });
  const after = pairs.map((p) => completionLogProb(tuned, p));
  tuned.dispose();
  after.forEach((a, i) => assert(a > before[i] + 1, `answer ${i}: log-prob ${before[i]} → ${a}`));
  // a missing answer column is a clear error
  const bad = await runCli([
    "sft",
    "--model",
    modelDir,
    "--dataset",
    data,
    "--answer-column",
    "nope",
    "--backend",
    "cpu",
  ]);
  assertEquals(bad.code, 1);
  assert(bad.err.includes("nope"), bad.err);
});

Deno.test({
  name: "sft: cleanup",
  fn: async () => {
    await Deno.remove(root, { recursive: true });
  },
});
