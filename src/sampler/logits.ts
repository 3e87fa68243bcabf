/**
 * Turning one row of next-token logits into a sampled token, exactly as Hugging Face `generate` does: repetition
 * penalty, then the warpers temperature → top-k → top-p → min-p, then a draw from the renormalised distribution.
 * Plain loops over a Float32Array row (the vocabulary is 151,936 wide for Qwen), no sort of the whole vocabulary.
 */

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

/** The k-th largest finite-or-not value of `scores` (1-based k), by quickselect on a copy: O(V). */
export function kthLargest(scores: Float32Array, k: number): number {
  const a = Float32Array.from(scores);
  let lo = 0, hi = a.length - 1;
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
 * v* are kept (ties are kept by lowest index). Weighted quickselect: expected O(V) instead of an O(V log V) sort.
 */
export function nucleusBoundary(e: Float64Array, target: number): { vstar: number; tiesKept: number } {
  const a = new Float64Array(e.length);
  let n = 0;
  for (let i = 0; i < e.length; i++) if (e[i] > 0) a[n++] = e[i];
  let lo = 0, hi = n, massAbove = 0;
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
      return { vstar: pivot, tiesKept: k };
    } else {
      massAbove += massG + nE * pivot;
      lo = gt;
    }
  }
  // all mass is above the target only through rounding: keep every token
  return { vstar: 0, tiesKept: Infinity };
}

/**
 * Draws one token from a row of logits with uniform number `u` ∈ [0, 1) by inverse CDF, applying the same processing
 * as `processLogits` (repetition penalty, temperature, top-k, top-p, min-p) in a few passes over the row.
 * `logprob` is log p(token) under the processed distribution actually sampled from; for greedy decoding
 * (temperature 0) a point mass would always give 0, so it is the log-prob under the model's distribution
 * after the repetition penalty.
 */
export function sampleToken(
  logits: Float32Array,
  params: SamplingParams,
  u: number,
  seen: Iterable<number> = [],
): SampledToken {
  const V = logits.length;
  const scores = Float32Array.from(logits);
  applyRepetitionPenalty(scores, seen, params.repetitionPenalty);
  if (params.temperature === 0) {
    let best = 0;
    for (let i = 1; i < V; i++) if (scores[i] > scores[best]) best = i;
    return { token: best, logprob: logProbOf(scores, best, scores[best]) };
  }
  if (params.temperature !== 1) { for (let i = 0; i < V; i++) scores[i] /= params.temperature; }
  applyTopK(scores, params.topK);
  // e_i = exp(s_i − max): unnormalised probabilities; masked tokens get 0
  let max = -Infinity;
  for (let i = 0; i < V; i++) if (scores[i] > max) max = scores[i];
  const e = new Float64Array(V);
  let z = 0;
  for (let i = 0; i < V; i++) {
    const x = scores[i] === -Infinity ? 0 : Math.exp(scores[i] - max);
    e[i] = x;
    z += x;
  }
  if (params.topP < 1) {
    const { vstar, tiesKept } = nucleusBoundary(e, params.topP * z);
    let ties = 0;
    z = 0;
    for (let i = 0; i < V; i++) {
      if (e[i] > vstar) z += e[i];
      else if (e[i] === vstar && vstar > 0 && ties < tiesKept) {
        ties++;
        z += e[i];
      } else e[i] = 0;
    }
  }
  if (params.minP > 0) {
    // p_i < minP · p_max ⇔ e_i < minP (the top token has e = 1)
    z = 0;
    for (let i = 0; i < V; i++) {
      if (e[i] < params.minP) e[i] = 0;
      z += e[i];
    }
  }
  const target = u * z;
  let acc = 0, token = -1, last = -1;
  for (let i = 0; i < V; i++) {
    if (e[i] === 0) continue;
    last = i;
    acc += e[i];
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
