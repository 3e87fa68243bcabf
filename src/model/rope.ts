/**
 * Rotary position embeddings in the Hugging Face "rotate half" layout: inverse frequencies (with Llama 3 scaling),
 * cos/sin tables for given positions, and their application to query/key heads.
 */
import * as tf from "@tensorflow/tfjs";
import type { ModelConfig } from "./config.ts";

/**
 * Inverse frequencies, one per rotated pair: inv_freq[i] = θ^(−2i/d), i < d/2; with llama3 scaling low frequencies
 * (wavelength > L/low_freq_factor) are divided by `factor` and the band between is interpolated smoothly.
 */
export function ropeInvFreq(config: ModelConfig): Float64Array {
  const d = config.headDim;
  const inv = new Float64Array(d / 2);
  for (let i = 0; i < d / 2; i++) inv[i] = 1 / Math.pow(config.ropeTheta, (2 * i) / d);
  const s = config.ropeScaling;
  if (s?.ropeType === "llama3") {
    const lowWavelen = s.originalMaxPositionEmbeddings / s.lowFreqFactor;
    const highWavelen = s.originalMaxPositionEmbeddings / s.highFreqFactor;
    for (let i = 0; i < inv.length; i++) {
      const wavelen = (2 * Math.PI) / inv[i];
      if (wavelen > lowWavelen) {
        inv[i] = inv[i] / s.factor;
      } else if (wavelen >= highWavelen) {
        // smooth = (L/wavelen − low) / (high − low); f = (1 − smooth)·f/factor + smooth·f
        const smooth = (s.originalMaxPositionEmbeddings / wavelen - s.lowFreqFactor) /
          (s.highFreqFactor - s.lowFreqFactor);
        inv[i] = (1 - smooth) * inv[i] / s.factor + smooth * inv[i];
      }
    }
  }
  return inv;
}

/**
 * cos and sin of position·inv_freq for each (row, step): tensors [B, 1, T, d/2], ready to broadcast over heads.
 * `positions[b][t]` is the token's position (the count of real tokens before it, so left padding does not shift it).
 */
export function ropeTables(invFreq: Float64Array, positions: number[][]): { cos: tf.Tensor4D; sin: tf.Tensor4D } {
  const B = positions.length;
  const T = positions[0]?.length ?? 0;
  const h = invFreq.length;
  const cos = new Float32Array(B * T * h);
  const sin = new Float32Array(B * T * h);
  for (let b = 0; b < B; b++) {
    for (let t = 0; t < T; t++) {
      const p = positions[b][t];
      const base = (b * T + t) * h;
      for (let i = 0; i < h; i++) {
        // HF computes the angle in float32: round the frequency first, as torch does.
        const angle = Math.fround(p * Math.fround(invFreq[i]));
        cos[base + i] = Math.cos(angle);
        sin[base + i] = Math.sin(angle);
      }
    }
  }
  return { cos: tf.tensor4d(cos, [B, 1, T, h]), sin: tf.tensor4d(sin, [B, 1, T, h]) };
}

/**
 * Applies RoPE to x [B, heads, T, d]: with x = [x1, x2] (halves), out = [x1·cos − x2·sin, x2·cos + x1·sin]
 * (HF's x·cos + rotate_half(x)·sin with cos/sin duplicated over both halves).
 */
export function applyRope(x: tf.Tensor4D, cos: tf.Tensor4D, sin: tf.Tensor4D): tf.Tensor4D {
  return tf.tidy(() => {
    const [B, H, T, d] = x.shape;
    const x1 = tf.slice(x, [0, 0, 0, 0], [B, H, T, d / 2]);
    const x2 = tf.slice(x, [0, 0, 0, d / 2], [B, H, T, d / 2]);
    return tf.concat([tf.sub(tf.mul(x1, cos), tf.mul(x2, sin)), tf.add(tf.mul(x2, cos), tf.mul(x1, sin))], 3);
  });
}
