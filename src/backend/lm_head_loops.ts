/**
 * The LM head's blocked loops over plain Float32Arrays (no tfjs, so the worker thread of `lm_head_worker.ts` loads
 * them too): logits blocks [rows, vocab tile] = h·wᵀ go from OpenBLAS into one reused scratch buffer, where the row
 * kernels of `simd_exp.ts` turn them into a logsumexp (forward) or into dlogits in place (backward).
 *
 * The vocabulary is always cut into the same two ranges, [0, mid) and [mid, V), each with its own partial results
 * (running max and Σ exp per row; dh per row block) merged in a fixed order. A {@link RangeHelper} (a second thread)
 * may run the second range while this thread runs the first; without one this thread runs both. The arithmetic is
 * the same either way (with OpenBLAS at one thread, the same bits: tests check it); OpenBLAS's own thread count can
 * change the last bits of its products, so runs are reproducible for a given machine and thread setting.
 */
import type { Blas } from "./blas.ts";
import { jsRowKernels, type RowKernels, simdRowKernels } from "./simd_exp.ts";

/** Block sizes of the loops (tests shrink them to exercise several blocks). */
export interface LmHeadTiling {
  /** Elements of one [rows, vocab tile] block. */
  tileElements: number;
  /** Most rows in one block. */
  maxRows: number;
  /** Narrowest vocabulary tile. */
  minTile: number;
}

/**
 * Default blocks: 2^20 logits (4 MB of float32; with 1,016 rows a tile of 1,032 words). One thread's sgemm runs at
 * the same speed from 512- to 2,048-wide tiles (K = 256) and the row kernels are faster while the block is near its
 * core's L2; 16 MB blocks took ~23 % more CPU per thread (measured, bench model, one OpenBLAS thread).
 */
export const DEFAULT_TILING: LmHeadTiling = { tileElements: 1 << 20, maxRows: 4096, minTile: 512 };

/** Row blocks and vocabulary tile width for N rows over V words. */
export function tiling(N: number, V: number, t: LmHeadTiling): { rowBlock: number; vTile: number } {
  const rowBlock = Math.max(1, Math.min(N, t.maxRows));
  const vTile = Math.min(V, Math.max(t.minTile, Math.floor(t.tileElements / rowBlock)));
  return { rowBlock, vTile };
}

/** Start of the second vocabulary range: half of the tiles (rounded up) go to the first. V when one tile holds all. */
export function vocabSplit(V: number, vTile: number): number {
  return Math.min(V, Math.ceil(Math.ceil(V / vTile) / 2) * vTile);
}

let defaultRows: RowKernels | undefined;

/** The row kernels the loops use by default: wasm SIMD where available, else plain JS (one set per thread). */
export function defaultRowKernels(): RowKernels {
  return defaultRows ??= simdRowKernels() ?? jsRowKernels();
}

/** One range of the forward pass for a block of R rows; `m`, `s`, `tgt` (≥ R each) receive its partial results. */
export interface ForwardRange {
  kind: "forward";
  /** Rows [R, H] of the block (a view starting at its first row). */
  h: Float32Array;
  /** The whole head [V, H]. */
  w: Float32Array;
  /** Target ids of the block's rows. */
  targets: Int32Array;
  R: number;
  H: number;
  /** Vocabulary range [v0, v1). */
  v0: number;
  v1: number;
  vTile: number;
  /** Per row: max logit of the range, Σ exp(x − m) over the range, the target's logit when it lies in the range. */
  m: Float64Array;
  s: Float64Array;
  tgt: Float64Array;
}

/** One range of the backward pass for a block of R rows. */
export interface BackwardRange {
  kind: "backward";
  h: Float32Array;
  w: Float32Array;
  targets: Int32Array;
  /** The block's saved logsumexp and upstream gradient, one per row. */
  lse: Float32Array;
  dy: Float32Array;
  R: number;
  H: number;
  v0: number;
  v1: number;
  vTile: number;
  /** [R, H]: receives Σ over the range of g·w (overwritten). */
  dh: Float32Array;
  /**
   * The whole [V, H] gradient of w: rows [v0, v1) are written (dwBeta 0) or added to (dwBeta 1). Null for a frozen
   * w: its product gᵀ·h is skipped.
   */
  dw: Float32Array | null;
  dwBeta: 0 | 1;
}

/** A job of one range. */
export type RangeJob = ForwardRange | BackwardRange;

/** A second thread that runs one range while the caller runs the other (`lm_head_worker.ts`). */
export interface RangeHelper {
  /** Starts `job` on the other thread; false when it cannot (the caller then runs it itself). */
  start(job: RangeJob): boolean;
  /**
   * Waits for the started job; its outputs are in place afterwards. False when the other thread never took the job
   * (nothing was written: the caller runs it itself); throws when the job failed on the other thread.
   */
  finish(): boolean;
}

/**
 * Forward over one range: for each tile, block [R, C] = h·w[v0:v0+C]ᵀ, then per row the online logsumexp
 * m' = max(m, max_j x_j), s ← s·exp(m − m') + Σ_j exp(x_j − m'), and the target's logit when it lies in the tile.
 */
export function forwardRange(blas: Blas, rows: RowKernels, job: ForwardRange): void {
  const { h, w, targets, R, H, v0: start, v1: end, vTile, m, s, tgt } = job;
  const buf = rows.scratch(R * Math.min(vTile, end - start));
  m.fill(-Infinity, 0, R);
  s.fill(0, 0, R);
  tgt.fill(0, 0, R);
  for (let v0 = start; v0 < end; v0 += vTile) {
    const C = Math.min(vTile, end - v0);
    // block [R, C] = h · w[v0:v0+C]ᵀ
    blas.sgemm(false, true, R, C, H, 1, h, w.subarray(v0 * H), 0, buf);
    for (let i = 0; i < R; i++) {
      const base = i * C;
      const mt = rows.rowMax(buf, base, C);
      const mi = mt > m[i] ? mt : m[i];
      s[i] = s[i] * Math.exp(m[i] - mi) + rows.sumExp(buf, base, C, mi);
      m[i] = mi;
      const t = targets[i] - v0;
      if (t >= 0 && t < C) tgt[i] = buf[base + t];
    }
  }
}

/**
 * Backward over one range, with g_rv = dy_r · (1[v = t_r] − exp(x_rv − lse_r)) made in place per tile:
 * dh = Σ_tiles g·w_tile (the first tile overwrites), dw_tile (+)= gᵀ·h.
 */
export function backwardRange(blas: Blas, rows: RowKernels, job: BackwardRange): void {
  const { h, w, targets, lse, dy, R, H, v0: start, v1: end, vTile, dh, dw, dwBeta } = job;
  const buf = rows.scratch(R * Math.min(vTile, end - start));
  for (let v0 = start; v0 < end; v0 += vTile) {
    const C = Math.min(vTile, end - v0);
    const wTile = w.subarray(v0 * H);
    blas.sgemm(false, true, R, C, H, 1, h, wTile, 0, buf);
    for (let i = 0; i < R; i++) {
      const base = i * C;
      const c = dy[i];
      rows.scaledExp(buf, base, C, lse[i], -c);
      const t = targets[i] - v0;
      if (t >= 0 && t < C) buf[base + t] += c;
    }
    // dh (+)= g · w[v0:v0+C];  dw[v0:v0+C] (+)= gᵀ · h
    blas.sgemm(false, false, R, H, C, 1, buf, wTile, v0 === start ? 0 : 1, dh);
    if (dw) blas.sgemm(true, false, C, H, R, 1, buf, h, dwBeta, dw.subarray(v0 * H));
  }
}

/** Runs `job` here. */
export function runRange(blas: Blas, rows: RowKernels, job: RangeJob): void {
  if (job.kind === "forward") forwardRange(blas, rows, job);
  else backwardRange(blas, rows, job);
}

/**
 * Runs the first range here and the second on `helper` when there is one (OpenBLAS then uses one thread per range),
 * else both here, one after the other.
 */
function runBoth(blas: Blas, rows: RowKernels, first: RangeJob, second: RangeJob | null, helper: RangeHelper | null) {
  if (!second) return runRange(blas, rows, first);
  if (!helper) {
    runRange(blas, rows, first);
    return runRange(blas, rows, second);
  }
  const threads = blas.threads;
  blas.setThreads(1);
  try {
    const started = helper.start(second);
    try {
      runRange(blas, rows, first);
    } finally {
      // never leave while the other thread may still write into the caller's buffers
      if (started && !helper.finish()) runRange(blas, rows, second);
    }
    if (!started) runRange(blas, rows, second);
  } finally {
    blas.setThreads(threads);
  }
}

/**
 * Forward: for each row r, lse_r = logsumexp_v(h_r·w_v) and logp_r = h_r·w[t_r] − lse_r, merging the two ranges'
 * partials as m = max(m₁, m₂), s = s₁·exp(m₁ − m) + s₂·exp(m₂ − m), lse = m + log s.
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
  rows: RowKernels = defaultRowKernels(),
  helper: RangeHelper | null = null,
): void {
  const { rowBlock, vTile } = tiling(N, V, tiles);
  const mid = vocabSplit(V, vTile);
  const part = () => ({
    m: new Float64Array(rowBlock),
    s: new Float64Array(rowBlock),
    tgt: new Float64Array(rowBlock),
  });
  const a = part(), b = part();
  for (let r0 = 0; r0 < N; r0 += rowBlock) {
    const R = Math.min(rowBlock, N - r0);
    const common = { h: h.subarray(r0 * H), w, targets: targets.subarray(r0), R, H, vTile };
    const first: ForwardRange = { kind: "forward", ...common, v0: 0, v1: mid, ...a };
    const second: ForwardRange | null = mid < V ? { kind: "forward", ...common, v0: mid, v1: V, ...b } : null;
    runBoth(blas, rows, first, second, helper);
    for (let i = 0; i < R; i++) {
      let l: number, x: number;
      if (second) {
        const mm = a.m[i] > b.m[i] ? a.m[i] : b.m[i];
        l = mm + Math.log(a.s[i] * Math.exp(a.m[i] - mm) + b.s[i] * Math.exp(b.m[i] - mm));
        x = targets[r0 + i] < mid ? a.tgt[i] : b.tgt[i];
      } else {
        l = a.m[i] + Math.log(a.s[i]);
        x = a.tgt[i];
      }
      lse[r0 + i] = l;
      logp[r0 + i] = x - l;
    }
  }
}

/**
 * Backward of logp_r = x_r[t_r] − logsumexp(x_r), x = h·wᵀ, given dy [N] and the saved lse [N]:
 *   g_rv = dy_r · (1[v = t_r] − exp(x_rv − lse_r));  dh = g · w  [N, H];  dw = gᵀ · h  [V, H].
 * Per vocabulary tile the block g is made in place and both products go to BLAS; dh = dh₁ + dh₂ (one per range),
 * each dw tile is written once per row block, so no [V, H] temporary and no Add exist. With `dw` null (a frozen
 * head) the gᵀ·h product is skipped: dh comes out the same, bit for bit, with one sgemm of three less per tile.
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
  dw: Float32Array | null,
  tiles: LmHeadTiling = DEFAULT_TILING,
  rows: RowKernels = defaultRowKernels(),
  helper: RangeHelper | null = null,
): void {
  if (N === 0) {
    dw?.fill(0);
    return;
  }
  const { rowBlock, vTile } = tiling(N, V, tiles);
  const mid = vocabSplit(V, vTile);
  const dh2 = mid < V ? new Float32Array(rowBlock * H) : null;
  for (let r0 = 0; r0 < N; r0 += rowBlock) {
    const R = Math.min(rowBlock, N - r0);
    const common = {
      h: h.subarray(r0 * H),
      w,
      targets: targets.subarray(r0),
      lse: lse.subarray(r0),
      dy: dy.subarray(r0),
      R,
      H,
      vTile,
      dw,
      dwBeta: (r0 === 0 ? 0 : 1) as 0 | 1,
    };
    const dhBlock = dh.subarray(r0 * H, (r0 + R) * H);
    const first: BackwardRange = { kind: "backward", ...common, v0: 0, v1: mid, dh: dhBlock };
    const second: BackwardRange | null = dh2 ? { kind: "backward", ...common, v0: mid, v1: V, dh: dh2 } : null;
    runBoth(blas, rows, first, second, helper);
    // dh = dh₁ + dh₂
    if (dh2) { for (let j = 0; j < R * H; j++) dhBlock[j] += dh2[j]; }
  }
}
