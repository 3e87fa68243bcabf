/**
 * `maxent merge ADAPTER_DIR OUT`: folds a LoRA adapter (PEFT format) into its base model and writes full weights in
 * the Hugging Face layout (W' = W + (α/r)·B·A; modules_to_save replace their base tensors), with the base's
 * config.json and the tokenizer files. The base is streamed tensor by tensor; the merged float32 tensors are held
 * until written.
 */
import { Command, Option } from "@commander-js/extra-typings";
import * as tf from "@tensorflow/tfjs";
import { join } from "node:path";
import { MaxentError, UsageError } from "../errors.ts";
import { readEnv } from "../env.ts";
import { hubOptionsFromEnv, resolveModel } from "../hub/mod.ts";
import { loadModelConfig } from "../model/config.ts";
import { isAdapterDir, LoraAdapters, readAdapterConfig } from "../model/lora.ts";
import { type HostTensor, iterateSafetensorsDir, writeSafetensorsDir } from "../model/safetensors.ts";
import { expectedTensorShapes } from "../model/transformer.ts";
import { copyTokenizerFiles } from "../tokenizer/files.ts";
import type { CliContext } from "./context.ts";

/** Options of `mergeAdapter`. */
export interface MergeOptions {
  /** Base model directory (already resolved); default: the adapter's base_model_name_or_path. */
  baseDir: string;
  /** Storage dtype of the merged weights (default F32). */
  dtype?: "F32" | "BF16";
  /** Shard above this many bytes (default 5 GB). */
  maxShardBytes?: number;
}

/**
 * Writes `outDir` = base weights with the adapter in `adapterDir` merged in; returns the number of merged tensors.
 *
 * @example
 * ```ts
 * await mergeAdapter("runs/lora", "runs/lora-merged", { baseDir: "models/Qwen2.5-1.5B-Instruct" });
 * ```
 */
export async function mergeAdapter(adapterDir: string, outDir: string, opts: MergeOptions): Promise<number> {
  const config = await loadModelConfig(opts.baseDir);
  const expected = expectedTensorShapes(config);
  const adapters = await LoraAdapters.load(adapterDir, { config });
  let changed = 0;
  try {
    const merged = new Map<string, HostTensor>();
    for await (const [name, t] of iterateSafetensorsDir(opts.baseDir, { filter: (n) => expected.has(n) })) {
      const m = await adapters.mergedHostTensor(name, t);
      if (m !== t) changed++;
      merged.set(name, m);
    }
    await Deno.mkdir(outDir, { recursive: true });
    await writeSafetensorsDir(outDir, merged, { dtype: opts.dtype ?? "F32", maxShardBytes: opts.maxShardBytes });
  } finally {
    adapters.dispose();
  }
  await Deno.copyFile(join(opts.baseDir, "config.json"), join(outDir, "config.json"));
  // the adapter's own tokenizer files (what training used) win over the base's
  await copyTokenizerFiles([adapterDir, opts.baseDir], outDir);
  return changed;
}

/** Builds the `merge` subcommand. */
export function mergeCommand(ctx: CliContext) {
  return new Command("merge")
    .description(
      "Merge a LoRA adapter (PEFT adapter_config.json + adapter_model.safetensors) into its base model and write " +
        "full Hugging Face weights (W + (α/r)·B·A).",
    )
    .argument("<adapter_dir>", "adapter directory (a maxent use_peft output or checkpoint, or any PEFT LoRA adapter)")
    .argument("<out>", "output directory for the merged model")
    .option("--base <dir_or_id>", "base model directory or Hub id (default: the adapter's base_model_name_or_path)")
    .option("--revision <rev>", "Hub revision of the base (default: the adapter's revision, else main)")
    .addOption(
      new Option("--dtype <dtype>", "storage dtype of the merged weights").choices(["f32", "bf16"]).default("f32"),
    )
    .option("--token <token>", "Hugging Face access token for a Hub base (default: $HF_TOKEN); never printed")
    .action(async (adapterDir, out, opts) => {
      if (!(await isAdapterDir(adapterDir))) {
        throw new MaxentError(`${adapterDir}: no adapter_config.json; give a PEFT LoRA adapter directory`);
      }
      const settings = await readAdapterConfig(adapterDir);
      const base = opts.base ?? settings.baseModel;
      if (!base) {
        throw new UsageError(`${adapterDir}/adapter_config.json names no base_model_name_or_path; pass --base`);
      }
      const hub = hubOptionsFromEnv(readEnv(), {
        token: opts.token,
        progress: ctx.isTerminal,
        log: ctx.isTerminal ? (line) => ctx.err(line) : undefined,
      });
      const baseDir = await resolveModel(base, opts.revision ?? settings.revision ?? undefined, hub);
      await tf.setBackend("cpu");
      const n = await mergeAdapter(adapterDir, out, { baseDir, dtype: opts.dtype === "bf16" ? "BF16" : "F32" });
      ctx.err(`merged ${n} tensors of ${adapterDir} into ${base}`);
      ctx.out(out);
    });
}
