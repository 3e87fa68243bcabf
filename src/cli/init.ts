/**
 * `maxent init OUT_DIR`: writes a randomly initialised model directory in Hugging Face layout (config.json,
 * model.safetensors, tokenizer files, generation_config.json) from a named preset or shape flags, for tests, demos
 * and benchmarks.
 */
import { copyTokenizerFiles } from "../tokenizer/files.ts";
import { Command, Option } from "@commander-js/extra-typings";
import { MaxentError, UsageError } from "../errors.ts";
import { configJson, type ConfigShape, MODEL_PRESETS, parseModelConfig } from "../model/config.ts";
import { writeSafetensorsDir, writeTextAtomic } from "../model/safetensors.ts";
import { randomWeights } from "../model/transformer.ts";
import { charTokenizerFiles, Tokenizer } from "../tokenizer/mod.ts";
import type { CliContext } from "./context.ts";
import { parsePositiveInt } from "./parse.ts";

/** Tokenizer files copied from `--tokenizer DIR` when present. */
const TOKENIZER_COPY = [
  "tokenizer.json",
  "tokenizer_config.json",
  "special_tokens_map.json",
  "chat_template.jinja",
  "vocab.json",
  "merges.txt",
  "added_tokens.json",
];

/** Options of {@link initModelDir}. */
export interface InitModelOptions {
  preset?: string;
  arch?: "qwen2" | "llama" | "qwen3";
  layers?: number;
  hidden?: number;
  heads?: number;
  kvHeads?: number;
  intermediate?: number;
  vocab?: number;
  tokenizer?: string;
  seed?: number;
  dtype?: "f32" | "bf16";
  force?: boolean;
}

/**
 * Creates the model directory and returns its config.json object and the files written.
 *
 * @example
 * ```ts
 * await initModelDir("models/tiny", { preset: "tiny", seed: 1 });
 * ```
 */
export async function initModelDir(
  out: string,
  opts: InitModelOptions,
): Promise<{ config: Record<string, unknown>; files: string[]; parameters: number }> {
  const presetName = opts.preset ?? "tiny";
  const preset = MODEL_PRESETS[presetName];
  if (!preset) {
    throw new UsageError(`--preset "${presetName}" is unknown; choose one of ${Object.keys(MODEL_PRESETS).join(", ")}`);
  }
  await prepareDir(out, opts.force ?? false);
  // Tokenizer first: the config's vocabulary must cover it.
  const tokFiles: string[] = [];
  if (opts.tokenizer) {
    tokFiles.push(...await copyTokenizerFiles([opts.tokenizer], out, TOKENIZER_COPY));
    if (!tokFiles.includes("tokenizer.json")) {
      throw new UsageError(`--tokenizer ${opts.tokenizer}: no tokenizer.json there`);
    }
  } else {
    for (const [name, text] of Object.entries(charTokenizerFiles())) {
      await writeTextAtomic(`${out}/${name}`, text);
      tokFiles.push(name);
    }
  }
  const tok = await Tokenizer.load(out);

  const base = preset();
  const shapeFlags = opts.arch !== undefined || opts.layers !== undefined || opts.hidden !== undefined ||
    opts.heads !== undefined || opts.kvHeads !== undefined || opts.intermediate !== undefined ||
    opts.vocab !== undefined;
  let raw: Record<string, unknown>;
  if (shapeFlags) {
    const baseArch = (base.model_type as string) === "llama"
      ? "llama"
      : (base.model_type as string) === "qwen3"
      ? "qwen3"
      : "qwen2";
    const shape: ConfigShape = {
      arch: opts.arch ?? baseArch,
      layers: opts.layers ?? (base.num_hidden_layers as number),
      hidden: opts.hidden ?? (base.hidden_size as number),
      heads: opts.heads ?? (base.num_attention_heads as number),
      kvHeads: opts.kvHeads ?? opts.heads ?? (base.num_key_value_heads as number),
      intermediate: opts.intermediate ?? (base.intermediate_size as number),
      vocab: opts.vocab ?? (presetName === "tiny" ? tok.vocabSize : base.vocab_size as number),
      tied: (base.tie_word_embeddings as boolean) ?? true,
    };
    if (shape.hidden % shape.heads !== 0) {
      throw new UsageError(`--hidden ${shape.hidden} must be a multiple of --heads ${shape.heads}`);
    }
    if (shape.heads % shape.kvHeads !== 0) {
      throw new UsageError(`--kv-heads ${shape.kvHeads} must divide --heads ${shape.heads}`);
    }
    if ((shape.hidden / shape.heads) % 2 !== 0) {
      throw new UsageError(`head size ${shape.hidden / shape.heads} (--hidden / --heads) must be even for RoPE`);
    }
    raw = configJson(shape);
  } else {
    raw = base;
    if (presetName === "tiny") raw.vocab_size = tok.vocabSize;
  }
  if ((raw.vocab_size as number) < tok.vocabSize) {
    throw new UsageError(
      `vocab size ${raw.vocab_size} is smaller than the tokenizer's ${tok.vocabSize}; raise --vocab or pick another --tokenizer`,
    );
  }
  // Custom and tiny models take their special ids from the tokenizer; the Hugging Face presets stay exact.
  if (shapeFlags || presetName === "tiny" || presetName === "bench") {
    raw.eos_token_id = tok.eosTokenIds.length === 1 ? tok.eosTokenIds[0] : tok.eosTokenIds;
    raw.bos_token_id = tok.bosTokenId ?? tok.padTokenId;
  }
  const dtype = opts.dtype ?? "f32";
  raw.torch_dtype = dtype === "bf16" ? "bfloat16" : "float32";
  const config = parseModelConfig(raw, `${out}/config.json`);
  const weights = randomWeights(config, opts.seed ?? 0);
  let parameters = 0;
  for (const t of weights.values()) parameters += t.data.length;
  const files = await writeSafetensorsDir(out, weights, { dtype: dtype === "bf16" ? "BF16" : "F32" });
  weights.clear();
  await writeTextAtomic(`${out}/config.json`, JSON.stringify(sortKeys(raw), null, 2) + "\n");
  const generation = {
    bos_token_id: config.bosTokenId ?? undefined,
    eos_token_id: tok.eosTokenIds.length === 1 ? tok.eosTokenIds[0] : tok.eosTokenIds,
    pad_token_id: tok.padTokenId,
  };
  await writeTextAtomic(`${out}/generation_config.json`, JSON.stringify(generation, null, 2) + "\n");
  return { config: raw, files: ["config.json", "generation_config.json", ...files, ...tokFiles], parameters };
}

function sortKeys(o: Record<string, unknown>): Record<string, unknown> {
  return Object.fromEntries(Object.keys(o).sort().map((k) => [k, o[k]]));
}

async function prepareDir(out: string, force: boolean): Promise<void> {
  try {
    const st = await Deno.stat(out);
    if (!st.isDirectory) throw new MaxentError(`${out} exists and is not a directory`);
    let empty = true;
    for await (const _ of Deno.readDir(out)) {
      empty = false;
      break;
    }
    if (!empty && !force) {
      throw new MaxentError(`${out} is not empty; pick a new directory or pass --force to overwrite its model files`);
    }
  } catch (e) {
    if (!(e instanceof Deno.errors.NotFound)) throw e;
    await Deno.mkdir(out, { recursive: true });
  }
}

/** Builds the `init` subcommand. */
export function initCommand(ctx: CliContext) {
  return new Command("init")
    .description(
      "Create a randomly initialised model directory in Hugging Face layout (config.json, model.safetensors, " +
        "tokenizer files, generation_config.json) from a preset or shape flags.",
    )
    .argument("<out_dir>", "directory to create")
    .addOption(
      new Option("--preset <name>", "named config").choices(Object.keys(MODEL_PRESETS)).default("tiny"),
    )
    .addOption(new Option("--arch <arch>", "architecture for a custom shape").choices(["qwen2", "llama", "qwen3"]))
    .option("--layers <n>", "number of decoder layers", parsePositiveInt("--layers"))
    .option("--hidden <n>", "hidden size", parsePositiveInt("--hidden"))
    .option("--heads <n>", "attention heads", parsePositiveInt("--heads"))
    .option("--kv-heads <n>", "key/value heads (GQA)", parsePositiveInt("--kv-heads"))
    .option("--intermediate <n>", "MLP intermediate size", parsePositiveInt("--intermediate"))
    .option(
      "--vocab <n>",
      "vocabulary size (default: the preset's, or the tokenizer's for tiny)",
      parsePositiveInt("--vocab"),
    )
    .option("--tokenizer <dir>", "copy the tokenizer from this model directory (default: built-in char tokenizer)")
    .option("--seed <n>", "random seed", (v) => {
      const n = Number(v);
      if (!Number.isInteger(n) || n < 0) throw new UsageError(`--seed expects a non-negative integer, got "${v}"`);
      return n;
    }, 0)
    .addOption(new Option("--dtype <dtype>", "storage dtype of the weights").choices(["f32", "bf16"]).default("f32"))
    .option("--force", "overwrite model files in a non-empty directory")
    .action(async (out, opts) => {
      const r = await initModelDir(out, {
        ...opts,
        arch: opts.arch as InitModelOptions["arch"],
        dtype: opts.dtype as "f32" | "bf16",
      });
      const c = r.config;
      ctx.out(
        `wrote ${out}: ${(c.architectures as string[])[0]}, ${c.num_hidden_layers} layers, hidden ${c.hidden_size}, ` +
          `vocab ${c.vocab_size}, ${(r.parameters / 1e6).toFixed(2)}M parameters (${opts.dtype}); files: ${
            r.files.join(", ")
          }`,
      );
    });
}
