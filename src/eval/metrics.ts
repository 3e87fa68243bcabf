/**
 * Multi-answer evaluation metrics (the paper's ModeBench): per prompt, from n sampled answers (checked and mapped to
 * their answer modes) and one greedy answer — `pass@1` (greedy), `pass@k`, `mean@k`, `distinct@k`, `coverage@k` —
 * their aggregation over prompts and evaluation seeds, and a paired bootstrap for the difference of two arms.
 *
 * With n = k samples the @k metrics are the plain counts (pass@k: any correct; distinct@k: distinct correct modes).
 * With n > k samples they are the unbiased estimates over a random k-subset of the n (Chen et al. 2021, "Evaluating
 * Large Language Models Trained on Code"): pass@k = 1 − C(n−c, k)/C(n, k), and, by linearity over modes,
 * distinct@k = Σ_modes [1 − C(n−c_m, k)/C(n, k)] with c_m the samples in mode m.
 */
import { MaxentError } from "../errors.ts";
import { mulberry32 } from "../data/shuffle.ts";

/**
 * The unbiased pass@k estimator from n samples of which c are correct, computed stably as a product:
 *
 * pass@k = 1 − C(n−c, k)/C(n, k) = 1 − Π_{i=n−c+1}^{n} (1 − k/i)    (1 when n − c < k)
 *
 * @example
 * ```ts
 * passAtK(8, 1, 8); // 1
 * passAtK(4, 1, 2); // 0.5
 * ```
 */
export function passAtK(n: number, c: number, k: number): number {
  if (!Number.isInteger(n) || !Number.isInteger(c) || !Number.isInteger(k) || n < 1 || k < 1 || c < 0 || c > n) {
    throw new MaxentError(`pass@k needs integers n ≥ 1, 0 ≤ c ≤ n, k ≥ 1; got n=${n}, c=${c}, k=${k}`);
  }
  if (k > n) throw new MaxentError(`pass@${k} needs at least ${k} samples per prompt, got ${n}`);
  if (n - c < k) return 1;
  let prod = 1;
  for (let i = n - c + 1; i <= n; i++) prod *= 1 - k / i;
  return 1 - prod;
}

/** The evaluated answers of one prompt. */
export interface PromptSamples {
  /**
   * The answer mode of each of the n sampled completions: the canonical mode for a correct answer, null for a wrong
   * or malformed one (e.g. `countdownAnswerMode` / `colouringAnswerMode` of src/tasks).
   */
  sampleModes: (string | null)[];
  /** Whether the greedy completion is correct (unset: no greedy answer evaluated; pass@1 is then null). */
  greedyCorrect?: boolean;
  /** The number of valid answer modes of the prompt (the `num_modes` column). */
  numModes: number;
}

/** The metrics of one prompt. */
export interface PromptMetrics {
  /** Greedy answer correct (1/0); null without a greedy answer. */
  pass1: number | null;
  /** pass@k. */
  passK: number;
  /** mean@k: the fraction of correct samples, c/n. */
  meanK: number;
  /** distinct@k: (expected) number of distinct correct modes among k samples. */
  distinctK: number;
  /** coverage@k = distinct@k / numModes. */
  coverageK: number;
}

/**
 * The metrics of one prompt from its n ≥ k samples.
 *
 * @param k the k of the @k metrics (default: n, the number of samples).
 * @example
 * ```ts
 * promptMetrics({ sampleModes: ["a", "a", null, "b"], greedyCorrect: true, numModes: 4 });
 * // { pass1: 1, passK: 1, meanK: 0.75, distinctK: 2, coverageK: 0.5 }
 * ```
 */
export function promptMetrics(samples: PromptSamples, k?: number): PromptMetrics {
  const n = samples.sampleModes.length;
  const kk = k ?? n;
  if (n === 0) throw new MaxentError("a prompt needs at least one sampled answer");
  if (!(Number.isInteger(samples.numModes) && samples.numModes >= 1)) {
    throw new MaxentError(`numModes must be an integer ≥ 1, got ${samples.numModes}`);
  }
  const perMode = new Map<string, number>();
  let c = 0;
  for (const m of samples.sampleModes) {
    if (m === null) continue;
    c++;
    perMode.set(m, (perMode.get(m) ?? 0) + 1);
  }
  // distinct@k = Σ_m P(mode m among a random k-subset) = Σ_m pass@k(n, c_m, k)
  let distinct = 0;
  for (const cm of perMode.values()) distinct += passAtK(n, cm, kk);
  return {
    pass1: samples.greedyCorrect === undefined ? null : samples.greedyCorrect ? 1 : 0,
    passK: passAtK(n, c, kk),
    meanK: c / n,
    distinctK: distinct,
    coverageK: distinct / samples.numModes,
  };
}

/** The names of the per-prompt metrics, in report order. */
export const METRIC_NAMES = ["pass1", "passK", "meanK", "distinctK", "coverageK"] as const;
/** One metric name. */
export type MetricName = (typeof METRIC_NAMES)[number];

/** Metric means over prompts: overall (all seeds × prompts), and per evaluation seed. */
export interface AggregateMetrics {
  /** Mean of each metric over every (seed, prompt); pass1 is null when no prompt had a greedy answer. */
  mean: Record<MetricName, number | null>;
  /** Per evaluation seed, the mean over prompts. */
  perSeed: Record<MetricName, number | null>[];
  /** Number of evaluation seeds and prompts. */
  seeds: number;
  prompts: number;
}

function meanOf(xs: (number | null)[]): number | null {
  const v = xs.filter((x): x is number => x !== null);
  return v.length === 0 ? null : v.reduce((a, b) => a + b, 0) / v.length;
}

/**
 * Aggregates per-prompt metrics over prompts and evaluation seeds.
 *
 * @param bySeed `bySeed[s][p]`: the metrics of prompt p under evaluation seed s (every seed, the same prompts).
 */
export function aggregateMetrics(bySeed: PromptMetrics[][]): AggregateMetrics {
  if (bySeed.length === 0 || bySeed[0].length === 0) throw new MaxentError("no evaluated prompts to aggregate");
  const prompts = bySeed[0].length;
  if (bySeed.some((s) => s.length !== prompts)) {
    throw new MaxentError("every evaluation seed must cover the same prompts");
  }
  const pick = (rows: PromptMetrics[], name: MetricName) => meanOf(rows.map((r) => r[name]));
  const summary = (rows: PromptMetrics[]) =>
    Object.fromEntries(METRIC_NAMES.map((m) => [m, pick(rows, m)])) as Record<MetricName, number | null>;
  return { mean: summary(bySeed.flat()), perSeed: bySeed.map(summary), seeds: bySeed.length, prompts };
}

/** Options of {@linkcode pairedBootstrap}. */
export interface BootstrapOptions {
  /** Bootstrap resamples (default 2000). */
  resamples?: number;
  /** Seed of the resampling (mulberry32; default 0). */
  seed?: number;
  /** Confidence level of the percentile interval (default 0.95). */
  level?: number;
}

/** A difference of two arms with its bootstrap percentile interval. */
export interface BootstrapResult {
  /** mean over seeds and prompts of (a − b). */
  meanDiff: number;
  /** Lower and upper ends of the percentile interval. */
  low: number;
  high: number;
  /** Resamples used. */
  resamples: number;
}

/**
 * Paired bootstrap of the difference between two arms evaluated on the same prompts and seeds: each resample draws
 * seeds (rows) and prompts (columns) independently with replacement and takes the mean of a[s][p] − b[s][p] over the
 * drawn pairs; the interval is the (1−level)/2 and (1+level)/2 percentiles (linear interpolation between order
 * statistics) of the resampled means.
 *
 * @param a `a[s][p]`: a per-prompt metric of arm A under seed s (seed = a training seed × evaluation seed run).
 * @param b the same metric of arm B, paired with `a` entry by entry.
 * @example
 * ```ts
 * pairedBootstrap([[1, 1, 0]], [[0, 1, 0]], { seed: 1 }).meanDiff; // 1/3
 * ```
 */
export function pairedBootstrap(a: number[][], b: number[][], opts: BootstrapOptions = {}): BootstrapResult {
  const resamples = opts.resamples ?? 2000;
  const level = opts.level ?? 0.95;
  if (!(Number.isInteger(resamples) && resamples >= 1)) throw new MaxentError(`resamples must be ≥ 1`);
  if (!(level > 0 && level < 1)) throw new MaxentError(`level must be in (0, 1), got ${level}`);
  const seeds = a.length;
  if (seeds === 0 || b.length !== seeds) throw new MaxentError("both arms need the same, non-zero number of seeds");
  const prompts = a[0].length;
  if (prompts === 0) throw new MaxentError("no prompts to bootstrap");
  const d = a.map((row, s) => {
    if (row.length !== prompts || b[s].length !== prompts) {
      throw new MaxentError("both arms need the same prompts under every seed");
    }
    return row.map((x, p) => {
      const v = x - b[s][p];
      if (!Number.isFinite(v)) throw new MaxentError(`non-finite metric at seed ${s}, prompt ${p}`);
      return v;
    });
  });
  const meanDiff = d.flat().reduce((x, y) => x + y, 0) / (seeds * prompts);
  const next = mulberry32(opts.seed ?? 0);
  const below = (n: number) => Math.floor((next() / 0x1_0000_0000) * n);
  const stats = new Float64Array(resamples);
  const ss = new Int32Array(seeds), pp = new Int32Array(prompts);
  for (let r = 0; r < resamples; r++) {
    for (let i = 0; i < seeds; i++) ss[i] = below(seeds);
    for (let j = 0; j < prompts; j++) pp[j] = below(prompts);
    let total = 0;
    for (let i = 0; i < seeds; i++) {
      const row = d[ss[i]];
      for (let j = 0; j < prompts; j++) total += row[pp[j]];
    }
    stats[r] = total / (seeds * prompts);
  }
  stats.sort();
  return { meanDiff, low: quantile(stats, (1 - level) / 2), high: quantile(stats, (1 + level) / 2), resamples };
}

// The q-quantile of sorted values, linear interpolation between order statistics (R type 7 / numpy default).
function quantile(sorted: Float64Array, q: number): number {
  const h = (sorted.length - 1) * q;
  const lo = Math.floor(h), hi = Math.ceil(h);
  return sorted[lo] + (h - lo) * (sorted[hi] - sorted[lo]);
}
