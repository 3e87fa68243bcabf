import { assert, assertClose, assertEquals } from "./assert.ts";
import {
  applyMinP,
  applyRepetitionPenalty,
  applyTopK,
  applyTopP,
  kthLargest,
  PLAIN_SAMPLING,
  processLogits,
  sampleToken,
} from "../src/sampler/logits.ts";
import { uniform } from "../src/sampler/rng.ts";

/** Deterministic pseudo-random logits (a small LCG, independent of the code under test). */
function randomLogits(n: number, seed: number, scale = 3): Float32Array {
  let s = seed >>> 0;
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    out[i] = (s / 2 ** 32 - 0.5) * 2 * scale;
  }
  return out;
}

function softmax(xs: ArrayLike<number>): number[] {
  const m = Math.max(...Array.from(xs));
  const e = Array.from(xs, (x) => (x === -Infinity ? 0 : Math.exp(x - m)));
  const z = e.reduce((a, b) => a + b, 0);
  return e.map((v) => v / z);
}

/** HF TopPLogitsWarper, written naively: sort ascending, cumulative sum, drop cumsum ≤ 1 − p (keep the last). */
function naiveTopPKeep(scores: Float32Array, p: number): Set<number> {
  const probs = softmax(scores);
  const order = Array.from(scores.keys()).sort((a, b) => probs[a] - probs[b] || b - a);
  const keep = new Set<number>();
  let cum = 0;
  order.forEach((i, rank) => {
    cum += probs[i];
    if (cum > 1 - p || rank === order.length - 1) keep.add(i);
  });
  return keep;
}

const finiteSet = (s: Float32Array) => new Set(Array.from(s.keys()).filter((i) => s[i] !== -Infinity));

Deno.test("top-k keeps exactly the k largest (and ties at the k-th)", () => {
  for (const seed of [1, 2, 3]) {
    const x = randomLogits(500, seed);
    const sorted = Array.from(x).sort((a, b) => b - a);
    for (const k of [1, 5, 50, 499]) {
      assertEquals(kthLargest(x, k), sorted[k - 1]);
      const s = Float32Array.from(x);
      applyTopK(s, k);
      assertEquals(finiteSet(s).size, k);
      for (const i of finiteSet(s)) assert(x[i] >= sorted[k - 1]);
    }
  }
  const ties = new Float32Array([1, 3, 3, 2, 3]);
  applyTopK(ties, 2);
  assertEquals([...finiteSet(ties)], [1, 2, 4]);
});

Deno.test("top-p keeps exactly HF's nucleus", () => {
  for (const seed of [4, 5, 6, 7]) {
    for (const scale of [0.5, 3, 12]) {
      const x = randomLogits(2000, seed, scale);
      for (const p of [0.05, 0.5, 0.9, 0.99]) {
        const s = Float32Array.from(x);
        applyTopP(s, p);
        assertEquals(finiteSet(s), naiveTopPKeep(x, p), `seed ${seed} scale ${scale} p ${p}`);
      }
    }
  }
});

Deno.test("min-p drops tokens below min_p × the top probability", () => {
  const x = randomLogits(300, 9);
  const probs = softmax(x);
  const top = Math.max(...probs);
  const s = Float32Array.from(x);
  applyMinP(s, 0.1);
  const expected = new Set(probs.flatMap((p, i) => (p >= 0.1 * top ? [i] : [])));
  assertEquals(finiteSet(s), expected);
});

Deno.test("repetition penalty divides positive and multiplies negative scores of seen tokens once", () => {
  const s = new Float32Array([2, -2, 1, 0.5]);
  applyRepetitionPenalty(s, [0, 1, 1, 3], 2);
  assertEquals(Array.from(s), [1, -4, 1, 0.25]);
});

Deno.test("greedy sampling is the arg-max, with the model's log-prob", () => {
  const x = randomLogits(100, 11);
  const r = sampleToken(x, { ...PLAIN_SAMPLING, temperature: 0 }, 0.99);
  const best = Array.from(x).indexOf(Math.max(...x));
  assertEquals(r.token, best);
  assertClose(r.logprob, Math.log(softmax(x)[best]), 1e-6);
});

Deno.test("sampled frequencies match the processed distribution (chi-square)", () => {
  const x = new Float32Array([1.0, 0.2, -0.5, 2.0, 0.0, -3.0, 1.5, 0.7]);
  const params = { ...PLAIN_SAMPLING, temperature: 0.7, topK: 6, topP: 0.95 };
  const target = softmax(processLogits(x, params));
  const n = 40_000;
  const counts = new Array(x.length).fill(0);
  for (let i = 0; i < n; i++) {
    const r = sampleToken(x, params, uniform(3, 0, 0, i));
    counts[r.token]++;
    assertClose(r.logprob, Math.log(target[r.token]), 1e-6);
  }
  let chi2 = 0, df = -1;
  target.forEach((p, i) => {
    if (p === 0) assertEquals(counts[i], 0, `masked token ${i} was sampled`);
    else {
      chi2 += (counts[i] - n * p) ** 2 / (n * p);
      df++;
    }
  });
  // 0.999 quantile of chi-square: df 4 → 18.5, df 5 → 20.5; allow the larger
  assert(df >= 3 && chi2 < 20.5, `chi2 ${chi2} with ${df} degrees of freedom`);
});

Deno.test("temperature 1 without truncation samples from softmax(logits) and reports its log-prob", () => {
  const x = randomLogits(50, 12);
  const probs = softmax(x);
  for (let i = 0; i < 200; i++) {
    const r = sampleToken(x, PLAIN_SAMPLING, uniform(9, 1, 2, i));
    assertClose(r.logprob, Math.log(probs[r.token]), 1e-6);
  }
});

Deno.test("sampleToken keeps exactly the nucleus of processLogits (never samples a masked token)", () => {
  for (const seed of [21, 22, 23]) {
    const x = randomLogits(3000, seed, 4);
    for (
      const params of [
        { ...PLAIN_SAMPLING, topP: 0.3 },
        { ...PLAIN_SAMPLING, temperature: 0.5, topP: 0.8, minP: 0.05 },
        { ...PLAIN_SAMPLING, topK: 40, topP: 0.9 },
      ]
    ) {
      const kept = finiteSet(processLogits(x, params));
      const target = softmax(processLogits(x, params));
      const drawn = new Set<number>();
      for (let i = 0; i < 400; i++) {
        const r = sampleToken(x, params, uniform(seed, 0, 0, i));
        assert(kept.has(r.token), `sampled masked token ${r.token}`);
        assertClose(r.logprob, Math.log(target[r.token]), 1e-6);
        drawn.add(r.token);
      }
      // u close to 1 picks the last kept token in index order: the boundary is exact
      const last = Math.max(...kept);
      assertEquals(sampleToken(x, params, 1 - 1e-15).token, last);
      assert(drawn.size > 1);
    }
  }
});
