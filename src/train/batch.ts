/**
 * Packing candidate groups into training tensors: each row is prompt + completion, left-padded, with a completion
 * mask over the [N, T−1] log-prob positions that marks exactly the completion tokens (EOS included, never prompt or
 * padding tokens) — the tokens MaxEnt-GRPO and GRPO score.
 */
import * as tf from "@tensorflow/tfjs";
import { maskTensor } from "../model/host_mask.ts";

/** Rows of prompt + completion, as tensors for `CausalLM.tokenLogProbs`. */
export interface PackedBatch {
  /** [N, T] left-padded token ids. */
  ids: tf.Tensor2D;
  /** [N, T] 1 for real tokens. */
  attention: tf.Tensor2D;
  /** [N, T−1] 1 where the log-prob position predicts a completion token. */
  completionMask: tf.Tensor2D;
  /** Completion tokens per row. */
  lengths: number[];
  dispose(): void;
}

/**
 * Packs rows (prompt ids, completion ids). Position t of `tokenLogProbs` scores token t+1, so row r's completion
 * tokens occupy log-prob columns [T − 1 − L_r, T − 2] (L_r = its completion length) after left padding.
 */
export function packBatch(prompts: number[][], completions: number[][], padId: number): PackedBatch {
  const n = prompts.length;
  const T = Math.max(2, ...prompts.map((p, i) => p.length + completions[i].length));
  const ids = new Int32Array(n * T).fill(padId);
  const att = new Float32Array(n * T);
  const cm = new Float32Array(n * (T - 1));
  const lengths = completions.map((c) => c.length);
  for (let r = 0; r < n; r++) {
    const p = prompts[r], c = completions[r];
    const start = T - p.length - c.length;
    ids.set(p, r * T + start);
    ids.set(c, r * T + start + p.length);
    att.fill(1, r * T + start, (r + 1) * T);
    cm.fill(1, r * (T - 1) + (T - 1 - c.length), (r + 1) * (T - 1));
  }
  const packed = {
    ids: tf.tensor2d(ids, [n, T], "int32"),
    attention: maskTensor(att, [n, T]), // the model reads it from `att`, never back from the device
    completionMask: tf.tensor2d(cm, [n, T - 1]),
    lengths,
    dispose() {
      packed.ids.dispose();
      packed.attention.dispose();
      packed.completionMask.dispose();
    },
  };
  return packed;
}

/** Σ_t mask · logp per row: [N, T−1] → number[] (reads the tensor back asynchronously, as webgpu needs). */
export async function maskedRowSums(tokenLogProbs: tf.Tensor2D, mask: tf.Tensor2D): Promise<number[]> {
  const sums = tf.tidy(() => tf.sum(tf.mul(tokenLogProbs, mask), 1));
  try {
    return Array.from(await sums.data());
  } finally {
    sums.dispose();
  }
}
