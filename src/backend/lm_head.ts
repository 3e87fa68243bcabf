/**
 * The LM head's log-softmax over the vocabulary, fused: per-token log-probabilities of target ids under logits
 * h·wᵀ and their gradient, computed in [rows, vocab-tile] blocks through OpenBLAS into one reused scratch buffer.
 * The stock path (matmul, max, sub, exp, sum, log per chunk, and in the backward pass sub, exp, mul, two matmuls, a
 * scatter and an [V, H] Add per chunk) allocates a fresh full-size tensor for every op; with Qwen's 151,936-word
 * vocabulary that traffic, not the arithmetic, dominated a training step. Registered as the kernels
 * `MaxentLmHeadLogProbs` and `MaxentLmHeadGrad` for wasm and cpu when BLAS is present; {@link lmHeadLogProbs} and
 * {@link lmHeadGrad} return null elsewhere so callers keep their tfjs-ops path.
 */
import * as tf from "@tensorflow/tfjs";
import type { Blas } from "./blas.ts";
import { accessFor } from "./access.ts";
import { addKernel, type KernelSwap } from "./registry.ts";
import { jsRowKernels, type RowKernels, simdRowKernels } from "./simd_exp.ts";

/** Kernel name of the fused forward pass. */
export const LM_HEAD_LOGPROBS_KERNEL = "MaxentLmHeadLogProbs";
/** Kernel name of the fused backward pass. */
export const LM_HEAD_GRAD_KERNEL = "MaxentLmHeadGrad";

/** Elements of one [rows, vocab tile] logits block (16 MB of float32). */
const TILE_ELEMENTS = 1 << 22;
/** Most rows in one block; longer inputs are processed in row blocks. */
const MAX_ROWS = 4096;

let defaultRows: RowKernels | undefined;

/** The row kernels the loops use by default: wasm SIMD where available, else plain JS. */
function rowKernels(): RowKernels {
  return defaultRows ??= simdRowKernels() ?? jsRowKernels();
}

/** Block sizes of the loops (tests shrink them to exercise several blocks). */
export interface LmHeadTiling {
  /** Elements of one [rows, vocab tile] block. */
  tileElements: number;
  /** Most rows in one block. */
  maxRows: number;
  /** Narrowest vocabulary tile. */
  minTile: number;
}

const DEFAULT_TILING: LmHeadTiling = { tileElements: TILE_ELEMENTS, maxRows: MAX_ROWS, minTile: 512 };

/** Row blocks and vocabulary tile width for N rows over V words. */
function tiling(N: number, V: number, t: LmHeadTiling): { rowBlock: number; vTile: number } {
  const rowBlock = Math.max(1, Math.min(N, t.maxRows));
  const vTile = Math.min(V, Math.max(t.minTile, Math.floor(t.tileElements / rowBlock)));
  return { rowBlock, vTile };
}

/**
 * Forward: for each row r, lse_r = logsumexp_v(h_r·w_v) (online over vocabulary tiles: running max m and sum s,
 * s ← s·exp(m − m') + Σ exp(x − m')) and logp_r = h_r·w[t_r] − lse_r.
 * h [N, H], w [V, H], targets [N] (int32, in [0, V)); writes logp [N] and lse [N].
 */
export function lmHeadLogProbsLoop(
  blas: Blas,
  h: Float32Array,
  w: Float32Array,
  targets: Int32Array,
  N: number,
  H: number,
  V: number,
  logp: Float32Array,
  lse: Float32Array,
  tiles: LmHeadTiling = DEFAULT_TILING,
  rows: RowKernels = rowKernels(),
): void {
  const { rowBlock, vTile } = tiling(N, V, tiles);
  const buf = rows.scratch(rowBlock * vTile);
  const m = new Float64Array(rowBlock), s = new Float64Array(rowBlock), tgt = new Float64Array(rowBlock);
  for (let r0 = 0; r0 < N; r0 += rowBlock) {
    const R = Math.min(rowBlock, N - r0);
    m.fill(-Infinity);
    s.fill(0);
    for (let v0 = 0; v0 < V; v0 += vTile) {
      const C = Math.min(vTile, V - v0);
      // block [R, C] = h[r0:r0+R] · w[v0:v0+C]ᵀ
      blas.sgemm(false, true, R, C, H, 1, h.subarray(r0 * H), w.subarray(v0 * H), 0, buf);
      for (let i = 0; i < R; i++) {
        const base = i * C;
        const mt = rows.rowMax(buf, base, C);
        const mi = mt > m[i] ? mt : m[i];
        s[i] = s[i] * Math.exp(m[i] - mi) + rows.sumExp(buf, base, C, mi);
        m[i] = mi;
        const t = targets[r0 + i] - v0;
        if (t >= 0 && t < C) tgt[i] = buf[base + t];
      }
    }
    for (let i = 0; i < R; i++) {
      const l = m[i] + Math.log(s[i]);
      lse[r0 + i] = l;
      logp[r0 + i] = tgt[i] - l;
    }
  }
}

/**
 * Backward of logp_r = x_r[t_r] − logsumexp(x_r), x = h·wᵀ, given dy [N] and the saved lse [N]:
 *   g_rv = dy_r · (1[v = t_r] − exp(x_rv − lse_r));  dh = g · w  [N, H];  dw = gᵀ · h  [V, H].
 * Per vocabulary tile the block g is made in place and both products go to BLAS (dh accumulated over tiles, each
 * dw tile written once per row block), so no [V, H] temporary and no Add exist.
 */
export function lmHeadGradLoop(
  blas: Blas,
  h: Float32Array,
  w: Float32Array,
  targets: Int32Array,
  lse: Float32Array,
  dy: Float32Array,
  N: number,
  H: number,
  V: number,
  dh: Float32Array,
  dw: Float32Array,
  tiles: LmHeadTiling = DEFAULT_TILING,
  rows: RowKernels = rowKernels(),
): void {
  if (N === 0) {
    dw.fill(0);
    return;
  }
  const { rowBlock, vTile } = tiling(N, V, tiles);
  const buf = rows.scratch(rowBlock * vTile);
  for (let r0 = 0; r0 < N; r0 += rowBlock) {
    const R = Math.min(rowBlock, N - r0);
    const hBlock = h.subarray(r0 * H);
    const dhBlock = dh.subarray(r0 * H);
    for (let v0 = 0; v0 < V; v0 += vTile) {
      const C = Math.min(vTile, V - v0);
      const wTile = w.subarray(v0 * H);
      blas.sgemm(false, true, R, C, H, 1, hBlock, wTile, 0, buf);
      for (let i = 0; i < R; i++) {
        const base = i * C;
        const c = dy[r0 + i];
        rows.scaledExp(buf, base, C, lse[r0 + i], -c);
        const t = targets[r0 + i] - v0;
        if (t >= 0 && t < C) buf[base + t] += c;
      }
      // dh[r0:r0+R] (+)= g · w[v0:v0+C];  dw[v0:v0+C] (+)= gᵀ · h[r0:r0+R]
      blas.sgemm(false, false, R, H, C, 1, buf, wTile, v0 === 0 ? 0 : 1, dhBlock);
      blas.sgemm(true, false, C, H, R, 1, buf, hBlock, r0 === 0 ? 0 : 1, dw.subarray(v0 * H));
    }
  }
}

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
    lmHeadLogProbsLoop(blas, hv, wv, tv as unknown as Int32Array, N, H, V, lp, lse);
    return out.infos;
  });
  register(LM_HEAD_GRAD_KERNEL, ({ inputs, backend }) => {
    const { h, w, targets, lse, dy } = inputs as Record<"h" | "w" | "targets" | "lse" | "dy", tf.TensorInfo>;
    const [N, H] = h.shape, V = w.shape[0];
    const out = access.outputs(backend, [[N, H], [V, H]], [h, w, targets, lse, dy]);
    const [hv, wv, tv, lv, dyv, dh, dw] = out.views();
    lmHeadGradLoop(blas, hv, wv, tv as unknown as Int32Array, lv, dyv, N, H, V, dh, dw);
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
): { dh: tf.Tensor2D; dw: tf.Tensor2D } | null {
  if (!usable(h, w, targets, lse, dy) || targets.dtype !== "int32" || dy.dtype !== "float32") return null;
  const [dh, dw] = tf.engine().runKernel(LM_HEAD_GRAD_KERNEL, { h, w, targets, lse, dy }) as tf.Tensor2D[];
  return { dh, dw };
}
