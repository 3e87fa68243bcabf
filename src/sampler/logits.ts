/**
 * Turning one row of next-token logits into a sampled token, exactly as Hugging Face `generate` does: repetition
 * penalty, then the warpers temperature → top-k → top-p → min-p, then a draw from the renormalised distribution.
 * Plain loops over a Float32Array row (the vocabulary is 151,936 wide for Qwen), no sort of the whole vocabulary, no
 * allocation per token (reused `SamplerScratch` buffers); the row max is a wasm SIMD kernel where there is one. The
 * exponentials stay `Math.exp` in float64 on purpose: a SIMD exp differs in the last bits, which would move rare
 * draws at a CDF or nucleus boundary and change the sampled tokens of a seed.
 */
import { type RowKernels, simdRowKernels } from "../backend/simd_exp.ts";

/** Sampling settings (TRL / vLLM names in the recipe: temperature, top_p, top_k, min_p, repetition_penalty). */
export interface SamplingParams {
  /** 0 = greedy (arg-max); otherwise logits are divided by it. */
  temperature: number;
  /** Nucleus mass in (0, 1]; 1 = off. */
  topP: number;
  /** Keep the k highest logits (ties at the k-th kept, as HF); 0 = off. */
  topK: number;
  /** Drop tokens whose probability is below minP × the top probability; 0 = off. */
  minP: number;
  /** HF repetition penalty over tokens already seen (prompt and completion); 1 = off. */
  repetitionPenalty: number;
}

/** The settings that leave the model's distribution unchanged. */
export const PLAIN_SAMPLING: SamplingParams = { temperature: 1, topP: 1, topK: 0, minP: 0, repetitionPenalty: 1 };

/** A sampled token and its log-probability under the distribution it was drawn from. */
export interface SampledToken {
  token: number;
  logprob: number;
}

/**
 * Applies the repetition penalty in place (HF RepetitionPenaltyLogitsProcessor):
 * s_i ← s_i / θ if s_i > 0, s_i · θ otherwise, for every token i in `seen`.
 */
export function applyRepetitionPenalty(scores: Float32Array, seen: Iterable<number>, penalty: number): void {
  if (penalty === 1) return;
  const done = new Set<number>();
  for (const t of seen) {
    if (done.has(t) || t < 0 || t >= scores.length) continue;
    done.add(t);
    scores[t] = scores[t] > 0 ? scores[t] / penalty : scores[t] * penalty;
  }
}

/**
 * Reusable work buffers of `sampleToken` (grown to the vocabulary on first use), so sampling a token allocates nothing:
 * the processed scores, the unnormalised probabilities and the nucleus selection's histogram and work array. One per
 * sampler; `sampleToken` is synchronous, so sequential calls may share one.
 */
export class SamplerScratch {
  /** Processed scores (repetition penalty, temperature), when they differ from the logits. */
  scores = new Float32Array(0);
  /** Unnormalised probabilities e_i = exp(s_i − max). */
  e = new Float64Array(0);
  /** Work array of the selections (the top-k quickselect, the nucleus boundary bucket). */
  work = new Float64Array(0);
  /** Per bucket of the nucleus histogram: the mass and the number of values (kept zero between calls). */
  readonly bucketMass = new Float64Array(BUCKETS);
  readonly bucketCount = new Int32Array(BUCKETS);

  /** Makes every buffer hold at least `n` values. */
  ensure(n: number): void {
    if (this.e.length >= n) return;
    this.scores = new Float32Array(n);
    this.e = new Float64Array(n);
    this.work = new Float64Array(n);
  }
}

/** The boundary that keeps every token (top-p off). */
const NO_NUCLEUS: NucleusBoundary = { vstar: 0, tiesKept: Infinity, ties: Infinity };

/** Nucleus histogram buckets: a positive double's high word >>> 16 (11 exponent bits, 4 leading mantissa bits). */
const BUCKET_SHIFT = 16;
const BUCKETS = 1 << 15;

let simdRows: RowKernels | null | undefined;
/** max_i s_i ignoring NaN, as a JS `>` loop does; through the wasm SIMD row max when WebAssembly SIMD is there. */
function rowMax(s: Float32Array, n: number): number {
  simdRows ??= simdRowKernels();
  if (simdRows) {
    const buf = simdRows.scratch(n);
    buf.set(s.subarray(0, n));
    const m = simdRows.rowMax(buf, 0, n);
    if (!Number.isNaN(m)) return m; // f32x4.max propagates NaN where the loop skips it
  }
  let max = -Infinity;
  for (let i = 0; i < n; i++) if (s[i] > max) max = s[i];
  return max;
}

let shared: SamplerScratch | undefined;
/** The scratch used when a caller passes none. */
function sharedScratch(): SamplerScratch {
  return (shared ??= new SamplerScratch());
}

/** The k-th largest finite-or-not value of `scores` (1-based k), by quickselect on a copy: O(V). */
export function kthLargest(scores: Float32Array, k: number, scratch: SamplerScratch = sharedScratch()): number {
  scratch.ensure(scores.length);
  const a = scratch.work;
  for (let i = 0; i < scores.length; i++) a[i] = scores[i];
  let lo = 0, hi = scores.length - 1;
  const target = k - 1; // index in descending order
  while (lo < hi) {
    const pivot = a[(lo + hi) >>> 1];
    let i = lo, j = hi;
    while (i <= j) {
      while (a[i] > pivot) i++;
      while (a[j] < pivot) j--;
      if (i <= j) {
        const t = a[i];
        a[i] = a[j];
        a[j] = t;
        i++;
        j--;
      }
    }
    if (target <= j) hi = j;
    else if (target >= i) lo = i;
    else break;
  }
  return a[target];
}

/** softmax(scores) into `out` (entries at −∞ get 0); returns the max score. */
function softmaxInto(scores: Float32Array, out: Float64Array): number {
  let max = -Infinity;
  for (let i = 0; i < scores.length; i++) if (scores[i] > max) max = scores[i];
  let z = 0;
  for (let i = 0; i < scores.length; i++) {
    const e = scores[i] === -Infinity ? 0 : Math.exp(scores[i] - max);
    out[i] = e;
    z += e;
  }
  for (let i = 0; i < scores.length; i++) out[i] /= z;
  return max;
}

/**
 * Masks (sets to −∞) every token outside the top-p nucleus, in place (HF TopPLogitsWarper): keep the highest-
 * probability tokens, in descending order, while the mass of the tokens above each one is below `topP`.
 * Only the tokens that can be in the nucleus are sorted.
 */
export function applyTopP(scores: Float32Array, topP: number, probs = new Float64Array(scores.length)): void {
  if (topP >= 1) return;
  softmaxInto(scores, probs);
  // Find a threshold t with mass(p ≥ t) ≥ topP; the nucleus is a prefix of those tokens.
  let pmax = 0;
  for (let i = 0; i < probs.length; i++) if (probs[i] > pmax) pmax = probs[i];
  let t = pmax;
  let candidates: number[] = [];
  for (;;) {
    candidates = [];
    let mass = 0;
    for (let i = 0; i < probs.length; i++) {
      if (probs[i] >= t && probs[i] > 0) {
        candidates.push(i);
        mass += probs[i];
      }
    }
    if (mass >= topP || t === 0) break;
    t = t > 1e-300 ? t / 16 : 0;
  }
  candidates.sort((a, b) => probs[b] - probs[a] || a - b);
  const keep = new Uint8Array(scores.length);
  let above = 0;
  for (const i of candidates) {
    if (above >= topP) break;
    keep[i] = 1;
    above += probs[i];
  }
  for (let i = 0; i < scores.length; i++) if (!keep[i]) scores[i] = -Infinity;
}

/** Masks tokens below the k-th largest score (ties kept), in place (HF TopKLogitsWarper). */
export function applyTopK(scores: Float32Array, topK: number): void {
  if (topK <= 0 || topK >= scores.length) return;
  const kth = kthLargest(scores, topK);
  for (let i = 0; i < scores.length; i++) if (scores[i] < kth) scores[i] = -Infinity;
}

/** Masks tokens with p_i < minP · max_j p_j, in place (HF MinPLogitsWarper); the top token always stays. */
export function applyMinP(scores: Float32Array, minP: number): void {
  if (minP <= 0) return;
  let max = -Infinity;
  for (let i = 0; i < scores.length; i++) if (scores[i] > max) max = scores[i];
  // p_i < minP·p_max  ⇔  s_i − s_max < log(minP)
  const cut = max + Math.log(minP);
  for (let i = 0; i < scores.length; i++) if (scores[i] < cut) scores[i] = -Infinity;
}

/**
 * The processed scores HF generate samples from: repetition penalty, temperature, top-k, top-p, min-p.
 * Returns a new array; `logits` is not modified. With temperature 0 only the repetition penalty is applied.
 */
export function processLogits(logits: Float32Array, params: SamplingParams, seen: Iterable<number> = []): Float32Array {
  const scores = Float32Array.from(logits);
  applyRepetitionPenalty(scores, seen, params.repetitionPenalty);
  if (params.temperature === 0) return scores;
  if (params.temperature !== 1) { for (let i = 0; i < scores.length; i++) scores[i] /= params.temperature; }
  applyTopK(scores, params.topK);
  applyTopP(scores, params.topP);
  applyMinP(scores, params.minP);
  return scores;
}

/**
 * The nucleus boundary without sorting: with the unnormalised weights e (descending s_1 ≥ s_2 ≥ …), HF keeps token
 * i while Σ_{j<i} s_j < target (target = top_p · Σ e). Returns the smallest kept value v* and how many tokens equal to
 * v* are kept (ties are kept by lowest index). One pass builds a histogram of the mass per bucket of values (a
 * double's exponent and leading mantissa bits: buckets are ordered like the values), a scan from the top finds the
 * bucket where the mass above crosses the target, and a weighted quickselect runs on that bucket's values only:
 * O(V) with two passes over e, instead of an O(V log V) sort. `ties` is how many values equal v* (Infinity: not
 * counted; every one is kept).
 */
export function nucleusBoundary(
  e: Float64Array,
  target: number,
  scratch: SamplerScratch = sharedScratch(),
): NucleusBoundary {
  const n = e.length;
  scratch.ensure(n);
  const high = highWords(e);
  const mass = scratch.bucketMass, count = scratch.bucketCount;
  let top = -1, bottom = BUCKETS;
  for (let i = 0; i < n; i++) {
    const x = e[i];
    if (!(x > 0)) continue;
    const b = high ? high[2 * i + 1] >>> BUCKET_SHIFT : bucketOf(x);
    mass[b] += x;
    count[b]++;
    if (b > top) top = b;
    if (b < bottom) bottom = b;
  }
  return boundaryFromHistogram(e, n, target, scratch, top, bottom);
}

/** The nucleus boundary: keep e > vstar and the first `tiesKept` (by index) of the `ties` values equal to vstar. */
export interface NucleusBoundary {
  vstar: number;
  tiesKept: number;
  ties: number;
}

/** A little-endian Uint32 view of e's memory (word 2i+1 is the high word of e[i]), or null where there is none. */
function highWords(e: Float64Array): Uint32Array | null {
  return LITTLE_ENDIAN && e.byteOffset % 8 === 0 ? new Uint32Array(e.buffer, e.byteOffset, 2 * e.length) : null;
}

/**
 * The nucleus boundary of e[0, n) from its histogram (scratch.bucketMass/bucketCount filled over the buckets
 * [bottom, top]); clears the histogram.
 */
function boundaryFromHistogram(
  e: Float64Array,
  n: number,
  target: number,
  scratch: SamplerScratch,
  top: number,
  bottom: number,
): NucleusBoundary {
  const high = highWords(e);
  const mass = scratch.bucketMass, count = scratch.bucketCount;
  let found: NucleusBoundary | null = null;
  try {
    let massAbove = 0;
    for (let b = top; b >= bottom && !found; b--) {
      if (count[b] === 0) continue;
      if (massAbove + mass[b] >= target) {
        // the boundary is in this bucket: select among its values
        const a = scratch.work;
        let m = 0;
        if (high) {
          for (let i = 0; i < n; i++) if (high[2 * i + 1] >>> BUCKET_SHIFT === b && e[i] > 0) a[m++] = e[i];
        } else {
          for (let i = 0; i < n; i++) if (e[i] > 0 && bucketOf(e[i]) === b) a[m++] = e[i];
        }
        // null: the bucket's own sums stay below the target by rounding where the bucket total did not; keep it all
        found = weightedSelect(a, m, massAbove, target) ?? { vstar: minOf(a, m), tiesKept: Infinity, ties: Infinity };
      }
      massAbove += mass[b];
    }
  } finally {
    for (let b = bottom; b <= top; b++) {
      mass[b] = 0;
      count[b] = 0;
    }
  }
  // all mass is above the target only through rounding: keep every token
  return found ?? NO_NUCLEUS;
}

/** min a[0, n). */
function minOf(a: Float64Array, n: number): number {
  let m = Infinity;
  for (let i = 0; i < n; i++) if (a[i] < m) m = a[i];
  return m;
}

/** Whether typed arrays are little-endian here (then a double's high word is the second Uint32 of its 8 bytes). */
const LITTLE_ENDIAN = new Uint8Array(new Uint32Array([1]).buffer)[0] === 1;

const bucketView = new DataView(new ArrayBuffer(8));
/** The histogram bucket of a positive double (for arrays not aligned to 8 bytes). */
function bucketOf(x: number): number {
  bucketView.setFloat64(0, x);
  return bucketView.getUint32(0) >>> BUCKET_SHIFT;
}

/**
 * Weighted quickselect over a[0, n) (positive values; reordered): with `massAbove` the mass of all larger values
 * outside a, the smallest value v* kept by the rule "keep while the mass before < target" and how many of the values
 * equal to v* are kept; null when even all of a leaves the mass below the target.
 */
function weightedSelect(
  a: Float64Array,
  n: number,
  massAbove: number,
  target: number,
): NucleusBoundary | null {
  let lo = 0, hi = n;
  while (lo < hi) {
    // median of three as the pivot
    const x0 = a[lo], x1 = a[lo + ((hi - lo) >>> 1)], x2 = a[hi - 1];
    const pivot = x0 < x1 ? (x1 < x2 ? x1 : x0 < x2 ? x2 : x0) : (x0 < x2 ? x0 : x1 < x2 ? x2 : x1);
    // 3-way partition of a[lo, hi) into > pivot | == pivot | < pivot
    let lt = lo, i = lo, gt = hi;
    let massG = 0;
    while (i < gt) {
      const x = a[i];
      if (x > pivot) {
        a[i] = a[lt];
        a[lt] = x;
        massG += x;
        lt++;
        i++;
      } else if (x < pivot) {
        gt--;
        a[i] = a[gt];
        a[gt] = x;
      } else i++;
    }
    const nE = gt - lt;
    if (massAbove + massG >= target) {
      hi = lt; // the boundary is among the larger values
    } else if (massAbove + massG + nE * pivot >= target) {
      // within the run of values equal to the pivot: keep k of them, the first k with prefix before < target
      let k = 1;
      while (k < nE && massAbove + massG + k * pivot < target) k++;
      return { vstar: pivot, tiesKept: k, ties: nE }; // every value equal to the pivot is in a[lo, hi)
    } else {
      massAbove += massG + nE * pivot;
      lo = gt;
    }
  }
  return null;
}

/**
 * Draws one token from a row of logits with uniform number `u` ∈ [0, 1) by inverse CDF, applying the same processing
 * as `processLogits` (repetition penalty, temperature, top-k, top-p, min-p) in a few passes over the row.
 * `logprob` is log p(token) under the processed distribution actually sampled from; for greedy decoding
 * (temperature 0) a point mass would always give 0, so it is the log-prob under the model's distribution
 * after the repetition penalty. `logits` is not modified; the work buffers come from `scratch`.
 */
export function sampleToken(
  logits: Float32Array,
  params: SamplingParams,
  u: number,
  seen: Iterable<number> = [],
  scratch: SamplerScratch = sharedScratch(),
): SampledToken {
  const V = logits.length;
  scratch.ensure(V);
  const T = params.temperature;
  // the processed scores: the logits themselves unless the penalty or the temperature changes them (float32, as HF)
  let scores = logits;
  if (params.repetitionPenalty !== 1 || (T !== 0 && T !== 1)) {
    scores = scratch.scores.subarray(0, V);
    scores.set(logits);
    applyRepetitionPenalty(scores, seen, params.repetitionPenalty);
    if (T !== 0 && T !== 1) { for (let i = 0; i < V; i++) scores[i] /= T; }
  }
  if (T === 0) {
    let best = 0;
    for (let i = 1; i < V; i++) if (scores[i] > scores[best]) best = i;
    return { token: best, logprob: logProbOf(scores, best, scores[best]) };
  }
  // top-k masks s_i < s_(k); the max is always kept, so it is the max of the masked scores too
  const kth = params.topK > 0 && params.topK < V ? kthLargest(scores, params.topK, scratch) : -Infinity;
  const max = rowMax(scores, V);
  // e_i = exp(s_i − max): unnormalised probabilities; masked tokens get 0; z = Σ e in index order
  const e = scratch.e;
  const topP = params.topP < 1, minP = params.minP;
  let z = 0;
  let nucleus = NO_NUCLEUS;
  const high = topP ? highWords(e) : null;
  if (high) {
    // the same pass builds the nucleus histogram (see nucleusBoundary)
    const mass = scratch.bucketMass, count = scratch.bucketCount;
    let top = -1, bottom = BUCKETS;
    for (let i = 0; i < V; i++) {
      const s = scores[i];
      if (s === -Infinity || s < kth) {
        e[i] = 0;
        continue;
      }
      const x = Math.exp(s - max);
      e[i] = x;
      z += x;
      if (!(x > 0)) continue;
      const b = high[2 * i + 1] >>> BUCKET_SHIFT;
      mass[b] += x;
      count[b]++;
      if (b > top) top = b;
      if (b < bottom) bottom = b;
    }
    nucleus = boundaryFromHistogram(e, V, params.topP * z, scratch, top, bottom);
  } else {
    for (let i = 0; i < V; i++) {
      const s = scores[i];
      const x = s === -Infinity || s < kth ? 0 : Math.exp(s - max);
      e[i] = x;
      z += x;
    }
    if (topP) nucleus = nucleusBoundary(e.subarray(0, V), params.topP * z, scratch);
  }
  // nucleus: keep e > v* and the first `tiesKept` equal to v*; min-p: p_i < minP · p_max ⇔ e_i < minP (the top
  // token has e = 1). When every tie at v* is kept, the kept tokens are those with e ≥ lo = max(v*, minP) (lo > 0);
  // otherwise the dropped ones are zeroed first.
  const { vstar, tiesKept, ties } = nucleus;
  let lo = Math.max(vstar, minP, Number.MIN_VALUE);
  if (tiesKept < ties) {
    let kept = 0;
    for (let i = 0; i < V; i++) {
      const x = e[i];
      if (x < lo) e[i] = 0;
      else if (x === vstar && kept++ >= tiesKept) e[i] = 0;
    }
    lo = Number.MIN_VALUE;
  }
  // z = Σ of the kept e in index order (unchanged when nothing is dropped)
  if (topP || minP > 0) {
    z = 0;
    for (let i = 0; i < V; i++) {
      const x = e[i];
      if (x >= lo) z += x;
    }
  }
  // inverse CDF in index order
  const target = u * z;
  let acc = 0, token = -1, last = -1;
  for (let i = 0; i < V; i++) {
    const x = e[i];
    if (!(x >= lo)) continue;
    last = i;
    acc += x;
    if (target < acc) {
      token = i;
      break;
    }
  }
  if (token < 0) token = last; // u within rounding of 1
  return { token, logprob: Math.log(e[token] / z) };
}

/** log softmax(scores)[i] = s_i − max − log Σ_j exp(s_j − max), in float64. */
function logProbOf(scores: Float32Array, i: number, max: number): number {
  let z = 0;
  for (let j = 0; j < scores.length; j++) if (scores[j] !== -Infinity) z += Math.exp(scores[j] - max);
  return scores[i] - max - Math.log(z);
}
