/**
 * What `maxent --version` prints: maxent's, Deno's and tfjs's versions, and the backend `--backend auto` would pick
 * on this machine, predicted cheaply (file checks, a BLAS dlopen and a WebGPU adapter query, ~0.1 s) without
 * initialising any tfjs backend.
 */
import { version_core as TFJS_VERSION } from "@tensorflow/tfjs";
import { VERSION } from "../version.ts";
import { loadBlas } from "../backend/mod.ts";
import { findTfjsNode } from "../backend/init.ts";

/** The first line: `maxent 0.1.0 (deno 2.9.6, typescript 6.0.3, tfjs 4.22.0)`. Cheap and synchronous. */
export function versionLine(): string {
  return `maxent ${VERSION} (deno ${Deno.version.deno}, typescript ${Deno.version.typescript}, tfjs ${TFJS_VERSION})`;
}

/** The probes {@link predictAutoBackend} uses; injectable for tests. */
export interface BackendProbes {
  /** The installed tfjs-node package name, or null. */
  tfjsNode(): string | null;
  /** A description of a hardware (non-software) WebGPU adapter, or null. */
  hardwareGpu(): Promise<string | null>;
  /** A short BLAS description, or the reason there is none. */
  blas(): { ok: boolean; text: string };
}

/**
 * Follows initBackend's `auto` order — tfjs-node if installed, a hardware WebGPU adapter, else wasm (cpu for models
 * too big for the 4 GiB wasm heap) — and returns one line naming the pick and why.
 */
export async function predictAutoBackend(probes: BackendProbes = realProbes): Promise<string> {
  const tfNode = probes.tfjsNode();
  if (tfNode) return `tensorflow (${tfNode} is installed)`;
  const gpu = await probes.hardwareGpu();
  if (gpu) return `webgpu (${gpu})`;
  const blas = probes.blas();
  return `wasm (${blas.ok ? blas.text : `no BLAS: ${blas.text}`}; cpu instead for models over ~3.2 GiB)`;
}

/** The full `--version` text: the version line, then `backend auto: …`. */
export async function versionReport(probes: BackendProbes = realProbes): Promise<string> {
  let backend: string;
  try {
    backend = await predictAutoBackend(probes);
  } catch (e) {
    backend = `unknown (${e instanceof Error ? e.message : String(e)})`;
  }
  return `${versionLine()}\nbackend auto: ${backend}`;
}

const realProbes: BackendProbes = {
  tfjsNode: () => findTfjsNode(),
  hardwareGpu: hardwareGpuAdapter,
  blas: () => {
    const { blas, reason } = loadBlas();
    if (!blas) return { ok: false, text: reason ?? "not found" };
    return { ok: true, text: `${blas.config.split(" ").slice(0, 2).join(" ") || "BLAS"} at ${blas.path}` };
  },
};

/**
 * A hardware adapter needs a GPU device node (NVIDIA's /dev/nvidia0, or a DRM render node). Without one the WebGPU
 * query is skipped: it could only find a software rasteriser, and loading the Vulkan drivers for nothing costs time.
 */
function gpuDeviceNodePresent(): boolean {
  try {
    Deno.statSync("/dev/nvidia0");
    return true;
  } catch { /* no NVIDIA node */ }
  try {
    for (const e of Deno.readDirSync("/dev/dri")) if (e.name.startsWith("renderD")) return true;
  } catch { /* no DRM */ }
  return false;
}

/** Queries navigator.gpu for a hardware adapter (software rasterisers such as llvmpipe do not count). */
async function hardwareGpuAdapter(): Promise<string | null> {
  const gpu = (navigator as unknown as { gpu?: GPU }).gpu;
  if (!gpu || !gpuDeviceNodePresent()) return null;
  // Mesa prints "XDG_RUNTIME_DIR is invalid" without one: lend it a private temporary one for the query.
  let tmp: string | null = null;
  try {
    if (!Deno.env.get("XDG_RUNTIME_DIR")) {
      tmp = Deno.makeTempDirSync({ prefix: "maxent-xdg-" });
      Deno.chmodSync(tmp, 0o700);
      Deno.env.set("XDG_RUNTIME_DIR", tmp);
    }
  } catch { /* without env/write permission the driver may print a warning; harmless */ }
  try {
    let timer: ReturnType<typeof setTimeout> | undefined;
    const adapter = await Promise.race([
      gpu.requestAdapter({ powerPreference: "high-performance" }),
      new Promise<null>((resolve) => timer = setTimeout(() => resolve(null), 3000)),
    ]).finally(() => clearTimeout(timer));
    if (!adapter) return null;
    const ai = (adapter as unknown as { info?: { vendor?: string; architecture?: string; description?: string } })
      .info ?? {};
    const desc = [ai.vendor, ai.architecture, ai.description].filter(Boolean).join(" ") || "unknown adapter";
    const software = (adapter as unknown as { isFallbackAdapter?: boolean }).isFallbackAdapter === true ||
      /llvmpipe|lavapipe|swiftshader|software/i.test(desc);
    return software ? null : desc;
  } finally {
    if (tmp) {
      try {
        Deno.env.delete("XDG_RUNTIME_DIR");
        Deno.removeSync(tmp, { recursive: true });
      } catch { /* best effort */ }
    }
  }
}
