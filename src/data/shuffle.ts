/**
 * Seeded shuffling: Fisher–Yates (Durstenfeld's in-place form) driven by the mulberry32 generator, so the same seed
 * always gives the same order on every platform. (Python `datasets` shuffles with numpy's PCG64, so orders differ
 * from a Python run with the same seed; counts and the procedure are the same.)
 */
import { MaxentError } from "../errors.ts";

/**
 * mulberry32 (Tommy Ettinger, public domain): a 32-bit-state generator returning uniform uint32 values.
 * state ← state + 0x6D2B79F5; t = (s ⊕ s≫15)·(s|1); t ← t ⊕ (t + (t ⊕ t≫7)·(t|61)); out = t ⊕ t≫14.
 * A seed is any safe integer; its high and low 32-bit halves are folded into the state.
 */
export function mulberry32(seed: number): () => number {
  if (!Number.isSafeInteger(seed)) throw new MaxentError(`shuffle seed must be a safe integer, got ${seed}`);
  const hi = Math.floor(seed / 0x1_0000_0000) >>> 0;
  let state = (seed >>> 0) ^ Math.imul(hi, 0x9e3779b9);
  return () => {
    state = (state + 0x6d2b79f5) | 0;
    let t = Math.imul(state ^ (state >>> 15), state | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return (t ^ (t >>> 14)) >>> 0;
  };
}

/** A uniform integer in [0, n) for 1 ≤ n ≤ 2³², without modulo bias (rejects the top 2³² mod n values). */
function uniformBelow(next: () => number, n: number): number {
  const limit = 0x1_0000_0000 - (0x1_0000_0000 % n);
  for (;;) {
    const x = next();
    if (x < limit) return x % n;
  }
}

/**
 * Returns a shuffled copy of `items` (the input is not changed): Fisher–Yates with mulberry32(seed),
 * for i = n−1 … 1: swap(i, j) with j uniform in [0, i].
 *
 * @example
 * ```ts
 * shuffled([1, 2, 3, 4], 42); // the same permutation on every run
 * ```
 */
export function shuffled<T>(items: T[], seed: number): T[] {
  const out = items.slice();
  const next = mulberry32(seed);
  for (let i = out.length - 1; i > 0; i--) {
    const j = uniformBelow(next, i + 1);
    const tmp = out[i];
    out[i] = out[j];
    out[j] = tmp;
  }
  return out;
}
