/**
 * Per-token log-probabilities of target ids under a linear LM head, computed in row chunks so that at most one
 * [rows, vocab] logits block (plus its softmax in the backward pass) exists at a time — with a vocabulary of
 * 151,936 the full [batch·seq, vocab] logits would not fit. Differentiable through `tf.customGrad`; the backward
 * pass recomputes each chunk's logits instead of keeping them. On wasm and cpu with OpenBLAS both directions run as one
 * fused kernel each (`src/backend/lm_head.ts`: no [rows, vocab] tensor at all, dW written once); this chunked tfjs-ops
 * path is the fallback (webgpu, no BLAS).
 */
import * as tf from "@tensorflow/tfjs";
import { lmHeadGrad, lmHeadLogProbs } from "../backend/lm_head.ts";
import { scatterAddRowsInto } from "../backend/accumulate.ts";
import { MaxentError } from "../errors.ts";

/** Concatenates row blocks along axis 0, disposing the parts. */
function concatOwned<T extends tf.Tensor>(parts: T[]): T {
  if (parts.length === 1) return parts[0];
  const out = tf.concat(parts, 0) as T;
  for (const p of parts) p.dispose();
  return out;
}

/** logsumexp over each row of a [R, V] block, m + log Σ exp(x − m), freeing each block as soon as it is used. */
function logSumExpRows(logits: tf.Tensor2D): tf.Tensor1D {
  const m = tf.max(logits, 1, true);
  const shifted = tf.sub(logits, m);
  logits.dispose();
  const e = tf.exp(shifted);
  shifted.dispose();
  const s = tf.sum(e, 1);
  e.dispose();
  return tf.add(tf.log(s), tf.reshape(m, [-1])) as tf.Tensor1D;
}

/**
 * Σ of `rows` [N, H] into a zero [V, H] matrix at row `index[n]` (duplicates add up). Uses ScatterNd, which every
 * backend implements as one pass (tfjs cpu's UnsortedSegmentSum loops over all V segments with tensor ops).
 */
export function scatterAddRows(rows: tf.Tensor2D, index: tf.Tensor1D, numRows: number): tf.Tensor2D {
  return tf.tidy(() =>
    tf.scatterND(tf.reshape(tf.cast(index, "int32"), [-1, 1]), rows, [numRows, rows.shape[1]]) as tf.Tensor2D
  );
}

/**
 * The one gradient buffer of a tied embedding table E (the LM head's weight is the embedding). Without it the
 * engine sees two uses of E and holds three [V, H] buffers at the end of the backward pass: the head's dW, the
 * lookup's scatter and their sum. With it, only the lookup takes E as a differentiable input: the head's backward
 * (which runs first, the head being last in the forward pass) leaves its dW here, and the lookup's backward adds its
 * rows into that buffer in place and returns it as E's whole gradient. Make one per forward pass.
 */
export class TiedEmbeddingGrad {
  /** The head's dW [V, H], waiting for the lookup's rows (null until the head's backward ran). */
  headDw: tf.Tensor2D | null = null;

  /** Hands the head's dW over (once). */
  take(): tf.Tensor2D | null {
    const dw = this.headDw;
    this.headDw = null;
    return dw;
  }
}

/**
 * Embedding lookup E[ids] ([V, H] → [N, H]) whose gradient is a scatter-add into E (see `scatterAddRows`) instead
 * of tf.gather's UnsortedSegmentSum. With `tied`, the scatter-add goes into the LM head's dW left there (see
 * {@link TiedEmbeddingGrad}): dE = dW_head + scatter(dy), one buffer.
 */
export function embeddingLookup(table: tf.Tensor2D, ids: tf.Tensor1D, tied?: TiedEmbeddingGrad): tf.Tensor2D {
  const fn = tf.customGrad(
    ((e: tf.Tensor2D, save: tf.GradSaveFunc) => {
      save([e, ids]); // ids too: the caller's tidy may dispose its handle
      return {
        value: tf.gather(e, ids),
        gradFunc: (dy: tf.Tensor2D, saved: tf.Tensor[]) => {
          const [eS, idsS] = saved as [tf.Tensor2D, tf.Tensor1D];
          const headDw = tied?.take();
          return headDw
            ? scatterAddRowsInto(headDw, dy, tf.cast(idsS, "int32") as tf.Tensor1D)
            : scatterAddRows(dy, idsS, eS.shape[0]);
        },
      };
      // deno-lint-ignore no-explicit-any
    }) as any,
  );
  return fn(table) as tf.Tensor2D;
}

/** Default budget of elements in one [rows, vocab] block (64 MB of float32; with V = 151,936 about 110 rows). */
export const DEFAULT_LOGITS_CHUNK_ELEMENTS = 1 << 24;

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
  headGrad?: TiedEmbeddingGrad | "none",
): tf.Tensor1D {
  const [N, H] = h.shape;
  const V = w.shape[0];
  const chunks = rowChunks(N, V, chunkElements);
  // With `headGrad`, w is not a differentiable input of this node: its gradient is left for the embedding lookup
  // (a TiedEmbeddingGrad), or dropped at once ("none": a frozen w, whose gradient the engine would otherwise hold
  // to the end of the backward pass only to discard it).
  const frozen = headGrad === "none";
  const inputGrads = (dh: tf.Tensor2D, dw: tf.Tensor2D | null): tf.Tensor2D[] => {
    if (headGrad === undefined) return [dh, dw!];
    if (frozen) dw?.dispose();
    else {
      headGrad.take()?.dispose();
      headGrad.headDw = dw!;
    }
    return [dh];
  };
  const fn = tf.customGrad(
    ((...args: unknown[]) => {
      const [hIn, wIn, save] = (headGrad ? [args[0], w, args[1]] : args) as [tf.Tensor2D, tf.Tensor2D, tf.GradSaveFunc];
      // Fused path (wasm/cpu with OpenBLAS, src/backend/lm_head.ts): one kernel per direction over [rows, vocab-tile]
      // blocks in a reused scratch buffer, so no [rows, vocab] tensor is ever allocated; the backward writes dW once.
      const fused = lmHeadLogProbs(hIn, wIn, targets);
      if (fused) {
        save([hIn, wIn, fused.lse, targets]); // targets too: the caller's tidy may dispose its handle
        return {
          value: fused.logp,
          gradFunc: (dy: tf.Tensor1D, saved: tf.Tensor[]) => {
            const [hS, wS, lseS, tS] = saved as [tf.Tensor2D, tf.Tensor2D, tf.Tensor1D, tf.Tensor1D];
            // a frozen head ("none"): no dW at all — neither its [V, H] buffer nor its sgemm pass
            const g = frozen ? lmHeadGrad(hS, wS, tS, lseS, dy, { withDw: false }) : lmHeadGrad(hS, wS, tS, lseS, dy);
            if (!g) {
              throw new MaxentError("the fused LM-head kernel is gone between forward and backward (backend changed?)");
            }
            return inputGrads(g.dh, g.dw);
          },
        };
      }
      const lseParts: tf.Tensor1D[] = [];
      const parts: tf.Tensor1D[] = [];
      for (const [r0, r1] of chunks) {
        const [part, lsePart] = tf.tidy(() => {
          const hc = tf.slice(hIn, [r0, 0], [r1 - r0, H]);
          const tc = tf.slice(targets, [r0], [r1 - r0]);
          // logits block [R, V]; the target logit is recomputed as a dot product so no one-hot block is needed.
          const lse = logSumExpRows(tf.matMul(hc, wIn, false, true));
          const tgt = tf.sum(tf.mul(hc, tf.gather(wIn, tc)), 1);
          return [tf.sub(tgt, lse) as tf.Tensor1D, lse];
        });
        parts.push(part);
        lseParts.push(lsePart);
      }
      const value = concatOwned(parts);
      const lseAll = concatOwned(lseParts);
      save([hIn, wIn, lseAll]);
      return {
        value,
        gradFunc: (dy: tf.Tensor1D, saved: tf.Tensor[]) => {
          const [hS, wS, lseS] = saved as [tf.Tensor2D, tf.Tensor2D, tf.Tensor1D];
          // d logp_r / d logits_r = onehot(target_r) − softmax(logits_r). The softmax part is done per chunk with the
          // saved logsumexp (p = exp(logits − lse)); the one-hot part is a gather (dh) and a scatter-add (dw) at the end.
          // (a frozen head: dW is not made at all)
          let dw: tf.Tensor2D | null = null;
          const dhParts: tf.Tensor2D[] = [];
          for (const [r0, r1] of chunks) {
            const [dhc, dwNext = null] = tf.tidy(() => {
              const R = r1 - r0;
              const hc = tf.slice(hS, [r0, 0], [R, H]);
              const negDy = tf.reshape(tf.neg(tf.slice(dy, [r0], [R])), [R, 1]);
              const lse = tf.reshape(tf.slice(lseS, [r0], [R]), [R, 1]);
              // at most two [R, V] blocks alive at once: each is freed as soon as the next is made
              const logits = tf.matMul(hc, wS, false, true);
              const shifted = tf.sub(logits, lse);
              logits.dispose();
              const probs = tf.exp(shifted);
              shifted.dispose();
              // dlogits = diag(−dy)·p; the row scaling moves onto the thin [R, H] side of each product:
              // dh = diag(−dy)·(p·W), dW = pᵀ·(diag(−dy)·h), so no extra pass over the [R, V] block.
              const dhc = tf.mul(tf.matMul(probs, wS), negDy) as tf.Tensor2D;
              if (frozen) return [dhc] as tf.Tensor2D[];
              const dwc = tf.matMul(probs, tf.mul(hc, negDy), true, false) as tf.Tensor2D;
              probs.dispose();
              return [dhc, dw === null ? dwc : tf.add(dw, dwc)] as tf.Tensor2D[];
            });
            dw?.dispose();
            dw = dwNext;
            dhParts.push(dhc);
          }
          const [dh, dwOut = null] = tf.tidy(() => {
            const dy2 = tf.reshape(dy, [N, 1]);
            const dh = tf.add(concatOwned(dhParts), tf.mul(tf.gather(wS, targets), dy2));
            if (frozen) return [dh] as tf.Tensor2D[];
            const dwOut = tf.add(dw!, scatterAddRows(tf.mul(hS, dy2) as tf.Tensor2D, targets, V));
            return [dh, dwOut] as tf.Tensor2D[];
          });
          dw?.dispose(); // the chunks' sum, made outside that tidy: freed now, not at the end of the backward pass
          return inputGrads(dh, dwOut);
        },
      };
      // deno-lint-ignore no-explicit-any
    }) as any,
  );
  return (headGrad ? fn(h) : fn(h, w)) as tf.Tensor1D;
}
