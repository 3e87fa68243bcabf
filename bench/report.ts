/**
 * What benchmark suites share: the result record, the `Report` callback, a timing helper and the machine line.
 * Suites import from here (not from main.ts, which imports the suites).
 */

/** One measured number. */
export interface BenchResult {
  /** What was measured, e.g. "maxent weights, 10k groups of K=8". */
  name: string;
  /** The number. */
  value: number;
  /** Its unit, e.g. "ms", "groups/s". */
  unit: string;
  /** Anything needed to read it (sizes, backend, iterations). */
  detail?: string;
}

/** Suites call this once per number they measured. */
export type Report = (result: BenchResult) => void;

/** A suite module. */
export interface Suite {
  run(report: Report): Promise<void>;
}

/**
 * Times `fn` after `warmup` calls: repeats it until both `minIters` calls and `minMs` milliseconds have passed, and
 * returns the median milliseconds per call over batches of calls.
 */
export function measure(fn: () => void, opts: { warmup?: number; minIters?: number; minMs?: number } = {}): number {
  const { warmup = 2, minIters = 5, minMs = 500 } = opts;
  for (let i = 0; i < warmup; i++) fn();
  const times: number[] = [];
  const start = performance.now();
  while (times.length < minIters || performance.now() - start < minMs) {
    const t0 = performance.now();
    fn();
    times.push(performance.now() - t0);
  }
  times.sort((a, b) => a - b);
  return times[Math.floor(times.length / 2)];
}

/** {@link measure} for an async `fn` (one that ends with `await t.data()`: webgpu has no synchronous read). */
export async function measureAsync(
  fn: () => Promise<void>,
  opts: { warmup?: number; minIters?: number; minMs?: number } = {},
): Promise<number> {
  const { warmup = 2, minIters = 5, minMs = 500 } = opts;
  for (let i = 0; i < warmup; i++) await fn();
  const times: number[] = [];
  const start = performance.now();
  while (times.length < minIters || performance.now() - start < minMs) {
    const t0 = performance.now();
    await fn();
    times.push(performance.now() - t0);
  }
  times.sort((a, b) => a - b);
  return times[Math.floor(times.length / 2)];
}

/**
 * The backends a per-backend suite (model, sampling) runs: the comma list in `MAXENT_BENCH_BACKENDS` (e.g. `webgpu`
 * on a GPU machine) or the suite's defaults.
 */
export function benchBackends<T extends string>(defaults: T[]): T[] {
  const list = Deno.env.get("MAXENT_BENCH_BACKENDS");
  return list ? list.split(",").map((s) => s.trim() as T).filter(Boolean) : defaults;
}

/**
 * Whether to skip a backend because it is WebGPU on a software adapter (Mesa's llvmpipe: minutes per batch, and
 * nothing to learn about a GPU); `MAXENT_BENCH_WEBGPU_SOFTWARE=1` runs it anyway, as a smoke test.
 */
export function skipSoftwareWebgpu(info: { name: string; detail: string }): boolean {
  return info.name === "webgpu" && /llvmpipe|lavapipe|swiftshader|software/i.test(info.detail) &&
    Deno.env.get("MAXENT_BENCH_WEBGPU_SOFTWARE") !== "1";
}

/** A one-line description of the machine: CPU model, core count, Deno version, date. */
export function machineLine(): string {
  let cpu = "unknown CPU";
  try {
    // Deno needs --allow-all to read /proc/cpuinfo directly; lscpu (--allow-run) prints the same model name.
    const out = new Deno.Command("lscpu", { env: { LC_ALL: "C" } }).outputSync();
    cpu = /^Model name:\s*(.+)$/m.exec(new TextDecoder().decode(out.stdout))?.[1]?.trim() ?? cpu;
  } catch {
    // no lscpu or no --allow-run: leave it unknown
  }
  const cores = navigator.hardwareConcurrency;
  return `${cpu}, ${cores} logical cores, deno ${Deno.version.deno}, ${new Date().toISOString().slice(0, 16)}Z`;
}
