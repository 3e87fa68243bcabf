/**
 * The recipe schema: every knob maxent reads, in one place, with the YAML key names of TRL / open-r1 (snake_case)
 * and their meaning and defaults. Defaults follow TRL 0.18.0 (the version open-r1 pins, which the seed project used)
 * and transformers' `TrainingArguments`, unless a description says otherwise.
 *
 * @module
 */
import { z } from "zod";
import { type DatasetMixture, DatasetMixtureSchema } from "../data/mixture.ts";

/** Training algorithms maxent implements; a new one is one more entry here plus its objective. */
export const ALGORITHMS = ["maxent-grpo", "grpo", "xdr-grpo"] as const;
/** A training algorithm name, e.g. `"maxent-grpo"`. */
export type Algorithm = (typeof ALGORITHMS)[number];

/** tfjs backends maxent can run on; `auto` picks the fastest that initialises. */
export const BACKENDS = ["auto", "tensorflow", "webgpu", "wasm", "cpu"] as const;
/** GRPO loss aggregations (TRL `loss_type`). */
export const LOSS_TYPES = ["grpo", "bnpo", "dr_grpo"] as const;
/** GRPO reward scaling (TRL `scale_rewards`). */
export const SCALE_REWARDS = ["group", "batch", "none"] as const;
/** Learning-rate schedules (transformers `lr_scheduler_type`). */
export const LR_SCHEDULERS = ["constant", "linear", "cosine", "constant_with_warmup"] as const;
/** Hub push strategies (transformers `hub_strategy`). */
export const HUB_STRATEGIES = ["end", "every_save", "checkpoint", "all_checkpoints"] as const;
/** Checkpoint strategies (transformers `save_strategy`). */
export const SAVE_STRATEGIES = ["no", "steps", "epoch"] as const;

/** A tfjs backend name. */
export type Backend = (typeof BACKENDS)[number];
/** A GRPO loss aggregation. */
export type LossType = (typeof LOSS_TYPES)[number];
/** A reward-scaling strategy. */
export type ScaleRewards = (typeof SCALE_REWARDS)[number];
/** A learning-rate schedule. */
export type LrScheduler = (typeof LR_SCHEDULERS)[number];
/** A Hub push strategy. */
export type HubStrategy = (typeof HUB_STRATEGIES)[number];
/** A checkpoint strategy. */
export type SaveStrategy = (typeof SAVE_STRATEGIES)[number];
/** Where completions come from. */
export type SamplerKind = "local" | "remote";

/**
 * The MaxEnt-GRPO defaults (DESIGN.md), shared by the schema, the environment overrides and `maxent weights`.
 *
 * @example
 * ```ts
 * import { MAXENT_DEFAULTS } from "./schema.ts";
 * MAXENT_DEFAULTS.maxent_tau; // 0.2
 * ```
 */
export const MAXENT_DEFAULTS = {
  maxent_tau: 0.2,
  maxent_q_temperature: 1.0,
  maxent_q_epsilon: 1e-6,
  maxent_length_normalize_ref: true,
} as const;

/** TRL 0.18.0's default KL coefficient `beta`; it applies to GRPO only, never to MaxEnt-GRPO (see `maxentBeta`). */
export const TRL_DEFAULT_BETA = 0.04;

/**
 * Keys the seed project's tooling (TRL / transformers / its PPO-style extras) accepts but maxent does not use. A recipe
 * may carry them; the loader reports them once, in one warning, and drops them.
 */
export const IGNORED_KEYS: ReadonlySet<string> = new Set([
  // PPO / adaptive-KL controller knobs of the seed's recipes (GRPO has no value head or KL controller)
  "kl_target",
  "kl_horizon",
  "kl_ctl_step_size",
  "adap_kl_ctrl",
  "vf_coef",
  "gamma",
  "gae_lambda",
  "clip_range",
  "clip_range_vf",
  "cliprange",
  "cliprange_value",
  "horizon",
  "reward_normalization",
  "advantage_normalization",
  "reward_clip",
  "advantage_clip",
  "whiten_rewards",
  "log_grad_norm_after_clip",
  "log_kl_per_token",
  // torch / accelerate execution details that have no tfjs counterpart
  "torch_dtype",
  "dtype",
  "attn_implementation",
  "bf16",
  "fp16",
  "tf32",
  "ddp_timeout",
  "ddp_find_unused_parameters",
  "dataloader_num_workers",
  "dataloader_pin_memory",
  "use_liger_kernel",
  "use_liger_loss",
  "trust_remote_code",
  "model_init_kwargs",
  "optim",
  "ds3_gather_for_generation",
  "remove_unused_columns",
  "vllm_mode",
  "vllm_device",
  "vllm_gpu_memory_utilization",
  "vllm_tensor_parallel_size",
  "vllm_server_host",
  "vllm_server_port",
  "vllm_server_timeout",
  "vllm_enable_prefix_caching",
  // experiment trackers and logging plumbing
  "report_to",
  "run_name",
  "logging_dir",
  "log_level",
  "log_level_replica",
  "logging_strategy",
  "evaluation_strategy",
  "eval_strategy",
  "wandb_entity",
  "wandb_project",
  "wandb_run_group",
  "wandb_log_unique_prompts",
  "num_completions_to_print",
  "callbacks",
  "benchmarks",
]);

// Numbers in YAML recipes are sometimes quoted ("5e-6"); the loader turns numeric strings into numbers for keys of
// number type before validation, so only these schemas are needed here.
const num = () => z.number();
const int = () => z.number().int();
const posInt = () => z.number().int().positive();
const str = () => z.string().min(1);
const strList = () => z.array(z.string().min(1));

/**
 * A validated recipe: every key of the schema with defaults filled in, snake_case exactly as in the YAML file. What
 * each key means is its `.describe()` text in the schema below (also `recipeKeyTable()` and README's key table); keys
 * marked `?` are unset unless the recipe sets them.
 */
export interface Recipe {
  algorithm: Algorithm;
  backend: Backend;
  model_name_or_path: string;
  model_revision: string;
  chat_template?: string;
  dataset_name?: string;
  dataset_config?: string;
  dataset_revision?: string;
  dataset_train_split: string;
  dataset_test_split: string;
  dataset_prompt_column: string;
  dataset_solution_column: string;
  dataset_mixture?: DatasetMixture;
  system_prompt?: string;
  max_prompt_length: number;
  max_completion_length: number;
  num_generations: number;
  per_device_train_batch_size: number;
  per_device_eval_batch_size: number;
  gradient_accumulation_steps: number;
  learning_rate: number;
  adam_beta1: number;
  adam_beta2: number;
  adam_epsilon: number;
  weight_decay: number;
  max_grad_norm: number;
  lr_scheduler_type: LrScheduler;
  warmup_ratio: number;
  warmup_steps: number;
  num_train_epochs: number;
  max_steps: number;
  seed: number;
  temperature: number;
  gen_temperature?: number;
  top_p: number;
  gen_top_p?: number;
  top_k: number;
  min_p?: number;
  repetition_penalty: number;
  use_vllm: boolean;
  vllm_url?: string;
  sampler?: SamplerKind;
  reward_funcs: string[];
  reward_weights?: number[];
  reward_url?: string;
  maxent_tau: number;
  maxent_q_temperature: number;
  maxent_q_epsilon: number;
  maxent_length_normalize_ref: boolean;
  init_kl_coeff?: number;
  beta?: number;
  xdr_tau?: number;
  xdr_ref_tilt: number;
  loss_type: LossType;
  epsilon: number;
  epsilon_high?: number;
  scale_rewards: ScaleRewards;
  output_dir: string;
  overwrite_output_dir: boolean;
  resume_from_checkpoint: boolean | string;
  save_strategy: SaveStrategy;
  save_steps: number;
  save_total_limit?: number;
  logging_steps: number;
  logging_first_step: boolean;
  log_completions: boolean;
  do_eval: boolean;
  eval_steps?: number;
  push_to_hub: boolean;
  hub_model_id?: string;
  hub_strategy: HubStrategy;
  hub_private_repo?: boolean;
  hub_model_revision: string;
  use_peft: boolean;
  lora_r: number;
  lora_alpha: number;
  lora_dropout: number;
  lora_target_modules?: string[];
  lora_modules_to_save?: string[];
  gradient_checkpointing: boolean;
  gradient_checkpointing_kwargs?: { use_reentrant?: boolean };
}

/** The fields of a recipe, before cross-field checks and normalisation. */
const RecipeFields = z.strictObject({
  // ── what to run ────────────────────────────────────────────────────────────────────────────────────────────────
  algorithm: z.enum(ALGORITHMS).default("maxent-grpo").describe(
    "Training algorithm: `maxent-grpo` (weighted MLE towards the MaxEnt target), `grpo` (TRL's clipped surrogate) " +
      "or `xdr-grpo` (Dr.GRPO with group weights K·softmax(U/τ)).",
  ),
  backend: z.enum(BACKENDS).default("auto").describe(
    "tfjs backend: `auto` (the fastest that initialises), `tensorflow` (tfjs-node), `webgpu`, `wasm` or `cpu`.",
  ),

  // ── model ─────────────────────────────────────────────────────────────────────────────────────────────────────
  model_name_or_path: str().describe("Hub model id (e.g. `Qwen/Qwen2.5-1.5B-Instruct`) or a local model folder."),
  model_revision: str().default("main").describe("Hub branch, tag or commit of the model."),
  chat_template: z.string().optional().describe(
    "Jinja chat template overriding the tokenizer's (unset: the tokenizer's own).",
  ),

  // ── data ──────────────────────────────────────────────────────────────────────────────────────────────────────
  dataset_name: str().optional().describe(
    "Hub dataset id or local path (.parquet/.jsonl/.json or folder); this or `dataset_mixture` is required.",
  ),
  dataset_config: str().optional().describe("Dataset configuration (subset) name."),
  dataset_revision: str().optional().describe("Hub branch, tag or commit of the dataset (unset: `main`)."),
  dataset_train_split: str().default("train").describe("Split used for training."),
  dataset_test_split: str().default("test").describe("Split used for evaluation (`do_eval`)."),
  dataset_prompt_column: str().default("problem").describe("Column holding the prompt (the problem text)."),
  dataset_solution_column: str().default("answer").describe(
    "Column holding the reference answer the rewards compare with.",
  ),
  dataset_mixture: DatasetMixtureSchema.optional().describe(
    "open-r1 mixture `{datasets: [{id, config?, split?, columns?, weight?}], seed, test_split_size?}` used instead " +
      "of `dataset_name`.",
  ),
  system_prompt: z.string().optional().describe("System message put before every prompt (unset: none)."),

  // ── sizes ─────────────────────────────────────────────────────────────────────────────────────────────────────
  max_prompt_length: posInt().default(512).describe("Prompts longer than this many tokens are cut from the left."),
  max_completion_length: posInt().default(256).describe("Most tokens generated per completion (incl. EOS)."),
  num_generations: posInt().default(8).describe("K: completions sampled per prompt (the group size)."),
  per_device_train_batch_size: posInt().default(8).describe(
    "Prompts per micro-batch; each brings `num_generations` completions (TRL counts completions instead).",
  ),
  per_device_eval_batch_size: posInt().default(8).describe("Completions per evaluation batch."),
  gradient_accumulation_steps: posInt().default(1).describe("Micro-batches accumulated per optimiser step."),

  // ── optimiser and schedule (AdamW) ──────────────────────────────────────────────────────────────────────────────
  learning_rate: num().positive().default(1e-6).describe("Peak AdamW learning rate (TRL GRPO default 1e-6)."),
  adam_beta1: num().min(0).lt(1).default(0.9).describe("AdamW β1, decay rate of the gradient mean estimate."),
  adam_beta2: num().min(0).lt(1).default(0.999).describe("AdamW β2, decay rate of the squared-gradient estimate."),
  adam_epsilon: num().positive().default(1e-8).describe("AdamW ε, added to the denominator for stability."),
  weight_decay: num().min(0).default(0).describe("AdamW decoupled weight decay."),
  max_grad_norm: num().min(0).default(1.0).describe("Clip the global gradient norm to this (0: no clipping)."),
  lr_scheduler_type: z.enum(LR_SCHEDULERS).default("linear").describe(
    "Learning-rate schedule after warm-up: `constant`, `linear` (to 0), `cosine` (to 0), `constant_with_warmup`.",
  ),
  warmup_ratio: num().min(0).max(1).default(0).describe("Fraction of total steps used for linear warm-up."),
  warmup_steps: int().min(0).default(0).describe("Warm-up steps; when > 0 it wins over `warmup_ratio`."),
  num_train_epochs: num().positive().default(3).describe("Passes over the training prompts (if `max_steps` is -1)."),
  max_steps: int().min(-1).default(-1).describe("Total optimiser steps; -1: derived from `num_train_epochs`."),
  seed: int().default(42).describe("Random seed (data order, sampling, initialisation)."),

  // ── generation ─────────────────────────────────────────────────────────────────────────────────────────────────
  temperature: num().positive().default(1.0).describe("Sampling temperature of the completions (TRL)."),
  gen_temperature: num().positive().optional().describe(
    "The seed MaxEnt script's name for `temperature`; set one of the two.",
  ),
  top_p: num().gt(0).max(1).default(1.0).describe("Nucleus sampling: keep the smallest token set with this mass."),
  gen_top_p: num().gt(0).max(1).optional().describe("The seed MaxEnt script's name for `top_p`; set one of the two."),
  top_k: int().min(0).default(0).describe("Keep only the k most likely tokens (0: off)."),
  min_p: num().min(0).max(1).optional().describe("Drop tokens below min_p × the top token's probability (unset: off)."),
  repetition_penalty: num().positive().default(1.0).describe("Penalty for tokens already in prompt or completion."),
  use_vllm: z.boolean().default(false).describe(
    "Generate with a vLLM server (TRL); in maxent it selects the remote sampler at `vllm_url`.",
  ),
  vllm_url: z.url().optional().describe(
    "Endpoint of the OpenAI-compatible / vLLM generation server used by the remote sampler.",
  ),
  sampler: z.enum(["local", "remote"] as const).optional().describe(
    "Where completions come from: `local` (tfjs) or `remote` (`vllm_url`); unset: remote if `use_vllm`, else local.",
  ),

  // ── rewards ────────────────────────────────────────────────────────────────────────────────────────────────────
  reward_funcs: strList().min(1).default(["pure_accuracy_math"]).describe(
    "Reward functions by registry name; a candidate's utility is their weighted sum.",
  ),
  reward_weights: z.array(num()).optional().describe(
    "One weight per reward function (unset: all 1).",
  ),
  reward_url: z.url().optional().describe("Endpoint of a remote reward service (for remote reward functions)."),

  // ── MaxEnt-GRPO ───────────────────────────────────────────────────────────────────────────────────────────────
  maxent_tau: num().min(0).default(MAXENT_DEFAULTS.maxent_tau).describe(
    "τ, sequence-level entropy weight of the MaxEnt target (env MAXENT_TAU).",
  ),
  maxent_q_temperature: num().positive().default(MAXENT_DEFAULTS.maxent_q_temperature).describe(
    "T_q, temperature of the listwise target q = softmax(u / T_q) (env MAXENT_Q_TEMPERATURE).",
  ),
  maxent_q_epsilon: num().min(0).lt(1).default(MAXENT_DEFAULTS.maxent_q_epsilon).describe(
    "ε floor on q for full support: q ← q(1 − Kε) + ε, renormalised (env MAXENT_Q_EPS).",
  ),
  maxent_length_normalize_ref: z.boolean().default(MAXENT_DEFAULTS.maxent_length_normalize_ref).describe(
    "Divide the reference log-prob sum by the completion's token count (env MAXENT_LENGTH_NORM_REF=1/0).",
  ),
  init_kl_coeff: num().min(0).optional().describe(
    "β of MaxEnt-GRPO (reverse-KL weight to π_ref); wins over `beta`. Unset and `beta` unset: β = 0.",
  ),
  beta: num().min(0).optional().describe(
    "KL coefficient. GRPO: unset means TRL's 0.04. MaxEnt-GRPO: used as β only if set and `init_kl_coeff` is not.",
  ),

  // ── xDr.GRPO ──────────────────────────────────────────────────────────────────────────────────────────────────
  xdr_tau: z.union([num().min(0), z.literal(Infinity)]).optional().describe(
    "xDr.GRPO temperature τ of the group weights K·softmax(U/τ); unset or `.inf`: exactly Dr.GRPO. Paper: 0.001–0.05.",
  ),
  xdr_ref_tilt: num().min(0).default(0).describe(
    "xDr.GRPO reference tilt λ: weights K·softmax(U/(τ+λ) + (λ/(τ+λ))·s) with s the length-normalised ref log-prob.",
  ),

  // ── GRPO ──────────────────────────────────────────────────────────────────────────────────────────────────────
  loss_type: z.enum(LOSS_TYPES).default("bnpo").describe(
    "GRPO aggregation: `grpo` (per-sequence token mean, then batch mean), `bnpo` (token mean over the batch), " +
      "`dr_grpo` (token sum / (N · max_completion_length)).",
  ),
  epsilon: num().min(0).default(0.2).describe("Lower clip range: ratio clipped to [1 − ε, 1 + ε_high]."),
  epsilon_high: num().min(0).optional().describe("Upper clip range (unset: `epsilon`; DAPO suggests 0.28)."),
  scale_rewards: z.union([z.enum(SCALE_REWARDS), z.boolean()]).default("group").describe(
    "Divide advantages by the reward std of the `group` or the `batch`, or `none` (TRL booleans: true = group, " +
      "false = none).",
  ),

  // ── output, checkpoints, logging ─────────────────────────────────────────────────────────────────────────────────
  output_dir: str().default("trainer_output").describe("Folder for checkpoints, the final model and metrics."),
  overwrite_output_dir: z.boolean().default(false).describe("Allow writing into a non-empty `output_dir`."),
  resume_from_checkpoint: z.union([z.boolean(), str()]).default(false).describe(
    "`true`: resume from the latest checkpoint in `output_dir` (if any); a path: resume from that checkpoint.",
  ),
  save_strategy: z.enum(SAVE_STRATEGIES).default("steps").describe(
    "When to write checkpoints: `no`, `steps`, `epoch`.",
  ),
  save_steps: num().positive().default(500).describe("Checkpoint every this many steps (< 1: fraction of total)."),
  save_total_limit: posInt().optional().describe("Keep at most this many checkpoints, deleting the oldest."),
  logging_steps: num().positive().default(10).describe(
    "Log metrics every this many steps (< 1: fraction of total; TRL ≥ 0.20's default 10).",
  ),
  logging_first_step: z.boolean().default(false).describe("Also log after the first step."),
  log_completions: z.boolean().default(false).describe("Log a sample of prompts and completions at each log step."),
  do_eval: z.boolean().default(false).describe("Evaluate on `dataset_test_split` during training."),
  eval_steps: num().positive().optional().describe("Evaluate every this many steps (unset: `logging_steps`)."),

  // ── Hub ───────────────────────────────────────────────────────────────────────────────────────────────────────
  push_to_hub: z.boolean().default(false).describe("Upload checkpoints / the final model to the Hub (needs HF_TOKEN)."),
  hub_model_id: str().optional().describe("Hub repo to push to, `owner/name` (unset: the `output_dir` folder name)."),
  hub_strategy: z.enum(HUB_STRATEGIES).default("every_save").describe(
    "What to push: `end` (final model), `every_save`, `checkpoint` (also the latest checkpoint), `all_checkpoints`.",
  ),
  hub_private_repo: z.boolean().optional().describe("Create the Hub repo as private (unset: the account default)."),
  hub_model_revision: str().default("main").describe("Branch of the Hub repo to push to."),

  // ── LoRA (PEFT) ────────────────────────────────────────────────────────────────────────────────────────────────
  use_peft: z.boolean().default(false).describe("Train LoRA adapters instead of all weights."),
  lora_r: posInt().default(16).describe("LoRA rank r of the adapter matrices."),
  lora_alpha: num().positive().default(32).describe("LoRA scaling α (the update is scaled by α / r)."),
  lora_dropout: num().min(0).lt(1).default(0.05).describe("Dropout on the LoRA input."),
  lora_target_modules: strList().optional().describe(
    "Module names to adapt, e.g. `[q_proj, v_proj]` (unset: the model family's default).",
  ),
  lora_modules_to_save: strList().optional().describe("Modules trained fully and saved beside the adapters."),

  // ── memory ────────────────────────────────────────────────────────────────────────────────────────────────────
  gradient_checkpointing: z.boolean().default(false).describe(
    "Recompute each decoder layer in the backward pass instead of keeping its activations: the policy forward keeps " +
      "one [tokens, hidden] input per layer, for about one more forward pass of compute (transformers' key).",
  ),
  gradient_checkpointing_kwargs: z.strictObject({ use_reentrant: z.boolean().optional() }).optional().describe(
    "transformers' options for `torch.utils.checkpoint`; `use_reentrant` (which of PyTorch's two implementations) " +
      "is accepted and has no effect: maxent has one, which always routes gradients to the adapters/weights.",
  ),
});

/** The recipe fields as zod parses them, before normalisation (`scale_rewards` may still be a boolean). */
type RawRecipe = z.output<typeof RecipeFields>;

// scale_rewards: TRL's booleans map to named strategies (true → group, false → none).
function normalise(r: RawRecipe): Recipe {
  const scale = r.scale_rewards === true ? "group" : r.scale_rewards === false ? "none" : r.scale_rewards;
  return { ...r, scale_rewards: scale };
}

/**
 * The recipe schema: validates a parsed YAML object (keys exactly as in the YAML file) into a typed `Recipe`,
 * filling defaults. Use `parseRecipe` / `loadRecipe` rather than this directly: they also handle seed-only keys,
 * environment overrides, `--set` and readable errors.
 */
export const RecipeSchema: z.ZodType<Recipe, unknown> = RecipeFields.superRefine((r, ctx) => {
  if (r.dataset_name === undefined && r.dataset_mixture === undefined) {
    ctx.addIssue({ code: "custom", path: ["dataset_name"], message: "set `dataset_name` or `dataset_mixture`" });
  }
  if (r.reward_weights !== undefined && r.reward_weights.length !== r.reward_funcs.length) {
    ctx.addIssue({
      code: "custom",
      path: ["reward_weights"],
      message: `has ${r.reward_weights.length} entries but reward_funcs has ${r.reward_funcs.length}; give one ` +
        "weight per reward function",
    });
  }
  if (r.maxent_q_epsilon * r.num_generations >= 1) {
    ctx.addIssue({
      code: "custom",
      path: ["maxent_q_epsilon"],
      message: `must be below 1 / num_generations = ${1 / r.num_generations} (the floor would exceed q's mass)`,
    });
  }
  if (r.sampler === "remote" && r.vllm_url === undefined) {
    ctx.addIssue({ code: "custom", path: ["vllm_url"], message: "is required when `sampler: remote`" });
  }
}).transform(normalise);

/** The recipe keys maxent understands, in schema order. */
export const RECIPE_KEYS: readonly string[] = Object.keys(RecipeFields.shape);

/**
 * β of the MaxEnt target (DESIGN.md): `init_kl_coeff` if the recipe sets it, else `beta` if the recipe sets it
 * explicitly, else 0. TRL's own `beta` default never leaks in (the schema leaves `beta` unset when absent).
 *
 * @example
 * ```ts
 * maxentBeta({ init_kl_coeff: 3, beta: 0.04 } as Recipe); // 3
 * ```
 */
export function maxentBeta(recipe: Pick<Recipe, "init_kl_coeff" | "beta">): number {
  return recipe.init_kl_coeff ?? recipe.beta ?? 0;
}

/** β of the GRPO k3-KL penalty: the recipe's `beta`, or TRL 0.18.0's default 0.04 when unset. */
export function grpoBeta(recipe: Pick<Recipe, "beta">): number {
  return recipe.beta ?? TRL_DEFAULT_BETA;
}

/** The sampling temperature in effect: `gen_temperature` (seed name) if set, else `temperature`. */
export function generationTemperature(recipe: Pick<Recipe, "gen_temperature" | "temperature">): number {
  return recipe.gen_temperature ?? recipe.temperature;
}

/** The nucleus mass in effect: `gen_top_p` (seed name) if set, else `top_p`. */
export function generationTopP(recipe: Pick<Recipe, "gen_top_p" | "top_p">): number {
  return recipe.gen_top_p ?? recipe.top_p;
}

/** The sampler in effect: `sampler` if set, else `remote` when `use_vllm`, else `local`. */
export function samplerKind(recipe: Pick<Recipe, "sampler" | "use_vllm">): SamplerKind {
  return recipe.sampler ?? (recipe.use_vllm ? "remote" : "local");
}

/** One row of the recipe key reference (README's key table is generated from these). */
export interface RecipeKeyRow {
  /** The YAML key. */
  key: string;
  /** The accepted type, e.g. `number ≥ 0`, `"group" | "batch" | "none" | boolean`. */
  type: string;
  /** The default as YAML-ish text, or `unset` / `required`. */
  default: string;
  /** What the key does. */
  description: string;
}

// deno-lint-ignore no-explicit-any
type JsonSchema = Record<string, any>;

let cachedJsonProps: Record<string, JsonSchema> | undefined;

/** The JSON Schema of each top-level recipe key (input side: what a YAML file may contain). */
export function recipeKeyJsonSchemas(): Record<string, JsonSchema> {
  if (!cachedJsonProps) {
    const js = z.toJSONSchema(RecipeFields, { io: "input", unrepresentable: "any" }) as JsonSchema;
    cachedJsonProps = js.properties as Record<string, JsonSchema>;
  }
  return cachedJsonProps;
}

/** A short human type for a JSON Schema node, e.g. `integer > 0`, `string[]`, `"a" | "b"`. */
export function typeText(s: JsonSchema): string {
  if (s.anyOf) return (s.anyOf as JsonSchema[]).map(typeText).join(" | ");
  if (s.enum) return (s.enum as unknown[]).map((v) => JSON.stringify(v)).join(" | ");
  if (Array.isArray(s.type)) return s.type.join(" | ");
  if (s.type === "array") return `${s.items ? typeText(s.items) : "any"}[]`;
  if (s.type === "object") return "mapping";
  if (s.type === "string" && s.format === "uri") return "URL";
  if (s.type === "number" || s.type === "integer") {
    const bounds: string[] = [];
    const big = 9007199254740991;
    if (s.exclusiveMinimum !== undefined) bounds.push(`> ${s.exclusiveMinimum}`);
    if (s.minimum !== undefined && s.minimum !== -big) bounds.push(`≥ ${s.minimum}`);
    if (s.exclusiveMaximum !== undefined) bounds.push(`< ${s.exclusiveMaximum}`);
    if (s.maximum !== undefined && s.maximum !== big) bounds.push(`≤ ${s.maximum}`);
    return bounds.length > 0 ? `${s.type} ${bounds.join(", ")}` : String(s.type);
  }
  return String(s.type ?? "any");
}

/**
 * The recipe key reference, one row per key in schema order: key, type, default and description.
 *
 * @example
 * ```ts
 * for (const row of recipeKeyTable()) console.log(`| ${row.key} | ${row.type} | ${row.default} | ${row.description} |`);
 * ```
 */
export function recipeKeyTable(): RecipeKeyRow[] {
  const props = recipeKeyJsonSchemas();
  return RECIPE_KEYS.map((key) => {
    const s = props[key];
    const field = RecipeFields.shape[key as keyof typeof RecipeFields.shape];
    const optional = field.safeParse(undefined).success;
    const def = s.default !== undefined ? JSON.stringify(s.default) : optional ? "unset" : "required";
    return { key, type: typeText(s), default: def, description: field.description ?? "" };
  });
}
