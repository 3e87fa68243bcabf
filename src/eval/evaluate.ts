/**
 * Evaluating a model on a dataset split (`maxent eval`, and the trainer's `do_eval` / `eval_steps`): per prompt one
 * greedy completion and k sampled at a temperature, each judged by a reward (correct ⇔ value ≥ threshold), then
 * pass@1 (greedy), pass@1 (sampled mean), the unbiased pass@k, mean@k, distinct@k (distinct correct answers) and,
 * when the dataset knows its answer modes (`num_modes`), coverage@k — the metrics of `metrics.ts`.
 *
 * Distinct answers are told apart by the task's mode canonicaliser when the reward is a task reward (`countdown`,
 * `graph_colouring`), else by the extracted final answer text (last `<answer>` payload or `\boxed{}`).
 */
import { MaxentError } from "../errors.ts";
import { buildPrompts, type DatasetSpec, type Example, type FileResolver, rowToExample } from "../data/mod.ts";
import { datasetFiles } from "../data/examples.ts";
import { readRows } from "../data/files.ts";
import type { RewardSet } from "../rewards/mod.ts";
import { extractPrediction } from "../rewards/mod.ts";
import { sampleLocal, type SamplerModel } from "../sampler/local.ts";
import type { Candidate, GenerationParams } from "../sampler/types.ts";
import type { Tokenizer } from "../tokenizer/mod.ts";
import { answerModeOf } from "../tasks/dataset.ts";
import { colouringAnswerMode } from "../tasks/graph_colouring.ts";
import { countdownAnswerMode, countdownProblemOf } from "../tasks/countdown.ts";
import { aggregateMetrics, type PromptMetrics, promptMetrics } from "./metrics.ts";

/** Options of {@linkcode evaluateModel}. */
export interface EvalOptions {
  /** Judges correctness: the first reward function's value (≥ `threshold` = correct). */
  rewards: RewardSet;
  /** Samples per prompt for the @k metrics (default 8). */
  k?: number;
  /** Sampling temperature of the k samples (default 1). */
  temperature?: number;
  /** Nucleus / top-k of the k samples (default 1 / 0: off). */
  topP?: number;
  topK?: number;
  /** Longest completion in tokens (default 256). */
  maxTokens?: number;
  /** Base sampling seed (default 0); evaluation seed s samples with seed + s. */
  seed?: number;
  /** Independent evaluation seeds (default 1); metrics are averaged over seeds × prompts. */
  evalSeeds?: number;
  /** A reward value at or above this is correct (default 1). */
  threshold?: number;
  /** System prompt for the chat template. */
  systemPrompt?: string;
  /** Chat template override. */
  chatTemplate?: string;
  /** Prompts per sampler call (default 8). */
  batchSize?: number;
  /** Maps a correct completion to its answer mode; default: {@linkcode defaultModeOf} for the reward. */
  modeOf?: (completion: string, example: Example) => string | null;
  /** Keep per-prompt details in the report (default false). */
  perPrompt?: boolean;
}

/** One prompt's outcome (first evaluation seed). */
export interface PromptOutcome {
  source: string;
  greedy: string;
  greedyCorrect: boolean;
  /** Correct samples among the k. */
  correct: number;
  /** Distinct correct answer modes among the k. */
  modes: string[];
}

/** What an evaluation reports. */
export interface EvalReport {
  prompts: number;
  k: number;
  seeds: number;
  temperature: number;
  /** Reward that judged correctness. */
  reward: string;
  /**
   * `pass@1` (greedy), `pass@1_sampled` (mean correctness of the samples), `pass@k` (unbiased, = any-correct at n =
   * k), `mean@k`, `distinct@k`, and `coverage@k` when the data has `num_modes`.
   */
  metrics: Record<string, number>;
  /** The same metrics per evaluation seed. */
  perSeed: Array<Record<string, number>>;
  /** Per prompt (with `perPrompt`). */
  details?: PromptOutcome[];
}

/**
 * The default answer-mode function for a reward: the task's canonicaliser for `countdown` / `graph_colouring`
 * (rows from `maxent data`, or Countdown prompts), else the trimmed final answer (last `<answer>` payload or boxed).
 */
export function defaultModeOf(rewardName: string): (completion: string, example: Example) => string | null {
  if (rewardName === "countdown") {
    return (c, ex) => countdownAnswerMode(c, countdownProblemOf({ completion: c, prompt: ex.prompt, row: ex.row }));
  }
  if (rewardName === "graph_colouring") {
    return (c, ex) =>
      ex.row.task !== undefined ? answerModeOf(c, ex.row) : colouringAnswerMode(c, {
        edges: ex.row.edges as [number, number][],
        partial: ex.row.partial as string,
      });
  }
  return (c) => {
    const p = extractPrediction(c);
    return p === null ? c.trim() : p.trim();
  };
}

/**
 * Loads an evaluation split with every column of its rows (task columns such as `numbers`, `num_modes` included),
 * at most `limit` rows.
 */
export async function loadEvalExamples(
  spec: DatasetSpec,
  opts: { resolveFiles?: FileResolver; limit?: number } = {},
): Promise<Example[]> {
  const files = await datasetFiles(spec, opts.resolveFiles);
  const out: Example[] = [];
  for (const file of files) {
    let i = 0;
    for await (const row of readRows(file)) {
      if (opts.limit !== undefined && out.length >= opts.limit) return out;
      if (!(spec.promptColumn in row)) {
        throw new MaxentError(
          `${file}: no column "${spec.promptColumn}" (columns: ${Object.keys(row).join(", ")}); set the prompt column`,
        );
      }
      out.push(rowToExample(row, spec, `${file}#${i++}`));
    }
  }
  return out;
}

/** What evaluation needs of a tokenizer. */
export type EvalTokenizer = Pick<
  Tokenizer,
  "encode" | "decode" | "applyChatTemplate" | "eosTokenIds" | "padTokenId"
>;

/**
 * Evaluates `model` on `examples`: greedy and k sampled completions per prompt, judged by the first reward of
 * `opts.rewards`. Metrics (means over evaluation seeds × prompts):
 *   pass@1 = mean 1[greedy correct];  pass@1_sampled = mean@k = mean c/k;
 *   pass@k = mean 1 − C(n−c, k)/C(n, k) (with n = k: any correct);  distinct@k = mean distinct correct modes;
 *   coverage@k = mean distinct@k / num_modes (when every example has `num_modes` and the modes are canonical:
 *   a task reward or `opts.modeOf`).
 */
export async function evaluateModel(
  model: SamplerModel,
  tokenizer: EvalTokenizer,
  examples: Example[],
  opts: EvalOptions,
): Promise<EvalReport> {
  if (examples.length === 0) throw new MaxentError("evaluation: no prompts (the split is empty or --limit is 0)");
  const k = opts.k ?? 8;
  const seeds = opts.evalSeeds ?? 1;
  const threshold = opts.threshold ?? 1;
  const batchSize = opts.batchSize ?? 8;
  const rewardName = opts.rewards.names[0];
  const modeOf = opts.modeOf ?? defaultModeOf(rewardName);
  if (!(Number.isInteger(k) && k >= 1)) throw new MaxentError(`k must be an integer ≥ 1, got ${k}`);
  if (!(Number.isInteger(seeds) && seeds >= 1)) throw new MaxentError(`eval seeds must be an integer ≥ 1`);
  const { prompts } = buildPrompts(examples, tokenizer, {
    systemPrompt: opts.systemPrompt,
    chatTemplate: opts.chatTemplate,
  });
  const base: GenerationParams = {
    temperature: opts.temperature ?? 1,
    topP: opts.topP ?? 1,
    topK: opts.topK ?? 0,
    minP: 0,
    repetitionPenalty: 1,
    maxTokens: opts.maxTokens ?? 256,
    seed: opts.seed ?? 0,
  };

  // correctness and mode of each completion of a group of prompts
  const judge = async (start: number, groups: Candidate[][]) => {
    const flat = groups.flatMap((g, p) =>
      g.map((c) => ({
        completion: c.text,
        prompt: examples[start + p].prompt,
        row: examples[start + p].row,
        completionTokens: c.ids?.length,
        finishReason: c.finishReason,
      }))
    );
    const scores = await opts.rewards.score(flat);
    const values = scores.perFunction[0];
    return groups.map((g, p) =>
      g.map((c, j) => {
        const v = values[p * g.length + j];
        const correct = v !== null && v >= threshold - 1e-9;
        return { text: c.text, correct, mode: correct ? (modeOf(c.text, examples[start + p]) ?? c.text.trim()) : null };
      })
    );
  };

  const numModes = examples.map((e) => e.row.num_modes);
  // coverage needs modes in the dataset's own canonical form: a task reward's canonicaliser or a given modeOf
  const canonical = opts.modeOf !== undefined || rewardName === "countdown" || rewardName === "graph_colouring";
  const hasModes = canonical && numModes.every((n) => typeof n === "number" && Number.isInteger(n) && n >= 1);
  const greedy: { text: string; correct: boolean }[] = [];
  const bySeed: PromptMetrics[][] = Array.from({ length: seeds }, () => []);
  const details: PromptOutcome[] = [];
  for (let start = 0; start < examples.length; start += batchSize) {
    const ids = prompts.slice(start, start + batchSize).map((p) => p.ids);
    const keys = ids.map((_, i) => start + i);
    const g = await sampleLocal(model, tokenizer, {
      promptIds: ids,
      k: 1,
      params: { ...base, temperature: 0 },
      promptKeys: keys,
    });
    greedy.push(...(await judge(start, g)).map((x) => x[0]));
    for (let s = 0; s < seeds; s++) {
      const sampled = await sampleLocal(model, tokenizer, {
        promptIds: ids,
        k,
        params: { ...base, seed: base.seed + s },
        promptKeys: keys,
      });
      const judged = await judge(start, sampled);
      judged.forEach((group, p) => {
        const i = start + p;
        bySeed[s].push(promptMetrics({
          sampleModes: group.map((x) => x.mode),
          greedyCorrect: greedy[i].correct,
          numModes: hasModes ? numModes[i] as number : 1,
        }, k));
        if (s === 0 && opts.perPrompt) {
          details.push({
            source: examples[i].source,
            greedy: greedy[i].text,
            greedyCorrect: greedy[i].correct,
            correct: group.filter((x) => x.correct).length,
            modes: [...new Set(group.flatMap((x) => (x.mode === null ? [] : [x.mode])))],
          });
        }
      });
    }
  }
  const agg = aggregateMetrics(bySeed);
  const named = (m: Record<string, number | null>): Record<string, number> => {
    const out: Record<string, number> = {
      "pass@1": m.pass1 ?? NaN,
      "pass@1_sampled": m.meanK ?? NaN,
      "pass@k": m.passK ?? NaN,
      "mean@k": m.meanK ?? NaN,
      "distinct@k": m.distinctK ?? NaN,
    };
    if (hasModes) out["coverage@k"] = m.coverageK ?? NaN;
    return out;
  };
  const report: EvalReport = {
    prompts: examples.length,
    k,
    seeds,
    temperature: base.temperature,
    reward: rewardName,
    metrics: named(agg.mean),
    perSeed: agg.perSeed.map(named),
  };
  if (opts.perPrompt) report.details = details;
  return report;
}

/** One line: `pass@1 0.250 (greedy) · pass@1 0.188 (sampled) · pass@8 0.625 · distinct@8 1.25 · … (n prompts)`. */
export function evalSummary(r: EvalReport): string {
  const m = r.metrics;
  const f = (x: number) => (Number.isFinite(x) ? x.toFixed(3) : "n/a");
  const parts = [
    `pass@1 ${f(m["pass@1"])} (greedy)`,
    `pass@1 ${f(m["pass@1_sampled"])} (sampled, T=${r.temperature})`,
    `pass@${r.k} ${f(m["pass@k"])}`,
    `mean@${r.k} ${f(m["mean@k"])}`,
    `distinct@${r.k} ${f(m["distinct@k"])}`,
  ];
  if ("coverage@k" in m) parts.push(`coverage@${r.k} ${f(m["coverage@k"])}`);
  return `${parts.join(" · ")} (${r.prompts} prompts × ${r.seeds} seed${r.seeds === 1 ? "" : "s"}, reward ${r.reward})`;
}

/** The report's metrics as `eval/<name>` keys for a metrics.jsonl row. */
export function evalMetricsRow(r: EvalReport): Record<string, number> {
  return Object.fromEntries(Object.entries(r.metrics).map(([k, v]) => [`eval/${k}`, v]));
}
