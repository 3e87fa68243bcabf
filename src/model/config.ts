/**
 * Model configuration: reads a Hugging Face `config.json` for the causal-LM families maxent runs (Qwen2/Qwen2.5,
 * Qwen3, Llama 3.x incl. SmolLM2), validates it with zod and exposes camelCase fields; the raw JSON is kept so a
 * checkpoint writes it back unchanged. Also the named presets `maxent init` builds models from.
 */
import { z } from "zod";
import { MaxentError } from "../errors.ts";

/** The `architectures[0]` values maxent implements. */
export const SUPPORTED_ARCHITECTURES = ["Qwen2ForCausalLM", "Qwen3ForCausalLM", "LlamaForCausalLM"] as const;
/** One of the supported architectures. */
export type Architecture = typeof SUPPORTED_ARCHITECTURES[number];

/** Llama 3 frequency-dependent RoPE scaling (`rope_scaling.rope_type == "llama3"`). */
export interface Llama3RopeScaling {
  ropeType: "llama3";
  factor: number;
  lowFreqFactor: number;
  highFreqFactor: number;
  originalMaxPositionEmbeddings: number;
}

/** A validated model configuration (camelCase view of config.json plus the raw JSON). */
export interface ModelConfig {
  architecture: Architecture;
  modelType: "qwen2" | "qwen3" | "llama";
  vocabSize: number;
  hiddenSize: number;
  intermediateSize: number;
  numHiddenLayers: number;
  numAttentionHeads: number;
  numKeyValueHeads: number;
  /** Per-head width: `head_dim` when given, else hidden_size / num_attention_heads. */
  headDim: number;
  rmsNormEps: number;
  ropeTheta: number;
  ropeScaling: Llama3RopeScaling | null;
  maxPositionEmbeddings: number;
  tieWordEmbeddings: boolean;
  /** q_proj/k_proj/v_proj carry a bias (always for Qwen2; `attention_bias` for Llama/Qwen3). */
  qkvBias: boolean;
  /** o_proj carries a bias (`attention_bias` for Llama/Qwen3; never for Qwen2). */
  oBias: boolean;
  /** Per-head RMSNorm of queries and keys before RoPE (Qwen3's q_norm/k_norm). */
  qkNorm: boolean;
  bosTokenId: number | null;
  eosTokenIds: number[];
  padTokenId: number | null;
  /** The config.json object exactly as read (written back unchanged by `save`). */
  raw: Record<string, unknown>;
}

const posInt = z.number().int().positive();
const tokenId = z.number().int().nonnegative().nullable().optional();

const RopeScalingSchema = z.object({
  rope_type: z.string().optional(),
  type: z.string().optional(),
  factor: z.number().positive().optional(),
  low_freq_factor: z.number().positive().optional(),
  high_freq_factor: z.number().positive().optional(),
  original_max_position_embeddings: posInt.optional(),
  rope_theta: z.number().positive().optional(),
}).nullable().optional();

const ConfigSchema = z.object({
  architectures: z.array(z.string()).min(1),
  model_type: z.string().optional(),
  vocab_size: posInt,
  hidden_size: posInt,
  intermediate_size: posInt,
  num_hidden_layers: posInt,
  num_attention_heads: posInt,
  num_key_value_heads: posInt.nullable().optional(),
  head_dim: posInt.nullable().optional(),
  hidden_act: z.string().optional(),
  rms_norm_eps: z.number().positive().optional(),
  rope_theta: z.number().positive().optional(),
  rope_scaling: RopeScalingSchema,
  rope_parameters: RopeScalingSchema,
  max_position_embeddings: posInt.optional(),
  tie_word_embeddings: z.boolean().optional(),
  attention_bias: z.boolean().optional(),
  mlp_bias: z.boolean().optional(),
  use_sliding_window: z.boolean().optional(),
  bos_token_id: tokenId,
  eos_token_id: z.union([z.number().int().nonnegative(), z.array(z.number().int().nonnegative())]).nullable()
    .optional(),
  pad_token_id: tokenId,
});

/**
 * Validates a parsed config.json object; `file` names the source in errors.
 *
 * @example
 * ```ts
 * const cfg = parseModelConfig(JSON.parse(text), "model/config.json");
 * console.log(cfg.numHiddenLayers, cfg.headDim);
 * ```
 */
export function parseModelConfig(json: unknown, file: string): ModelConfig {
  if (typeof json !== "object" || json === null || Array.isArray(json)) {
    throw new MaxentError(`${file}: expected a JSON object`);
  }
  const parsed = ConfigSchema.safeParse(json);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    const field = issue.path.join(".") || "(root)";
    throw new MaxentError(`${file}: field "${field}": ${issue.message}`);
  }
  const c = parsed.data;
  const architecture = c.architectures[0];
  if (!(SUPPORTED_ARCHITECTURES as readonly string[]).includes(architecture)) {
    throw new MaxentError(
      `${file}: field "architectures": unsupported architecture "${architecture}" (supported: ${
        SUPPORTED_ARCHITECTURES.join(", ")
      })`,
    );
  }
  const arch = architecture as Architecture;
  const modelType = arch === "Qwen2ForCausalLM" ? "qwen2" : arch === "Qwen3ForCausalLM" ? "qwen3" : "llama";
  if (c.hidden_act !== undefined && c.hidden_act !== "silu") {
    throw new MaxentError(`${file}: field "hidden_act": unsupported activation "${c.hidden_act}" (only "silu")`);
  }
  if (c.mlp_bias === true) {
    throw new MaxentError(`${file}: field "mlp_bias": true is not supported (MLP projections without bias only)`);
  }
  if (c.use_sliding_window === true) {
    throw new MaxentError(`${file}: field "use_sliding_window": sliding-window attention is not supported`);
  }
  const numKeyValueHeads = c.num_key_value_heads ?? c.num_attention_heads;
  if (c.num_attention_heads % numKeyValueHeads !== 0) {
    throw new MaxentError(
      `${file}: field "num_key_value_heads": ${numKeyValueHeads} does not divide num_attention_heads ${c.num_attention_heads}`,
    );
  }
  let headDim = c.head_dim ?? undefined;
  if (headDim === undefined) {
    if (c.hidden_size % c.num_attention_heads !== 0) {
      throw new MaxentError(
        `${file}: field "hidden_size": ${c.hidden_size} is not a multiple of num_attention_heads ${c.num_attention_heads}; set head_dim`,
      );
    }
    headDim = c.hidden_size / c.num_attention_heads;
  }
  if (headDim % 2 !== 0) throw new MaxentError(`${file}: field "head_dim": ${headDim} must be even for RoPE`);
  // transformers ≥ 5 writes `rope_parameters` ({rope_theta, rope_type, …}); older configs `rope_theta` + `rope_scaling`.
  const ropeField = c.rope_parameters ? "rope_parameters" : "rope_scaling";
  const rope = c.rope_parameters ?? c.rope_scaling;
  let ropeScaling: Llama3RopeScaling | null = null;
  if (rope) {
    const type = rope.rope_type ?? rope.type ?? "default";
    if (type === "llama3") {
      const need = ["factor", "low_freq_factor", "high_freq_factor", "original_max_position_embeddings"] as const;
      for (const k of need) {
        if (rope[k] === undefined) throw new MaxentError(`${file}: field "${ropeField}.${k}" is required for llama3`);
      }
      ropeScaling = {
        ropeType: "llama3",
        factor: rope.factor!,
        lowFreqFactor: rope.low_freq_factor!,
        highFreqFactor: rope.high_freq_factor!,
        originalMaxPositionEmbeddings: rope.original_max_position_embeddings!,
      };
    } else if (type !== "default") {
      throw new MaxentError(
        `${file}: field "${ropeField}.rope_type": unsupported type "${type}" (supported: llama3, default)`,
      );
    }
  }
  const ropeTheta = c.rope_parameters?.rope_theta ?? c.rope_theta ?? 10000;
  const attentionBias = c.attention_bias ?? false;
  const eos = c.eos_token_id;
  return {
    architecture: arch,
    modelType,
    vocabSize: c.vocab_size,
    hiddenSize: c.hidden_size,
    intermediateSize: c.intermediate_size,
    numHiddenLayers: c.num_hidden_layers,
    numAttentionHeads: c.num_attention_heads,
    numKeyValueHeads,
    headDim,
    rmsNormEps: c.rms_norm_eps ?? 1e-6,
    ropeTheta,
    ropeScaling,
    maxPositionEmbeddings: c.max_position_embeddings ?? 32768,
    tieWordEmbeddings: c.tie_word_embeddings ?? false,
    qkvBias: modelType === "qwen2" ? true : attentionBias,
    oBias: modelType === "qwen2" ? false : attentionBias,
    qkNorm: modelType === "qwen3",
    bosTokenId: c.bos_token_id ?? null,
    eosTokenIds: eos === undefined || eos === null ? [] : Array.isArray(eos) ? eos : [eos],
    padTokenId: c.pad_token_id ?? null,
    raw: structuredClone(json as Record<string, unknown>),
  };
}

/** Reads and validates `dir/config.json`. */
export async function loadModelConfig(dir: string): Promise<ModelConfig> {
  const file = `${dir}/config.json`;
  let text: string;
  try {
    text = await Deno.readTextFile(file);
  } catch (e) {
    throw new MaxentError(`${file}: cannot read (${(e as Error).message}); is this a model directory?`);
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (e) {
    throw new MaxentError(`${file}: invalid JSON (${(e as Error).message})`);
  }
  return parseModelConfig(json, file);
}

/** Shape parameters `maxent init` accepts to build a config from flags. */
export interface ConfigShape {
  arch: "qwen2" | "llama" | "qwen3";
  layers: number;
  hidden: number;
  heads: number;
  kvHeads: number;
  intermediate: number;
  vocab: number;
  headDim?: number;
  tied?: boolean;
  ropeTheta?: number;
  maxPositionEmbeddings?: number;
  eosTokenId?: number;
  bosTokenId?: number;
}

/** Builds a config.json object (HF field names) for `shape`. */
export function configJson(shape: ConfigShape): Record<string, unknown> {
  const common: Record<string, unknown> = {
    attention_dropout: 0.0,
    bos_token_id: shape.bosTokenId ?? 0,
    eos_token_id: shape.eosTokenId ?? 1,
    hidden_act: "silu",
    hidden_size: shape.hidden,
    initializer_range: 0.02,
    intermediate_size: shape.intermediate,
    max_position_embeddings: shape.maxPositionEmbeddings ?? 4096,
    num_attention_heads: shape.heads,
    num_hidden_layers: shape.layers,
    num_key_value_heads: shape.kvHeads,
    rms_norm_eps: 1e-6,
    rope_theta: shape.ropeTheta ?? 1000000.0,
    tie_word_embeddings: shape.tied ?? true,
    torch_dtype: "float32",
    use_cache: true,
    vocab_size: shape.vocab,
  };
  if (shape.arch === "qwen2") {
    return {
      architectures: ["Qwen2ForCausalLM"],
      model_type: "qwen2",
      ...common,
      max_window_layers: shape.layers,
      sliding_window: common.max_position_embeddings,
      use_sliding_window: false,
    };
  }
  if (shape.arch === "qwen3") {
    return {
      architectures: ["Qwen3ForCausalLM"],
      model_type: "qwen3",
      ...common,
      attention_bias: false,
      head_dim: shape.headDim ?? shape.hidden / shape.heads,
      max_window_layers: shape.layers,
      sliding_window: null,
      use_sliding_window: false,
    };
  }
  return {
    architectures: ["LlamaForCausalLM"],
    model_type: "llama",
    ...common,
    attention_bias: false,
    head_dim: shape.headDim ?? shape.hidden / shape.heads,
    mlp_bias: false,
    pretraining_tp: 1,
    rope_scaling: null,
  };
}

const QWEN25_INSTRUCT_COMMON = {
  architectures: ["Qwen2ForCausalLM"],
  attention_dropout: 0.0,
  bos_token_id: 151643,
  eos_token_id: 151645,
  hidden_act: "silu",
  initializer_range: 0.02,
  max_position_embeddings: 32768,
  max_window_layers: 21,
  model_type: "qwen2",
  num_key_value_heads: 2,
  rms_norm_eps: 1e-06,
  rope_theta: 1000000.0,
  sliding_window: 32768,
  tie_word_embeddings: true,
  torch_dtype: "bfloat16",
  transformers_version: "4.43.1",
  use_cache: true,
  use_sliding_window: false,
  vocab_size: 151936,
};

/**
 * Named configs for `maxent init --preset`: `tiny` (a few-hundred-kB Qwen2 for tests and demos; its vocab is
 * widened to the tokenizer's), `bench` (the issue's ~42M-parameter Qwen2 with the real Qwen vocabulary, tied),
 * and the exact Hugging Face configs of Qwen2.5-0.5B-Instruct and Qwen2.5-1.5B-Instruct.
 */
export const MODEL_PRESETS: Record<string, () => Record<string, unknown>> = {
  tiny: () => configJson({ arch: "qwen2", layers: 2, hidden: 64, heads: 4, kvHeads: 2, intermediate: 128, vocab: 256 }),
  bench: () =>
    configJson({
      arch: "qwen2",
      layers: 4,
      hidden: 256,
      heads: 4,
      kvHeads: 2,
      intermediate: 1024,
      vocab: 151936,
      tied: true,
      bosTokenId: 151643,
      eosTokenId: 151645,
    }),
  "qwen2.5-0.5b": () => ({
    ...QWEN25_INSTRUCT_COMMON,
    hidden_size: 896,
    intermediate_size: 4864,
    num_attention_heads: 14,
    num_hidden_layers: 24,
  }),
  "qwen2.5-1.5b": () => ({
    ...QWEN25_INSTRUCT_COMMON,
    hidden_size: 1536,
    intermediate_size: 8960,
    num_attention_heads: 12,
    num_hidden_layers: 28,
  }),
};

/** Sorts a config object's keys alphabetically, as transformers writes config.json. */
export function sortedConfig(json: Record<string, unknown>): Record<string, unknown> {
  return Object.fromEntries(Object.keys(json).sort().map((k) => [k, json[k]]));
}
