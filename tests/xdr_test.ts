import * as tf from "@tensorflow/tfjs";
import { assert, assertClose, assertEquals, assertThrows } from "./assert.ts";
import { grpoTokenLoss } from "../src/objective/grpo.ts";
import { drGrpoAdvantages, xdrGroupWeights, xdrTokenLoss, xdrUtilities, xdrWeights } from "../src/objective/xdr.ts";
import { MaxentError } from "../src/errors.ts";
import { runCli } from "./cli_helpers.ts";

await tf.setBackend("cpu");

const sum = (xs: number[]) => xs.reduce((a, b) => a + b, 0);

Deno.test("xDr: Dr.GRPO advantages and utilities U = A·T/T_max by hand", () => {
  assertClose(drGrpoAdvantages([1, 0, 0, 0, 1, 1, 0, 0], 4), [0.75, -0.25, -0.25, -0.25, 0.5, 0.5, -0.5, -0.5], 1e-15);
  assertClose(xdrUtilities([0.5, -0.5, 0.25], [4, 8, 0], 8), [0.25, -0.5, 0], 1e-15);
  assertThrows(() => xdrUtilities([1], [1], 0), MaxentError, "T_max");
  assertThrows(() => xdrUtilities([1, 2], [1], 4), MaxentError, "lengths");
});

Deno.test("xDr weights: K·softmax(U/τ) by hand; sums to K; τ = ∞ gives exactly 1; τ = 0 uniform on arg-max", () => {
  const u = [0.3, -0.1, 0.3, -0.5];
  const tau = 0.2;
  const e = u.map((x) => Math.exp(x / tau));
  const expected = e.map((x) => (4 * x) / sum(e));
  const w = xdrGroupWeights(u, { tau });
  assertClose(w, expected, 1e-12);
  assertClose(sum(w), 4, 1e-12);
  // τ = ∞: the Dr.GRPO path, exactly one (no softmax evaluated, no rounding)
  assertEquals(xdrGroupWeights(u, { tau: Infinity }), [1, 1, 1, 1]);
  // τ = 0: uniform over the arg-max set {0, 2}
  assertEquals(xdrGroupWeights(u, { tau: 0 }), [2, 0, 2, 0]);
  assertEquals(xdrGroupWeights([0.1, 0.2, 0.05], { tau: 0 }), [0, 3, 0]);
  // τ → 0⁺ approaches the τ = 0 weights
  assertClose(xdrGroupWeights(u, { tau: 1e-4 }), [2, 0, 2, 0], 1e-9);
  // large τ approaches uniform
  assertClose(xdrGroupWeights(u, { tau: 1e9 }), [1, 1, 1, 1], 1e-8);
  // equal utilities → exactly uniform at any τ
  assertClose(xdrGroupWeights([0, 0, 0], { tau: 0.01 }), [1, 1, 1], 1e-15);
});

Deno.test("xDr weights: masked candidates get 0, the rest sum to the number of valid candidates", () => {
  const u = [1, 0, 0.5, 2];
  const valid = [1, 1, 1, 0];
  const w = xdrGroupWeights(u, { tau: 1, valid });
  const e = [Math.exp(1), 1, Math.exp(0.5)];
  assertClose(w, [...e.map((x) => (3 * x) / sum(e)), 0], 1e-12);
  assertClose(sum(w), 3, 1e-12);
  // the masked candidate holds the largest utility but is not in the arg-max set
  assertEquals(xdrGroupWeights(u, { tau: 0, valid }), [3, 0, 0, 0]);
  assertEquals(xdrGroupWeights(u, { tau: Infinity, valid: [true, false, true, false] }), [1, 0, 1, 0]);
  assertEquals(xdrGroupWeights(u, { tau: 0.5, valid: [0, 0, 0, 0] }), [0, 0, 0, 0]);
});

Deno.test("xDr weights: reference tilt K·softmax(U/(τ+λ) + (λ/(τ+λ))·s) by hand, and its limits", () => {
  const u = [0.2, -0.2, 0.1];
  const s = [-1.5, -0.3, -2.0];
  const tau = 0.1, lambda = 0.3;
  const logits = u.map((x, i) => x / (tau + lambda) + (lambda / (tau + lambda)) * s[i]);
  const m = Math.max(...logits);
  const e = logits.map((z) => Math.exp(z - m));
  assertClose(xdrGroupWeights(u, { tau, refTilt: lambda, refScores: s }), e.map((x) => (3 * x) / sum(e)), 1e-12);
  // λ = 0 ignores s; τ = ∞ ignores everything
  assertClose(xdrGroupWeights(u, { tau, refTilt: 0, refScores: s }), xdrGroupWeights(u, { tau }), 1e-15);
  assertEquals(xdrGroupWeights(u, { tau: Infinity, refTilt: lambda, refScores: s }), [1, 1, 1]);
  // λ → ∞ (relative to U): w → K·softmax(s)
  const es = s.map((x) => Math.exp(x));
  assertClose(
    xdrGroupWeights(u, { tau: 0, refTilt: 1e7, refScores: s }),
    es.map((x) => (3 * x) / sum(es)),
    1e-6,
  );
  assertThrows(() => xdrGroupWeights(u, { tau, refTilt: 0.1 }), MaxentError, "reference scores");
  assertThrows(() => xdrGroupWeights(u, { tau: -1 }), MaxentError, "xdr_tau");
  assertThrows(() => xdrGroupWeights(u, { tau: NaN }), MaxentError, "xdr_tau");
});

Deno.test("xDr weights over a batch: per group, from advantages and lengths", () => {
  // group 1: A = [0.5, -0.5], T = [4, 4] → U = [0.5, -0.5]; group 2: A = [0.5, -0.5], T = [2, 8] → U = [0.25, -1]
  const w = xdrWeights([0.5, -0.5, 0.5, -0.5], [4, 4, 2, 8], 2, 4, { tau: 0.5 });
  const g1 = [Math.exp(1), Math.exp(-1)];
  const g2 = [Math.exp(0.5), Math.exp(-2)];
  assertClose(w, [...g1.map((x) => (2 * x) / sum(g1)), ...g2.map((x) => (2 * x) / sum(g2))], 1e-12);
  assertEquals(xdrWeights([0.5, -0.5, 0.5, -0.5], [4, 4, 2, 8], 2, 4, { tau: 0, valid: [1, 1, 0, 1] }), [2, 0, 0, 1]);
  assertThrows(() => xdrWeights([1, 2, 3], [1, 1, 1], 2, 4, { tau: 1 }), MaxentError, "groups");
});

// A small batch: N = 4 candidates (one group), T = 5 positions, ratios inside and outside the clip range.
function batch() {
  const logProbs = [
    [-1.2, -0.7, -2.0, -0.3, -1.0],
    [-0.5, -1.5, -0.9, -2.2, -0.1],
    [-2.5, -0.2, -1.1, -0.6, -1.3],
    [-0.8, -0.9, -1.4, -1.0, -0.4],
  ];
  const oldLogProbs = [
    [-1.0, -0.9, -1.5, -0.3, -1.4],
    [-0.6, -1.2, -0.9, -2.6, -0.3],
    [-2.0, -0.5, -1.0, -0.7, -1.0],
    [-0.7, -1.2, -1.1, -0.8, -0.5],
  ];
  const refLogProbs = logProbs.map((r) => r.map((x) => x - 0.1));
  const mask = [[1, 1, 1, 1, 0], [1, 1, 1, 1, 1], [1, 1, 0, 0, 0], [1, 1, 1, 0, 0]];
  const rewards = [1, 0, 1, 0];
  const advantages = drGrpoAdvantages(rewards, 4);
  const lengths = mask.map((r) => sum(r));
  return { logProbs, oldLogProbs, refLogProbs, mask, advantages, lengths };
}

// Independent float64 reference of the weighted Dr.GRPO loss.
function naiveLoss(
  lp: number[][],
  old: number[][],
  ref: number[][] | undefined,
  mask: number[][],
  adv: number[],
  w: number[],
  beta: number,
  eps: number,
  tMax: number,
): number {
  let total = 0;
  for (let i = 0; i < lp.length; i++) {
    for (let t = 0; t < lp[i].length; t++) {
      if (!mask[i][t]) continue;
      const rho = Math.exp(lp[i][t] - old[i][t]);
      const clipped = Math.min(Math.max(rho, 1 - eps), 1 + eps);
      let l = w[i] * -Math.min(rho * adv[i], clipped * adv[i]);
      if (beta !== 0 && ref) {
        const d = ref[i][t] - lp[i][t];
        l += beta * (Math.exp(d) - d - 1);
      }
      total += l;
    }
  }
  return total / (lp.length * tMax);
}

Deno.test("xDr loss: τ = ∞ equals the dr_grpo loss of grpo.ts exactly (null weights and all-ones weights)", () => {
  const b = batch();
  const before = tf.memory().numTensors;
  tf.tidy(() => {
    for (const beta of [0, 0.04]) {
      const common = {
        logProbs: tf.tensor2d(b.logProbs),
        oldLogProbs: tf.tensor2d(b.oldLogProbs),
        refLogProbs: tf.tensor2d(b.refLogProbs),
        mask: tf.tensor2d(b.mask),
        advantages: b.advantages,
        beta,
        epsilon: 0.2,
        maxCompletionLength: 8,
      };
      const dr = grpoTokenLoss({ ...common, lossType: "dr_grpo" });
      const skip = xdrTokenLoss({ ...common, weights: null });
      const ones = xdrTokenLoss({ ...common, weights: xdrWeights(b.advantages, b.lengths, 4, 8, { tau: Infinity }) });
      const drValue = dr.loss.dataSync()[0];
      assertEquals(skip.loss.dataSync()[0], drValue);
      assertEquals(ones.loss.dataSync()[0], drValue);
      assertEquals(ones.metrics, dr.metrics);
      assert(drValue !== 0);
    }
  });
  assertEquals(tf.memory().numTensors, before);
});

Deno.test("xDr loss: finite τ and τ = 0 match a float64 reference of Σ w_i·surrogate_i / (N·T_max) + β·KL", () => {
  const b = batch();
  for (const tau of [0, 0.05, 1]) {
    for (const beta of [0, 0.04]) {
      const w = xdrWeights(b.advantages, b.lengths, 4, 8, { tau });
      const value = tf.tidy(() =>
        xdrTokenLoss({
          logProbs: tf.tensor2d(b.logProbs),
          oldLogProbs: tf.tensor2d(b.oldLogProbs),
          refLogProbs: tf.tensor2d(b.refLogProbs),
          mask: tf.tensor2d(b.mask),
          advantages: b.advantages,
          beta,
          epsilon: 0.2,
          maxCompletionLength: 8,
          weights: w,
        }).loss.dataSync()[0]
      );
      const expected = naiveLoss(b.logProbs, b.oldLogProbs, b.refLogProbs, b.mask, b.advantages, w, beta, 0.2, 8);
      assertClose(value, expected, 1e-6, `τ=${tau} β=${beta}`);
    }
  }
  // τ = 0 with exact ties: the two correct candidates (same A, lengths 4 and 2 → U differ) — only the longest wins
  assertEquals(xdrWeights(b.advantages, b.lengths, 4, 8, { tau: 0 }), [4, 0, 0, 0]);
});

Deno.test("xDr loss: gradient w.r.t. log π_θ matches central finite differences", () => {
  const b = batch();
  const w = xdrWeights(b.advantages, b.lengths, 4, 8, { tau: 0.3 });
  const beta = 0.04;
  const lossOf = (lp: tf.Tensor2D) =>
    xdrTokenLoss({
      logProbs: lp,
      oldLogProbs: tf.tensor2d(b.oldLogProbs),
      refLogProbs: tf.tensor2d(b.refLogProbs),
      mask: tf.tensor2d(b.mask),
      advantages: b.advantages,
      beta,
      epsilon: 0.2,
      maxCompletionLength: 8,
      weights: w,
      withMetrics: false,
    }).loss;
  const grad = tf.tidy(() =>
    tf.grad((lp: tf.Tensor) => lossOf(lp as tf.Tensor2D))(tf.tensor2d(b.logProbs)).arraySync()
  );
  const h = 1e-6;
  for (let i = 0; i < 4; i++) {
    for (let t = 0; t < 5; t++) {
      const f = (delta: number) => {
        const lp = b.logProbs.map((r) => r.slice());
        lp[i][t] += delta;
        return naiveLoss(lp, b.oldLogProbs, b.refLogProbs, b.mask, b.advantages, w, beta, 0.2, 8);
      };
      const fd = (f(h) - f(-h)) / (2 * h);
      assertClose((grad as number[][])[i][t], fd, 1e-5, `d/dlp[${i}][${t}]`);
    }
  }
  // a padding token gets no gradient
  assertEquals((grad as number[][])[0][4], 0);
});

Deno.test("maxent weights --algorithm xdr: τ default ∞ (all ones), finite τ, τ = inf, τ = 0, reference tilt", async () => {
  const base = ["weights", "--algorithm", "xdr", "--advantages", "0.5,-0.5,0.5,-0.5", "--lengths", "4,4,2,8"];
  const run = async (extra: string[]) => {
    const r = await runCli([...base, "--t-max", "8", ...extra, "--json"]);
    assertEquals(r.code, 0, r.err);
    return JSON.parse(r.out) as { utilities: number[]; weights: number[]; ref_scores: number[] | null; ess: number };
  };
  const dflt = await run([]);
  assertEquals(dflt.utilities, [0.25, -0.25, 0.125, -0.5]);
  assertEquals(dflt.weights, [1, 1, 1, 1]);
  assertEquals((await run(["--tau", "inf"])).weights, [1, 1, 1, 1]);
  assertEquals((await run(["--tau", "0"])).weights, [4, 0, 0, 0]);
  const e = [0.25, -0.25, 0.125, -0.5].map((u) => Math.exp(u / 0.1));
  assertClose((await run(["--tau", "0.1"])).weights, e.map((x) => (4 * x) / sum(e)), 1e-12);
  // tilt: s = ref log-prob sums / lengths = [-1, -2, -1, -2]; τ = 0, λ = 0.5 → softmax(U/0.5 + s)
  const tilt = await run(["--tau", "0", "--ref-tilt", "0.5", "--ref-logprobs", "-4,-8,-2,-16"]);
  assertEquals(tilt.ref_scores, [-1, -2, -1, -2]);
  const z = [0.25, -0.25, 0.125, -0.5].map((u, i) => Math.exp(u / 0.5 + [-1, -2, -1, -2][i]));
  assertClose(tilt.weights, z.map((x) => (4 * x) / sum(z)), 1e-12);
  const table = await runCli([...base, "--t-max", "8", "--tau", "0.1"]);
  assertEquals(table.code, 0, table.err);
  assert(table.out.includes("xDr.GRPO weights for K = 4") && table.out.includes("Σw = 4.000000"), table.out);
  for (
    const [extra, flag] of [
      [["--t-max", "0"], "--t-max"],
      [[], "--t-max"],
      [["--t-max", "8", "--tau", "-1"], "--tau"],
      [["--t-max", "8", "--tau", "0.1", "--ref-tilt", "1"], "--ref-logprobs"],
      [["--t-max", "8", "--lengths", "4,4"], "--lengths"],
    ] as const
  ) {
    const r = await runCli([...base, ...extra]);
    assertEquals(r.code, 2, `${extra.join(" ")}: ${r.err}`);
    assert(r.err.includes(flag), r.err);
  }
  const noAdv = await runCli(["weights", "--algorithm", "xdr", "--lengths", "1,2", "--t-max", "4"]);
  assertEquals(noAdv.code, 2);
  assert(noAdv.err.includes("--advantages"), noAdv.err);
  const badAlg = await runCli(["weights", "--algorithm", "ppo", "--utilities", "1,0"]);
  assertEquals(badAlg.code, 2);
  assert(badAlg.err.includes("--algorithm"), badAlg.err);
});
