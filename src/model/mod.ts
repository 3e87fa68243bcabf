/**
 * Models: Hugging Face config.json (Qwen2/Qwen2.5, Qwen3, Llama 3 / SmolLM2), safetensors checkpoints (single or
 * sharded; F32/F16/BF16 in, F32/BF16 out) and the tfjs causal LM with KV-cache decoding and chunked token log-probs.
 *
 * @example
 * ```ts
 * import * as tf from "@tensorflow/tfjs";
 * import { CausalLM } from "./mod.ts";
 * const model = await CausalLM.load("models/tiny");
 * const ids = tf.tensor2d([[3, 17, 42]], undefined, "int32");
 * const lp = model.tokenLogProbs(ids, tf.onesLike(ids) as tf.Tensor2D); // [1, 2]
 * ```
 *
 * @module
 */
export {
  type Architecture,
  configJson,
  type ConfigShape,
  type Llama3RopeScaling,
  loadModelConfig,
  MODEL_PRESETS,
  type ModelConfig,
  parseModelConfig,
  SUPPORTED_ARCHITECTURES,
} from "./config.ts";
export {
  type HostTensor,
  INDEX_FILE,
  iterateSafetensorsDir,
  type ReadOptions,
  readSafetensorsDir,
  readSafetensorsDirHeaders,
  readSafetensorsHeader,
  readSafetensorsTensor,
  type SafetensorsEntry,
  type SafetensorsHeader,
  SINGLE_FILE,
  type WriteOptions,
  writeSafetensorsDir,
  writeSafetensorsFile,
} from "./safetensors.ts";
export {
  CausalLM,
  type CausalLMOptions,
  expectedTensorShapes,
  type ProjectionAdapter,
  randomWeights,
} from "./transformer.ts";
export { KVCache } from "./kv_cache.ts";
export {
  ADAPTER_CONFIG_FILE,
  ADAPTER_WEIGHTS_FILE,
  adapterConfigJson,
  adapterFreeView,
  DEFAULT_TARGET_MODULES,
  isTargeted,
  LoraAdapters,
  type LoraSettings,
  namedTrainableVariables,
  readAdapterConfig,
} from "./lora.ts";
export { DEFAULT_LOGITS_CHUNK_ELEMENTS, targetLogProbs } from "./logprobs.ts";
export { applyRope, ropeInvFreq, ropeTables } from "./rope.ts";
