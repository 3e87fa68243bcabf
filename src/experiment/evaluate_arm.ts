/**
 * Evaluation of one trained arm for the comparison: per prompt one greedy completion and, for each evaluation seed,
 * k samples at the temperature; per (evaluation seed, prompt) the multi-answer metrics of src/eval/metrics.ts, kept
 * prompt by prompt so the paired bootstrap can resample prompts and seeds. (`evaluateModel` of src/eval reports only
 * means; this keeps every row and samples the greedy answer once for all evaluation seeds.)
 */
import { buildPrompts, type Example } from "../data/mod.ts";
import type { RewardSet } from "../rewards/mod.ts";
import { sampleLocal, type SamplerModel } from "../sampler/local.ts";
import type { Candidate, GenerationParams } from "../sampler/types.ts";
import { defaultModeOf, type EvalTokenizer } from "../eval/evaluate.ts";
import { type PromptMetrics, promptMetrics } from "../eval/metrics.ts";
import { MaxentError } from "../errors.ts";

/** Options of {@linkcode evaluateArm}. */
export interface ArmEvalOptions {
  rewards: RewardSet;
  /** Samples per prompt (default 8). */
  k?: number;
  /** Sampling temperature (default 1). */
  temperature?: number;
  maxTokens: number;
  /** Evaluation seeds: seed s samples with Philox seed `seed + s`. */
  seeds: number[];
  systemPrompt?: string;
  chatTemplate?: string;
  /** Prompts per sampler call (default 32). */
  batchSize?: number;
}

/** Per evaluation seed, per prompt metrics (`rows[s][p]`). */
export interface ArmEval {
  seeds: number[];
  rows: PromptMetrics[][];
  seconds: number;
}

/**
 * Evaluates `model` on `examples`: greedy answer (once), then k samples per prompt for each evaluation seed, judged
 * by the first reward (value ≥ 1 − 1e-9 is correct) and mapped to answer modes by the task's canonicaliser. Every
 * example needs `num_modes` (a `maxent data` split) for coverage.
 */
export async function evaluateArm(
  model: SamplerModel,
  tokenizer: EvalTokenizer,
  examples: Example[],
  opts: ArmEvalOptions,
): Promise<ArmEval> {
  const started = performance.now();
  if (examples.length === 0) throw new MaxentError("evaluation: the test split is empty");
  const k = opts.k ?? 8;
  const batchSize = opts.batchSize ?? 32;
  const modeOf = defaultModeOf(opts.rewards.names[0]);
  const numModes = examples.map((e, i) => {
    const n = e.row.num_modes;
    if (typeof n !== "number" || !Number.isInteger(n) || n < 1) {
      throw new MaxentError(
        `${e.source}: row ${i} has no num_modes column; the comparison measures coverage and needs a task split ` +
          `from \`maxent data\``,
      );
    }
    return n;
  });
  const { prompts } = buildPrompts(examples, tokenizer, {
    systemPrompt: opts.systemPrompt,
    chatTemplate: opts.chatTemplate,
  });
  const base: GenerationParams = {
    temperature: opts.temperature ?? 1,
    topP: 1,
    topK: 0,
    minP: 0,
    repetitionPenalty: 1,
    maxTokens: opts.maxTokens,
    seed: 0,
  };
  // mode of each candidate (null: wrong or malformed)
  const judge = async (start: number, groups: Candidate[][]): Promise<(string | null)[][]> => {
    const flat = groups.flatMap((g, p) =>
      g.map((c) => ({
        completion: c.text,
        prompt: examples[start + p].prompt,
        row: examples[start + p].row,
        completionTokens: c.ids?.length,
        finishReason: c.finishReason,
      }))
    );
    const values = (await opts.rewards.score(flat)).perFunction[0];
    let i = 0;
    return groups.map((g, p) =>
      g.map((c) => {
        const v = values[i++];
        return v !== null && v >= 1 - 1e-9 ? (modeOf(c.text, examples[start + p]) ?? c.text.trim()) : null;
      })
    );
  };
  const rows: PromptMetrics[][] = opts.seeds.map(() => []);
  for (let start = 0; start < examples.length; start += batchSize) {
    const ids = prompts.slice(start, start + batchSize).map((p) => p.ids);
    const keys = ids.map((_, i) => start + i);
    const greedy = await judge(
      start,
      await sampleLocal(model, tokenizer, {
        promptIds: ids,
        k: 1,
        params: { ...base, temperature: 0 },
        promptKeys: keys,
      }),
    );
    for (const [s, seed] of opts.seeds.entries()) {
      const sampled = await judge(
        start,
        await sampleLocal(model, tokenizer, { promptIds: ids, k, params: { ...base, seed }, promptKeys: keys }),
      );
      sampled.forEach((modes, p) =>
        rows[s].push(
          promptMetrics({ sampleModes: modes, greedyCorrect: greedy[p][0] !== null, numModes: numModes[start + p] }, k),
        )
      );
    }
  }
  return { seeds: opts.seeds, rows, seconds: (performance.now() - started) / 1000 };
}
