/**
 * One full MaxEnt-GRPO training step on the bench model (Qwen2, 4 layers, hidden 256, vocab 151,936; `maxent init
 * --preset bench`), with the time split by phase: sampling K = 8 candidates for 8 prompts (32-token prompts, 32 new
 * tokens, no end token so every candidate has 32), scoring, the frozen reference's log-probs, the policy's forward +
 * backward with the MaxEnt weights, and clipping + AdamW. Backend: auto (wasm + OpenBLAS here).
 *
 * The reference phase is timed on its own (as `objectiveMicroStep` runs it), then the policy phase runs the same
 * micro-step without the reference so the two numbers do not overlap.
 *
 * Usage: `deno task bench train_step`.
 */
import * as tf from "@tensorflow/tfjs";
import { type BackendChoice, initBackend } from "../src/backend/mod.ts";
import { MODEL_PRESETS, parseModelConfig } from "../src/model/config.ts";
import { CausalLM } from "../src/model/transformer.ts";
import { collectRollouts } from "../src/train/rollout.ts";
import { objectiveMicroStep } from "../src/train/objective_step.ts";
import { packBatch } from "../src/train/batch.ts";
import { clipCoefficient, globalNorm } from "../src/train/optimizer.ts";
import type { Report } from "./report.ts";
import { BENCH_MAXENT_SETTINGS, benchOptimizer, stepFixture } from "./step_fixture.ts";

const PROMPTS = 8;
const K = 8;
const PROMPT_TOKENS = 32;
const NEW_TOKENS = 32;

/** Runs the training-step suite. */
export async function run(report: Report, backend: BackendChoice = "auto"): Promise<void> {
  const info = await initBackend(backend);
  const config = parseModelConfig(MODEL_PRESETS.bench(), "bench preset");
  const policy = CausalLM.random(config, 0, { trainable: true });
  const reference = policy.frozenCopy();
  const optimizer = benchOptimizer(policy);
  const { tokenizer, rewards, prompts, examples } = stepFixture(config.vocabSize, PROMPTS, PROMPT_TOKENS);
  const generation = {
    temperature: 1,
    topP: 1,
    topK: 0,
    minP: 0,
    repetitionPenalty: 1,
    maxTokens: NEW_TOKENS,
    seed: 1,
  };
  const settings = BENCH_MAXENT_SETTINGS;

  const step = async (i: number, n = PROMPTS, k = K, maxTokens = NEW_TOKENS) => {
    const t0 = performance.now();
    const keys = prompts.slice(0, n).map((_, p) => i * PROMPTS + p);
    const groups = await collectRollouts(
      { kind: "local", model: policy },
      tokenizer,
      rewards,
      examples.slice(0, n),
      prompts.slice(0, n),
      keys,
      k,
      { ...generation, maxTokens },
    );
    const t1 = performance.now();
    // the reference pass, as objectiveMicroStep runs it
    const batch = packBatch(
      groups.flatMap((g) => g.candidates.map(() => g.prompt.ids)),
      groups.flatMap((g) => g.candidates.map((c) => c.ids)),
      tokenizer.padTokenId,
    );
    tf.tidy(() => reference.tokenLogProbs(batch.ids, batch.attention).dataSync());
    batch.dispose();
    const t2 = performance.now();
    const { grads } = await objectiveMicroStep(policy, null, groups, settings, 1 / n, tokenizer.padTokenId);
    await Promise.all([...grads.values()].map((g) => g.data()));
    const t3 = performance.now();
    optimizer.step(grads, 1e-5, clipCoefficient(await globalNorm(grads), 1)); // as the trainer: clipping folded in
    for (const g of grads.values()) g.dispose();
    await policy.trainableVariables()[0].data();
    const t4 = performance.now();
    return { sampling: t1 - t0, reference: t2 - t1, policy: t3 - t2, optimizer: t4 - t3, total: t4 - t0 };
  };

  await step(0, 1, 2, 4); // a small warm-up step: kernels initialised
  const times = await step(1);
  const tokens = PROMPTS * K * (PROMPT_TOKENS + NEW_TOKENS);
  const detail =
    `${PROMPTS} prompts × K=${K}, ${PROMPT_TOKENS}+${NEW_TOKENS} tokens, V${config.vocabSize}; ${info.detail}`;
  report({ name: "train step (MaxEnt-GRPO), total", value: times.total / 1000, unit: "s", detail });
  for (const phase of ["sampling", "reference", "policy", "optimizer"] as const) {
    const what = {
      sampling: "sampling + scoring",
      reference: "reference log-probs",
      policy: "policy fwd+bwd (weighted NLL)",
      optimizer: "clip + AdamW",
    }[phase];
    report({
      name: `train step: ${what}`,
      value: times[phase] / 1000,
      unit: "s",
      detail: `${((100 * times[phase]) / times.total).toFixed(0)}% of the step`,
    });
  }
  report({ name: "train step throughput", value: tokens / (times.total / 1000), unit: "tok/s", detail });
  optimizer.dispose();
  reference.dispose();
  policy.dispose();
}

if (import.meta.main) {
  const { machineLine } = await import("./report.ts");
  console.log(machineLine());
  await run((r) => console.log(`${r.name}: ${r.value.toFixed(3)} ${r.unit} (${r.detail})`));
}
