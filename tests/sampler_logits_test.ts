import { assert, assertClose, assertEquals } from "./assert.ts";
import {
  applyMinP,
  applyRepetitionPenalty,
  applyTopK,
  applyTopP,
  kthLargest,
  nucleusBoundary,
  PLAIN_SAMPLING,
  processLogits,
  SamplerScratch,
  sampleToken,
  type SamplingParams,
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

/**
 * sampleToken written naively (the reference for bit-exactness): float32 scores, e_i = Math.exp(s_i − max) in
 * float64, top-k and top-p by sorting (descending e, ties by index; keep while the mass before < top_p · Σ e),
 * min-p, z = Σ kept e in index order, inverse CDF in index order.
 */
function naiveSampleToken(logits: Float32Array, p: SamplingParams, u: number, seen: number[]) {
  const V = logits.length;
  const s = Float32Array.from(logits);
  applyRepetitionPenalty(s, seen, p.repetitionPenalty);
  if (p.temperature === 0) {
    const best = s.indexOf(Math.max(...s));
    const m = s[best];
    let z = 0;
    for (let j = 0; j < V; j++) if (s[j] !== -Infinity) z += Math.exp(s[j] - m);
    return { token: best, logprob: s[best] - m - Math.log(z) };
  }
  if (p.temperature !== 1) { for (let i = 0; i < V; i++) s[i] /= p.temperature; }
  if (p.topK > 0 && p.topK < V) {
    const kth = Array.from(s).sort((a, b) => b - a)[p.topK - 1];
    for (let i = 0; i < V; i++) if (s[i] < kth) s[i] = -Infinity;
  }
  const max = Math.max(...s);
  const e = Array.from(s, (x) => (x === -Infinity ? 0 : Math.exp(x - max)));
  const keep = e.map((x) => x > 0);
  if (p.topP < 1) {
    const z = e.reduce((a, b) => a + b, 0);
    const order = e.map((_, i) => i).filter((i) => e[i] > 0).sort((a, b) => e[b] - e[a] || a - b);
    let before = 0;
    for (const i of order) {
      keep[i] = before < p.topP * z;
      before += e[i];
    }
  }
  for (let i = 0; i < V; i++) if (e[i] < p.minP) keep[i] = false;
  let z = 0;
  for (let i = 0; i < V; i++) if (keep[i]) z += e[i];
  const target = u * z;
  let acc = 0, token = -1, last = -1;
  for (let i = 0; i < V; i++) {
    if (!keep[i]) continue;
    last = i;
    acc += e[i];
    if (target < acc) {
      token = i;
      break;
    }
  }
  if (token < 0) token = last;
  return { token, logprob: Math.log(e[token] / z) };
}

/** Logits with many exact ties: values from a small set (so the nucleus boundary often falls inside a run). */
function tiedLogits(n: number, seed: number, levels: number): Float32Array {
  const r = randomLogits(n, seed, 1);
  return Float32Array.from(r, (x) => Math.round((x + 1) * levels) / levels);
}

Deno.test("sampleToken is bit-identical to a naive sort-based transcription (tokens and log-probs)", () => {
  const settings: SamplingParams[] = [
    PLAIN_SAMPLING,
    { ...PLAIN_SAMPLING, topP: 0.9 },
    { ...PLAIN_SAMPLING, temperature: 0.7, topP: 0.95 },
    { ...PLAIN_SAMPLING, temperature: 1.3, minP: 0.1 },
    { temperature: 0.6, topP: 0.8, topK: 40, minP: 0.02, repetitionPenalty: 1.2 },
    { ...PLAIN_SAMPLING, temperature: 0, repetitionPenalty: 1.3 },
  ];
  const scratch = new SamplerScratch();
  let draws = 0;
  for (const [n, seed, scale] of [[1001, 31, 1], [2999, 32, 6], [5000, 33, 15], [702, 34, 40]]) {
    const x = randomLogits(n, seed, scale);
    const before = Float32Array.from(x);
    const seen = Array.from({ length: 50 }, (_, i) => (i * 37) % n);
    for (const p of settings) {
      for (let i = 0; i < 25; i++) {
        const u = uniform(seed, 1, 0, i);
        const got = sampleToken(x, p, u, seen, scratch);
        const want = naiveSampleToken(x, p, u, seen);
        assertEquals(got, want, `n ${n} seed ${seed} ${JSON.stringify(p)} u ${u}`);
        draws++;
      }
    }
    assertEquals(x, before, "the logits were modified");
  }
  // exact ties at the nucleus boundary: only the first ones (by index) of a run of equal values are kept
  for (const seed of [41, 42, 43, 44]) {
    const x = tiedLogits(400, seed, 3);
    for (const topP of [0.1, 0.35, 0.5, 0.77, 0.9]) {
      for (let i = 0; i < 20; i++) {
        const u = uniform(seed, 2, 0, i);
        const p = { ...PLAIN_SAMPLING, topP };
        assertEquals(sampleToken(x, p, u, [], scratch), naiveSampleToken(x, p, u, []), `ties seed ${seed} p ${topP}`);
        draws++;
      }
      // u close to 1 picks the last kept token: exactly where the run of ties is cut
      const p = { ...PLAIN_SAMPLING, topP };
      assertEquals(sampleToken(x, p, 1 - 1e-12, [], scratch).token, naiveSampleToken(x, p, 1 - 1e-12, []).token);
    }
  }
  assert(draws > 900);
});

/** The nucleus boundary by sorting: (smallest kept value, how many values equal to it are kept). */
function naiveBoundary(e: Float64Array, target: number): { vstar: number; tiesKept: number } {
  const sorted = Array.from(e).filter((x) => x > 0).sort((a, b) => b - a);
  let before = 0, vstar = 0, tiesKept = 0;
  for (const x of sorted) {
    if (!(before < target)) break;
    if (x === vstar) tiesKept++;
    else {
      vstar = x;
      tiesKept = 1;
    }
    before += x;
  }
  return { vstar, tiesKept };
}

Deno.test("nucleusBoundary matches the sorted cumulative sum (spread values, ties, huge ranges, reused scratch)", () => {
  const scratch = new SamplerScratch();
  const rows: Float64Array[] = [];
  for (const seed of [51, 52, 53]) {
    rows.push(Float64Array.from(randomLogits(4000, seed, 4), Math.exp)); // spread over a few octaves
    rows.push(Float64Array.from(tiedLogits(2000, seed, 4), Math.exp)); // long runs of equal values
    rows.push(Float64Array.from(randomLogits(3000, seed, 400), (x) => (x < -300 ? 0 : Math.exp(x)))); // 1e-130 … 1e87
    rows.push(Float64Array.from(randomLogits(1000, seed, 1e-6), (x) => 1 + x)); // one bucket
  }
  for (const e of rows) {
    const z = e.reduce((a, b) => a + b, 0);
    for (const p of [0.01, 0.3, 0.5, 0.9, 0.999]) {
      const got = nucleusBoundary(e, p * z, scratch);
      const want = naiveBoundary(e, p * z);
      assertEquals({ vstar: got.vstar, tiesKept: Math.min(got.tiesKept, got.ties) }, want, `p ${p}`);
    }
  }
  // the histogram is left empty between calls
  assert(scratch.bucketMass.every((m) => m === 0) && scratch.bucketCount.every((c) => c === 0));
  // a view that is not 8-byte aligned in its buffer (the DataView path) gives the same answer
  const buf = new Float64Array(1001);
  buf.set(rows[0].subarray(0, 1000), 1);
  const view = buf.subarray(1);
  const z = view.reduce((a, b) => a + b, 0);
  assertEquals(nucleusBoundary(view, 0.6 * z, scratch), nucleusBoundary(Float64Array.from(view), 0.6 * z, scratch));
});

Deno.test("a scratch reused across vocabulary sizes and settings gives the same draws as a fresh one", () => {
  const shared = new SamplerScratch();
  for (const [n, seed] of [[50, 61], [5000, 62], [300, 63], [6000, 64]]) {
    const x = randomLogits(n, seed, 5);
    for (const p of [{ ...PLAIN_SAMPLING, topP: 0.7 }, { ...PLAIN_SAMPLING, temperature: 0.5, topK: 10 }]) {
      const u = uniform(seed, 0, 0, 0);
      assertEquals(sampleToken(x, p, u, [], shared), sampleToken(x, p, u, [], new SamplerScratch()));
    }
  }
});

Deno.test("sampleToken matches the naive transcription on small random rows (−∞, ties, tiny and huge ranges)", () => {
  let state = 7;
  const r = () => (state = (Math.imul(state, 1664525) + 1013904223) >>> 0) / 2 ** 32;
  const pick = <T>(xs: T[]) => xs[Math.floor(r() * xs.length)];
  const scratch = new SamplerScratch();
  for (let it = 0; it < 600; it++) {
    const V = 1 + Math.floor(r() * 200);
    const kind = it % 5;
    const x = Float32Array.from(
      { length: V },
      () =>
        kind === 0
          ? (r() - 0.5) * 10
          : kind === 1
          ? Math.round(r() * 4)
          : kind === 2
          ? (r() < 0.2 ? -Infinity : (r() - 0.5) * 50)
          : kind === 3
          ? (r() - 0.5) * 1e-6
          : (r() - 0.5) * 200,
    );
    if (x.every((v) => v === -Infinity)) x[0] = 0;
    const p: SamplingParams = {
      temperature: pick([0, 1, 0.7, 1.5]),
      topP: pick([1, 0.9, 0.5, 0.1, 0.999]),
      topK: pick([0, 1, 5, 50, 400]),
      minP: pick([0, 0, 0.05, 0.5]),
      repetitionPenalty: pick([1, 1, 1.3]),
    };
    const seen = Array.from({ length: 10 }, () => Math.floor(r() * V));
    for (const u of [r(), 0, 1 - 1e-16]) {
      assertEquals(sampleToken(x, p, u, seen, scratch), naiveSampleToken(x, p, u, seen), `${it} ${JSON.stringify(p)}`);
    }
  }
});
