/**
 * mulberry32 (Tommy Ettinger, public domain): the small seeded generator behind maxent's host-side randomness that
 * must be reproducible everywhere — dataset shuffles, task generators, random model init, LoRA init and dropout masks.
 * (Sampling uses the counter-based Philox of src/sampler/rng.ts instead.)
 */
import { MaxentError } from "./errors.ts";

/**
 * A generator of uniform uint32 values:
 * state ← state + 0x6D2B79F5; t = (s ⊕ s≫15)·(s|1); t ← t ⊕ (t + (t ⊕ t≫7)·(t|61)); out = t ⊕ t≫14.
 * A seed is any safe integer; its high and low 32-bit halves are folded into the state.
 */
export function mulberry32(seed: number): () => number {
  if (!Number.isSafeInteger(seed)) throw new MaxentError(`a random seed must be a safe integer, got ${seed}`);
  const hi = Math.floor(seed / 0x1_0000_0000) >>> 0;
  let state = (seed >>> 0) ^ Math.imul(hi, 0x9e3779b9);
  return () => {
    state = (state + 0x6d2b79f5) | 0;
    let t = Math.imul(state ^ (state >>> 15), state | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return (t ^ (t >>> 14)) >>> 0;
  };
}

/** Uniform floats in [0, 1) from mulberry32(seed): u = out / 2³². */
export function uniform01(seed: number): () => number {
  const next = mulberry32(seed);
  return () => next() / 4294967296;
}
