/**
 * The reward interface shared by the sampler, the trainer and every reward function: what a reward sees for one
 * candidate completion, what it returns, and the weighted scores of a batch.
 */

/** One candidate completion to score, with its prompt and the dataset row it came from. */
export interface RewardInput {
  /** The generated text (without the prompt). */
  completion: string;
  /** The prompt text the completion continues. */
  prompt: string;
  /** The dataset row: the gold answer (`solutionColumn`) and any other columns. */
  row: Record<string, unknown>;
  /** Number of generated tokens, when the sampler knows it (needed by `soft_overlong_punishment`). */
  completionTokens?: number;
  /** Why generation ended: an end token / stop string (`stop`) or `max_completion_length` (`length`). */
  finishReason?: "stop" | "length";
}

/** A reward for one sample; `null` means "no opinion, skip this sample for this function" (as TRL's `None`). */
export type RewardValue = number | null;

/** Scores a batch of candidates: one value per input, in order. May be synchronous or asynchronous. */
export type RewardFunction = (batch: RewardInput[], ctx: RewardContext) => Promise<RewardValue[]> | RewardValue[];

/** Recipe settings a reward may need. */
export interface RewardContext {
  /** The dataset column holding the gold answer (`dataset_solution_column`, default `answer`). */
  solutionColumn: string;
  /** The recipe's `max_completion_length` in tokens. */
  maxCompletionLength: number;
  /** Aborts long-running (remote) rewards. */
  signal?: AbortSignal;
}

/** The scores of a batch under every reward function of a {@linkcode RewardSet}. */
export interface RewardScores {
  /** Reward function names, in `reward_funcs` order. */
  names: string[];
  /** `perFunction[f][i]`: value of function `f` on sample `i` (`null` = skipped). */
  perFunction: RewardValue[][];
  /** total_i = Σ_f weight_f · value_f,i over the non-null values (TRL's `nansum`; 0 when all are null). */
  total: number[];
  /** unscorable_i: every function returned null for sample i (its `total` is 0 by convention); always set by resolveRewards. */
  unscorable?: boolean[];
}

/** The resolved `reward_funcs` with their `reward_weights`. */
export interface RewardSet {
  /** Reward function names, in `reward_funcs` order. */
  names: string[];
  /** One weight per name (default 1). */
  weights: number[];
  /** Scores a batch with every function and sums them with the weights. */
  score(batch: RewardInput[]): Promise<RewardScores>;
}

/**
 * Thrown by a reward function to say which sample(s) it failed on; the registry reports the index. `partial` (the
 * values of the samples that did not fail, null at the failed ones) lets the "skip" policy keep the rest.
 *
 * @example
 * ```ts
 * import { RewardSampleError } from "./types.ts";
 * throw new RewardSampleError(3, new Error("no gold answer"));
 * ```
 */
export class RewardSampleError extends Error {
  /** Index of the (first) failing sample in the batch. */
  readonly index: number;
  /** Every failing sample, in index order. */
  readonly failures: { index: number; error: unknown }[];
  /** Values for the whole batch with null at the failed samples, when the function could compute them. */
  readonly partial?: RewardValue[];
  constructor(index: number, cause: unknown, failures?: { index: number; error: unknown }[], partial?: RewardValue[]) {
    super(`sample ${index}: ${cause instanceof Error ? cause.message : String(cause)}`, { cause });
    this.name = "RewardSampleError";
    this.index = index;
    this.failures = failures ?? [{ index, error: cause }];
    this.partial = partial;
  }
}

/**
 * The text of a completion as the original reward code reads it: a string as is, a message list → the `content` of
 * its first message, null/undefined → "", anything else → its string form.
 */
export function completionText(completion: unknown): string {
  if (completion === null || completion === undefined) return "";
  if (typeof completion === "string") return completion;
  if (Array.isArray(completion) && completion.length > 0 && isPlainObject(completion[0])) {
    const content = (completion[0] as Record<string, unknown>).content;
    return content === undefined ? "" : String(content);
  }
  return String(completion);
}

function isPlainObject(x: unknown): boolean {
  return typeof x === "object" && x !== null && !Array.isArray(x);
}

/**
 * Runs `fn` on every sample; if any throw, throws one {@linkcode RewardSampleError} naming the first failing index
 * and carrying the other samples' values (`partial`).
 */
export function perSample<T extends RewardValue | boolean>(
  batch: RewardInput[],
  fn: (input: RewardInput, index: number) => T,
): T[] {
  const failures: { index: number; error: unknown }[] = [];
  const out = batch.map((input, i) => {
    try {
      return fn(input, i);
    } catch (e) {
      failures.push({ index: i, error: e });
      return null as T;
    }
  });
  if (failures.length > 0) {
    const partial = out.every((v) => v === null || typeof v === "number") ? (out as RewardValue[]) : undefined;
    throw new RewardSampleError(failures[0].index, failures[0].error, failures, partial);
  }
  return out;
}
