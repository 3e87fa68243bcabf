import { assert, assertClose, assertEquals, assertThrows } from "./assert.ts";
import { aggregateMetrics, pairedBootstrap, passAtK, promptMetrics } from "../src/eval/metrics.ts";
import { MaxentError } from "../src/errors.ts";

function choose(n: number, k: number): number {
  if (k < 0 || k > n) return 0;
  let r = 1;
  for (let i = 1; i <= k; i++) r = (r * (n - k + i)) / i;
  return r;
}

// All k-subsets of 0..n−1.
function subsets(n: number, k: number): number[][] {
  if (k === 0) return [[]];
  if (n < k) return [];
  return [...subsets(n - 1, k - 1).map((s) => [...s, n - 1]), ...subsets(n - 1, k)];
}

Deno.test("pass@k: hand values and the binomial formula 1 − C(n−c,k)/C(n,k)", () => {
  assertClose(passAtK(5, 2, 2), 1 - 3 / 10, 1e-15);
  assertClose(passAtK(4, 1, 2), 0.5, 1e-15);
  assertEquals(passAtK(8, 0, 8), 0);
  assertEquals(passAtK(8, 1, 8), 1);
  assertClose(passAtK(8, 3, 1), 3 / 8, 1e-15);
  for (let n = 1; n <= 12; n++) {
    for (let c = 0; c <= n; c++) {
      for (let k = 1; k <= n; k++) assertClose(passAtK(n, c, k), 1 - choose(n - c, k) / choose(n, k), 1e-12);
    }
  }
  // stable for large n (the binomials overflow doubles)
  assertClose(passAtK(2000, 1000, 100), 1, 1e-12);
  assertClose(passAtK(2000, 1, 100), 100 / 2000, 1e-12);
  assertThrows(() => passAtK(4, 1, 5), MaxentError, "at least 5");
  assertThrows(() => passAtK(4, 5, 2), MaxentError);
});

Deno.test("prompt metrics from k = 8 samples and a greedy answer, by hand", () => {
  const m = promptMetrics({
    sampleModes: ["a", "a", "b", null, null, "a", null, "c"],
    greedyCorrect: false,
    numModes: 4,
  });
  assertEquals(m, { pass1: 0, passK: 1, meanK: 5 / 8, distinctK: 3, coverageK: 3 / 4 });
  const none = promptMetrics({ sampleModes: Array(8).fill(null), greedyCorrect: true, numModes: 2 });
  assertEquals(none, { pass1: 1, passK: 0, meanK: 0, distinctK: 0, coverageK: 0 });
  assertEquals(promptMetrics({ sampleModes: ["x"], numModes: 1 }).pass1, null);
});

Deno.test("prompt metrics with n > k samples: unbiased over k-subsets (checked by enumerating the subsets)", () => {
  // hand value: 4 samples a, ∅, ∅, b; k = 2: pass@2 = 1 − C(2,2)/C(4,2) = 5/6; distinct@2 = 2·(1 − 3/6) = 1
  const m = promptMetrics({ sampleModes: ["a", null, null, "b"], numModes: 3 }, 2);
  assertClose(m.passK, 5 / 6, 1e-15);
  assertClose(m.distinctK, 1, 1e-15);
  assertClose(m.coverageK, 1 / 3, 1e-15);
  assertClose(m.meanK, 0.5, 1e-15);
  // brute force: the mean over every k-subset of (any correct) and (#distinct correct modes)
  const samples = ["a", "b", null, "a", "c", null, "a", "b", null, "d"];
  for (const k of [1, 3, 5, 10]) {
    const subs = subsets(samples.length, k);
    let pass = 0, distinct = 0;
    for (const s of subs) {
      const modes = s.map((i) => samples[i]).filter((x) => x !== null);
      pass += modes.length > 0 ? 1 : 0;
      distinct += new Set(modes).size;
    }
    const got = promptMetrics({ sampleModes: samples, numModes: 5 }, k);
    assertClose(got.passK, pass / subs.length, 1e-12, `pass@${k}`);
    assertClose(got.distinctK, distinct / subs.length, 1e-12, `distinct@${k}`);
    assertClose(got.coverageK, distinct / subs.length / 5, 1e-12, `coverage@${k}`);
  }
});

Deno.test("aggregation over prompts and evaluation seeds, by hand", () => {
  const p = (pass1: number | null, passK: number, meanK: number, distinctK: number, coverageK: number) => ({
    pass1,
    passK,
    meanK,
    distinctK,
    coverageK,
  });
  const agg = aggregateMetrics([
    [p(1, 1, 0.5, 2, 0.5), p(0, 0, 0, 0, 0)],
    [p(1, 1, 0.25, 1, 0.25), p(0, 1, 0.125, 1, 0.5)],
  ]);
  assertEquals(agg.seeds, 2);
  assertEquals(agg.prompts, 2);
  assertEquals(agg.mean, { pass1: 0.5, passK: 0.75, meanK: 0.21875, distinctK: 1, coverageK: 0.3125 });
  assertEquals(agg.perSeed[0], { pass1: 0.5, passK: 0.5, meanK: 0.25, distinctK: 1, coverageK: 0.25 });
  assertEquals(agg.perSeed[1].meanK, 0.1875);
  assertEquals(aggregateMetrics([[p(null, 1, 1, 1, 1)]]).mean.pass1, null);
  assertThrows(() => aggregateMetrics([[p(1, 1, 1, 1, 1)], []]), MaxentError, "same prompts");
});

Deno.test("paired bootstrap: mean difference, percentile interval, resamples prompts and seeds, seeded", () => {
  // constant difference: the interval collapses onto it
  const same = pairedBootstrap([[1, 0.5, 0.25], [0.5, 0.5, 0.5]], [[0.75, 0.25, 0], [0.25, 0.25, 0.25]], { seed: 1 });
  assertClose(same.meanDiff, 0.25, 1e-15);
  assertClose(same.low, 0.25, 1e-12);
  assertClose(same.high, 0.25, 1e-12);
  // one seed, prompt differences [1, 0]: resampled means are 0, 1/2, 1 with probability 1/4, 1/2, 1/4
  const prompts = pairedBootstrap([[1, 0]], [[0, 0]], { seed: 2, resamples: 4000 });
  assertClose(prompts.meanDiff, 0.5, 1e-15);
  assertEquals([prompts.low, prompts.high], [0, 1]);
  // seed differences [1, 0] with identical prompts: only resampling seeds widens the interval
  const seeds = pairedBootstrap([[1, 1], [0, 0]], [[0, 0], [0, 0]], { seed: 3, resamples: 4000 });
  assertEquals([seeds.low, seeds.high], [0, 1]);
  // seeded: same seed, same interval; the interval brackets the mean difference
  const a = [[1, 0, 1, 1, 0, 1], [0, 1, 1, 1, 0, 1]];
  const b = [[0, 0, 1, 0, 0, 1], [0, 0, 1, 1, 0, 0]];
  const r1 = pairedBootstrap(a, b, { seed: 9 });
  assertEquals(r1, pairedBootstrap(a, b, { seed: 9 }));
  assert(r1.low <= r1.meanDiff && r1.meanDiff <= r1.high && r1.low < r1.high);
  assertClose(r1.meanDiff, 4 / 12, 1e-15);
  assertThrows(() => pairedBootstrap([[1, 2]], [[1]]), MaxentError, "same prompts");
  assertThrows(() => pairedBootstrap([[1]], [[1]], { level: 1 }), MaxentError, "level");
});
