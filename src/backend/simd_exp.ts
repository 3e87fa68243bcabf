/**
 * Row kernels of the vocabulary log-softmax (max, Σ exp(x − s), x ← c·exp(x − l)) over a float32 scratch block: a
 * wasm SIMD version (f32x4 Cephes exp, `simd_exp.wat`, ~10× faster than a `Math.exp` loop) whose scratch lives in
 * the module's own memory so OpenBLAS can write the logits straight into it, and a plain-JS version (fallback and
 * reference). Rows are given as (float offset, length) into the block.
 */
import { SIMD_EXP_WASM_BASE64 } from "./simd_exp_wasm.ts";

/** A scratch block and the row kernels that run on it. */
export interface RowKernels {
  /** Which implementation this is. */
  readonly kind: "simd" | "js";
  /** A scratch block of at least n floats (views taken before may be detached by growth: take a new one per call). */
  scratch(n: number): Float32Array;
  /** max_j x[base + j], j < n. */
  rowMax(x: Float32Array, base: number, n: number): number;
  /** Σ_j exp(x[base + j] − s), in float64. */
  sumExp(x: Float32Array, base: number, n: number, s: number): number;
  /** x[base + j] ← c · exp(x[base + j] − l). */
  scaledExp(x: Float32Array, base: number, n: number, l: number, c: number): void;
}

/** Plain-JS row kernels on a JS scratch array. */
export function jsRowKernels(): RowKernels {
  let buf = new Float32Array(0);
  return {
    kind: "js",
    scratch(n) {
      if (buf.length < n) buf = new Float32Array(n);
      return buf;
    },
    rowMax(x, base, n) {
      let m = -Infinity;
      for (let j = base; j < base + n; j++) if (x[j] > m) m = x[j];
      return m;
    },
    sumExp(x, base, n, s) {
      let acc = 0;
      for (let j = base; j < base + n; j++) acc += Math.exp(x[j] - s);
      return acc;
    },
    scaledExp(x, base, n, l, c) {
      for (let j = base; j < base + n; j++) x[j] = c * Math.exp(x[j] - l);
    },
  };
}

interface SimdExports {
  memory: WebAssembly.Memory;
  rowMax(p: number, n: number): number;
  sumExp(p: number, n: number, s: number): number;
  scaledExp(p: number, n: number, l: number, c: number): void;
}

/** The wasm SIMD row kernels, or null where WebAssembly SIMD is unavailable. The scratch starts at byte 0. */
export function simdRowKernels(): RowKernels | null {
  let ex: SimdExports;
  try {
    const bytes = Uint8Array.from(atob(SIMD_EXP_WASM_BASE64), (c) => c.charCodeAt(0));
    ex = new WebAssembly.Instance(new WebAssembly.Module(bytes)).exports as unknown as SimdExports;
  } catch {
    return null;
  }
  const js = jsRowKernels();
  return {
    kind: "simd",
    scratch(n) {
      const need = n * 4 - ex.memory.buffer.byteLength;
      if (need > 0) ex.memory.grow(Math.ceil(need / 65536));
      return new Float32Array(ex.memory.buffer, 0, n);
    },
    // x must be a scratch view (byte offset 0 of the module memory); the n % 4 tail goes to the JS loop
    rowMax(x, base, n) {
      const n4 = n & ~3;
      const m = n4 ? ex.rowMax(base * 4, n4) : -Infinity;
      return n4 === n ? m : Math.max(m, js.rowMax(x, base + n4, n - n4));
    },
    sumExp(x, base, n, s) {
      const n4 = n & ~3;
      const acc = n4 ? ex.sumExp(base * 4, n4, s) : 0;
      return n4 === n ? acc : acc + js.sumExp(x, base + n4, n - n4, s);
    },
    scaledExp(x, base, n, l, c) {
      const n4 = n & ~3;
      if (n4) ex.scaledExp(base * 4, n4, l, c);
      if (n4 !== n) js.scaledExp(x, base + n4, n - n4, l, c);
    },
  };
}
