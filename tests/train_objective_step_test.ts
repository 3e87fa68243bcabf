import * as tf from "@tensorflow/tfjs";
import { assert, assertClose, assertEquals } from "./assert.ts";
import { CausalLM } from "../src/model/transformer.ts";
import { configJson, parseModelConfig } from "../src/model/config.ts";
import { accumulateGradients, objectiveMicroStep, type ObjectiveSettings } from "../src/train/objective_step.ts";
import { packBatch } from "../src/train/batch.ts";
import { maxentGroup } from "../src/objective/mod.ts";
import type { RolloutGroup } from "../src/train/rollout.ts";

await tf.setBackend("cpu");
const config = parseModelConfig(
  configJson({ arch: "qwen2", layers: 1, hidden: 16, heads: 2, kvHeads: 1, intermediate: 32, vocab: 20 }),
  "toy",
);

function group(utilities: number[]): RolloutGroup {
  const completions = [[3, 4, 5], [6, 7], [8, 9, 10, 11]];
  return {
    example: { prompt: "p", row: {}, source: "test" },
    prompt: { text: "p", ids: [1, 2], truncated: false },
    candidates: completions.map((ids, i) => ({
      promptIndex: 0,
      candidate: i,
      ids,
      text: "",
      logprobs: null,
      finishReason: "stop" as const,
    })),
    utilities,
    perFunction: [utilities],
  };
}

/** Σ log π(completion | prompt) per candidate. */
function sequenceLogProbs(model: CausalLM, g: RolloutGroup): number[] {
  const b = packBatch(g.candidates.map(() => g.prompt.ids), g.candidates.map((c) => c.ids), 0);
  const out = tf.tidy(() =>
    Array.from(tf.sum(tf.mul(model.tokenLogProbs(b.ids, b.attention), b.completionMask), 1).dataSync())
  );
  b.dispose();
  return out;
}

const maxent: ObjectiveSettings = {
  algorithm: "maxent-grpo",
  tau: 0.05,
  beta: 0,
  qTemperature: 1,
  qEpsilon: 1e-6,
  lengthNormalizeRef: true,
};

Deno.test("the weighted-MLE gradient raises the log-prob of the high-weight candidate", async () => {
  const model = CausalLM.random(config, 1);
  const g = group([1, 0, 0]);
  const before = sequenceLogProbs(model, g);
  const { grads, stats } = await objectiveMicroStep(model, null, [g], maxent, 1, 0);
  assert(stats.perCandidate[0][0] > 0.99, `w = ${stats.perCandidate[0]}`);
  // one plain gradient-descent step
  for (const [name, v] of model.weights) {
    const gr = grads.get(name);
    if (gr) tf.tidy(() => v.assign(v.sub(gr.mul(0.05))));
  }
  grads.forEach((t) => t.dispose());
  const after = sequenceLogProbs(model, g);
  assert(after[0] > before[0] + 1e-3, `high-weight candidate: ${before[0]} → ${after[0]}`);
  model.dispose();
});

Deno.test("the micro-step loss equals (1/G)·Σ w·NLL computed from independent sequence log-probs", async () => {
  const model = CausalLM.random(config, 2);
  const ref = model.frozenCopy();
  const g = group([0.5, 1, 0]);
  const settings = { ...maxent, tau: 0.3, beta: 0.5 };
  const seq = sequenceLogProbs(model, g);
  // with the policy as its own reference: s_i = Σ log π / |y_i| (length-normalised)
  const w = maxentGroup(g.utilities, {
    refLogProbSums: seq,
    lengths: g.candidates.map((c) => c.ids.length),
    ...settings,
  }).weights;
  const expected = -w.reduce((a, wi, i) => a + wi * seq[i], 0);
  const { grads, stats } = await objectiveMicroStep(model, ref, [g], settings, 1, 0);
  assertClose(stats.perCandidate[0], w, 1e-6);
  assertClose(stats.loss, expected, 1e-4);
  assertClose(stats.klSum, 0, 1e-5); // policy = reference
  assertEquals(stats.tokens, 9);
  grads.forEach((t) => t.dispose());
  model.dispose();
  ref.dispose();
});

Deno.test("gradients of micro-batches accumulate into the running sums (consumed inputs, no leak)", async () => {
  const { initBackend } = await import("../src/backend/mod.ts");
  for (const backend of ["cpu", "wasm"] as const) {
    await initBackend(backend);
    const start = tf.memory().numTensors;
    const parts = [[1, 2, 3], [0.5, -2, 10], [0.25, 0.125, -1]];
    let sum = new Map<string, tf.Tensor>();
    const made: tf.Tensor[] = [];
    for (const [k, v] of parts.entries()) {
      // computed buffers, as a backward pass makes them; "b" only from the second micro-batch on
      const g = new Map([["a", tf.tidy(() => tf.mul(tf.tensor1d(v), 1))]]);
      if (k > 0) g.set("b", tf.tidy(() => tf.mul(tf.tensor1d(v), 2)));
      made.push(...g.values());
      sum = accumulateGradients(sum, g);
    }
    // float32 sums in micro-batch order
    const f = (xs: number[]) => xs.reduce((a, x) => Math.fround(a + x), 0);
    assertEquals(Array.from(sum.get("a")!.dataSync()), [0, 1, 2].map((i) => f(parts.map((p) => p[i]))));
    assertEquals(Array.from(sum.get("b")!.dataSync()), [0, 1, 2].map((i) => f(parts.slice(1).map((p) => 2 * p[i]))));
    const kept = new Set(sum.values());
    assert(made.every((t) => kept.has(t) || t.isDisposed), `${backend}: inputs consumed`);
    sum.forEach((t) => t.dispose());
    assertEquals(tf.memory().numTensors, start, `${backend}: tensor leak`);
  }
  await tf.setBackend("cpu");
});
