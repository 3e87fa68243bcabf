/**
 * Choosing and initialising the tfjs backend: `tensorflow` (tfjs-node[-gpu], only when installed), `webgpu` (Deno's
 * navigator.gpu), `wasm` and `cpu`, the last two with OpenBLAS matmul kernels and tight hand-written kernels for the
 * hot ops. `auto` picks the fastest that initialises and fits in memory, and says which.
 */
import * as tf from "@tensorflow/tfjs";
import { MaxentError } from "../errors.ts";
import { loadBlas } from "./blas.ts";
import { registerBlasMatMul } from "./matmul.ts";
import { registerFastKernels } from "./fast_kernels.ts";
import { registerWasmUnsortedSegmentSum } from "./segment_sum.ts";
import { registerAdamW } from "./adamw.ts";
import { registerAccumulate } from "./accumulate.ts";
import { registerLmHeadKernels } from "./lm_head.ts";
import { freeBuffersOnDispose } from "./eager_free.ts";
import { registerBroadcastMatMulGradient } from "./matmul_grad.ts";
import { installEagerBackprop } from "./backprop.ts";
import { adaptWebgpuBackend } from "./webgpu.ts";
import type { KernelSwap } from "./registry.ts";

/** What the user may ask for (`--backend`, recipe key `backend`). */
export type BackendChoice = "auto" | "tensorflow" | "webgpu" | "wasm" | "cpu";

/** The backend that runs, whether its matmuls go to BLAS, and a one-line human description. */
export interface BackendInfo {
  name: "tensorflow" | "webgpu" | "wasm" | "cpu";
  blas: boolean;
  detail: string;
}

/** Options of {@link initBackend}. */
export interface InitBackendOptions {
  /** Where to say which backend was chosen and why (e.g. the CLI's stderr). */
  log?: (line: string) => void;
  /** Bytes the caller will keep in tensors (weights, gradients, optimizer state, activations); picks cpu over wasm
   * when it would not fit the wasm heap. */
  modelBytes?: number;
}

/** The wasm backend keeps all tensors in one wasm32 heap, which cannot exceed 4 GiB. */
export const WASM_HEAP_LIMIT_BYTES = 4 * 1024 ** 3;
/** Share of the wasm heap a model may plan to use; the rest is headroom for temporaries and fragmentation. */
const WASM_HEAP_USABLE = 0.8;

const TFJS_NODE_PACKAGES = ["@tensorflow/tfjs-node-gpu", "@tensorflow/tfjs-node"] as const;
const TFJS_NODE_VERSION = "4.22.0";
const TENSORFLOW_HINT = "install it next to maxent with `npm install @tensorflow/tfjs-node@4.22.0` " +
  "(or `@tensorflow/tfjs-node-gpu@4.22.0` for CUDA 11.2 + cuDNN 8.1), or pick --backend wasm|cpu|webgpu";

let swaps: KernelSwap[] = [];

/**
 * Initialises a tfjs backend and makes it the active one. `auto` (the default) tries, in order: an installed
 * tfjs-node (never downloaded), a hardware WebGPU adapter, then wasm (or cpu when `modelBytes` does not fit the wasm
 * heap), each with OpenBLAS kernels where the library and `--allow-ffi` are there.
 *
 * @example
 * ```ts
 * const info = await initBackend("auto", { log: (l) => console.error(l) });
 * console.log(info.name, info.blas, info.detail);
 * ```
 */
export async function initBackend(choice: BackendChoice = "auto", opts: InitBackendOptions = {}): Promise<BackendInfo> {
  const log = opts.log ?? (() => {});
  silenceNodeBanner();
  registerBroadcastMatMulGradient();
  // backward passes free each gradient and saved tensor once spent (src/backend/backprop.ts); MAXENT_EAGER_BACKPROP=0
  // keeps tfjs's own, which holds all of them to the end
  installEagerBackprop();
  let info: BackendInfo;
  if (choice === "auto") info = await initAuto(opts, log);
  else if (choice === "tensorflow") info = await initTensorflow();
  else if (choice === "webgpu") info = await initWebgpu(false);
  else if (choice === "wasm") info = await initWasm();
  else if (choice === "cpu") info = await initCpu();
  else throw new MaxentError(`unknown backend "${choice}": use auto, tensorflow, webgpu, wasm or cpu`);
  if (choice !== "auto") log(`backend: ${info.name} (${info.detail})`);
  return info;
}

async function initAuto(opts: InitBackendOptions, log: (line: string) => void): Promise<BackendInfo> {
  const skipped: string[] = [];
  const tfNode = findTfjsNode();
  if (tfNode) {
    try {
      return done(await initTensorflow(), "tfjs-node is installed");
    } catch (e) {
      skipped.push(`tensorflow: ${(e as Error).message}`);
    }
  } else skipped.push("tensorflow: tfjs-node not installed");
  if (Deno.build.os === "linux" && !gpuDeviceNodePresent()) {
    skipped.push("webgpu: no GPU device node (/dev/nvidia0 or /dev/dri/renderD*)");
  } else {
    try {
      return done(await initWebgpu(true), "a hardware WebGPU adapter is present");
    } catch (e) {
      skipped.push(`webgpu: ${(e as Error).message}`);
    }
  }
  const need = opts.modelBytes ?? 0;
  if (need > WASM_HEAP_USABLE * WASM_HEAP_LIMIT_BYTES) {
    skipped.push(`wasm: the model needs ${gib(need)} and the wasm heap holds at most ${gib(WASM_HEAP_LIMIT_BYTES)}`);
  } else {
    try {
      return done(await initWasm(), "fastest CPU backend here (wasm + BLAS beats cpu + BLAS on a transformer step)");
    } catch (e) {
      skipped.push(`wasm: ${(e as Error).message}`);
    }
  }
  return done(await initCpu(), "fallback");

  function done(info: BackendInfo, why: string): BackendInfo {
    log(`backend: ${info.name} (${info.detail}) — auto: ${why}; skipped ${skipped.join("; ") || "nothing"}`);
    return info;
  }
}

function gib(bytes: number): string {
  return `${(bytes / 1024 ** 3).toFixed(1)} GiB`;
}

/** tfjs-backend-cpu prints an "install tfjs-node" banner on its first tensor under Deno (it looks like Node). */
function silenceNodeBanner(): void {
  const cpu = tf.findBackend("cpu") as unknown as { firstUse?: boolean } | null;
  if (cpu) cpu.firstUse = false;
}

async function activate(name: string): Promise<void> {
  for (const s of swaps) s.restore();
  swaps = [];
  let ok: boolean;
  try {
    ok = await tf.setBackend(name);
  } catch (e) {
    throw new MaxentError(`the ${name} backend failed to initialise: ${(e as Error).message}`, { cause: e });
  }
  if (!ok) throw new MaxentError(`the ${name} backend failed to initialise (see the tfjs warning above)`);
  await tf.ready();
  silenceNodeBanner();
}

/** Registers the BLAS matmuls and the fast kernels for wasm or cpu; reports what happened. */
function accelerate(name: "wasm" | "cpu"): { blas: boolean; note: string } {
  swaps.push(...registerFastKernels(name));
  registerAdamW(name);
  registerAccumulate(name);
  const { blas, reason } = loadBlas();
  if (!blas) return { blas: false, note: `no BLAS: ${reason}` };
  swaps.push(...registerBlasMatMul(blas, name));
  // MAXENT_FUSED_LM_HEAD=0 keeps the LM head on tfjs ops (for A/B measurements)
  if (envVar("MAXENT_FUSED_LM_HEAD") !== "0") swaps.push(...registerLmHeadKernels(blas, name));
  const version = blas.config.split(" ").slice(0, 2).join(" ") || "BLAS";
  return { blas: true, note: `${version} ${blas.threads} thread${blas.threads === 1 ? "" : "s"} (${blas.path})` };
}

async function initCpu(): Promise<BackendInfo> {
  await activate("cpu");
  // disposed tensors' arrays go back to the system at once, not at the next V8 collection (src/backend/eager_free.ts)
  freeBuffersOnDispose(tf.findBackend("cpu"));
  const acc = accelerate("cpu");
  return { name: "cpu", blas: acc.blas, detail: `cpu, ${acc.note}` };
}

async function initWasm(): Promise<BackendInfo> {
  try {
    await import("@tensorflow/tfjs-backend-wasm");
  } catch (e) {
    throw new MaxentError(`could not load @tensorflow/tfjs-backend-wasm: ${(e as Error).message}`, { cause: e });
  }
  registerWasmUnsortedSegmentSum();
  try {
    await activate("wasm");
  } catch (e) {
    const msg = (e as Error).message;
    const hint = /read|NotCapable|permission/i.test(msg) ? " (the wasm backend needs --allow-read for its .wasm)" : "";
    throw new MaxentError(msg + hint, { cause: e });
  }
  // deno-lint-ignore no-explicit-any
  const be = tf.backend() as any;
  const threads = Number(be?.wasm?.tfjs?.getThreadsCount?.() ?? 1);
  const acc = accelerate("wasm");
  return {
    name: "wasm",
    blas: acc.blas,
    detail: `wasm SIMD ${threads} thread${threads === 1 ? "" : "s"}, ${acc.note}`,
  };
}

/** Deno's WebGPU: `requireHardware` refuses software adapters (Mesa's lavapipe runs ~3.5 GFLOP/s). */
async function initWebgpu(requireHardware: boolean): Promise<BackendInfo> {
  const gpu = (navigator as unknown as { gpu?: GPU }).gpu;
  if (!gpu) throw new MaxentError("WebGPU is not available in this Deno (navigator.gpu is missing)");
  ensureXdgRuntimeDir();
  const adapter = await gpu.requestAdapter({ powerPreference: "high-performance" });
  if (!adapter) {
    throw new MaxentError(
      "WebGPU found no GPU adapter (navigator.gpu.requestAdapter() returned null): install the Vulkan loader and " +
        "driver (apt-get install libvulkan1 mesa-vulkan-drivers, or the NVIDIA driver's Vulkan ICD), or pick " +
        "--backend wasm|cpu",
    );
  }
  const ai = (adapter as unknown as {
    info?: { vendor?: string; architecture?: string; description?: string; isFallbackAdapter?: boolean };
  }).info ?? {};
  const desc = [ai.vendor, ai.architecture, ai.description].filter(Boolean).join(" ") || "unknown adapter";
  // (Deno 2.9 reports isFallbackAdapter on adapter.info, older WebGPU versions on the adapter)
  const software = ai.isFallbackAdapter === true ||
    (adapter as unknown as { isFallbackAdapter?: boolean }).isFallbackAdapter === true ||
    /llvmpipe|lavapipe|swiftshader|software/i.test(desc);
  if (requireHardware && software) throw new MaxentError(`only a software adapter (${desc})`);
  try {
    await import("@tensorflow/tfjs-backend-webgpu");
  } catch (e) {
    throw new MaxentError(`could not load @tensorflow/tfjs-backend-webgpu: ${(e as Error).message}`, { cause: e });
  }
  await activate("webgpu");
  // sync reads of host-made masks, clear errors for GPU-only sync reads, oversized bindings and device errors
  const limits = adaptWebgpuBackend();
  return {
    name: "webgpu",
    blas: false,
    detail: `webgpu on ${desc}${software ? " (software)" : ""}, float32, max binding ` +
      `${Math.round(limits.maxStorageBufferBindingSize / 1024 ** 2)} MiB`,
  };
}

/**
 * A hardware adapter on Linux needs a GPU device node (NVIDIA's /dev/nvidia0 or a DRM render node); without one the
 * adapter query could only find a software rasteriser, and loading the Vulkan drivers costs time for nothing.
 */
function gpuDeviceNodePresent(): boolean {
  if (exists("/dev/nvidia0")) return true;
  try {
    for (const e of Deno.readDirSync("/dev/dri")) if (e.name.startsWith("renderD")) return true;
  } catch { /* no DRM */ }
  return false;
}

/** Mesa's Vulkan drivers print "XDG_RUNTIME_DIR is invalid" without one: point it at a private (mode 700) dir. */
function ensureXdgRuntimeDir(): void {
  try {
    if (Deno.env.get("XDG_RUNTIME_DIR")) return;
    const dir = Deno.makeTempDirSync({ prefix: "maxent-xdg-" });
    Deno.chmodSync(dir, 0o700);
    Deno.env.set("XDG_RUNTIME_DIR", dir);
    globalThis.addEventListener("unload", () => {
      try {
        Deno.removeSync(dir, { recursive: true });
      } catch { /* already gone */ }
    });
  } catch { /* no --allow-env/--allow-write: the driver only prints a warning */ }
}

/**
 * Looks for an installed tfjs-node without touching the network: a `node_modules/@tensorflow/tfjs-node[-gpu]`
 * from the working directory upwards, or a copy in Deno's npm cache. Returns the package name or null.
 */
export function findTfjsNode(): string | null {
  const roots: string[] = [];
  try {
    let dir = Deno.cwd();
    for (;;) {
      roots.push(`${dir}/node_modules`);
      const up = dir.replace(/\/[^/]*$/, "");
      if (up === dir || up === "") break;
      dir = up;
    }
  } catch { /* no --allow-read of cwd */ }
  const denoDir = envVar("DENO_DIR") ?? (envVar("HOME") ? `${envVar("HOME")}/.cache/deno` : undefined);
  for (const pkg of TFJS_NODE_PACKAGES) {
    for (const root of roots) if (exists(`${root}/${pkg}/package.json`)) return pkg;
    if (denoDir && exists(`${denoDir}/npm/registry.npmjs.org/${pkg}/${TFJS_NODE_VERSION}/package.json`)) return pkg;
  }
  return null;
}

function envVar(name: string): string | undefined {
  try {
    return Deno.env.get(name);
  } catch {
    return undefined;
  }
}

function exists(path: string): boolean {
  try {
    Deno.statSync(path);
    return true;
  } catch {
    return false;
  }
}

async function initTensorflow(): Promise<BackendInfo> {
  const pkg = findTfjsNode();
  if (!pkg) {
    throw new MaxentError(
      `the tensorflow backend needs @tensorflow/tfjs-node, which is not installed: ${TENSORFLOW_HINT}`,
    );
  }
  try {
    // A computed specifier: Deno resolves it only here, never at startup.
    await import(`npm:${pkg}@${TFJS_NODE_VERSION}`);
  } catch (e) {
    throw new MaxentError(`${pkg} is present but failed to load (${(e as Error).message}): ${TENSORFLOW_HINT}`, {
      cause: e,
    });
  }
  await activate("tensorflow");
  return { name: "tensorflow", blas: false, detail: `${pkg} ${TFJS_NODE_VERSION}` };
}
