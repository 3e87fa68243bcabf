/**
 * Making tfjs-backend-webgpu behave under Deno. Deno has no synchronous GPU readback (tfjs's `readSync` copies
 * through a 2D canvas Deno lacks, and a pending `mapAsync` cannot be waited on), WebGPU reports an oversized binding
 * or a lost device only asynchronously (the kernel silently yields zeros), and the adapter caps one binding at
 * `maxStorageBufferBindingSize` (128 MiB on Mesa's lavapipe). {@link adaptWebgpuBackend} patches the active webgpu
 * backend so that:
 * - small tensors written from host memory (attention masks, ids, advantages) keep their host copy after upload, so
 *   `dataSync`/`arraySync` on them keeps working (the model reads its attention mask synchronously);
 * - `dataSync` of a tensor that exists only on the GPU throws a {@link MaxentError} saying what to do instead of
 *   "Cannot read properties of null (reading 'clearRect')";
 * - a kernel whose input or output exceeds the binding limit throws before dispatch, naming the limit;
 * - a WebGPU validation error or a lost device makes the next read (`await t.data()`) throw with the driver's message.
 */
import * as tf from "@tensorflow/tfjs";
import { MaxentError } from "../errors.ts";

/** Host-written tensors up to this many elements keep their host copy after upload (256 KiB of float32). */
export const HOST_SHADOW_MAX_ELEMENTS = 1 << 16;

/** The adapter limits that bound what the webgpu backend can hold and bind. */
export interface WebgpuLimits {
  /** Largest buffer one kernel may bind (one tensor), bytes. */
  maxStorageBufferBindingSize: number;
  /** Largest buffer the device may allocate, bytes. */
  maxBufferSize: number;
}

/** The slice of tfjs's WebGPUBackend these patches touch (4.22.0). */
interface TensorData {
  dtype: tf.DataType;
  shape: number[];
  values: tf.backend_util.BackendValues | null;
  resource: unknown;
}
interface WebgpuBackendLike {
  device: GPUDevice;
  tensorMap: { get(dataId: unknown): TensorData | undefined };
  uploadToGPU(dataId: unknown): void;
  readSync(dataId: unknown): tf.backend_util.BackendValues;
  read(dataId: unknown): Promise<tf.backend_util.BackendValues>;
  runWebGPUProgram(
    program: { outputShape: number[]; constructor: { name: string } },
    inputs: tf.TensorInfo[],
    outputDtype: tf.DataType,
    ...rest: unknown[]
  ): tf.TensorInfo;
}

const PATCHED = Symbol.for("maxent.webgpuPatched");

/** Bytes a tensor of `shape` and `dtype` takes in a GPU buffer (tfjs stores bool as 32-bit). */
function gpuBytes(shape: number[], dtype: tf.DataType): number {
  return tf.util.sizeFromShape(shape) * (dtype === "complex64" ? 8 : 4);
}

/** The first stack frame outside tfjs and this module (the code that asked for the read), or null. */
function callerOutsideTfjs(): string | null {
  const frames = (new Error().stack ?? "").split("\n").slice(1);
  const frame = frames.find((f) => !/@tensorflow|\/backend\/webgpu\.ts|node:|ext:/.test(f));
  const m = frame && /\(?((?:file:\/\/)?[^\s()]+:\d+):\d+\)?\s*$/.exec(frame);
  return m ? m[1].replace(/^file:\/\//, "").replace(/^.*\/(src|bench|tests|scripts)\//, "$1/") : null;
}

function mib(bytes: number): string {
  return `${(bytes / 1024 ** 2).toFixed(0)} MiB`;
}

/**
 * Patches the registered webgpu backend instance (idempotent) and returns its device limits. Call after
 * `tf.setBackend("webgpu")` has succeeded.
 *
 * @example
 * ```ts
 * await tf.setBackend("webgpu");
 * const { maxStorageBufferBindingSize } = adaptWebgpuBackend();
 * ```
 */
export function adaptWebgpuBackend(): WebgpuLimits {
  const be = tf.findBackend("webgpu") as unknown as (WebgpuBackendLike & { [PATCHED]?: WebgpuLimits }) | null;
  if (!be) throw new MaxentError("the webgpu backend is not initialised (tf.setBackend('webgpu') first)");
  if (be[PATCHED]) return be[PATCHED];
  const deviceLimits = be.device.limits;
  const limits: WebgpuLimits = {
    maxStorageBufferBindingSize: Number(deviceLimits.maxStorageBufferBindingSize),
    maxBufferSize: Number(deviceLimits.maxBufferSize),
  };

  // Asynchronous device errors: remembered here, thrown by the next read.
  let deviceError: string | null = null;
  be.device.addEventListener("uncapturederror", (ev) => {
    const msg = (ev as GPUUncapturedErrorEvent).error?.message ?? String(ev);
    deviceError ??= msg;
  });
  be.device.lost.then((info) => {
    deviceError ??= `the GPU device was lost (${info.reason}): ${info.message}`;
  }).catch(() => {});

  const upload = be.uploadToGPU;
  be.uploadToGPU = function (dataId: unknown): void {
    const d = this.tensorMap.get(dataId);
    const keep = d && d.resource == null && d.values != null && d.values.length <= HOST_SHADOW_MAX_ELEMENTS
      ? d.values
      : null;
    upload.call(this, dataId);
    // tensors never change after creation, so the host copy stays valid (tfjs itself keeps one after a read)
    if (d && keep) d.values = keep;
  };

  const readSync = be.readSync;
  be.readSync = function (dataId: unknown): tf.backend_util.BackendValues {
    const d = this.tensorMap.get(dataId);
    if (d && d.values == null && d.dtype !== "string" && d.dtype !== "complex64") {
      const where = callerOutsideTfjs();
      throw new MaxentError(
        `webgpu: synchronous read (dataSync/arraySync/bufferSync, or moving a tensor to another backend) of a ` +
          `${JSON.stringify(d.shape)} ${d.dtype} tensor that lives on the GPU${where ? ` (at ${where})` : ""}; ` +
          `Deno has no synchronous GPU readback. This code path needs \`await tensor.data()\`; until it has one, ` +
          `use --backend wasm or cpu`,
      );
    }
    return readSync.call(this, dataId);
  };

  const read = be.read;
  be.read = async function (dataId: unknown): Promise<tf.backend_util.BackendValues> {
    const values = await read.call(this, dataId);
    if (deviceError !== null) {
      throw new MaxentError(`webgpu: the GPU reported an error, so results are not reliable: ${deviceError}`);
    }
    return values;
  };

  const run = be.runWebGPUProgram;
  be.runWebGPUProgram = function (program, inputs, outputDtype, ...rest): tf.TensorInfo {
    const limit = limits.maxStorageBufferBindingSize;
    const tooBig = [...inputs.map((t) => ({ shape: t.shape, dtype: t.dtype, what: "an input" })), {
      shape: program.outputShape,
      dtype: outputDtype,
      what: "its output",
    }].find((t) => gpuBytes(t.shape, t.dtype) > limit);
    if (tooBig) {
      throw new MaxentError(
        `webgpu: ${program.constructor.name} needs ${tooBig.what} ${JSON.stringify(tooBig.shape)} ` +
          `(${mib(gpuBytes(tooBig.shape, tooBig.dtype))}) bound at once, over this adapter's ` +
          `maxStorageBufferBindingSize of ${mib(limit)}: use a GPU with a larger limit, a smaller model ` +
          `(or logits chunk), or --backend wasm|cpu`,
      );
    }
    return run.call(this, program, inputs, outputDtype, ...rest);
  };

  be[PATCHED] = limits;
  return limits;
}
