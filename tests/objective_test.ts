import * as tf from "@tensorflow/tfjs";
import { assert, assertClose, assertEquals, assertThrows } from "./assert.ts";
import { MaxentError } from "../src/errors.ts";
import {
  effectiveSampleSize,
  groupAdvantages,
  type GrpoLossType,
  grpoTokenLoss,
  listwiseTarget,
  maxentGroup,
  maxentWeights,
  referenceDistribution,
  referenceScores,
  weightedNllLoss,
  weightEntropy,
} from "../src/objective/mod.ts";

await tf.setBackend("cpu");

// ── independent naive implementations (direct formulas, no log-space tricks) ─────────────────────────────────────────

function naiveQ(u: number[], t: number, eps: number): number[] {
  const e = u.map((x) => Math.exp(x / t));
  const z = e.reduce((a, b) => a + b, 0);
  const k = u.length;
  const floored = e.map((x) => (x / z) * (1 - k * eps) + eps);
  const s = floored.reduce((a, b) => a + b, 0);
  return floored.map((x) => x / s);
}

// w_i ∝ q_i^{1/(τ+β)} · (e^{s_i})^{β/(τ+β)}
function naiveW(q: number[], s: number[], tau: number, beta: number): number[] {
  const d = tau + beta > 0 ? tau + beta : 1;
  const p = q.map((qi, i) => Math.pow(qi, 1 / d) * Math.pow(Math.exp(s[i]), beta / d));
  const z = p.reduce((a, b) => a + b, 0);
  return p.map((x) => x / z);
}

function sum(xs: number[]): number {
  return xs.reduce((a, b) => a + b, 0);
}

function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = Math.imul(a ^ (a >>> 15), a | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

// ── listwise target ────────────────────────────────────────────────────────────────────────────────────────────────

Deno.test("listwiseTarget: hand-computed softmax and ε floor", () => {
  const e = Math.E;
  // ε = 0: q = e/(2e+2), 1/(2e+2)
  assertClose(
    listwiseTarget([1, 0, 0, 1], 1, 0),
    [e / (2 * e + 2), 1 / (2 * e + 2), 1 / (2 * e + 2), e / (2 * e + 2)],
    1e-15,
  );
  // T = 0.5 doubles the utility gap: q = [e², 1] / (e² + 1)
  assertClose(listwiseTarget([1, 0], 0.5, 0), [e * e / (e * e + 1), 1 / (e * e + 1)], 1e-15);
  // ε = 0.1, K = 2, q = [1, 0] limit: q ← [1·0.8 + 0.1, 0·0.8 + 0.1] = [0.9, 0.1]
  assertClose(listwiseTarget([1000, 0], 1, 0.1), [0.9, 0.1], 1e-12);
});

Deno.test("listwiseTarget matches a naive implementation and sums to 1", () => {
  const r = rng(1);
  for (let trial = 0; trial < 50; trial++) {
    const k = 2 + Math.floor(r() * 10);
    const u = Array.from({ length: k }, () => r() * 6 - 3);
    const t = 0.2 + r() * 2;
    const q = listwiseTarget(u, t, 1e-6);
    assertClose(q, naiveQ(u, t, 1e-6), 1e-12);
    assertClose(sum(q), 1, 1e-12);
  }
});

Deno.test("listwiseTarget is invariant to adding a constant to all utilities and stable for huge ones", () => {
  const u = [0.3, -1.2, 2.5, 0];
  assertClose(listwiseTarget(u.map((x) => x + 1e4)), listwiseTarget(u), 1e-9);
  const q = listwiseTarget([1e6, -1e6, 0]);
  assert(q.every(Number.isFinite));
  assertClose(sum(q), 1, 1e-12);
  assert(q.every((x) => x >= 1e-6 * 0.999), "ε floor gives full support");
});

Deno.test("listwiseTarget rejects empty, non-finite and out-of-range inputs", () => {
  assertThrows(() => listwiseTarget([]), MaxentError, "empty");
  assertThrows(() => listwiseTarget([1, NaN]), MaxentError, "utilities[1]");
  assertThrows(() => listwiseTarget([1, Infinity]), MaxentError, "utilities[1]");
  assertThrows(() => listwiseTarget([1, 0], 0), MaxentError, "temperature");
  assertThrows(() => listwiseTarget([1, 0], 1, 0.5), MaxentError, "epsilon");
  assertThrows(() => listwiseTarget([1, 0], 1, -1e-3), MaxentError, "epsilon");
});

// ── reference ──────────────────────────────────────────────────────────────────────────────────────────────────────

Deno.test("referenceScores / referenceDistribution: length normalisation by max(1, T) and a softmax", () => {
  assertClose(referenceScores([-10, -6, -2], [10, 3, 0], true), [-1, -2, -2], 1e-15);
  assertClose(referenceScores([-10, -6], [10, 3], false), [-10, -6], 0);
  const d = referenceDistribution([-10, -6], undefined, false);
  assertClose(d, [Math.exp(-4) / (1 + Math.exp(-4)), 1 / (1 + Math.exp(-4))], 1e-15);
  assertClose(referenceDistribution([-3, -3, -3], undefined, false), [1 / 3, 1 / 3, 1 / 3], 1e-15);
  assertThrows(() => referenceScores([-1, -2], [3], true), MaxentError, "lengths");
  assertThrows(() => referenceScores([-1, -2], undefined, true), MaxentError, "lengths");
  assertThrows(() => referenceScores([-1, NaN], undefined, false), MaxentError, "[1]");
  assertThrows(() => referenceScores([-1], [-2], true), MaxentError, "negative");
});

// ── MaxEnt weights ─────────────────────────────────────────────────────────────────────────────────────────────────

Deno.test("maxentWeights: hand-computed example and agreement with the naive power form", () => {
  // β = 0, τ = 0.5: w ∝ q² = [0.25, 0.0625, 0.0625] / 0.375
  assertClose(maxentWeights([0.5, 0.25, 0.25], [0, 0, 0], 0.5, 0), [2 / 3, 1 / 6, 1 / 6], 1e-15);
  // τ = 1, β = 1: w ∝ q^{1/2} · e^{s/2}; q = [0.5, 0.5], s = [0, ln 4] → [1, 2] / 3
  assertClose(maxentWeights([0.5, 0.5], [0, Math.log(4)], 1, 1), [1 / 3, 2 / 3], 1e-15);
  const r = rng(2);
  for (let trial = 0; trial < 50; trial++) {
    const k = 2 + Math.floor(r() * 8);
    const q = listwiseTarget(Array.from({ length: k }, () => r() * 4 - 2));
    const s = Array.from({ length: k }, () => -r() * 5);
    const tau = r() * 2;
    const beta = r() * 4;
    const w = maxentWeights(q, s, tau, beta);
    assertClose(w, naiveW(q, s, tau, beta), 1e-10);
    assertClose(sum(w), 1, 1e-12);
  }
});

Deno.test("maxentWeights limits from DESIGN.md", () => {
  const q = listwiseTarget([1, 0, 0.5, 1]);
  const s = [-1.5, -0.2, -3.0, -0.7];
  // β = 0, τ = 1 → w = q
  assertClose(maxentWeights(q, s, 1, 0), q, 1e-14);
  // β = 0, τ → 0 → uniform on the arg-max set of q (candidates 0 and 3)
  assertClose(maxentWeights(q, s, 1e-4, 0), [0.5, 0, 0, 0.5], 1e-12);
  // β → ∞ → softmax(s)
  assertClose(maxentWeights(q, s, 0.2, 1e7), referenceDistribution(s, undefined, false), 1e-6);
  // uniform q and uniform s → uniform w
  assertClose(maxentWeights([0.25, 0.25, 0.25, 0.25], [-2, -2, -2, -2], 0.2, 3), [0.25, 0.25, 0.25, 0.25], 1e-15);
  // τ + β ≤ 0 → the denominator is 1: log w = log q + β·s = log q at β = 0
  assertClose(maxentWeights(q, s, 0, 0), q, 1e-14);
});

Deno.test("maxentWeights is invariant to constant shifts of utilities and reference scores", () => {
  const u = [1, 0, 0, 1, 0.5];
  const s = [-2.1, -0.3, -4.4, -1.0, -0.9];
  const base = maxentWeights(listwiseTarget(u), s, 0.2, 3);
  assertClose(maxentWeights(listwiseTarget(u.map((x) => x + 7.5)), s, 0.2, 3), base, 1e-12);
  assertClose(maxentWeights(listwiseTarget(u), s.map((x) => x - 123.4), 0.2, 3), base, 1e-12);
});

Deno.test("log-probs of −1e4 give finite weights that sum to 1 and equal the shifted problem's", () => {
  const q = listwiseTarget([1, 0, 0, 1]);
  const s = [-1e4, -1e4 + 2, -1e4 - 1, -1e4 + 0.5];
  const w = maxentWeights(q, s, 0.2, 3);
  assert(w.every(Number.isFinite), JSON.stringify(w));
  assertClose(sum(w), 1, 1e-12);
  assertClose(w, maxentWeights(q, s.map((x) => x + 1e4), 0.2, 3), 1e-9);
  // Raw sums of −1e4 without length normalisation, through the whole pipeline.
  const g = maxentGroup([1, 0, 0, 1], {
    refLogProbSums: [-1e4, -2e4, -1e4, -3e4],
    tau: 0.2,
    beta: 3,
    qTemperature: 1,
    qEpsilon: 1e-6,
    lengthNormalizeRef: false,
  });
  assert([...g.q, ...g.ref, ...g.weights, g.entropy, g.ess].every(Number.isFinite));
  assertClose(sum(g.weights), 1, 1e-12);
  // The naive power form underflows here; the log-space form does not.
  assert(naiveW(g.q, g.scores, 0.2, 3).some(Number.isNaN));
});

Deno.test("weightEntropy and effectiveSampleSize: uniform, one-hot and a hand value", () => {
  assertClose(weightEntropy([0.25, 0.25, 0.25, 0.25]), Math.log(4), 1e-15);
  assertEquals(weightEntropy([1, 0, 0]), 0);
  assertClose(weightEntropy([0.5, 0.5]), Math.LN2, 1e-15);
  assertClose(effectiveSampleSize([0.25, 0.25, 0.25, 0.25]), 4, 1e-12);
  assertClose(effectiveSampleSize([1, 0, 0]), 1, 0);
  assertClose(effectiveSampleSize([0.5, 0.25, 0.25]), 1 / 0.375, 1e-12);
});

Deno.test("maxentGroup: uniform reference without log-probs, and errors for mismatched groups", () => {
  const opts = { tau: 1, beta: 0, qTemperature: 1, qEpsilon: 0, lengthNormalizeRef: true };
  const g = maxentGroup([2, 1], opts);
  assertClose(g.ref, [0.5, 0.5], 0);
  assertClose(g.weights, g.q, 1e-15);
  assertThrows(() => maxentGroup([1, 0], { ...opts, refLogProbSums: [-1] }), MaxentError, "reference log-probs");
  assertThrows(() => maxentWeights([0.5, 0.5], [0], 1, 0), MaxentError, "reference scores");
});

// ── weighted MLE loss (tfjs) ─────────────────────────────────────────────────────────────────────────────────────────

const LOGP = [
  [-0.5, -1.2, -2.0, -0.1],
  [-0.3, -0.9, -3.0, -4.0],
  [-1.1, -0.2, -0.7, -0.4],
  [-2.2, -1.5, -0.6, -0.8],
];
const MASK = [
  [1, 1, 1, 0],
  [1, 1, 0, 0],
  [1, 1, 1, 1],
  [1, 0, 0, 0],
];

function naiveNll(logp: number[][], mask: number[][], w: number[], g: number): number {
  let l = 0;
  for (let i = 0; i < logp.length; i++) {
    let nll = 0;
    for (let t = 0; t < logp[i].length; t++) nll -= mask[i][t] * logp[i][t];
    l += w[i] * nll;
  }
  return l / g;
}

// Central differences in float64 of a plain-JS loss over a [N, T] input.
function numericGrad(f: (x: number[][]) => number, x: number[][], h = 1e-6): number[] {
  const out: number[] = [];
  for (let i = 0; i < x.length; i++) {
    for (let t = 0; t < x[i].length; t++) {
      const plus = x.map((r) => [...r]);
      const minus = x.map((r) => [...r]);
      plus[i][t] += h;
      minus[i][t] -= h;
      out.push((f(plus) - f(minus)) / (2 * h));
    }
  }
  return out;
}

Deno.test("weightedNllLoss: value, gradient vs finite differences and the analytic −w·mask/G, no leaked tensors", () => {
  const w = [0.1, 0.6, 0.5, 0.5]; // two groups of two, each summing to... any constants work
  const before = tf.memory().numTensors;
  const x = tf.tensor2d(LOGP);
  const m = tf.tensor2d(MASK);
  const loss = weightedNllLoss(x, m, w, 2);
  assertClose(loss.dataSync()[0], naiveNll(LOGP, MASK, w, 2), 1e-5);
  const grad = tf.grad((t: tf.Tensor) => weightedNllLoss(t as tf.Tensor2D, m, w, 2))(x);
  const g = Array.from(grad.dataSync());
  assertClose(g, numericGrad((v) => naiveNll(v, MASK, w, 2), LOGP), 1e-4);
  assertClose(g, MASK.flatMap((row, i) => row.map((mk) => (-w[i] * mk) / 2)), 1e-7);
  // Weights as a tensor give the same loss.
  const wt = tf.tensor1d(w);
  const loss2 = weightedNllLoss(x, m, wt, 2);
  assertClose(loss2.dataSync()[0], loss.dataSync()[0], 1e-7);
  tf.dispose([x, m, loss, grad, wt, loss2]);
  assertEquals(tf.memory().numTensors, before);
  assertThrows(
    () => weightedNllLoss(tf.zeros([2, 3]) as tf.Tensor2D, tf.zeros([2, 3]) as tf.Tensor2D, [1], 1),
    MaxentError,
  );
});

// ── GRPO ─────────────────────────────────────────────────────────────────────────────────────────────────────────────

Deno.test("groupAdvantages: TRL's unbiased std per group, per batch, or none", () => {
  // Group [1, 0, 0, 1]: mean 0.5, unbiased std sqrt(1/3).
  const sd = Math.sqrt(1 / 3);
  assertClose(groupAdvantages([1, 0, 0, 1], 4, "group"), [0.5, -0.5, -0.5, 0.5].map((a) => a / (sd + 1e-4)), 1e-12);
  assertClose(groupAdvantages([1, 0, 0, 1], 4, true), groupAdvantages([1, 0, 0, 1], 4, "group"), 0);
  assertClose(groupAdvantages([1, 0, 0, 1], 4, "none"), [0.5, -0.5, -0.5, 0.5], 0);
  assertClose(groupAdvantages([1, 0, 0, 1], 4, false), [0.5, -0.5, -0.5, 0.5], 0);
  // Two groups [1, 3] and [2, 2]: group means 2 and 2; batch std of [1, 3, 2, 2] = sqrt(2/3).
  const bsd = Math.sqrt(2 / 3);
  assertClose(groupAdvantages([1, 3, 2, 2], 2, "batch"), [-1 / (bsd + 1e-4), 1 / (bsd + 1e-4), 0, 0], 1e-12);
  // Group std of [1, 3] is sqrt(2); [2, 2] has std 0 → advantages 0.
  assertClose(
    groupAdvantages([1, 3, 2, 2], 2, "group"),
    [-1 / (Math.SQRT2 + 1e-4), 1 / (Math.SQRT2 + 1e-4), 0, 0],
    1e-12,
  );
  assertThrows(() => groupAdvantages([1, 2, 3], 2), MaxentError, "whole groups");
  assertThrows(() => groupAdvantages([1, NaN], 2), MaxentError, "rewards[1]");
});

interface NaiveGrpo {
  logp: number[][];
  old: number[][];
  ref: number[][];
  mask: number[][];
  adv: number[];
  beta: number;
  eps: number;
  epsHigh: number;
  lossType: GrpoLossType;
  maxLen: number;
}

function naiveGrpo(p: NaiveGrpo): number {
  const n = p.logp.length;
  const perToken = p.logp.map((row, i) =>
    row.map((lp, t) => {
      const ratio = Math.exp(lp - p.old[i][t]);
      const clipped = Math.min(Math.max(ratio, 1 - p.eps), 1 + p.epsHigh);
      const d = p.ref[i][t] - lp;
      return -Math.min(ratio * p.adv[i], clipped * p.adv[i]) + p.beta * (Math.exp(d) - d - 1);
    })
  );
  const masked = perToken.map((row, i) => row.map((v, t) => v * p.mask[i][t]));
  const rowSums = masked.map(sum);
  const maskSums = p.mask.map(sum);
  if (p.lossType === "grpo") return sum(rowSums.map((s, i) => s / Math.max(1, maskSums[i]))) / n;
  if (p.lossType === "bnpo") return sum(rowSums) / Math.max(1, sum(maskSums));
  return sum(rowSums) / (n * p.maxLen);
}

// Old log-probs chosen so ratios are inside, below and above the clip range, none at a kink.
const OLD = [
  [-0.45, -1.6, -2.0, -0.3],
  [-0.3, -0.5, -2.9, -4.0],
  [-1.0, -0.25, -0.4, -0.4],
  [-2.6, -1.5, -0.6, -0.8],
];
const REF = [
  [-0.7, -1.0, -2.5, -0.2],
  [-0.2, -1.1, -3.0, -3.5],
  [-1.3, -0.1, -0.9, -0.5],
  [-2.0, -1.7, -0.5, -0.9],
];
const ADV = [1.2, -0.8, -1.5, 0.6];

Deno.test("grpoTokenLoss: value and gradient match a naive implementation for grpo, bnpo and dr_grpo", () => {
  const before = tf.memory().numTensors;
  const x = tf.tensor2d(LOGP);
  const old = tf.tensor2d(OLD);
  const ref = tf.tensor2d(REF);
  const mask = tf.tensor2d(MASK);
  for (const lossType of ["grpo", "bnpo", "dr_grpo"] as const) {
    for (const beta of [0, 0.04]) {
      const params = { beta, epsilon: 0.2, epsilonHigh: 0.28, lossType, maxCompletionLength: 6 };
      const naive = (v: number[][]) =>
        naiveGrpo({
          logp: v,
          old: OLD,
          ref: REF,
          mask: MASK,
          adv: ADV,
          eps: 0.2,
          epsHigh: 0.28,
          beta,
          lossType,
          maxLen: 6,
        });
      const f = (t: tf.Tensor) =>
        grpoTokenLoss({
          logProbs: t as tf.Tensor2D,
          oldLogProbs: old,
          refLogProbs: ref,
          mask,
          advantages: ADV,
          ...params,
        })
          .loss;
      const loss = f(x);
      assertClose(loss.dataSync()[0], naive(LOGP), 1e-5, `${lossType} β=${beta} value`);
      const grad = tf.grad(f)(x);
      assertClose(grad.dataSync(), numericGrad(naive, LOGP), 2e-4, `${lossType} β=${beta} gradient`);
      tf.dispose([loss, grad]);
    }
  }
  tf.dispose([x, old, ref, mask]);
  assertEquals(tf.memory().numTensors, before);
});

Deno.test("grpoTokenLoss without old log-probs: ρ = 1 but the gradient is −A·mask/normaliser (+ KL)", () => {
  const x = tf.tensor2d(LOGP);
  const mask = tf.tensor2d(MASK);
  const f = (t: tf.Tensor) =>
    grpoTokenLoss({
      logProbs: t as tf.Tensor2D,
      mask,
      advantages: ADV,
      beta: 0,
      epsilon: 0.2,
      lossType: "bnpo",
      maxCompletionLength: 4,
    }).loss;
  const tokens = sum(MASK.map(sum));
  const loss = f(x);
  // ℓ = −A per token: loss = −Σ_i A_i·|mask_i| / tokens
  assertClose(loss.dataSync()[0], -sum(ADV.map((a, i) => a * sum(MASK[i]))) / tokens, 1e-6);
  const grad = tf.grad(f)(x);
  assertClose(grad.dataSync(), MASK.flatMap((row, i) => row.map((m) => (-ADV[i] * m) / tokens)), 1e-6);
  tf.dispose([x, mask, loss, grad]);
});

Deno.test("grpoTokenLoss metrics: clip ratios and mean k3 KL as TRL counts them", () => {
  // One row, three tokens: ratios e^{0.5} (> 1.2), e^{-0.5} (< 0.8), 1; last token is padding.
  const logp = tf.tensor2d([[0, 0, 0, 0], [0, 0, 0, 0]]);
  const old = tf.tensor2d([[-0.5, 0.5, 0, 0], [-0.5, 0.5, 0, 0]]);
  const ref = tf.tensor2d([[0, 1, 0, 0], [0, 0, 0, 0]]);
  const mask = tf.tensor2d([[1, 1, 1, 0], [1, 1, 1, 0]]);
  const { loss, metrics } = grpoTokenLoss({
    logProbs: logp,
    oldLogProbs: old,
    refLogProbs: ref,
    mask,
    advantages: [1, -1],
    beta: 0.1,
    epsilon: 0.2,
    lossType: "grpo",
    maxCompletionLength: 4,
  });
  // Row 0 (A > 0): token 0 high-clipped. Row 1 (A < 0): token 1 low-clipped. 6 masked tokens.
  assertClose(metrics.clipRatioHigh, 1 / 6, 1e-6);
  assertClose(metrics.clipRatioLow, 1 / 6, 1e-6);
  assertClose(metrics.clipRatioRegion, 2 / 6, 1e-6);
  // k3 at d = 1: e − 2; all other tokens 0.
  assertClose(metrics.kl, (Math.E - 2) / 6, 1e-6);
  tf.dispose([loss, logp, old, ref, mask]);
  assertThrows(
    () =>
      grpoTokenLoss({
        logProbs: tf.zeros([1, 2]) as tf.Tensor2D,
        mask: tf.ones([1, 2]) as tf.Tensor2D,
        advantages: [1],
        beta: 0.04,
        epsilon: 0.2,
        lossType: "grpo",
        maxCompletionLength: 2,
      }),
    MaxentError,
    "refLogProbs",
  );
});
