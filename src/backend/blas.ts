/**
 * OpenBLAS through Deno's FFI: finds and opens `libopenblas.so.0` (Debian's libopenblas0-pthread) and exposes
 * `cblas_sgemm`, the single-precision matrix product that the BatchMatMul kernels hand their work to.
 * Loading never throws: a missing library, `MAXENT_BLAS=0` or a missing `--allow-ffi` gives `null` plus a reason.
 */

/** Row-major layout constant of the CBLAS interface. */
const CBLAS_ROW_MAJOR = 101;
/** "Do not transpose" / "transpose" constants of the CBLAS interface. */
const CBLAS_NO_TRANS = 111;
const CBLAS_TRANS = 112;

const SYMBOLS = {
  cblas_sgemm: {
    parameters: [
      "i32",
      "i32",
      "i32",
      "i32",
      "i32",
      "i32",
      "f32",
      "buffer",
      "i32",
      "buffer",
      "i32",
      "f32",
      "buffer",
      "i32",
    ],
    result: "void",
  },
  openblas_set_num_threads: { parameters: ["i32"], result: "void" },
  openblas_get_num_threads: { parameters: [], result: "i32" },
  openblas_get_config: { parameters: [], result: "pointer" },
} as const;

/** Places Debian and other distributions put OpenBLAS; the bare soname goes through the dynamic loader's search. */
export const BLAS_CANDIDATES: readonly string[] = [
  "/usr/lib/x86_64-linux-gnu/openblas-pthread/libopenblas.so.0",
  "/usr/lib/x86_64-linux-gnu/libopenblas.so.0",
  "/usr/lib/aarch64-linux-gnu/openblas-pthread/libopenblas.so.0",
  "/usr/lib/aarch64-linux-gnu/libopenblas.so.0",
  "/usr/lib64/libopenblas.so.0",
  "/usr/lib/libopenblas.so.0",
  "/usr/local/lib/libopenblas.so.0",
  "/opt/homebrew/opt/openblas/lib/libopenblas.dylib",
  "/usr/local/opt/openblas/lib/libopenblas.dylib",
  "libopenblas.so.0",
];

/** An opened BLAS library. */
export interface Blas {
  /** The path or soname that was opened. */
  path: string;
  /** OpenBLAS's build description (e.g. "OpenBLAS 0.3.21 DYNAMIC_ARCH NO_AFFINITY Haswell MAX_THREADS=64"). */
  config: string;
  /** Threads OpenBLAS uses for one call. */
  threads: number;
  /**
   * C = alpha · op(A) · op(B) + beta · C for row-major float32 matrices, op(X) = Xᵀ when the flag is set.
   * A is [M,K] (or [K,M] when transA), B is [K,N] (or [N,K] when transB), C is [M,N]; the arrays are views that start
   * at each matrix's first element (they may be views into a wasm heap).
   */
  sgemm(
    transA: boolean,
    transB: boolean,
    m: number,
    n: number,
    k: number,
    alpha: number,
    a: Float32Array,
    b: Float32Array,
    beta: number,
    c: Float32Array,
  ): void;
  /** Sets the thread count OpenBLAS uses from now on. */
  setThreads(n: number): void;
  /** Closes the library; the kernels that use it must be unregistered first. */
  close(): void;
}

/** The result of {@link loadBlas}: the library, or why there is none. */
export type BlasLoad = { blas: Blas; reason?: undefined } | { blas: null; reason: string };

let cached: BlasLoad | undefined;

/**
 * Opens OpenBLAS once per process (later calls return the same result). `MAXENT_BLAS=0` disables it,
 * `MAXENT_BLAS=/path/libopenblas.so.0` picks the file; otherwise the usual paths are tried in order.
 *
 * @example
 * ```ts
 * const { blas, reason } = loadBlas();
 * console.log(blas ? `BLAS: ${blas.path}` : `no BLAS: ${reason}`);
 * ```
 */
export function loadBlas(): BlasLoad {
  if (cached) return cached;
  cached = openBlas();
  return cached;
}

/** Forgets the cached result of {@link loadBlas} (for tests that change `MAXENT_BLAS`); closes an open library. */
export function resetBlas(): void {
  if (cached?.blas) cached.blas.close();
  cached = undefined;
}

function envVar(name: string): string | undefined {
  try {
    return Deno.env.get(name);
  } catch {
    return undefined; // no --allow-env
  }
}

function openBlas(): BlasLoad {
  const override = envVar("MAXENT_BLAS");
  if (override === "0" || override === "off" || override === "false") {
    return { blas: null, reason: "disabled by MAXENT_BLAS=0" };
  }
  const candidates = override ? [override] : BLAS_CANDIDATES;
  const errors: string[] = [];
  for (const path of candidates) {
    let lib: Deno.DynamicLibrary<typeof SYMBOLS>;
    try {
      lib = Deno.dlopen(path, SYMBOLS);
    } catch (e) {
      const msg = e instanceof Error ? e.message : String(e);
      if (e instanceof Deno.errors.NotCapable || e instanceof Deno.errors.PermissionDenied || /allow-ffi/.test(msg)) {
        return { blas: null, reason: "no FFI permission (run with --allow-ffi to use OpenBLAS)" };
      }
      errors.push(`${path}: ${msg.split("\n")[0]}`);
      continue;
    }
    return { blas: wrap(path, lib, true) };
  }
  const hint = override
    ? `MAXENT_BLAS=${override} could not be opened (${errors[0] ?? "unknown error"})`
    : "libopenblas.so.0 not found (install it: apt-get install libopenblas0-pthread, or set MAXENT_BLAS=/path)";
  return { blas: null, reason: hint };
}

/**
 * Opens the BLAS library at `path` (as {@link loadBlas} found it) for a second thread, e.g. the LM head's worker: the
 * thread count, which OpenBLAS keeps for the whole process, is left as the main thread set it. Throws when it cannot
 * be opened.
 */
export function openBlasForThread(path: string): Blas {
  return wrap(path, Deno.dlopen(path, SYMBOLS), false);
}

function wrap(path: string, lib: Deno.DynamicLibrary<typeof SYMBOLS>, setThreads: boolean): Blas {
  const s = lib.symbols;
  let config = "";
  try {
    const p = s.openblas_get_config();
    if (p) config = new Deno.UnsafePointerView(p).getCString();
  } catch {
    config = "";
  }
  if (setThreads) {
    const want = Number(envVar("OPENBLAS_NUM_THREADS") ?? "") || navigator.hardwareConcurrency || 1;
    s.openblas_set_num_threads(want);
  }
  const blas: Blas = {
    path,
    config,
    threads: s.openblas_get_num_threads(),
    sgemm(transA, transB, m, n, k, alpha, a, b, beta, c) {
      // Row-major leading dimensions: the stored row length of each operand.
      const lda = transA ? m : k;
      const ldb = transB ? k : n;
      s.cblas_sgemm(
        CBLAS_ROW_MAJOR,
        transA ? CBLAS_TRANS : CBLAS_NO_TRANS,
        transB ? CBLAS_TRANS : CBLAS_NO_TRANS,
        m,
        n,
        k,
        alpha,
        a,
        lda,
        b,
        ldb,
        beta,
        c,
        n,
      );
    },
    setThreads(n) {
      s.openblas_set_num_threads(n);
      blas.threads = s.openblas_get_num_threads();
    },
    close() {
      lib.close();
    },
  };
  return blas;
}
