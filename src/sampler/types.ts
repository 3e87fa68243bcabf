/** The shapes every sampler (local tfjs or remote server) produces: groups of K candidates per prompt. */

/** One sampled completion of one prompt. */
export interface Candidate {
  /** Index of the prompt in the batch passed to the sampler. */
  promptIndex: number;
  /** 0..K−1 within the prompt's group. */
  candidate: number;
  /** Completion token ids (including the end token that stopped it, if any); null if a remote server sent text only. */
  ids: number[] | null;
  /** Decoded completion text (end token excluded). */
  text: string;
  /** Per-token log-probs under the sampling distribution actually used (same length as ids), or null if unknown. */
  logprobs: number[] | null;
  /** `stop`: ended by an end token or stop string; `length`: hit max_completion_length. */
  finishReason: "stop" | "length";
}

/** Generation settings shared by the samplers (recipe: gen_temperature, gen_top_p, top_k, min_p, …). */
export interface GenerationParams {
  temperature: number;
  topP: number;
  topK: number;
  minP: number;
  repetitionPenalty: number;
  maxTokens: number;
  seed: number;
  stop?: string[];
}
