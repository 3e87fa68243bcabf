/**
 * What a benchmark of a full training step needs besides the model, shared by bench/train_step.ts, bench/peer.ts and bench/memory.ts:
 * a token-id "tokenizer" (text = ids joined by spaces, no end token so every candidate runs to the cap), a cheap
 * deterministic reward, and synthetic prompts.
 */
import type * as tf from "@tensorflow/tfjs";
import type { CausalLM } from "../src/model/transformer.ts";
import { AdamW } from "../src/train/optimizer.ts";
import type { RewardInput, RewardSet } from "../src/rewards/mod.ts";
import type { Example } from "../src/data/mod.ts";

/** The fixture of one step: tokenizer, reward, prompts and their examples. */
export function stepFixture(vocabSize: number, numPrompts: number, promptTokens: number) {
  const tokenizer = {
    eosTokenIds: [-1],
    padTokenId: 0,
    decode: (ids: number[]) => ids.join(" "),
    encode: (text: string) => text.split(" ").map(Number),
  };
  // 1 when the completion's token sum is even
  const rewards: RewardSet = {
    names: ["parity"],
    weights: [1],
    score(batch: RewardInput[]) {
      const v = batch.map((s) => (s.completion.split(" ").reduce((a, x) => a + Number(x), 0) % 2 === 0 ? 1 : 0));
      return Promise.resolve({ names: ["parity"], perFunction: [v], total: v });
    },
  };
  const prompts = Array.from({ length: numPrompts }, (_, p) => ({
    text: "",
    ids: Array.from({ length: promptTokens }, (_, t) => (p * 7919 + t * 104729) % vocabSize),
    truncated: false,
  }));
  const examples: Example[] = prompts.map((_, p) => ({ prompt: `p${p}`, row: {}, source: `bench#${p}` }));
  return { tokenizer, rewards, prompts, examples };
}

/** The MaxEnt-GRPO objective the step benchmarks run (τ = 0.2, β = 0.04, length-normalised reference). */
export const BENCH_MAXENT_SETTINGS = {
  algorithm: "maxent-grpo" as const,
  tau: 0.2,
  beta: 0.04,
  qTemperature: 1,
  qEpsilon: 1e-6,
  lengthNormalizeRef: true,
};

/** AdamW (torch defaults, no decay) over the policy's trainable weights. */
export function benchOptimizer(policy: CausalLM): AdamW {
  const params = new Map<string, tf.Variable>();
  for (const [name, v] of policy.weights) if (v.trainable) params.set(name, v);
  return new AdamW(params, { beta1: 0.9, beta2: 0.999, epsilon: 1e-8, weightDecay: 0 });
}
