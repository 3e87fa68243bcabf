/**
 * Backend selection for maxent: {@link initBackend} picks and initialises the tfjs backend (tensorflow, webgpu, wasm,
 * cpu) and, on wasm and cpu, registers OpenBLAS matmul kernels and fast kernels for the hot ops; {@link adamWUpdate}
 * is a fused AdamW step (one pass instead of a dozen elementwise ops) for optimizers.
 *
 * @example
 * ```ts
 * import { initBackend } from "./mod.ts";
 * const info = await initBackend("auto", { log: (line) => console.error(line) });
 * ```
 *
 * @module
 */
export { type BackendChoice, type BackendInfo, initBackend, type InitBackendOptions } from "./init.ts";
export { type Blas, loadBlas } from "./blas.ts";
export { type AdamWStep, adamWUpdate } from "./adamw.ts";
export { lmHeadGrad, lmHeadLogProbs } from "./lm_head.ts";
export { eagerBackpropInstalled, installEagerBackprop } from "./backprop.ts";
