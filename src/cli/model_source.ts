/**
 * Where the inference subcommands (sample, score, eval, serve) get their model: a Hugging Face model (local folder or
 * Hub id), or a local LoRA adapter folder (PEFT `adapter_config.json`, e.g. a maxent `use_peft` output or checkpoint),
 * whose adapter is merged into its base tensor by tensor while the base streams in (W' = W + (α/r)·B·A) — the same
 * weights `maxent merge` would write, without writing them.
 */
import { join } from "node:path";
import { MaxentError } from "../errors.ts";
import { type HubOptions, isLocalPath, resolveModel } from "../hub/mod.ts";
import { isAdapterDir, LoraAdapters, readAdapterConfig } from "../model/lora.ts";
import { loadModelConfig, type ModelConfig } from "../model/config.ts";
import { CausalLM, expectedTensorShapes } from "../model/transformer.ts";
import { Tokenizer } from "../tokenizer/mod.ts";

/** A resolved model: the folder with config.json and weights, and the adapter folder merged into them (if any). */
export interface ModelSource {
  /** Folder with config.json and the (base) safetensors weights. */
  baseDir: string;
  /** The LoRA adapter folder, or null for a plain model. */
  adapterDir: string | null;
  config: ModelConfig;
}

/**
 * Resolves `--model`: a local adapter folder → its `base_model_name_or_path` (resolved like any model: local folder
 * or Hub id at the adapter's revision); anything else → `resolveModel`.
 */
export async function resolveModelSource(model: string, hub: HubOptions): Promise<ModelSource> {
  if (isLocalPath(model) && await isAdapterDir(model)) {
    const settings = await readAdapterConfig(model);
    if (!settings.baseModel) {
      throw new MaxentError(
        `${join(model, "adapter_config.json")} names no base_model_name_or_path: merge it first with ` +
          `"maxent merge ${model} OUT --base BASE" and pass OUT as --model`,
      );
    }
    const baseDir = await resolveModel(settings.baseModel, settings.revision ?? undefined, hub);
    return { baseDir, adapterDir: model, config: await loadModelConfig(baseDir) };
  }
  const baseDir = await resolveModel(model, undefined, hub);
  return { baseDir, adapterDir: null, config: await loadModelConfig(baseDir) };
}

/** Float32 bytes of the source's weights (for choosing a backend that holds them). */
export function sourceWeightBytes(src: ModelSource): number {
  let params = 0;
  for (const shape of expectedTensorShapes(src.config).values()) params += shape.reduce((a, b) => a * b, 1);
  return params * 4;
}

/** Loads the source as a frozen model, merging the adapter (if any) into each base tensor as it is read. */
export async function loadSourceModel(src: ModelSource): Promise<CausalLM> {
  if (!src.adapterDir) return await CausalLM.load(src.baseDir, { trainable: false });
  const adapters = await LoraAdapters.load(src.adapterDir, { config: src.config });
  try {
    return await CausalLM.load(src.baseDir, {
      trainable: false,
      transform: (name, t) => adapters.mergedHostTensor(name, t),
    });
  } finally {
    adapters.dispose();
  }
}

/** The tokenizer: the adapter folder's own files (what training used) when it has them, else the base model's. */
export async function loadSourceTokenizer(src: ModelSource): Promise<Tokenizer> {
  if (src.adapterDir) {
    try {
      await Deno.stat(join(src.adapterDir, "tokenizer.json"));
      return await Tokenizer.load(src.adapterDir);
    } catch (e) {
      if (!(e instanceof Deno.errors.NotFound)) throw e;
    }
  }
  return await Tokenizer.load(src.baseDir);
}
