/**
 * Everything `maxent train` prepares before the first step, checked before any slow work: the output directory
 * (overwrite / resume rules as transformers), the backend, the model and tokenizer (Hub or local), the frozen
 * reference, the prompts, the rewards, the sampler, the optimiser and the step plan; and, when resuming, the
 * checkpoint's weights, optimiser moments and history.
 */
import type * as tf from "@tensorflow/tfjs";
import { dirname, join } from "node:path";
import { stringify } from "yaml";
import { MaxentError } from "../errors.ts";
import { readEnv } from "../env.ts";
import {
  type Backend,
  generationTemperature,
  generationTopP,
  grpoBeta,
  maxentBeta,
  samplerKind,
} from "../recipe/mod.ts";
import type { LoadedRecipe, Recipe } from "../recipe/mod.ts";
import { initBackend } from "../backend/mod.ts";
import {
  type HubOptions,
  hubOptionsFromEnv,
  hubUploadPlan,
  resolveDatasetFiles,
  resolveModel,
  uploadFolder,
} from "../hub/mod.ts";
import { buildPrompts, type Example, loadExamples, loadMixture, shuffled } from "../data/mod.ts";
import type { BuiltPrompt } from "../data/prompt.ts";
import { resolveRewards, type RewardSet } from "../rewards/mod.ts";
import { CausalLM } from "../model/transformer.ts";
import { adapterFreeView, DEFAULT_TARGET_MODULES, LoraAdapters, namedTrainableVariables } from "../model/lora.ts";
import { loadModelConfig } from "../model/config.ts";
import { readSafetensorsHeader, readSafetensorsTensor } from "../model/safetensors.ts";
import type { HostTensor } from "./optimizer.ts";
import { Tokenizer } from "../tokenizer/mod.ts";
import type { GenerationParams } from "../sampler/types.ts";
import { AdamW } from "./optimizer.ts";
import { latestCheckpoint, TRAINER_STATE, writeFileAtomic } from "./checkpoint.ts";
import { type ScheduleSpec, warmupStepsFor } from "./schedule.ts";
import type { ObjectiveSettings } from "./objective_step.ts";
import type { SamplerSpec } from "./rollout.ts";
import { samplerSync } from "./sampler_sync.ts";
import { CompletionsLog, MetricsLog } from "./metrics.ts";
import { evalMetricsRow, evaluateModel, loadEvalExamples } from "../eval/evaluate.ts";

/** Options of `train` besides the recipe. */
export interface TrainOptions {
  /** Where progress and log lines go (default: stderr). */
  log?: (line: string) => void;
  /** Draw a progress bar (stderr is a terminal). */
  isTerminal?: boolean;
  /** Environment (HF_*, MAXENT_*; default: the process's). */
  env?: Record<string, string | undefined>;
  /** Overrides of the Hub settings (token from --token, a test fetch). */
  hub?: Partial<HubOptions>;
  /** Stop after this many steps in this process (the run can be resumed); for tests and time-boxed runs. */
  stopAfterSteps?: number;
  /** Override the recipe's backend (the --backend flag). */
  backend?: Backend;
}

/** The step plan: sizes and the learning-rate schedule. */
export interface StepPlan {
  promptsPerMicro: number;
  totalSteps: number;
  stepsPerEpoch: number;
  schedule: ScheduleSpec;
}

/** The prompts of one micro-batch, with the RNG keys of their candidates. */
export interface PromptBatch {
  examples: Example[];
  prompts: BuiltPrompt[];
  keys: number[];
}

/** A prepared run: what the loop in trainer.ts uses. */
export interface Run {
  recipe: Recipe;
  loaded: LoadedRecipe;
  log: (line: string) => void;
  modelDir: string;
  tokenizer: Tokenizer;
  policy: CausalLM;
  reference: CausalLM | null;
  rewards: RewardSet;
  sampler: SamplerSpec;
  /** Sends the policy to a remote sampler that takes weights (before each step's sampling); null otherwise. */
  syncSampler: (() => Promise<void>) | null;
  generation: GenerationParams;
  objective: ObjectiveSettings;
  lossScale: number;
  optimizer: AdamW;
  plan: StepPlan;
  startStep: number;
  history: Array<Record<string, number>>;
  tokensSeen: number;
  metricsLog: MetricsLog;
  completionsLog: CompletionsLog;
  promptBatch(micro: number): PromptBatch;
  epochAt(step: number): number;
  shouldLog(step: number): boolean;
  shouldSave(step: number): boolean;
  /** `do_eval`: whether to evaluate after this step (every `eval_steps`, default `logging_steps`, and the last). */
  shouldEval(step: number): boolean;
  /** Evaluates the policy on the test split: `eval/<metric>` values for the step's metrics row. */
  evaluate(): Promise<Record<string, number>>;
  pushCheckpoint(path: string): Promise<void>;
  pushFinal(): Promise<void>;
  dispose(): void;
}

async function isNonEmptyDir(path: string): Promise<boolean> {
  try {
    for await (const _ of Deno.readDir(path)) return true;
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return false;
    if (e instanceof Deno.errors.NotADirectory) {
      throw new MaxentError(`output_dir ${path} is a file; choose a directory`);
    }
    throw e;
  }
  return false;
}

/** An interval that may be a fraction of the total (`logging_steps: 0.1`), as transformers. */
function interval(value: number, total: number): number {
  return value < 1 ? Math.max(1, Math.ceil(value * total)) : Math.round(value);
}

/** Prepares everything; throws MaxentError (naming the key/file) before any slow work where it can. */
export async function setupTraining(loaded: LoadedRecipe, opts: TrainOptions): Promise<Run> {
  const recipe = loaded.recipe;
  const log = opts.log ?? ((l: string) => console.error(l));
  const env = opts.env ?? readEnv();
  for (const w of loaded.warnings) log(`warning: ${w}`);
  if (!recipe.dataset_name && !recipe.dataset_mixture) {
    throw new MaxentError(`${loaded.file}: set dataset_name (a Hub id or local file) or dataset_mixture`);
  }

  // ── output directory and resume
  const outputDir = recipe.output_dir;
  let resumeFrom: string | null = null;
  if (typeof recipe.resume_from_checkpoint === "string") {
    resumeFrom = recipe.resume_from_checkpoint;
    try {
      await Deno.stat(join(resumeFrom, TRAINER_STATE));
    } catch {
      throw new MaxentError(
        `resume_from_checkpoint: ${resumeFrom} is not a complete checkpoint (no ${TRAINER_STATE}); give a ` +
          `checkpoint-<step> folder or true for the latest in output_dir`,
      );
    }
  } else if (recipe.resume_from_checkpoint) {
    resumeFrom = (await latestCheckpoint(outputDir))?.path ?? null;
    if (!resumeFrom) log(`resume_from_checkpoint: no checkpoint in ${outputDir} yet; starting from the beginning`);
  }
  if (!resumeFrom && !recipe.overwrite_output_dir && await isNonEmptyDir(outputDir)) {
    throw new MaxentError(
      `output_dir ${outputDir} exists and is not empty: set overwrite_output_dir: true to write into it, ` +
        `resume_from_checkpoint: true to continue its run, or choose another output_dir`,
    );
  }

  // ── model, tokenizer, backend
  const hubOpts = hubOptionsFromEnv(env, { log, ...opts.hub });
  const modelDir = await resolveModel(recipe.model_name_or_path, recipe.model_revision, hubOpts);
  const config = await loadModelConfig(modelDir);
  const paramBytes = 4 * estimateParams(config);
  const backend = await initBackend(opts.backend ?? recipe.backend, {
    log,
    // weights, gradients, two AdamW moments and a reference copy; with LoRA the frozen weights (shared with the
    // reference) plus small adapters
    modelBytes: recipe.use_peft ? paramBytes * 1.2 : paramBytes * 5,
  });
  log(`backend: ${backend.name}${backend.blas ? " + BLAS" : ""}`);
  const tokenizer = await Tokenizer.load(modelDir);
  if (tokenizer.vocabSize > config.vocabSize) {
    throw new MaxentError(
      `${modelDir}: the tokenizer has ${tokenizer.vocabSize} tokens but config.json vocab_size is ${config.vocabSize}`,
    );
  }

  // ── data
  const resolveFiles = (id: string, o: { config?: string; split: string; revision?: string }) =>
    resolveDatasetFiles(id, { ...o, ...hubOpts });
  let examples: Example[];
  if (recipe.dataset_mixture) {
    examples = (await loadMixture(recipe.dataset_mixture, {
      resolveFiles,
      promptColumn: recipe.dataset_prompt_column,
      solutionColumn: recipe.dataset_solution_column,
    })).train;
  } else {
    examples = await loadExamples({
      name: recipe.dataset_name!,
      config: recipe.dataset_config,
      revision: recipe.dataset_revision,
      split: recipe.dataset_train_split,
      promptColumn: recipe.dataset_prompt_column,
      solutionColumn: recipe.dataset_solution_column,
    }, { resolveFiles });
  }
  if (examples.length === 0) {
    throw new MaxentError(`the training split of ${recipe.dataset_name ?? "the mixture"} is empty`);
  }
  const { prompts } = buildPrompts(examples, tokenizer, {
    systemPrompt: recipe.system_prompt,
    maxPromptLength: recipe.max_prompt_length,
    chatTemplate: recipe.chat_template,
  }, log);

  // ── rewards
  const rewards = await resolveRewards({
    names: recipe.reward_funcs,
    weights: recipe.reward_weights,
    solutionColumn: recipe.dataset_solution_column,
    maxCompletionLength: recipe.max_completion_length,
    rewardUrl: recipe.reward_url,
    baseDir: dirname(loaded.file),
    onWarning: (m) => log(`warning: ${m}`),
  });

  // ── plan
  const P = Math.min(recipe.per_device_train_batch_size, examples.length);
  const A = recipe.gradient_accumulation_steps;
  const stepsPerEpoch = Math.max(1, Math.floor(examples.length / (P * A)));
  const totalSteps = recipe.max_steps > 0 ? recipe.max_steps : Math.ceil(recipe.num_train_epochs * stepsPerEpoch);
  const plan: StepPlan = {
    promptsPerMicro: P,
    totalSteps,
    stepsPerEpoch,
    schedule: {
      type: recipe.lr_scheduler_type,
      baseLr: recipe.learning_rate,
      totalSteps,
      warmupSteps: warmupStepsFor(totalSteps, recipe.warmup_steps, recipe.warmup_ratio),
    },
  };

  // ── policy, reference, optimiser (from the checkpoint when resuming)
  // LoRA (use_peft): frozen base weights from the base model, adapters fresh or from the checkpoint
  const policy = await CausalLM.load(recipe.use_peft ? modelDir : resumeFrom ?? modelDir, {
    trainable: !recipe.use_peft,
  });
  const adapters = !recipe.use_peft
    ? null
    : resumeFrom
    ? await LoraAdapters.load(resumeFrom, policy, recipe.seed)
    : LoraAdapters.create(policy, {
      r: recipe.lora_r,
      alpha: recipe.lora_alpha,
      dropout: recipe.lora_dropout,
      targetModules: recipe.lora_target_modules ?? DEFAULT_TARGET_MODULES,
      modulesToSave: recipe.lora_modules_to_save ?? null,
      baseModel: recipe.model_name_or_path,
      revision: recipe.model_revision && recipe.model_revision !== "main" ? recipe.model_revision : null,
    }, recipe.seed);
  adapters?.attach(policy);
  // gradient_checkpointing: recompute each decoder layer in the backward pass (gradient_checkpointing_kwargs has
  // nothing maxent uses)
  policy.gradientCheckpointing = recipe.gradient_checkpointing;
  if (adapters) {
    log(
      `LoRA: r ${adapters.settings.r}, α ${adapters.settings.alpha}, ${adapters.a.size} projections, ` +
        `${adapters.parameterCount()} trainable of ${policy.parameterCount()} parameters`,
    );
  }
  const objective: ObjectiveSettings = recipe.algorithm === "maxent-grpo"
    ? {
      algorithm: "maxent-grpo",
      tau: recipe.maxent_tau,
      beta: maxentBeta(recipe),
      qTemperature: recipe.maxent_q_temperature,
      qEpsilon: recipe.maxent_q_epsilon,
      lengthNormalizeRef: recipe.maxent_length_normalize_ref,
    }
    : recipe.algorithm === "xdr-grpo"
    ? {
      algorithm: "xdr-grpo",
      // xDr.GRPO is a Dr.GRPO backbone: β only if the recipe sets it
      beta: recipe.beta ?? 0,
      epsilon: recipe.epsilon,
      epsilonHigh: recipe.epsilon_high,
      maxCompletionLength: recipe.max_completion_length,
      tau: recipe.xdr_tau ?? Infinity,
      refTilt: recipe.xdr_ref_tilt,
    }
    : {
      algorithm: "grpo",
      beta: grpoBeta(recipe),
      epsilon: recipe.epsilon,
      epsilonHigh: recipe.epsilon_high,
      lossType: recipe.loss_type,
      scaleRewards: recipe.scale_rewards,
      maxCompletionLength: recipe.max_completion_length,
    };
  // The reference is the base model, also after a resume; it is needed only when β ≠ 0.
  const needsReference = objective.beta !== 0 || (objective.algorithm === "xdr-grpo" && objective.refTilt > 0);
  // With LoRA the reference is the same base with the adapters off: no second copy of any weight.
  const reference = !needsReference
    ? null
    : adapters
    ? adapterFreeView(policy)
    : resumeFrom
    ? await CausalLM.load(modelDir, { trainable: false })
    : policy.frozenCopy();
  const params: Map<string, tf.Variable> = namedTrainableVariables(policy);
  const optimizer = new AdamW(params, {
    beta1: recipe.adam_beta1,
    beta2: recipe.adam_beta2,
    epsilon: recipe.adam_epsilon,
    weightDecay: recipe.weight_decay,
  });
  let startStep = 0;
  let history: Array<Record<string, number>> = [];
  let tokensSeen = 0;
  if (resumeFrom) {
    const state = JSON.parse(await Deno.readTextFile(join(resumeFrom, TRAINER_STATE)));
    startStep = state.global_step;
    history = state.log_history ?? [];
    tokensSeen = state.num_tokens ?? 0;
    if (adapters) adapters.dropoutCalls = state.lora_dropout_calls ?? 0;
    if (state.max_steps !== totalSteps) {
      log(`warning: the checkpoint was planned for ${state.max_steps} steps, this recipe plans ${totalSteps}`);
    }
    optimizer.loadState(await readTensorsFile(join(resumeFrom, "optimizer.safetensors")), startStep);
    log(`resuming from ${resumeFrom} at step ${startStep}`);
  }

  // ── sampler
  const kind = samplerKind(recipe);
  const sampler: SamplerSpec = kind === "remote"
    ? { kind: "remote", options: { url: recipe.vllm_url!, model: recipe.model_name_or_path, log } }
    : { kind: "local", model: policy };
  if (kind === "remote" && !recipe.vllm_url) {
    throw new MaxentError(`${loaded.file}: use_vllm / sampler: remote needs vllm_url`);
  }
  const syncSampler = kind === "remote" ? await samplerSync(recipe.vllm_url!, policy, adapters, log) : null;
  const generation: GenerationParams = {
    temperature: generationTemperature(recipe),
    topP: generationTopP(recipe),
    topK: recipe.top_k,
    minP: recipe.min_p ?? 0,
    repetitionPenalty: recipe.repetition_penalty,
    maxTokens: recipe.max_completion_length,
    seed: recipe.seed,
  };

  // ── logs (a resumed run keeps the history up to its checkpoint)
  await Deno.mkdir(outputDir, { recursive: true });
  const metricsLog = await MetricsLog.open(join(outputDir, "metrics.jsonl"), history);
  const completionsLog = await CompletionsLog.open(join(outputDir, "completions.jsonl"), startStep);
  await writeFileAtomic(join(outputDir, "recipe.yaml"), stringify(recipe));

  // ── data order: epoch e visits the prompts in shuffled(·, seed + e); micro-batch m takes stream items m·P … m·P+P−1
  const orders = new Map<number, number[]>();
  const order = (epoch: number) => {
    if (!orders.has(epoch)) {
      orders.clear();
      orders.set(epoch, shuffled(examples.map((_, i) => i), recipe.seed + epoch));
    }
    return orders.get(epoch)!;
  };
  const N = examples.length;
  const promptBatch = (micro: number): PromptBatch => {
    const keys = Array.from({ length: P }, (_, i) => micro * P + i);
    const idx = keys.map((j) => order(Math.floor(j / N))[j % N]);
    return { examples: idx.map((i) => examples[i]), prompts: idx.map((i) => prompts[i]), keys };
  };

  const logEvery = interval(recipe.logging_steps, totalSteps);
  const saveEvery = interval(recipe.save_steps, totalSteps);
  const evalEvery = interval(recipe.eval_steps ?? recipe.logging_steps, totalSteps);
  // ── evaluation split (do_eval), loaded once with every column (task columns for the mode canonicaliser)
  const evalExamples = recipe.do_eval && recipe.dataset_name
    ? await loadEvalExamples({
      name: recipe.dataset_name,
      config: recipe.dataset_config,
      revision: recipe.dataset_revision,
      split: recipe.dataset_test_split,
      promptColumn: recipe.dataset_prompt_column,
      solutionColumn: recipe.dataset_solution_column,
    }, { resolveFiles })
    : null;
  if (recipe.do_eval && !evalExamples) log("warning: do_eval needs dataset_name (a mixture has no test split here)");
  const pushPlan = async (event: "save" | "end", checkpointDir: string) => {
    if (!recipe.push_to_hub) return;
    const repo = recipe.hub_model_id ?? outputDir.split("/").filter(Boolean).at(-1)!;
    for (const u of hubUploadPlan(recipe.hub_strategy, event, checkpointDir, outputDir)) {
      await uploadFolder(u.localDir, repo, {
        ...hubOpts,
        private: recipe.hub_private_repo,
        revision: recipe.hub_model_revision,
        message: event === "end" ? "maxent: final model" : `maxent: ${checkpointDir.split("/").at(-1)}`,
        pathInRepo: u.pathInRepo,
        include: u.include,
        exclude: u.exclude,
      });
      log(`pushed ${u.localDir} to ${repo}${u.pathInRepo ? `/${u.pathInRepo}` : ""}`);
    }
  };

  return {
    recipe,
    loaded,
    log,
    modelDir,
    tokenizer,
    policy,
    reference,
    rewards,
    sampler,
    syncSampler,
    generation,
    objective,
    // MaxEnt: L = (1/G) Σ w·NLL over the G groups of the whole step; (x)GRPO: each micro-batch's loss / accumulation
    lossScale: objective.algorithm === "maxent-grpo" ? 1 / (P * A) : 1 / A,
    optimizer,
    plan,
    startStep,
    history,
    tokensSeen,
    metricsLog,
    completionsLog,
    promptBatch,
    epochAt: (step) => (step * A * P) / N,
    shouldLog: (step) => step % logEvery === 0 || (recipe.logging_first_step && step === 1) || step === totalSteps,
    shouldSave: (step) =>
      recipe.save_strategy === "steps"
        ? step % saveEvery === 0 && step < totalSteps
        : recipe.save_strategy === "epoch"
        ? step % stepsPerEpoch === 0 && step < totalSteps
        : false,
    shouldEval: (step) => evalExamples !== null && (step % evalEvery === 0 || step === totalSteps),
    evaluate: async () =>
      evalMetricsRow(
        await evaluateModel(policy, tokenizer, evalExamples ?? [], {
          rewards,
          k: recipe.num_generations,
          temperature: generation.temperature,
          topP: generation.topP,
          topK: generation.topK,
          maxTokens: recipe.max_completion_length,
          seed: recipe.seed,
          systemPrompt: recipe.system_prompt,
          chatTemplate: recipe.chat_template,
          batchSize: recipe.per_device_eval_batch_size,
        }),
      ),
    pushCheckpoint: (path) => pushPlan("save", path),
    pushFinal: () => pushPlan("end", outputDir),
    dispose() {
      optimizer.dispose();
      reference?.dispose();
      adapters?.dispose();
      policy.dispose();
    },
  };
}

/** Every tensor of one safetensors file. */
async function readTensorsFile(path: string): Promise<Map<string, HostTensor>> {
  const header = await readSafetensorsHeader(path);
  const out = new Map<string, HostTensor>();
  for (const name of header.tensors.keys()) out.set(name, await readSafetensorsTensor(header, name));
  return out;
}

/** Parameter count from the config (embedding, layers, head), for the backend's memory check. */
function estimateParams(c: Awaited<ReturnType<typeof loadModelConfig>>): number {
  const attn = c.hiddenSize * c.numAttentionHeads * c.headDim * 2 + c.hiddenSize * c.numKeyValueHeads * c.headDim * 2;
  const mlp = 3 * c.hiddenSize * c.intermediateSize;
  const embed = c.vocabSize * c.hiddenSize * (c.tieWordEmbeddings ? 1 : 2);
  return embed + c.numHiddenLayers * (attn + mlp);
}
