/**
 * The sampler's random numbers: Philox4x32-10, a counter-based generator (Salmon et al., "Parallel random numbers:
 * as easy as 1, 2, 3", SC 2011; the generator behind JAX and PyTorch's CUDA RNG). A draw is a pure function of
 * (key, counter), so the number used for candidate k of prompt p at position t depends only on (seed, p, k, t):
 * the same seed gives the same candidates whatever else is in the batch, and resuming needs no RNG state.
 *
 * Layout used by maxent: key = [seed low 32 bits, seed high bits], counter = [position, candidate, prompt id low 32
 * bits, prompt id high bits | purpose << 21]. Each call yields four 32-bit words; `uniform` turns two into a double.
 */

const M0 = 0xd2511f53;
const M1 = 0xcd9e8d57;
const W0 = 0x9e3779b9;
const W1 = 0xbb67ae85;

/** High 32 bits of the 64-bit product of two unsigned 32-bit integers, exact in float64 arithmetic. */
function mulhi32(a: number, b: number): number {
  const aLo = a & 0xffff, aHi = a >>> 16, bLo = b & 0xffff, bHi = b >>> 16;
  const loLo = aLo * bLo, mid1 = aHi * bLo, mid2 = aLo * bHi, hiHi = aHi * bHi;
  // a·b = hiHi·2^32 + (mid1 + mid2)·2^16 + loLo; carry the low half into the high word.
  const carry = ((loLo >>> 16) + (mid1 & 0xffff) + (mid2 & 0xffff)) >>> 16;
  return (hiHi + (mid1 >>> 16) + (mid2 >>> 16) + carry) >>> 0;
}

/**
 * Philox4x32 with 10 rounds: four 32-bit outputs for a 128-bit counter and a 64-bit key.
 *
 * @example
 * ```ts
 * philox4x32([0, 0, 0, 0], [0, 0]); // [0x6627e8d5, 0xe169c58d, 0xbc57ac4c, 0x9b00dbd8]
 * ```
 */
export function philox4x32(counter: readonly number[], key: readonly number[]): [number, number, number, number] {
  let c0 = counter[0] >>> 0, c1 = counter[1] >>> 0, c2 = counter[2] >>> 0, c3 = counter[3] >>> 0;
  let k0 = key[0] >>> 0, k1 = key[1] >>> 0;
  for (let round = 0; round < 10; round++) {
    if (round > 0) {
      k0 = (k0 + W0) >>> 0;
      k1 = (k1 + W1) >>> 0;
    }
    // (hi0, lo0) = M0·c0, (hi1, lo1) = M1·c2; c ← (hi1 ⊕ c1 ⊕ k0, lo1, hi0 ⊕ c3 ⊕ k1, lo0)
    const hi0 = mulhi32(M0, c0), lo0 = Math.imul(M0, c0) >>> 0;
    const hi1 = mulhi32(M1, c2), lo1 = Math.imul(M1, c2) >>> 0;
    c0 = (hi1 ^ c1 ^ k0) >>> 0;
    c1 = lo1;
    c2 = (hi0 ^ c3 ^ k1) >>> 0;
    c3 = lo0;
  }
  return [c0, c1, c2, c3];
}

/** Splits a non-negative safe integer into [low 32 bits, high 21 bits]. */
function split53(x: number, what: string): [number, number] {
  if (!Number.isSafeInteger(x) || x < 0) throw new RangeError(`${what} must be a non-negative safe integer, got ${x}`);
  return [x % 0x1_0000_0000, Math.floor(x / 0x1_0000_0000)];
}

/** What a draw is for; distinct purposes never share a counter. */
export const Purpose = { Sample: 0, Dropout: 1, Shuffle: 2 } as const;

/**
 * A uniform double in [0, 1) for (seed, prompt id, candidate, position, purpose), with 53 random bits.
 *
 * u = (w0 · 2^21 + ⌊w1 / 2^11⌋) / 2^53
 */
export function uniform(seed: number, promptId: number, candidate: number, position: number, purpose = 0): number {
  const [s0, s1] = split53(seed, "seed");
  const [p0, p1] = split53(promptId, "prompt id");
  const w = philox4x32([position >>> 0, candidate >>> 0, p0, (p1 | (purpose << 21)) >>> 0], [s0, s1]);
  return (w[0] * 0x200000 + (w[1] >>> 11)) / 9007199254740992;
}
