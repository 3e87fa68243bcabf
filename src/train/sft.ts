/**
 * Supervised fine-tuning (`maxent sft`): prompt → answer pairs, the prompt rendered with the chat template, the loss
 * the mean negative log-likelihood of the completion tokens only (the answer text and the end token; prompt and
 * padding tokens get no gradient), AdamW with global-norm clipping, shuffled mini-batches per epoch. Used for the
 * warm start before MaxEnt-GRPO / GRPO and by users who want SFT before RL.
 */
import * as tf from "@tensorflow/tfjs";
import { join } from "node:path";
import { MaxentError } from "../errors.ts";
import type { Backend } from "../recipe/mod.ts";
import { initBackend } from "../backend/mod.ts";
import { type HubOptions, hubOptionsFromEnv, resolveDatasetFiles, resolveModel } from "../hub/mod.ts";
import { buildPrompts, type Example, loadExamples, shuffled } from "../data/mod.ts";
import { CausalLM } from "../model/transformer.ts";
import { Tokenizer } from "../tokenizer/mod.ts";
import { readEnv } from "../env.ts";
import { AdamW, clipCoefficient, globalNorm } from "./optimizer.ts";
import { packBatch } from "./batch.ts";
import { writeFileAtomic } from "./checkpoint.ts";
import { copyTokenizerFiles } from "../tokenizer/files.ts";

/** One supervised pair as token ids: the templated prompt and the completion (answer + end token). */
export interface SftPair {
  prompt: number[];
  completion: number[];
}

/** Hyper-parameters of the SFT loop. */
export interface SftLoopOptions {
  /** Passes over the data (default 3). */
  epochs?: number;
  /** AdamW learning rate (default 1e-4), constant after `warmupSteps`. */
  learningRate?: number;
  /** Linear warm-up steps (default 0). */
  warmupSteps?: number;
  /** Pairs per optimiser step (default 8). */
  batchSize?: number;
  /** Shuffling seed: epoch e visits the pairs in shuffled(·, seed + e) (default 42). */
  seed?: number;
  /** AdamW weight decay (default 0). */
  weightDecay?: number;
  /** Global gradient-norm clip (default 1; 0 = off). */
  maxGradNorm?: number;
  /** Recompute each decoder layer in the backward pass instead of keeping its activations (unset: the model's). */
  gradientCheckpointing?: boolean;
  /** Progress lines. */
  log?: (line: string) => void;
}

/** Options of {@linkcode supervisedFineTune}. */
export interface SftOptions extends SftLoopOptions {
  /** Base model: a local HF-layout directory or a Hub id. */
  model: string;
  /** Dataset: a local file/directory or a Hub id. */
  dataset: string;
  /** Dataset split (default `train`). */
  split?: string;
  /** Hub dataset config. */
  datasetConfig?: string;
  /** Column with the user prompt (default `problem`). */
  promptColumn?: string;
  /** Column with the target completion text (default `answer`). */
  answerColumn?: string;
  /** Longest prompt + completion in tokens (default 512): longer rows lose completion tokens from the end. */
  maxLength?: number;
  /** System prompt prepended to each conversation. */
  systemPrompt?: string;
  /** Where the fine-tuned model goes (HF layout + tokenizer files). Unset: not saved. */
  out?: string;
  /** tfjs backend (default auto). */
  backend?: Backend;
  /** Environment for the Hub settings (default: the process's). */
  env?: Record<string, string | undefined>;
  /** Hub overrides (token, fetch). */
  hub?: Partial<HubOptions>;
}

/** What a finished SFT run reports. */
export interface SftResult {
  /** Mean completion-token NLL per epoch (token-weighted over the epoch). */
  losses: number[];
  /** Optimiser steps taken. */
  steps: number;
  /** The output directory, when one was written. */
  out?: string;
}

/**
 * Turns examples into token pairs: prompt = the chat-templated conversation with the generation prompt, completion =
 * tokens of the answer text + the first end token. Rows over `maxLength` keep their prompt (its last
 * `maxLength − 1` tokens at most) and lose completion tokens from the end; their count is returned.
 */
export function sftPairs(
  examples: Example[],
  tokenizer: Tokenizer,
  opts: { systemPrompt?: string; maxLength?: number } = {},
): { pairs: SftPair[]; truncated: number } {
  const maxLength = opts.maxLength ?? 512;
  if (!(maxLength >= 2)) throw new MaxentError(`max length must be ≥ 2 tokens, got ${maxLength}`);
  const { prompts } = buildPrompts(examples, tokenizer, { systemPrompt: opts.systemPrompt });
  const eos = tokenizer.eosTokenIds[0];
  let truncated = 0;
  const pairs = examples.map((ex, i) => {
    if (ex.solution === undefined) {
      throw new MaxentError(`${ex.source}: the answer column is empty; every SFT row needs an answer`);
    }
    let prompt = prompts[i].ids;
    let completion = [...tokenizer.encode(ex.solution, { addSpecialTokens: false }), eos];
    if (prompt.length + completion.length > maxLength) {
      truncated++;
      if (prompt.length > maxLength - 1) prompt = prompt.slice(prompt.length - (maxLength - 1));
      completion = completion.slice(0, maxLength - prompt.length);
    }
    return { prompt, completion };
  });
  return { pairs, truncated };
}

/**
 * Mean completion-token NLL of a batch of pairs: L = −Σ_r Σ_t m_rt · log p(y_rt | y_<t) / Σ_r Σ_t m_rt, with m the
 * completion mask (prompt and padding positions 0). Differentiable; call under `tf.variableGrads`.
 */
export function completionNll(model: CausalLM, pairs: SftPair[], padId: number): tf.Scalar {
  const batch = packBatch(pairs.map((p) => p.prompt), pairs.map((p) => p.completion), padId);
  try {
    return tf.tidy(() => {
      const lp = model.tokenLogProbs(batch.ids, batch.attention);
      const tokens = batch.lengths.reduce((a, b) => a + b, 0);
      return tf.div(tf.neg(tf.sum(tf.mul(lp, batch.completionMask))), Math.max(1, tokens)) as tf.Scalar;
    });
  } finally {
    batch.dispose();
  }
}

/**
 * The SFT loop on a loaded, trainable model: per epoch, shuffled mini-batches, completion-only NLL, clipped AdamW.
 * Returns the token-weighted mean loss of each epoch (the loss of each batch before its update).
 */
export async function trainSupervised(
  model: CausalLM,
  padId: number,
  pairs: SftPair[],
  opts: SftLoopOptions = {},
): Promise<SftResult> {
  const epochs = opts.epochs ?? 3;
  const batchSize = opts.batchSize ?? 8;
  if (opts.gradientCheckpointing !== undefined) model.gradientCheckpointing = opts.gradientCheckpointing;
  const lr = opts.learningRate ?? 1e-4;
  const warmup = opts.warmupSteps ?? 0;
  const seed = opts.seed ?? 42;
  const log = opts.log ?? (() => {});
  if (pairs.length === 0) throw new MaxentError("no training pairs: the dataset split is empty");
  if (!(Number.isInteger(epochs) && epochs >= 1)) throw new MaxentError(`epochs must be an integer ≥ 1`);
  if (!(Number.isInteger(batchSize) && batchSize >= 1)) throw new MaxentError(`batch size must be an integer ≥ 1`);
  const params = new Map<string, tf.Variable>();
  for (const [name, v] of model.weights) if (v.trainable) params.set(name, v);
  if (params.size === 0) throw new MaxentError("the model has no trainable weights; load it with trainable: true");
  const varNames = new Map<string, string>();
  for (const [name, v] of params) varNames.set(v.name, name);
  const optimizer = new AdamW(params, {
    beta1: 0.9,
    beta2: 0.999,
    epsilon: 1e-8,
    weightDecay: opts.weightDecay ?? 0,
  });
  const losses: number[] = [];
  let step = 0;
  try {
    for (let epoch = 0; epoch < epochs; epoch++) {
      const order = shuffled(pairs.map((_, i) => i), seed + epoch);
      let lossSum = 0, tokenSum = 0;
      for (let start = 0; start < order.length; start += batchSize) {
        const batch = order.slice(start, start + batchSize).map((i) => pairs[i]);
        const tokens = batch.reduce((a, p) => a + p.completion.length, 0);
        const { value, grads } = tf.variableGrads(
          () => completionNll(model, batch, padId),
          model.trainableVariables(),
        );
        const byName = new Map<string, tf.Tensor>();
        for (const [v, g] of Object.entries(grads)) byName.set(varNames.get(v) ?? v, g);
        try {
          lossSum += (await value.data())[0] * tokens; // asynchronous: webgpu has no synchronous readback
        } catch (e) {
          tf.dispose([...byName.values()]);
          throw e;
        } finally {
          value.dispose();
        }
        tokenSum += tokens;
        // clip_grad_norm_ folded into the update: g·min(1, max_norm / (‖g‖ + 1e-6))
        const coef = clipCoefficient(await globalNorm(byName), opts.maxGradNorm ?? 1);
        // lr_t = lr · min(1, (t+1) / warmup)
        const lrNow = warmup > 0 ? lr * Math.min(1, (step + 1) / warmup) : lr;
        optimizer.step(byName, lrNow, coef);
        for (const g of byName.values()) g.dispose();
        step++;
      }
      const loss = lossSum / Math.max(1, tokenSum);
      losses.push(loss);
      log(`sft epoch ${epoch + 1}/${epochs}: loss ${loss.toFixed(4)} (${step} steps)`);
    }
  } finally {
    optimizer.dispose();
  }
  return { losses, steps: step };
}

/**
 * `maxent sft`: loads the model and the prompt/answer columns, fine-tunes on completion tokens only, and writes the
 * model (HF layout, tokenizer files copied from the base model, `sft_state.json` with the losses) to `out`.
 *
 * @example
 * ```ts
 * const { losses } = await supervisedFineTune({
 *   model: "runs/demo/init", dataset: "runs/demo/data/train.jsonl", promptColumn: "prompt",
 *   answerColumn: "answer", epochs: 5, learningRate: 3e-3, out: "runs/demo/sft",
 * });
 * ```
 */
export async function supervisedFineTune(opts: SftOptions): Promise<SftResult> {
  const log = opts.log ?? ((l: string) => console.error(l));
  const env = opts.env ?? readEnv();
  const hubOpts = hubOptionsFromEnv(env, { log, ...opts.hub });
  const modelDir = await resolveModel(opts.model, undefined, hubOpts);
  const promptColumn = opts.promptColumn ?? "problem";
  const answerColumn = opts.answerColumn ?? "answer";
  const examples = await loadExamples({
    name: opts.dataset,
    config: opts.datasetConfig,
    split: opts.split ?? "train",
    promptColumn,
    solutionColumn: answerColumn,
  }, { resolveFiles: (id, o) => resolveDatasetFiles(id, { ...o, ...hubOpts }) });
  if (examples.length === 0) throw new MaxentError(`dataset ${opts.dataset} has no rows in its split`);
  const tokenizer = await Tokenizer.load(modelDir);
  const { pairs, truncated } = sftPairs(examples, tokenizer, opts);
  if (truncated > 0) {
    log(`warning: ${truncated} of ${pairs.length} rows exceeded --max-length ${opts.maxLength ?? 512} and were cut`);
  }
  const backend = await initBackend(opts.backend ?? "auto", { log });
  log(`backend: ${backend.name}${backend.blas ? " + BLAS" : ""}`);
  const model = await CausalLM.load(modelDir, { trainable: true });
  try {
    log(`sft: ${pairs.length} rows, ${opts.epochs ?? 3} epochs, batch ${opts.batchSize ?? 8}`);
    const result = await trainSupervised(model, tokenizer.padTokenId, pairs, { ...opts, log });
    if (opts.out) {
      await model.save(opts.out, { dtype: "F32" });
      await copyTokenizerFiles([modelDir], opts.out);
      await writeFileAtomic(
        join(opts.out, "sft_state.json"),
        JSON.stringify(
          {
            base_model: opts.model,
            dataset: opts.dataset,
            prompt_column: promptColumn,
            answer_column: answerColumn,
            epochs: opts.epochs ?? 3,
            learning_rate: opts.learningRate ?? 1e-4,
            batch_size: opts.batchSize ?? 8,
            seed: opts.seed ?? 42,
            steps: result.steps,
            losses: result.losses,
          },
          null,
          2,
        ) + "\n",
      );
      log(`sft: model written to ${opts.out}`);
      result.out = opts.out;
    }
    return result;
  } finally {
    model.dispose();
  }
}
