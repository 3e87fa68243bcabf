/**
 * A second thread for the LM head's loops (`lm_head_loops.ts`): a Deno Worker that runs the second vocabulary range
 * of each row block (its own sgemm calls, OpenBLAS at one thread each, and its own wasm SIMD row kernels) while the
 * calling thread runs the first. On a 2-core machine this keeps both cores busy through the row work, which OpenBLAS's
 * own second thread would otherwise sit out.
 *
 * The calling thread stays synchronous (tfjs kernels must be): it posts a job into a SharedArrayBuffer, runs its own
 * range, then blocks in `Atomics.wait` until the worker is done. The job's arrays are passed as raw addresses (the
 * worker maps them with `Deno.UnsafePointerView`, OpenBLAS writes through them), so the tfjs wasm heap needs no
 * copying and no sharing; the caller holds every buffer still until the job ends. The worker closes itself after
 * {@link IDLE_MS} without work (a live worker would keep a script from exiting) and is started again on the next job.
 * Without `--allow-ffi` in the worker, or when it cannot start, the caller runs both ranges itself.
 *
 * This module is both sides: imported normally it exports {@link lmHeadHelper}; as a worker's main module it serves.
 */
import { openBlasForThread } from "./blas.ts";
import type { Blas } from "./blas.ts";
import { defaultRowKernels, type RangeHelper, type RangeJob, runRange } from "./lm_head_loops.ts";

/** How long the worker waits for the next job before it closes itself. */
export const IDLE_MS = 1000;
/** How long the caller waits, after its own range, for a worker that has not yet taken the job before it runs it. */
const START_GRACE_MS = 10_000;

// ctl (Int32Array over the SharedArrayBuffer) slots
const STATE = 0, READY = 1, KIND = 2, R_ = 3, H_ = 4, V0 = 5, V1 = 6, TILE = 7, BETA = 8, MSG_LEN = 9;
const CTL_INTS = 16;
// ptr (BigInt64Array after ctl) slots
const P_H = 0, P_W = 1, P_T = 2, P_LSE = 3, P_DY = 4, P_OUT0 = 5, P_OUT1 = 6, P_OUT2 = 7, P_DW = 8, P_DWLEN = 9;
const PTRS = 10;
const MSG_BYTES = 1024;
// job states
const IDLE = 0, POSTED = 1, RUNNING = 2, DONE = 3, FAILED = 4, CLOSED = 5;

function layout(sab: SharedArrayBuffer) {
  return {
    ctl: new Int32Array(sab, 0, CTL_INTS),
    ptr: new BigInt64Array(sab, CTL_INTS * 4, PTRS),
    msg: new Uint8Array(sab, CTL_INTS * 4 + PTRS * 8, MSG_BYTES),
  };
}
const SAB_BYTES = CTL_INTS * 4 + PTRS * 8 + MSG_BYTES;

function address(a: ArrayBufferView): bigint {
  return BigInt(Deno.UnsafePointer.value(Deno.UnsafePointer.of(a)));
}

let current: WorkerHelper | null = null;
let jobsDone = 0;

/** The main-thread side: one worker at a time, (re)started on demand. */
export class WorkerHelper implements RangeHelper {
  /** Why this helper is off for good (null while it may be used): every job then runs on the caller. */
  disabled: string | null = null;
  #worker: Worker | null = null;
  #sab = new SharedArrayBuffer(SAB_BYTES);
  readonly #blasPath: string;

  constructor(blasPath: string) {
    this.#blasPath = blasPath;
  }

  #spawn(): boolean {
    try {
      this.#sab = new SharedArrayBuffer(SAB_BYTES);
      const worker = new Worker(new URL("./lm_head_worker.ts", import.meta.url).href, {
        type: "module",
        name: "maxent-lm-head",
      });
      // an error in the worker must not take the process down: the job comes back to the caller instead
      worker.onerror = (e) => {
        e.preventDefault();
        this.disabled ??= `the LM-head worker failed: ${e.message}`;
      };
      worker.postMessage({ sab: this.#sab, blasPath: this.#blasPath });
      this.#worker = worker;
      return true;
    } catch (e) {
      this.disabled = `cannot start the LM-head worker: ${e instanceof Error ? e.message : String(e)}`;
      return false;
    }
  }

  start(job: RangeJob): boolean {
    if (this.disabled) return false;
    let { ctl, ptr } = layout(this.#sab);
    // a worker that closed itself (idle) or never existed: start one; its first look at the state finds the job
    if (!this.#worker || Atomics.load(ctl, STATE) === CLOSED) {
      this.#worker?.terminate();
      this.#worker = null;
      if (!this.#spawn()) return false;
      ({ ctl, ptr } = layout(this.#sab));
    }
    ctl[KIND] = job.kind === "forward" ? 0 : 1;
    ctl[R_] = job.R;
    ctl[H_] = job.H;
    ctl[V0] = job.v0;
    ctl[V1] = job.v1;
    ctl[TILE] = job.vTile;
    ptr[P_H] = address(job.h);
    ptr[P_W] = address(job.w);
    ptr[P_T] = address(job.targets);
    if (job.kind === "forward") {
      ptr[P_OUT0] = address(job.m);
      ptr[P_OUT1] = address(job.s);
      ptr[P_OUT2] = address(job.tgt);
    } else {
      ctl[BETA] = job.dwBeta;
      ptr[P_LSE] = address(job.lse);
      ptr[P_DY] = address(job.dy);
      ptr[P_OUT0] = address(job.dh);
      // a frozen head's job has no dw (address 0: the worker skips the gᵀ·h product too)
      ptr[P_DW] = job.dw ? address(job.dw) : 0n;
      ptr[P_DWLEN] = BigInt(job.dw?.length ?? 0);
    }
    // IDLE → POSTED; a worker that closed itself just now (CLOSED) gets a successor
    if (Atomics.compareExchange(ctl, STATE, IDLE, POSTED) !== IDLE) {
      this.#worker?.terminate();
      this.#worker = null;
      if (!this.#spawn()) return false;
      return this.start(job);
    }
    Atomics.notify(ctl, STATE);
    return true;
  }

  finish(): boolean {
    const { ctl, msg } = layout(this.#sab);
    const t0 = performance.now();
    for (;;) {
      const st = Atomics.load(ctl, STATE);
      if (st === DONE) {
        Atomics.compareExchange(ctl, STATE, DONE, IDLE);
        jobsDone++;
        return true;
      }
      if (st === CLOSED) {
        // the worker could not run it (no BLAS in the worker): the caller runs it, and this process stops asking
        this.disabled ??= `the LM-head worker cannot run sgemm: ${
          new TextDecoder().decode(msg.slice(0, ctl[MSG_LEN]))
        }`;
        this.#worker = null;
        return false;
      }
      if (st === FAILED) {
        const text = new TextDecoder().decode(msg.slice(0, ctl[MSG_LEN]));
        Atomics.store(ctl, STATE, IDLE);
        throw new Error(`LM-head worker: ${text}`);
      }
      if (st === POSTED && performance.now() - t0 > START_GRACE_MS) {
        // not taken: take it back (the worker, should it start later, finds CLOSED and leaves)
        if (Atomics.compareExchange(ctl, STATE, POSTED, CLOSED) === POSTED) {
          this.#worker?.terminate();
          this.#worker = null;
          if (!Atomics.load(ctl, READY)) this.disabled = "the LM-head worker did not start within 10 s";
          return false;
        }
        continue;
      }
      Atomics.wait(ctl, STATE, st, 100);
    }
  }

  /** Ends the worker now (tests; a worker also ends itself when idle). */
  stop(): void {
    this.#worker?.terminate();
    this.#worker = null;
  }
}

function envVar(name: string): string | undefined {
  try {
    return Deno.env.get(name);
  } catch {
    return undefined;
  }
}

/**
 * The helper for `blas`: a worker thread when OpenBLAS runs two threads (a 2-core machine: one thread per range
 * then, the row work on both cores), the process may start workers and `MAXENT_LM_HEAD_WORKER` is not 0; else null
 * (the loops then run both ranges here with OpenBLAS's own threads). `force` skips the thread-count condition (tests).
 */
export function lmHeadHelper(blas: Blas, force = false): RangeHelper | null {
  if (current?.disabled || envVar("MAXENT_LM_HEAD_WORKER") === "0") return null;
  if (!force && blas.threads !== 2) return null;
  if (typeof Worker === "undefined" || typeof SharedArrayBuffer === "undefined") return null;
  if (!current) current = new WorkerHelper(blas.path);
  return current;
}

/** Why the worker is not used in this process, or null. */
export function lmHeadWorkerDisabled(): string | null {
  return current?.disabled ?? null;
}

/** Jobs the worker has completed in this process (tests check that the second thread really ran). */
export function lmHeadWorkerJobs(): number {
  return jobsDone;
}

/** Terminates the worker, if one is running (it also closes itself after {@link IDLE_MS} idle). */
export function stopLmHeadWorker(): void {
  current?.stop();
  current = null;
}

// ---- worker side ----------------------------------------------------------------------------------------------

function f32(p: bigint, n: number): Float32Array {
  return new Float32Array(Deno.UnsafePointerView.getArrayBuffer(Deno.UnsafePointer.create(p)!, n * 4));
}
function f64(p: bigint, n: number): Float64Array {
  return new Float64Array(Deno.UnsafePointerView.getArrayBuffer(Deno.UnsafePointer.create(p)!, n * 8));
}
function i32(p: bigint, n: number): Int32Array {
  return new Int32Array(Deno.UnsafePointerView.getArrayBuffer(Deno.UnsafePointer.create(p)!, n * 4));
}

/** The job in `sab` as a RangeJob over views of the caller's memory. */
function readJob(ctl: Int32Array, ptr: BigInt64Array): RangeJob {
  const R = ctl[R_], H = ctl[H_], v0 = ctl[V0], v1 = ctl[V1], vTile = ctl[TILE];
  const V = v1; // rows of w the range reads
  const h = f32(ptr[P_H], R * H), w = f32(ptr[P_W], V * H), targets = i32(ptr[P_T], R);
  if (ctl[KIND] === 0) {
    return {
      kind: "forward",
      h,
      w,
      targets,
      R,
      H,
      v0,
      v1,
      vTile,
      m: f64(ptr[P_OUT0], R),
      s: f64(ptr[P_OUT1], R),
      tgt: f64(ptr[P_OUT2], R),
    };
  }
  return {
    kind: "backward",
    h,
    w,
    targets,
    lse: f32(ptr[P_LSE], R),
    dy: f32(ptr[P_DY], R),
    R,
    H,
    v0,
    v1,
    vTile,
    dh: f32(ptr[P_OUT0], R * H),
    dw: ptr[P_DW] === 0n ? null : f32(ptr[P_DW], Number(ptr[P_DWLEN])),
    dwBeta: ctl[BETA] as 0 | 1,
  };
}

function serve(sab: SharedArrayBuffer, blasPath: string): void {
  const { ctl, ptr, msg } = layout(sab);
  const fail = (e: unknown) => {
    const bytes = new TextEncoder().encode(e instanceof Error ? e.message : String(e)).slice(0, MSG_BYTES);
    msg.set(bytes);
    ctl[MSG_LEN] = bytes.length;
  };
  let blas: Blas | null = null;
  try {
    blas = openBlasForThread(blasPath);
  } catch (e) {
    fail(e);
  }
  const rows = defaultRowKernels();
  Atomics.store(ctl, READY, 1);
  for (;;) {
    const st = Atomics.load(ctl, STATE);
    if (st === POSTED) {
      // without BLAS the job goes back untouched (CLOSED: the caller runs it and stops using workers)
      if (!blas) {
        if (Atomics.compareExchange(ctl, STATE, POSTED, CLOSED) === POSTED) Atomics.notify(ctl, STATE);
        break;
      }
      if (Atomics.compareExchange(ctl, STATE, POSTED, RUNNING) !== POSTED) continue;
      let ok = true;
      try {
        runRange(blas, rows, readJob(ctl, ptr));
      } catch (e) {
        fail(e);
        ok = false;
      }
      Atomics.store(ctl, STATE, ok ? DONE : FAILED);
      Atomics.notify(ctl, STATE);
      continue;
    }
    if (st === CLOSED) break;
    if (
      Atomics.wait(ctl, STATE, st, IDLE_MS) === "timed-out" && Atomics.compareExchange(ctl, STATE, st, CLOSED) === st
    ) break;
  }
  blas?.close();
  workerScope?.close();
}

/** Inside a worker: its global scope (`self.close()` ends the worker, not the process). */
interface WorkerScope {
  onmessage: ((e: MessageEvent<{ sab: SharedArrayBuffer; blasPath: string }>) => void) | null;
  close(): void;
}
const workerScope = "WorkerGlobalScope" in globalThis ? globalThis as unknown as WorkerScope : null;

if (import.meta.main && workerScope) {
  workerScope.onmessage = (e) => serve(e.data.sab, e.data.blasPath);
}
