/** LoRA fixtures shared by tests that need adapters whose gradients are all non-zero. */
import * as tf from "@tensorflow/tfjs";
import type { CausalLM } from "../src/model/transformer.ts";
import { DEFAULT_TARGET_MODULES, LoraAdapters } from "../src/model/lora.ts";

/**
 * r = 4, α = 8 adapters on every projection of `model`, attached, with a "trained-looking" B (a fresh B = 0 would make
 * every A gradient 0): entries (u − 0.5)·0.4 with u from a Lehmer (MINSTD) stream started at `bSeed`.
 */
export function trainedLora(
  model: CausalLM,
  opts: { dropout: number; seed: number; bSeed: number; baseModel: string },
): LoraAdapters {
  const ad = LoraAdapters.create(model, {
    r: 4,
    alpha: 8,
    dropout: opts.dropout,
    targetModules: DEFAULT_TARGET_MODULES,
    baseModel: opts.baseModel,
  }, opts.seed).attach(model);
  let s = opts.bSeed;
  for (const b of ad.b.values()) {
    const data = Float32Array.from({ length: b.size }, () => ((s = (s * 16807) % 2147483647) / 2147483647 - 0.5) * 0.4);
    tf.tidy(() => b.assign(tf.tensor(data, b.shape)));
  }
  return ad;
}
