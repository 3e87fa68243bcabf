/**
 * The reward registry: resolves a recipe's `reward_funcs` (built-in names, module files, `reward_url`) with its
 * `reward_weights` into a {@linkcode RewardSet} that scores batches, checks every value and sums them with weights.
 *
 * Policy for a reward that throws or returns a non-finite / non-number value on a sample (`nonFinite`):
 * `"error"` (default) throws a MaxentError naming the reward function and the sample index; `"skip"` turns that
 * value into null (skipped, like TRL's `None`) and reports a warning. A failure is never turned into 0.
 */
import { MaxentError } from "../errors.ts";
import { accuracy } from "./accuracy.ts";
import { loadModuleReward, parseModuleSpec } from "./custom.ts";
import { format, tagCount } from "./format.ts";
import { lengthReward, softOverlongPunishment } from "./length.ts";
import { pureAccuracyMath } from "./pure_accuracy_math.ts";
import { remoteReward } from "./remote.ts";
import { taskRewards } from "../tasks/dataset.ts";
import {
  type RewardContext,
  type RewardFunction,
  type RewardInput,
  RewardSampleError,
  type RewardScores,
  type RewardSet,
  type RewardValue,
} from "./types.ts";

/**
 * The built-in reward functions by `reward_funcs` name.
 *
 * @example
 * ```ts
 * import { builtinRewards } from "./registry.ts";
 * const ctx = { solutionColumn: "answer", maxCompletionLength: 256 };
 * const completion = "<think>x</think><answer>42</answer>";
 * builtinRewards.pure_accuracy_math([{ completion, prompt: "", row: { answer: "42" } }], ctx); // [1]
 * ```
 */
export const builtinRewards: Record<string, RewardFunction> = {
  pure_accuracy_math: pureAccuracyMath,
  accuracy,
  format,
  tag_count: tagCount,
  length: lengthReward,
  soft_overlong_punishment: softOverlongPunishment(),
  // the multi-answer tasks of `maxent data` (countdown, graph_colouring)
  ...taskRewards,
};

/** The `reward_funcs` name that refers to the recipe's `reward_url`. */
export const REWARD_URL_NAME = "reward_url";

/** Options of {@linkcode resolveRewards}, named after the recipe keys they come from. */
export interface ResolveRewardsOptions {
  /** `reward_funcs`: built-in names, module files (`./r.ts`, `module:./r.ts#name`) or `reward_url`. */
  names: string[];
  /** `reward_weights`: one per reward function (default 1 each). */
  weights?: number[];
  /** `dataset_solution_column` (default `answer`). */
  solutionColumn?: string;
  /** `max_completion_length` in tokens (default 256, TRL's default). */
  maxCompletionLength?: number;
  /** `reward_url`: an HTTP reward service; appended to `names` as `reward_url` if they do not name it. */
  rewardUrl?: string;
  /** The recipe's folder: module reward paths are relative to it (default: the working directory). */
  baseDir?: string;
  /** What to do with a throwing / non-finite reward value (default `"error"`). */
  nonFinite?: "error" | "skip";
  /** `soft_punish_cache`: L_cache of `soft_overlong_punishment` in tokens (default 20 % of max_completion_length). */
  softPunishCache?: number;
  /** `reward_url_timeout`: per-request timeout of `reward_url` in ms (default 30 000). */
  rewardUrlTimeoutMs?: number;
  /** Receives warnings (skipped values, unscorable samples); default `console.warn`. */
  onWarning?: (message: string) => void;
}

/**
 * Resolves `reward_funcs` / `reward_weights` into a scorer.
 *
 * @example
 * ```ts
 * import { resolveRewards } from "./registry.ts";
 * const rewards = await resolveRewards({ names: ["accuracy", "format"], weights: [1, 0.5] });
 * const completion = "<think>\n…\n</think>\n<answer>\n2\n</answer>";
 * const scores = await rewards.score([{ completion, prompt: "1+1?", row: { answer: "2" } }]);
 * scores.total; // [1.5]
 * ```
 */
export async function resolveRewards(opts: ResolveRewardsOptions): Promise<RewardSet> {
  const names = [...opts.names];
  if (opts.rewardUrl !== undefined && !names.includes(REWARD_URL_NAME)) names.push(REWARD_URL_NAME);
  if (names.length === 0) {
    throw new MaxentError(
      "reward_funcs is empty: name at least one reward (e.g. reward_funcs: [accuracy]) or set reward_url",
    );
  }
  const weights = opts.weights ?? names.map(() => 1);
  if (weights.length !== names.length) {
    const added = names.length > opts.names.length ? " (reward_url counts as one more)" : "";
    throw new MaxentError(
      `reward_weights has ${weights.length} entries but reward_funcs has ${names.length}${added}: ` +
        `give one weight per reward function (${names.join(", ")}) or drop reward_weights for weight 1 each`,
    );
  }
  weights.forEach((w, i) => {
    if (typeof w !== "number" || !Number.isFinite(w)) {
      throw new MaxentError(`reward_weights[${i}] (${names[i]}) is ${w}; it must be a finite number`);
    }
  });
  const maxCompletionLength = opts.maxCompletionLength ?? 256;
  if (!Number.isInteger(maxCompletionLength) || maxCompletionLength < 1) {
    throw new MaxentError(`max_completion_length is ${maxCompletionLength}; it must be a positive integer`);
  }
  if (opts.softPunishCache !== undefined) {
    const c = opts.softPunishCache;
    if (!Number.isInteger(c) || c < 1 || c > maxCompletionLength) {
      throw new MaxentError(
        `soft_punish_cache is ${c}; it must be an integer in [1, max_completion_length = ${maxCompletionLength}]`,
      );
    }
  }
  const policy = opts.nonFinite ?? "error";
  if (policy !== "error" && policy !== "skip") {
    throw new MaxentError(`reward non-finite policy is "${policy}"; use "error" or "skip"`);
  }
  const fns: RewardFunction[] = [];
  for (const name of names) fns.push(await resolveOne(name, opts));
  const ctx: RewardContext = { solutionColumn: opts.solutionColumn ?? "answer", maxCompletionLength };
  const warn = opts.onWarning ?? ((m: string) => console.warn(m));
  return {
    names,
    weights,
    score: (batch) => scoreBatch(batch, names, weights, fns, ctx, policy, warn),
  };
}

async function resolveOne(name: string, opts: ResolveRewardsOptions): Promise<RewardFunction> {
  if (name === REWARD_URL_NAME) {
    if (!opts.rewardUrl) {
      throw new MaxentError(`reward_funcs names "${REWARD_URL_NAME}" but the recipe sets no reward_url`);
    }
    return remoteReward(opts.rewardUrl, { timeoutMs: opts.rewardUrlTimeoutMs });
  }
  if (name === "soft_overlong_punishment" && opts.softPunishCache !== undefined) {
    return softOverlongPunishment(opts.softPunishCache);
  }
  if (Object.hasOwn(builtinRewards, name)) return builtinRewards[name];
  const spec = parseModuleSpec(name);
  if (spec) return await loadModuleReward(name, spec, opts.baseDir ?? Deno.cwd());
  throw new MaxentError(
    `unknown reward function "${name}" in reward_funcs: use a built-in (${Object.keys(builtinRewards).join(", ")}), ` +
      `a module file (./my_reward.ts or module:./my_reward.ts#exportName) or reward_url`,
  );
}

function describe(e: unknown): string {
  const inner = e instanceof RewardSampleError ? e.cause : e;
  return inner instanceof Error ? inner.message : String(inner);
}

async function scoreBatch(
  batch: RewardInput[],
  names: string[],
  weights: number[],
  fns: RewardFunction[],
  ctx: RewardContext,
  policy: "error" | "skip",
  warn: (m: string) => void,
): Promise<RewardScores> {
  const perFunction = await Promise.all(fns.map(async (fn, f): Promise<RewardValue[]> => {
    const name = names[f];
    let out: unknown;
    try {
      out = await fn(batch, ctx);
    } catch (e) {
      if (e instanceof MaxentError) throw e; // configuration / transport errors (reward_url) are not per-sample
      if (policy === "error") {
        const where = e instanceof RewardSampleError
          ? `sample ${e.index}`
          : `a batch of ${batch.length} samples (the function threw for the whole batch, so no sample index is known)`;
        throw new MaxentError(`reward function "${name}" failed on ${where}: ${describe(e)}`, { cause: e });
      }
      if (e instanceof RewardSampleError && e.partial && e.partial.length === batch.length) {
        warn(
          `reward function "${name}" failed on sample(s) ${e.failures.map((x) => x.index).join(", ")} ` +
            `(${describe(e)}); those values are skipped (null)`,
        );
        return [...e.partial];
      }
      warn(`reward function "${name}" failed on a batch of ${batch.length} (${describe(e)}); all its values skipped`);
      return batch.map(() => null);
    }
    if (!Array.isArray(out) || out.length !== batch.length) {
      throw new MaxentError(
        `reward function "${name}" returned ${Array.isArray(out) ? `${out.length} values` : typeof out} ` +
          `for ${batch.length} samples; it must return one number or null per sample`,
      );
    }
    return out.map((v: unknown, i: number): RewardValue => {
      if (v === null || (typeof v === "number" && Number.isFinite(v))) return v as RewardValue;
      const what = typeof v === "number" ? `non-finite value ${v}` : `${typeof v} ${JSON.stringify(v)}`;
      if (policy === "error") {
        throw new MaxentError(
          `reward function "${name}" returned ${what} for sample ${i}; rewards must be finite numbers or null`,
        );
      }
      warn(`reward function "${name}" returned ${what} for sample ${i}; skipped (null)`);
      return null;
    });
  }));
  // total_i = Σ_f w_f · r_f,i over the non-null r_f,i (TRL: (rewards_per_func · weights).nansum(dim=1))
  const total: number[] = [];
  const unscorable: boolean[] = [];
  for (let i = 0; i < batch.length; i++) {
    let sum = 0, any = false;
    for (let f = 0; f < fns.length; f++) {
      const v = perFunction[f][i];
      if (v !== null) {
        sum += weights[f] * v;
        any = true;
      }
    }
    total.push(sum);
    unscorable.push(!any);
  }
  const none = unscorable.flatMap((u, i) => u ? [i] : []);
  if (none.length > 0) {
    warn(`every reward function returned null for sample(s) ${none.join(", ")}: their total is 0 (unscorable)`);
  }
  return { names, perFunction, total, unscorable };
}
