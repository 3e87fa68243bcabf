/**
 * Seeded shuffling: Fisher–Yates (Durstenfeld's in-place form) driven by the mulberry32 generator, so the same seed
 * always gives the same order on every platform. (Python `datasets` shuffles with numpy's PCG64, so orders differ
 * from a Python run with the same seed; counts and the procedure are the same.)
 */
import { mulberry32 } from "../mulberry32.ts";

export { mulberry32 };

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
