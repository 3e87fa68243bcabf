/**
 * The LM head's log-softmax over the vocabulary, fused: per-token log-probabilities of target ids under logits
 * h·wᵀ and their gradient, computed in [rows, vocab-tile] blocks through OpenBLAS into one reused scratch buffer.
 * The stock path (matmul, max, sub, exp, sum, log per chunk, and in the backward pass sub, exp, mul, two matmuls, a
 * scatter and an [V, H] Add per chunk) allocates a fresh full-size tensor for every op; with Qwen's 151,936-word
 * vocabulary that traffic, not the arithmetic, dominated a training step. The loops are in `lm_head_loops.ts`; on a
 * 2-core machine a worker thread (`lm_head_worker.ts`) runs half of the vocabulary. Registered as the kernels
 * `MaxentLmHeadLogProbs` and `MaxentLmHeadGrad` for wasm and cpu when BLAS is present; {@link lmHeadLogProbs} and
 * {@link lmHeadGrad} return null elsewhere so callers keep their tfjs-ops path.
 */
import * as tf from "@tensorflow/tfjs";
import type { Blas } from "./blas.ts";
import { accessFor } from "./access.ts";
import { addKernel, type KernelSwap } from "./registry.ts";
import { lmHeadGradLoop, lmHeadLogProbsLoop } from "./lm_head_loops.ts";
import { lmHeadHelper } from "./lm_head_worker.ts";

export { DEFAULT_TILING, lmHeadGradLoop, lmHeadLogProbsLoop, type LmHeadTiling } from "./lm_head_loops.ts";

/** Kernel name of the fused forward pass. */
export const LM_HEAD_LOGPROBS_KERNEL = "MaxentLmHeadLogProbs";
/** Kernel name of the fused backward pass. */
export const LM_HEAD_GRAD_KERNEL = "MaxentLmHeadGrad";

/**
 * Logits per call from which the second range goes to the worker thread (`lm_head_worker.ts`): below ~2M logits
 * (~5 ms of work) posting a job is not worth it, and the tiny models of the tests stay on one thread.
 */
export const WORKER_MIN_LOGITS = 1 << 21;

/** Registers both kernels for `backendName` using `blas`; the swaps unregister them. */
export function registerLmHeadKernels(blas: Blas, backendName: "wasm" | "cpu"): KernelSwap[] {
  const access = accessFor(backendName);
  const swaps: KernelSwap[] = [];
  const register = (kernelName: string, kernelFunc: tf.KernelFunc) =>
    swaps.push(addKernel({ kernelName, backendName, kernelFunc }));
  register(LM_HEAD_LOGPROBS_KERNEL, ({ inputs, backend }) => {
    const { h, w, targets } = inputs as Record<"h" | "w" | "targets", tf.TensorInfo>;
    const [N, H] = h.shape, V = w.shape[0];
    const out = access.outputs(backend, [[N], [N]], [h, w, targets]);
    const [hv, wv, tv, lp, lse] = out.views();
    const helper = N * V >= WORKER_MIN_LOGITS ? lmHeadHelper(blas) : null;
    lmHeadLogProbsLoop(blas, hv, wv, tv as unknown as Int32Array, N, H, V, lp, lse, undefined, undefined, helper);
    return out.infos;
  });
  register(LM_HEAD_GRAD_KERNEL, ({ inputs, backend, attrs }) => {
    const { h, w, targets, lse, dy } = inputs as Record<"h" | "w" | "targets" | "lse" | "dy", tf.TensorInfo>;
    const [N, H] = h.shape, V = w.shape[0];
    // attrs.withDw false: a frozen head, no [V, H] output and no gᵀ·h product
    const withDw = (attrs as { withDw?: boolean } | undefined)?.withDw !== false;
    const out = access.outputs(backend, withDw ? [[N, H], [V, H]] : [[N, H]], [h, w, targets, lse, dy]);
    const [hv, wv, tv, lv, dyv, dh, dw] = out.views();
    const helper = N * V >= WORKER_MIN_LOGITS ? lmHeadHelper(blas) : null;
    const dwOut = withDw ? dw : null;
    lmHeadGradLoop(
      blas,
      hv,
      wv,
      tv as unknown as Int32Array,
      lv,
      dyv,
      N,
      H,
      V,
      dh,
      dwOut,
      undefined,
      undefined,
      helper,
    );
    return out.infos;
  });
  return swaps;
}

function usable(...ts: tf.Tensor[]): boolean {
  return tf.getKernel(LM_HEAD_LOGPROBS_KERNEL, tf.getBackend()) !== undefined &&
    tf.getKernel(LM_HEAD_GRAD_KERNEL, tf.getBackend()) !== undefined &&
    ts.every((t) => !t.isDisposed);
}

/**
 * Fused forward: logp [N] = log softmax(h·wᵀ)[targets] and lse [N] = logsumexp(h·wᵀ) per row, for h [N, H] and w
 * [V, H] float32 and int32 targets in [0, V). Null when the active backend has no fused kernel (no BLAS, webgpu).
 *
 * @example
 * ```ts
 * const r = lmHeadLogProbs(h, w, targets);
 * if (r) { r.logp.print(); tf.dispose([r.logp, r.lse]); }
 * ```
 */
export function lmHeadLogProbs(
  h: tf.Tensor2D,
  w: tf.Tensor2D,
  targets: tf.Tensor1D,
): { logp: tf.Tensor1D; lse: tf.Tensor1D } | null {
  if (!usable(h, w, targets) || h.dtype !== "float32" || w.dtype !== "float32" || targets.dtype !== "int32") {
    return null;
  }
  const [logp, lse] = tf.engine().runKernel(LM_HEAD_LOGPROBS_KERNEL, { h, w, targets }) as tf.Tensor1D[];
  return { logp, lse };
}

/**
 * Fused backward of {@link lmHeadLogProbs}: given the upstream gradient dy [N] and the saved lse [N], returns dh
 * [N, H] and dw [V, H]. Null when the active backend has no fused kernel.
 */
export function lmHeadGrad(
  h: tf.Tensor2D,
  w: tf.Tensor2D,
  targets: tf.Tensor1D,
  lse: tf.Tensor1D,
  dy: tf.Tensor1D,
): { dh: tf.Tensor2D; dw: tf.Tensor2D } | null;
/**
 * With `{ withDw: false }` (a frozen head: LoRA, the reference pass): dh only, the same bits; no [V, H] output is
 * allocated and the gᵀ·h product (one of the backward's three sgemm passes over the vocabulary) is skipped.
 */
export function lmHeadGrad(
  h: tf.Tensor2D,
  w: tf.Tensor2D,
  targets: tf.Tensor1D,
  lse: tf.Tensor1D,
  dy: tf.Tensor1D,
  options: { withDw: false },
): { dh: tf.Tensor2D; dw: null } | null;
export function lmHeadGrad(
  h: tf.Tensor2D,
  w: tf.Tensor2D,
  targets: tf.Tensor1D,
  lse: tf.Tensor1D,
  dy: tf.Tensor1D,
  options: { withDw: boolean } = { withDw: true },
): { dh: tf.Tensor2D; dw: tf.Tensor2D | null } | null {
  if (!usable(h, w, targets, lse, dy) || targets.dtype !== "int32" || dy.dtype !== "float32") return null;
  const outs = tf.engine().runKernel(
    LM_HEAD_GRAD_KERNEL,
    { h, w, targets, lse, dy },
    { withDw: options.withDw },
  ) as tf.Tensor2D[];
  return { dh: outs[0], dw: options.withDw ? outs[1] : null };
}
