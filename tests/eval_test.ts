import * as tf from "@tensorflow/tfjs";
import { join } from "node:path";
import { assert, assertClose, assertEquals } from "./assert.ts";
import { initTinyModel, runCli } from "./cli_helpers.ts";
import { evalMetricsRow, evalSummary, evaluateModel } from "../src/eval/evaluate.ts";
import type { SamplerModel } from "../src/sampler/local.ts";
import type { KVCache } from "../src/model/kv_cache.ts";
import type { Example } from "../src/data/mod.ts";
import type { RewardInput, RewardSet } from "../src/rewards/mod.ts";
import { Tokenizer } from "../src/tokenizer/mod.ts";
import { initBackend } from "../src/backend/mod.ts";

await initBackend("cpu");
const root = await Deno.makeTempDir({ prefix: "maxent-eval-" });
const modelDir = join(root, "model");
await initTinyModel(modelDir, 1, { hidden: 32, intermediate: 64 });
const tokenizer = await Tokenizer.load(modelDir);
const V = tokenizer.vocabSize;
const [A] = tokenizer.encode("a", { addSpecialTokens: false });
const [B] = tokenizer.encode("b", { addSpecialTokens: false });
const EOS = tokenizer.eosTokenIds[0];

/**
 * A stand-in model with known outputs: the first token's logits depend on the prompt's last character ("1": "a"
 * certain; "2": "b" certain; "3": "a" or "b" with equal odds, nothing else), and every later token is the end token.
 */
function fakeModel(): SamplerModel {
  const firstLogits = (last: number): number[] => {
    const row = new Array(V).fill(-1e9);
    const c = tokenizer.decode([last]);
    if (c === "1") row[A] = 0;
    else if (c === "2") row[B] = 0;
    else row[A] = row[B] = 0;
    return row;
  };
  const cache = (rows: number): KVCache =>
    ({
      rows,
      expand: (k: number) => cache(rows * k),
      selectRows: (r: number[]) => cache(r.length),
      dispose: () => {},
    }) as unknown as KVCache;
  return {
    prefill(ids: tf.Tensor2D) {
      const data = ids.arraySync() as number[][];
      return { cache: cache(data.length), lastLogits: tf.tensor2d(data.map((r) => firstLogits(r[r.length - 1]))) };
    },
    decodeStep(c: KVCache) {
      const n = (c as unknown as { rows: number }).rows;
      return tf.tidy(() => tf.oneHot(tf.fill([n], EOS, "int32") as tf.Tensor1D, V).mul(1e9).sub(5e8) as tf.Tensor2D);
    },
  };
}

/** Correct ⇔ the completion is one of the row's accepted answers. */
const accepts: RewardSet = {
  names: ["accepts"],
  weights: [1],
  score(batch: RewardInput[]) {
    const v = batch.map((s) => ((s.row.accept as string[]).includes(s.completion) ? 1 : 0));
    return Promise.resolve({ names: ["accepts"], perFunction: [v], total: v });
  },
};

// prompts ending in 1, 2, 3: (always "a", accepted) (always "b", not accepted) ("a"/"b", both accepted, 2 modes)
const examples: Example[] = [
  { prompt: "p1", row: { accept: ["a"], num_modes: 1 }, source: "t#0" },
  { prompt: "p2", row: { accept: ["a"], num_modes: 1 }, source: "t#1" },
  { prompt: "p3", row: { accept: ["a", "b"], num_modes: 2 }, source: "t#2" },
];
// the chat template ends every prompt with the same text; use the plain prompt text as the "template"
const plain = "{% for m in messages %}{{ m.content }}{% endfor %}";

Deno.test("eval: metrics match hand-computed values on a model with known outputs", async () => {
  const r = await evaluateModel(fakeModel(), tokenizer, examples, {
    rewards: accepts,
    k: 8,
    maxTokens: 4,
    chatTemplate: plain,
    modeOf: (c) => c,
    perPrompt: true,
    seed: 3,
  });
  assertEquals(r.details!.map((d) => d.greedy), ["a", "b", "a"]);
  assertEquals(r.details!.map((d) => d.correct), [8, 0, 8]);
  // prompt 3 draws both answers among 8 fair coin flips (this seed: checked, not assumed)
  assertEquals(r.details![2].modes.sort(), ["a", "b"]);
  // pass@1 (greedy) = (1 + 0 + 1)/3; sampled = mean@8 = (8/8 + 0 + 8/8)/3; pass@8 = (1 + 0 + 1)/3
  assertClose(r.metrics["pass@1"], 2 / 3, 1e-12);
  assertClose(r.metrics["pass@1_sampled"], 2 / 3, 1e-12);
  assertClose(r.metrics["mean@k"], 2 / 3, 1e-12);
  assertClose(r.metrics["pass@k"], 2 / 3, 1e-12);
  // distinct@8 = (1 + 0 + 2)/3; coverage@8 = (1/1 + 0 + 2/2)/3
  assertClose(r.metrics["distinct@k"], 1, 1e-12);
  assertClose(r.metrics["coverage@k"], 2 / 3, 1e-12);
  assertEquals(evalMetricsRow(r)["eval/pass@1"], r.metrics["pass@1"]);
  assert(evalSummary(r).startsWith("pass@1 0.667 (greedy)"), evalSummary(r));
});

Deno.test("eval: sampled metrics of a coin-flip prompt equal the counts of its samples; seeds are averaged", async () => {
  // only "a" is correct for prompt 3: c = number of "a" among the samples, read back per sample via modeOf
  const seen: string[] = [];
  const ex: Example[] = [{ prompt: "p3", row: { accept: ["a"], num_modes: 1 }, source: "t#0" }];
  const r = await evaluateModel(fakeModel(), tokenizer, ex, {
    rewards: accepts,
    k: 16,
    maxTokens: 4,
    chatTemplate: plain,
    evalSeeds: 2,
    modeOf: (c) => (seen.push(c), c),
  });
  // modeOf sees the correct completions only: the greedy one ("a" wins the tie, pass@1 = 1), then the samples
  assertClose(r.metrics["pass@1"], 1, 1e-12);
  seen.shift();
  assert(seen.length > 0 && seen.length < 32, `coin flips gave ${seen.length} of 32 correct`);
  // mean@16 averaged over the 2 seeds = total correct / 32
  assertClose(r.metrics["mean@k"], seen.length / 32, 1e-12);
  assertEquals(r.perSeed.length, 2);
  const c0 = r.perSeed[0]["mean@k"] * 16, c1 = r.perSeed[1]["mean@k"] * 16;
  assertEquals(c0 + c1, seen.length);
  for (const c of [c0, c1]) assertEquals(r.perSeed.find((s) => s["mean@k"] * 16 === c)!["pass@k"], c > 0 ? 1 : 0);
});

Deno.test("eval: maxent eval on a real tiny model prints a summary and finite metrics; countdown modes give coverage", async () => {
  const data = join(root, "data");
  const d = await runCli(["data", "countdown", "--out", data, "--train", "4", "--eval", "3", "--seed", "1"]);
  assertEquals(d.code, 0, d.err);
  const r = await runCli([
    "eval",
    "--model",
    modelDir,
    "--dataset",
    data,
    "--reward",
    "countdown",
    "--k",
    "2",
    "--max-tokens",
    "6",
    "--backend",
    "cpu",
  ]);
  assertEquals(r.code, 0, r.err);
  const [summary, json] = r.out.trim().split("\n");
  assert(summary.startsWith("pass@1 "), summary);
  assert(summary.includes("3 prompts"), summary);
  const m = JSON.parse(json);
  for (const k of ["pass@1", "pass@1_sampled", "pass@k", "mean@k", "distinct@k", "coverage@k"]) {
    assert(Number.isFinite(m[k]) && m[k] >= 0, `${k} = ${m[k]}`);
  }
});

Deno.test({
  name: "eval: cleanup",
  fn: async () => {
    await Deno.remove(root, { recursive: true });
  },
});
