/**
 * Key/value cache for incremental decoding: per layer the keys and values of every position seen so far
 * ([B, kv_heads, S, head_dim], grown by concatenation), plus per row which positions are real tokens and the
 * position the next token takes.
 */
import * as tf from "@tensorflow/tfjs";

/** The cache of one batch of sequences. Owns its tensors: call `dispose()` when done. */
export class KVCache {
  /** Per layer keys [B, kvHeads, S, headDim] (after RoPE). */
  keys: tf.Tensor4D[];
  /** Per layer values [B, kvHeads, S, headDim]. */
  values: tf.Tensor4D[];
  /** Per row, per cached position: 1 = real token, 0 = padding. */
  mask: number[][];
  /** Per row, the RoPE position of the next token (number of real tokens so far). */
  nextPositions: number[];

  constructor(keys: tf.Tensor4D[], values: tf.Tensor4D[], mask: number[][], nextPositions: number[]) {
    this.keys = keys;
    this.values = values;
    this.mask = mask;
    this.nextPositions = nextPositions;
  }

  /** Number of rows. */
  get batchSize(): number {
    return this.mask.length;
  }

  /** Number of cached positions (including padding). */
  get length(): number {
    return this.mask[0]?.length ?? 0;
  }

  /**
   * A new cache whose rows are `rows[i]` of this one (e.g. [0,0,0,1,1,1] repeats each prompt 3 times for a group
   * of candidates). This cache is left intact.
   */
  selectRows(rows: number[]): KVCache {
    const idx = tf.tensor1d(rows, "int32");
    try {
      const keys = this.keys.map((k) => tf.keep(tf.gather(k, idx, 0)));
      const values = this.values.map((v) => tf.keep(tf.gather(v, idx, 0)));
      return new KVCache(keys, values, rows.map((r) => [...this.mask[r]]), rows.map((r) => this.nextPositions[r]));
    } finally {
      idx.dispose();
    }
  }

  /** Repeats every row k times in place order (row b → rows b·k … b·k+k−1): a prompt's cache for K candidates. */
  expand(k: number): KVCache {
    const rows: number[] = [];
    for (let b = 0; b < this.batchSize; b++) for (let j = 0; j < k; j++) rows.push(b);
    return this.selectRows(rows);
  }

  /** Replaces layer `layer`'s tensors, disposing the old ones. */
  setLayer(layer: number, k: tf.Tensor4D, v: tf.Tensor4D): void {
    if (this.keys[layer] !== k) this.keys[layer]?.dispose();
    if (this.values[layer] !== v) this.values[layer]?.dispose();
    this.keys[layer] = k;
    this.values[layer] = v;
  }

  /** Frees every tensor. */
  dispose(): void {
    for (const t of this.keys) t.dispose();
    for (const t of this.values) t.dispose();
    this.keys = [];
    this.values = [];
  }
}
