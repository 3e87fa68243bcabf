/**
 * The local sampler: K candidate completions per prompt from the tfjs model, decoded together in one batch with the
 * KV cache. Each prompt is prefilled once (left-padded batch) and its cache repeated for its K candidates; finished
 * rows are dropped from the batch as decoding goes. Draws come from the counter-based RNG keyed by
 * (seed, prompt key, candidate, position), so a candidate does not depend on what else is in the batch.
 */
import * as tf from "@tensorflow/tfjs";
import type { KVCache } from "../model/kv_cache.ts";
import { readFloat32Into } from "../backend/access.ts";
import { maskTensor } from "../model/host_mask.ts";
import { SamplerScratch, sampleToken, type SamplingParams } from "./logits.ts";
import { Purpose, uniform } from "./rng.ts";
import type { Candidate, GenerationParams } from "./types.ts";

/** What the sampler needs of a model (CausalLM provides it). */
export interface SamplerModel {
  prefill(ids: tf.Tensor2D, attentionMask: tf.Tensor2D, maxNewTokens?: number): {
    cache: KVCache;
    lastLogits: tf.Tensor2D;
  };
  decodeStep(cache: KVCache, tokens: tf.Tensor1D): tf.Tensor2D;
}

/** What the sampler needs of a tokenizer (Tokenizer provides it). */
export interface SamplerTokenizer {
  eosTokenIds: number[];
  padTokenId: number;
  decode(ids: number[], opts?: { skipSpecialTokens?: boolean }): string;
}

/** A sampling request: token ids of each (already templated) prompt and the group size. */
export interface LocalSampleRequest {
  promptIds: number[][];
  k: number;
  params: GenerationParams;
  /** Per prompt, the key its random numbers are drawn under (e.g. its dataset index); default its batch index. */
  promptKeys?: number[];
}

/** Left-pads token rows into ids and attention mask tensors [B, T]. */
export function leftPad(rows: number[][], padId: number): { ids: tf.Tensor2D; mask: tf.Tensor2D } {
  const T = Math.max(1, ...rows.map((r) => r.length));
  const ids = new Int32Array(rows.length * T).fill(padId);
  const mask = new Float32Array(rows.length * T);
  rows.forEach((r, b) => {
    const off = b * T + (T - r.length);
    ids.set(r, off);
    mask.fill(1, off, off + r.length);
  });
  return { ids: tf.tensor2d(ids, [rows.length, T], "int32"), mask: maskTensor(mask, [rows.length, T]) };
}

interface Row {
  prompt: number;
  candidate: number;
  ids: number[];
  logprobs: number[];
  finish: "stop" | "length" | null;
  stopText: string | null;
}

/** Samples `k` candidates for each prompt; returns one group per prompt, candidates in order. */
export async function sampleLocal(
  model: SamplerModel,
  tokenizer: SamplerTokenizer,
  req: LocalSampleRequest,
): Promise<Candidate[][]> {
  const { promptIds, k, params } = req;
  if (promptIds.some((p) => p.length === 0)) throw new Error("sampleLocal: a prompt has no tokens");
  const keys = req.promptKeys ?? promptIds.map((_, i) => i);
  const sampling: SamplingParams = params;
  const eos = new Set(tokenizer.eosTokenIds);
  const rows: Row[] = [];
  for (let p = 0; p < promptIds.length; p++) {
    for (let j = 0; j < k; j++) {
      rows.push({ prompt: p, candidate: j, ids: [], logprobs: [], finish: null, stopText: null });
    }
  }

  const { ids, mask } = leftPad(promptIds, tokenizer.padTokenId);
  const pre = model.prefill(ids, mask, params.maxTokens);
  ids.dispose();
  mask.dispose();
  let cache = pre.cache.expand(k);
  pre.cache.dispose();
  let logits: tf.Tensor2D = tf.tidy(() => {
    const idx = tf.tensor1d(rows.map((r) => r.prompt), "int32");
    return tf.gather(pre.lastLogits, idx) as tf.Tensor2D;
  });
  pre.lastLogits.dispose();
  let batch = rows.map((_, i) => i); // cache row i holds rows[batch[i]]
  const scratch = new SamplerScratch(); // the per-token work buffers, reused for every row and position
  // each step's logits [batch, V] are copied into this one buffer (cpu/wasm): `data()` would hand out a fresh array per
  // step (on cpu the backend's own, which its disposal then cannot free), ~1.2 GB of garbage over 128 steps of
  // 16 rows × 151,936 words
  let readback = new Float32Array(0);

  try {
    for (let t = 0; t < params.maxTokens; t++) {
      if (readback.length < logits.size) readback = new Float32Array(logits.size);
      const data = readFloat32Into(logits, readback)
        ? readback.subarray(0, logits.size)
        : (await logits.data()) as Float32Array;
      logits.dispose();
      const V = data.length / batch.length;
      const next = batch.map((ri, i) => {
        const row = rows[ri];
        if (row.finish) return tokenizer.padTokenId; // finished, still in the batch until the next compaction
        const seen = sampling.repetitionPenalty !== 1 ? [...promptIds[row.prompt], ...row.ids] : [];
        const u = uniform(params.seed, keys[row.prompt], row.candidate, t, Purpose.Sample);
        const { token, logprob } = sampleToken(data.subarray(i * V, (i + 1) * V), sampling, u, seen, scratch);
        row.ids.push(token);
        row.logprobs.push(logprob);
        if (eos.has(token)) row.finish = "stop";
        else if (params.stop?.length) {
          const text = tokenizer.decode(row.ids);
          const hits = params.stop.map((s) => text.indexOf(s)).filter((x) => x >= 0);
          if (hits.length) {
            row.finish = "stop";
            row.stopText = text.slice(0, Math.min(...hits));
          }
        }
        if (!row.finish && row.ids.length >= params.maxTokens) row.finish = "length";
        return token;
      });
      const live = batch.flatMap((ri, i) => (rows[ri].finish ? [] : [i]));
      if (live.length === 0) break;
      // Drop finished rows from the batch once they are a quarter of it (gathering the cache costs a copy).
      let tokens = next;
      if (live.length <= batch.length * 0.75) {
        const smaller = cache.selectRows(live);
        cache.dispose();
        cache = smaller;
        tokens = live.map((i) => next[i]);
        batch = live.map((i) => batch[i]);
      }
      const tok = tf.tensor1d(tokens, "int32");
      logits = model.decodeStep(cache, tok);
      tok.dispose();
    }
  } finally {
    cache.dispose();
    if (!logits.isDisposed) logits.dispose();
  }

  const groups: Candidate[][] = promptIds.map(() => []);
  for (const row of rows) {
    const body = row.finish === "stop" && eos.has(row.ids[row.ids.length - 1]) ? row.ids.slice(0, -1) : row.ids;
    groups[row.prompt].push({
      promptIndex: row.prompt,
      candidate: row.candidate,
      ids: row.ids,
      text: row.stopText ?? tokenizer.decode(body),
      logprobs: row.logprobs,
      finishReason: row.finish ?? "length",
    });
  }
  return groups;
}
