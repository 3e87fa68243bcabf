/**
 * The remote sampler: asks an inference server for K completions per prompt. Two protocols:
 * - OpenAI-compatible completions (`POST {base}/v1/completions` with `n`, `logprobs`, `seed`; served by vLLM, SGLang,
 *   llama.cpp and `maxent serve`) — any URL not ending in `/generate`;
 * - TRL's `trl vllm-serve` form (`POST …/generate` with `prompts` and `n`, answering `completion_ids`), which the
 *   seed recipes' `vllm_url: http://localhost:8000/generate` names.
 * Requests time out, are retried with exponential backoff on connection errors and 5xx answers, and malformed
 * answers are errors that say what was wrong.
 */
import { MaxentError } from "../errors.ts";
import type { Candidate, GenerationParams } from "./types.ts";

/** How to reach the server. */
export interface RemoteSamplerOptions {
  /** `vllm_url` from the recipe, e.g. `http://localhost:8000` or `http://localhost:8000/generate`. */
  url: string;
  /** The `model` field of OpenAI requests (servers with one model ignore it). */
  model?: string;
  /** Per-request timeout; default 300 s (generation is slow). */
  timeoutMs?: number;
  /** Attempts in all (first try included); default 3. */
  attempts?: number;
  /** First backoff delay, doubled after each failure; default 500 ms. */
  backoffMs?: number;
  /** Bearer token for the server, if it wants one (never logged). */
  apiKey?: string;
  log?: (line: string) => void;
  /** Decodes token ids into text, for servers that answer with ids only (TRL's protocol). */
  decode?: (ids: number[]) => string;
}

/** Which protocol a URL selects, and the endpoint to POST to. */
export function remoteEndpoint(url: string): { protocol: "openai" | "trl"; endpoint: string } {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    throw new MaxentError(`vllm_url "${url}" is not a URL; expected e.g. http://localhost:8000`);
  }
  if (u.protocol !== "http:" && u.protocol !== "https:") {
    throw new MaxentError(`vllm_url "${url}" must be http:// or https://`);
  }
  const path = u.pathname.replace(/\/+$/, "");
  if (path.endsWith("/generate")) return { protocol: "trl", endpoint: `${u.origin}${path}/` };
  const base = path.endsWith("/v1/completions")
    ? path
    : path.endsWith("/v1")
    ? `${path}/completions`
    : `${path}/v1/completions`;
  return { protocol: "openai", endpoint: `${u.origin}${base}` };
}

/** The token-id form vLLM returns with `return_tokens_as_token_ids` ("token_id:123"). */
function tokenId(token: unknown): number | null {
  if (typeof token !== "string") return null;
  const m = /^token_id:(\d+)$/.exec(token);
  return m ? Number(m[1]) : null;
}

/**
 * Samples `k` completions for each prompt (prompt texts already chat-templated) from a remote server.
 * Returns one group of `k` candidates per prompt, in order.
 */
export async function sampleRemote(
  prompts: string[],
  k: number,
  params: GenerationParams,
  opts: RemoteSamplerOptions,
): Promise<Candidate[][]> {
  const { protocol, endpoint } = remoteEndpoint(opts.url);
  const body = protocol === "openai"
    ? {
      model: opts.model ?? "default",
      prompt: prompts,
      n: k,
      temperature: params.temperature,
      top_p: params.topP,
      max_tokens: params.maxTokens,
      logprobs: 0,
      seed: params.seed,
      ...(params.topK > 0 ? { top_k: params.topK } : {}),
      ...(params.minP > 0 ? { min_p: params.minP } : {}),
      ...(params.repetitionPenalty !== 1 ? { repetition_penalty: params.repetitionPenalty } : {}),
      ...(params.stop?.length ? { stop: params.stop } : {}),
      return_tokens_as_token_ids: true,
    }
    : {
      prompts,
      n: k,
      temperature: params.temperature,
      top_p: params.topP,
      top_k: params.topK > 0 ? params.topK : -1,
      min_p: params.minP,
      repetition_penalty: params.repetitionPenalty,
      max_tokens: params.maxTokens,
      ...(params.seed !== undefined ? { seed: params.seed } : {}),
    };
  const answer = await postWithRetry(endpoint, body, opts);
  return protocol === "openai"
    ? parseOpenAI(answer, prompts.length, k, params.maxTokens, endpoint)
    : parseTrl(answer, prompts.length, k, params.maxTokens, endpoint, opts.decode);
}

async function postWithRetry(endpoint: string, body: unknown, opts: RemoteSamplerOptions): Promise<unknown> {
  const attempts = opts.attempts ?? 3;
  let delay = opts.backoffMs ?? 500;
  let lastProblem = "";
  for (let attempt = 1; attempt <= attempts; attempt++) {
    const ctl = new AbortController();
    const timer = setTimeout(() => ctl.abort(), opts.timeoutMs ?? 300_000);
    try {
      const res = await fetch(endpoint, {
        method: "POST",
        headers: {
          "content-type": "application/json",
          ...(opts.apiKey ? { authorization: `Bearer ${opts.apiKey}` } : {}),
        },
        body: JSON.stringify(body),
        signal: ctl.signal,
      });
      const text = await res.text();
      if (res.status >= 500) {
        lastProblem = `HTTP ${res.status}`;
      } else if (!res.ok) {
        throw new MaxentError(
          `the sampler at ${endpoint} refused the request: HTTP ${res.status} ${text.slice(0, 200)}`,
        );
      } else {
        try {
          return JSON.parse(text);
        } catch {
          throw new MaxentError(
            `the sampler at ${endpoint} answered with malformed JSON: ${JSON.stringify(text.slice(0, 120))}`,
          );
        }
      }
    } catch (e) {
      if (e instanceof MaxentError) throw e;
      lastProblem = ctl.signal.aborted
        ? `no answer within ${((opts.timeoutMs ?? 300_000) / 1000).toFixed(1)} s`
        : describeFetchError(e);
    } finally {
      clearTimeout(timer);
    }
    if (attempt < attempts) {
      opts.log?.(`sampler ${endpoint}: ${lastProblem}; retrying in ${delay} ms (attempt ${attempt + 1}/${attempts})`);
      await new Promise((r) => setTimeout(r, delay));
      delay *= 2;
    }
  }
  const hint = /refused|connect/i.test(lastProblem)
    ? "is the server running? start it (e.g. vLLM or `maxent serve`) or fix vllm_url in the recipe"
    : "check the server's health and log";
  throw new MaxentError(`cannot sample from ${endpoint} after ${attempts} attempts (${lastProblem}): ${hint}`);
}

/** Deno's fetch says "fetch failed" and keeps the reason (e.g. "Connection refused") in `cause`. */
function describeFetchError(e: unknown): string {
  const err = e as Error & { cause?: unknown };
  const cause = err.cause instanceof Error ? err.cause.message : err.cause ? String(err.cause) : "";
  return cause && !err.message.includes(cause) ? `${err.message}: ${cause}` : err.message;
}

function malformed(endpoint: string, what: string): MaxentError {
  return new MaxentError(`the sampler at ${endpoint} sent a malformed answer: ${what}`);
}

function parseOpenAI(answer: unknown, nPrompts: number, k: number, maxTokens: number, ep: string): Candidate[][] {
  const choices = (answer as { choices?: unknown })?.choices;
  if (!Array.isArray(choices)) throw malformed(ep, "no `choices` array");
  if (choices.length !== nPrompts * k) {
    throw malformed(ep, `expected ${nPrompts * k} choices (${nPrompts} prompts × n=${k}), got ${choices.length}`);
  }
  const groups: Candidate[][] = Array.from({ length: nPrompts }, () => []);
  choices.forEach((c, pos) => {
    const choice = c as {
      index?: number;
      text?: unknown;
      finish_reason?: unknown;
      logprobs?: { tokens?: unknown[]; token_logprobs?: unknown[] } | null;
    };
    if (typeof choice.text !== "string") throw malformed(ep, `choice ${pos} has no text`);
    const index = typeof choice.index === "number" ? choice.index : pos;
    const promptIndex = Math.floor(index / k);
    if (promptIndex >= nPrompts) throw malformed(ep, `choice index ${index} is out of range`);
    const tokens = choice.logprobs?.tokens ?? null;
    const lps = choice.logprobs?.token_logprobs ?? null;
    const ids = tokens ? tokens.map(tokenId) : null;
    const logprobs = lps && lps.every((x) => typeof x === "number") ? (lps as number[]) : null;
    groups[promptIndex].push({
      promptIndex,
      candidate: index % k,
      ids: ids && ids.every((x) => x !== null) ? (ids as number[]) : null,
      text: choice.text,
      logprobs,
      finishReason: choice.finish_reason === "length" || (ids?.length ?? 0) >= maxTokens && !choice.finish_reason
        ? "length"
        : "stop",
    });
  });
  for (const g of groups) g.sort((a, b) => a.candidate - b.candidate);
  return groups;
}

function parseTrl(
  answer: unknown,
  nPrompts: number,
  k: number,
  maxTokens: number,
  ep: string,
  decode?: (ids: number[]) => string,
): Candidate[][] {
  const a = answer as { completion_ids?: unknown; logprobs?: unknown; text?: unknown };
  const ids = a?.completion_ids;
  if (!Array.isArray(ids)) throw malformed(ep, "no `completion_ids` array (TRL vllm-serve protocol)");
  if (ids.length !== nPrompts * k) {
    throw malformed(ep, `expected ${nPrompts * k} completions (${nPrompts} prompts × n=${k}), got ${ids.length}`);
  }
  const lps = Array.isArray(a.logprobs) ? a.logprobs : null;
  return Array.from({ length: nPrompts }, (_, p) =>
    Array.from({ length: k }, (_, j) => {
      const row = ids[p * k + j];
      if (!Array.isArray(row) || !row.every((t) => Number.isInteger(t))) {
        throw malformed(ep, `completion ${p * k + j} is not a list of token ids`);
      }
      const lp = lps?.[p * k + j];
      return {
        promptIndex: p,
        candidate: j,
        ids: row as number[],
        text: decode ? decode(row as number[]) : "",
        logprobs: Array.isArray(lp) ? (lp as unknown[]).map((x) => Array.isArray(x) ? Number(x[0]) : Number(x)) : null,
        finishReason: row.length >= maxTokens ? "length" : "stop",
      } satisfies Candidate;
    }));
}
