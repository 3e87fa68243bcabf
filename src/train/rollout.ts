/**
 * Rollouts: for a batch of prompts, sample K candidates each (local tfjs or remote server), make sure every
 * candidate has token ids, and score them with the reward functions. The result is what the objectives consume.
 */
import type { Example } from "../data/mod.ts";
import type { BuiltPrompt } from "../data/prompt.ts";
import type { RewardSet } from "../rewards/mod.ts";
import type { Candidate, GenerationParams } from "../sampler/types.ts";
import { sampleLocal, type SamplerModel, type SamplerTokenizer } from "../sampler/local.ts";
import { type RemoteSamplerOptions, sampleRemote } from "../sampler/remote.ts";

/** One prompt with its K scored candidates. */
export interface RolloutGroup {
  example: Example;
  prompt: BuiltPrompt;
  /** Candidates with token ids always filled in. */
  candidates: Array<Candidate & { ids: number[] }>;
  /** Utilities u_i = Σ_f weight_f · reward_f (null rewards skipped). */
  utilities: number[];
  /** Per reward function, per candidate (null = skipped). */
  perFunction: Array<Array<number | null>>;
}

/** Where candidates come from. */
export type SamplerSpec =
  | { kind: "local"; model: SamplerModel }
  | { kind: "remote"; options: RemoteSamplerOptions };

/** What rollouts need of a tokenizer (encoding remote text answers, end tokens, decoding). */
export interface RolloutTokenizer extends SamplerTokenizer {
  encode(text: string, opts?: { addSpecialTokens?: boolean }): number[];
}

/**
 * Samples and scores groups for `examples` (their built `prompts`); `promptKeys` are the RNG keys of the prompts
 * (global sample indices, so a resumed run draws the same numbers).
 */
export async function collectRollouts(
  sampler: SamplerSpec,
  tokenizer: RolloutTokenizer,
  rewards: RewardSet,
  examples: Example[],
  prompts: BuiltPrompt[],
  promptKeys: number[],
  k: number,
  params: GenerationParams,
): Promise<RolloutGroup[]> {
  const groups = sampler.kind === "local"
    ? await sampleLocal(sampler.model, tokenizer, { promptIds: prompts.map((p) => p.ids), k, params, promptKeys })
    : await sampleRemote(prompts.map((p) => p.text), k, { ...params, seed: params.seed + promptKeys[0] }, {
      ...sampler.options,
      decode: (ids) => tokenizer.decode(ids),
    });
  const eos = tokenizer.eosTokenIds[0];
  const filled = groups.map((g) =>
    g.map((c) => {
      if (c.ids) return c as Candidate & { ids: number[] };
      // a server that answered with text only: tokenize it, with the end token when it stopped by itself
      const ids = tokenizer.encode(c.text);
      return { ...c, ids: c.finishReason === "stop" ? [...ids, eos] : ids, logprobs: null };
    })
  );
  const flat = filled.flatMap((g, p) =>
    g.map((c) => ({
      completion: c.text,
      prompt: examples[p].prompt,
      row: examples[p].row,
      completionTokens: c.ids.length,
      finishReason: c.finishReason,
    }))
  );
  const scores = await rewards.score(flat);
  return filled.map((candidates, p) => ({
    example: examples[p],
    prompt: prompts[p],
    candidates,
    utilities: scores.total.slice(p * k, (p + 1) * k),
    perFunction: scores.perFunction.map((f) => f.slice(p * k, (p + 1) * k)),
  }));
}
