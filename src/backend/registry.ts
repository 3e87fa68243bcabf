/**
 * Swapping tfjs kernels: replaces a backend's kernel with a faster one while keeping the stock kernel for
 * delegation (unsupported dtypes, rare attributes) and for restoring it (tests compare against it).
 */
import * as tf from "@tensorflow/tfjs";

/** A kernel function as tfjs calls it. */
export type KernelFn = (args: {
  inputs: tf.NamedTensorInfoMap;
  backend: unknown;
  attrs?: tf.NamedAttrMap;
}) => tf.TensorInfo | tf.TensorInfo[];

/** One replaced kernel; `restore()` puts the stock kernel back. */
export interface KernelSwap {
  kernelName: string;
  backendName: string;
  restore(): void;
}

/** Stock kernels by "name/backend", kept from the first replacement so that repeated swaps never wrap a wrapper. */
const stockKernels = new Map<string, tf.KernelConfig>();

/** The backend's own kernel for `kernelName`, even while a replacement is registered. */
export function stockKernel(kernelName: string, backendName: string): tf.KernelConfig | undefined {
  return stockKernels.get(`${kernelName}/${backendName}`) ?? tf.getKernel(kernelName, backendName);
}

/**
 * Registers `make(stock)` as `backendName`'s kernel for `kernelName`, where `stock` calls the backend's own kernel
 * (or throws when it has none).
 */
export function replaceKernel(
  kernelName: string,
  backendName: string,
  make: (stock: KernelFn) => KernelFn,
): KernelSwap {
  const key = `${kernelName}/${backendName}`;
  const current = tf.getKernel(kernelName, backendName);
  if (current && !stockKernels.has(key)) stockKernels.set(key, current);
  const stockConfig = stockKernels.get(key);
  const stock: KernelFn = stockConfig ? (args) => stockConfig.kernelFunc(args as Parameters<tf.KernelFunc>[0]) : () => {
    throw new Error(`${backendName} has no stock kernel for ${kernelName}`);
  };
  if (current) tf.unregisterKernel(kernelName, backendName);
  const kernelFunc = make(stock);
  tf.registerKernel({
    kernelName,
    backendName,
    kernelFunc: kernelFunc as tf.KernelFunc,
    setupFunc: stockConfig?.setupFunc,
    disposeFunc: stockConfig?.disposeFunc,
  });
  return {
    kernelName,
    backendName,
    restore() {
      if (tf.getKernel(kernelName, backendName)) tf.unregisterKernel(kernelName, backendName);
      if (stockConfig) tf.registerKernel(stockConfig);
    },
  };
}

/** Kernels maxent adds that the backend has no stock version of, by "name/backend". */
const addedKernels = new Map<string, tf.KernelConfig>();

/**
 * Registers a kernel the backend does not have (replacing an earlier registration of it); `restore()` and
 * {@link restoreStockKernels} unregister it.
 */
export function addKernel(config: tf.KernelConfig): KernelSwap {
  const { kernelName, backendName } = config;
  if (tf.getKernel(kernelName, backendName)) tf.unregisterKernel(kernelName, backendName);
  tf.registerKernel(config);
  addedKernels.set(`${kernelName}/${backendName}`, config);
  return {
    kernelName,
    backendName,
    restore() {
      if (tf.getKernel(kernelName, backendName)) tf.unregisterKernel(kernelName, backendName);
      addedKernels.delete(`${kernelName}/${backendName}`);
    },
  };
}

/** Puts every swapped kernel of `backendName` back to the stock one and removes the kernels maxent added. */
export function restoreStockKernels(backendName: string): void {
  for (const [key, config] of addedKernels) {
    if (config.backendName !== backendName) continue;
    if (tf.getKernel(config.kernelName, backendName)) tf.unregisterKernel(config.kernelName, backendName);
    addedKernels.delete(key);
  }
  for (const [key, config] of stockKernels) {
    if (config.backendName !== backendName) continue;
    if (tf.getKernel(config.kernelName, backendName)) tf.unregisterKernel(config.kernelName, backendName);
    tf.registerKernel(config);
    stockKernels.delete(key);
  }
}
