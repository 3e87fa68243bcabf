/**
 * Per-token log-probabilities of target ids under a linear LM head, computed in row chunks so that at most one
 * [rows, vocab] logits block (plus its softmax in the backward pass) exists at a time — with a vocabulary of
 * 151,936 the full [batch·seq, vocab] logits would not fit. Differentiable through `tf.customGrad`; the backward
 * pass recomputes each chunk's logits instead of keeping them.
 */
import * as tf from "@tensorflow/tfjs";

/** Default budget of elements in one [rows, vocab] block (16 MB of float32). */
export const DEFAULT_LOGITS_CHUNK_ELEMENTS = 1 << 22;

function rowChunks(n: number, vocab: number, chunkElements: number): Array<[number, number]> {
  const rows = Math.max(1, Math.floor(chunkElements / vocab));
  const out: Array<[number, number]> = [];
  for (let r = 0; r < n; r += rows) out.push([r, Math.min(n, r + rows)]);
  return out;
}

/**
 * log p(target_r | h_r) = h_r·w[target_r] − logsumexp_v(h_r·w[v]) for each row r.
 * `h` [N, H] final hidden states, `w` [V, H] the LM head (or tied embedding), `targets` [N] int32.
 *
 * @example
 * ```ts
 * const lp = targetLogProbs(hidden2d, headWeight, targetIds); // [N]
 * ```
 */
export function targetLogProbs(
  h: tf.Tensor2D,
  w: tf.Tensor2D,
  targets: tf.Tensor1D,
  chunkElements = DEFAULT_LOGITS_CHUNK_ELEMENTS,
): tf.Tensor1D {
  const [N, H] = h.shape;
  const V = w.shape[0];
  const chunks = rowChunks(N, V, chunkElements);
  const fn = tf.customGrad(
    ((hIn: tf.Tensor2D, wIn: tf.Tensor2D, save: tf.GradSaveFunc) => {
      save([hIn, wIn]);
      const parts = chunks.map(([r0, r1]) =>
        tf.tidy(() => {
          const hc = tf.slice(hIn, [r0, 0], [r1 - r0, H]);
          const tc = tf.slice(targets, [r0], [r1 - r0]);
          // logits block [R, V]; the target logit is recomputed as a dot product so no one-hot block is needed.
          const logits = tf.matMul(hc, wIn, false, true);
          const lse = tf.logSumExp(logits, 1);
          const tgt = tf.sum(tf.mul(hc, tf.gather(wIn, tc)), 1);
          return tf.sub(tgt, lse);
        })
      );
      const value = parts.length === 1 ? parts[0] : tf.concat(parts, 0);
      if (parts.length > 1) { for (const p of parts) p.dispose(); }
      return {
        value,
        gradFunc: (dy: tf.Tensor1D, saved: tf.Tensor[]) => {
          const [hS, wS] = saved as [tf.Tensor2D, tf.Tensor2D];
          let dw: tf.Tensor2D = tf.zerosLike(wS);
          const dhParts: tf.Tensor2D[] = [];
          for (const [r0, r1] of chunks) {
            const [dhc, dwNext] = tf.tidy(() => {
              const hc = tf.slice(hS, [r0, 0], [r1 - r0, H]);
              const tc = tf.slice(targets, [r0], [r1 - r0]);
              const dyc = tf.reshape(tf.slice(dy, [r0], [r1 - r0]), [r1 - r0, 1]);
              // d logp / d logits = onehot(target) − softmax(logits), scaled by the incoming gradient.
              const probs = tf.softmax(tf.matMul(hc, wS, false, true));
              const dlogits = tf.mul(tf.sub(tf.oneHot(tc, V), probs), dyc) as tf.Tensor2D;
              return [tf.matMul(dlogits, wS), tf.add(dw, tf.matMul(dlogits, hc, true, false))] as [
                tf.Tensor2D,
                tf.Tensor2D,
              ];
            });
            dw.dispose();
            dw = dwNext;
            dhParts.push(dhc);
          }
          const dh = dhParts.length === 1 ? dhParts[0] : tf.concat(dhParts, 0);
          if (dhParts.length > 1) { for (const p of dhParts) p.dispose(); }
          return [dh, dw];
        },
      };
      // deno-lint-ignore no-explicit-any
    }) as any,
  );
  return fn(h, w) as tf.Tensor1D;
}
