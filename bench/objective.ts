/**
 * Objective micro-benchmarks: the MaxEnt target for many groups (plain arrays), GRPO advantages, and the two tfjs
 * losses forward + backward on a batch of the seed recipe's size, on tfjs's cpu backend.
 */
import * as tf from "@tensorflow/tfjs";
import { groupAdvantages, grpoTokenLoss, maxentGroup, weightedNllLoss } from "../src/objective/mod.ts";
import { MAXENT_DEFAULTS } from "../src/recipe/schema.ts";
import { measure, type Report } from "./report.ts";
import { uniform01 } from "../src/mulberry32.ts";

/** Runs the objective suite. */
export async function run(report: Report): Promise<void> {
  const groups = 10_000;
  const k = 8;
  const rand = uniform01(7); // a deterministic stream: every run times the same inputs
  const utilities = Array.from({ length: groups }, () => Array.from({ length: k }, () => (rand() < 0.3 ? 1 : 0)));
  const refs = Array.from({ length: groups }, () => Array.from({ length: k }, () => -400 * rand() - 1));
  const lengths = Array.from({ length: groups }, () => Array.from({ length: k }, () => 1 + Math.floor(750 * rand())));
  const opts = {
    tau: MAXENT_DEFAULTS.maxent_tau,
    beta: 3,
    qTemperature: MAXENT_DEFAULTS.maxent_q_temperature,
    qEpsilon: MAXENT_DEFAULTS.maxent_q_epsilon,
    lengthNormalizeRef: true,
  };
  let sink = 0;
  const ms = measure(() => {
    for (let g = 0; g < groups; g++) {
      sink += maxentGroup(utilities[g], { ...opts, refLogProbSums: refs[g], lengths: lengths[g] }).ess;
    }
  }, { minIters: 5, minMs: 1000 });
  report({ name: "maxentGroup (q, s, π_ref, w, H, ESS)", value: ms, unit: "ms", detail: `${groups} groups of K=${k}` });
  report({ name: "maxentGroup throughput", value: (groups / ms) * 1000, unit: "groups/s", detail: `K=${k}` });

  const rewards = utilities.flat();
  const advMs = measure(() => void (sink += groupAdvantages(rewards, k, "group")[0]), { minMs: 500 });
  report({ name: "groupAdvantages", value: advMs, unit: "ms", detail: `${groups} groups of K=${k}` });

  await tf.setBackend("cpu");
  await tf.ready();
  const n = 64;
  const t = 750;
  const logp = tf.tidy(() => tf.neg(tf.mul(tf.randomUniform([n, t], 0, 1, "float32", 1), 5)));
  const mask = tf.ones([n, t]) as tf.Tensor2D;
  const w = Array.from({ length: n }, () => 1 / k);
  const adv = groupAdvantages(rewards.slice(0, n), k, "group");
  const nllMs = measure(() => {
    const g = tf.grad((x: tf.Tensor) => weightedNllLoss(x as tf.Tensor2D, mask, w, n / k))(logp);
    g.dataSync();
    g.dispose();
  }, { minMs: 500 });
  report({ name: "weightedNllLoss fwd+bwd (tfjs cpu)", value: nllMs, unit: "ms", detail: `[${n}, ${t}] tokens` });
  const grpoMs = measure(() => {
    const g = tf.grad((x: tf.Tensor) =>
      grpoTokenLoss({
        logProbs: x as tf.Tensor2D,
        refLogProbs: logp as tf.Tensor2D,
        mask,
        advantages: adv,
        beta: 0.04,
        epsilon: 0.2,
        lossType: "bnpo",
        maxCompletionLength: t,
        withMetrics: false,
      }).loss
    )(logp);
    g.dataSync();
    g.dispose();
  }, { minMs: 500 });
  report({
    name: "grpoTokenLoss fwd+bwd (tfjs cpu, bnpo, β>0)",
    value: grpoMs,
    unit: "ms",
    detail: `[${n}, ${t}] tokens`,
  });
  tf.dispose([logp, mask]);
  if (Number.isNaN(sink)) throw new Error("objective benchmark produced NaN");
}
