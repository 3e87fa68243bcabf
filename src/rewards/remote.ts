/**
 * `reward_url`: a reward computed by an HTTP service. The batch is POSTed as JSON
 * `{"completions": [...], "prompts": [...], "rows": [...]}` and the service answers `{"rewards": [number|null, ...]}`
 * (one per completion, in order). Works from the compiled binary, unlike module rewards.
 */
import { MaxentError } from "../errors.ts";
import type { RewardContext, RewardInput, RewardValue } from "./types.ts";

/** Timeouts and retries of a remote reward. */
export interface RemoteRewardOptions {
  /** Per-attempt timeout in milliseconds (default 30 000). */
  timeoutMs?: number;
  /** Attempts in all, first included (default 3). Retried: connection errors, timeouts, HTTP 5xx. */
  tries?: number;
  /** Delay before the second attempt in ms, doubled for each further one (default 500). */
  backoffMs?: number;
}

class Retryable extends Error {}

/**
 * A reward function (a `RewardFunction`) that POSTs each batch to `url`.
 *
 * @example
 * ```ts
 * import { remoteReward } from "./remote.ts";
 * const reward = remoteReward("http://127.0.0.1:8080/score", { timeoutMs: 5000 });
 * ```
 */
export function remoteReward(
  url: string,
  opts: RemoteRewardOptions = {},
): (batch: RewardInput[], ctx: RewardContext) => Promise<RewardValue[]> {
  try {
    const u = new URL(url);
    if (u.protocol !== "http:" && u.protocol !== "https:") throw new Error("not http(s)");
  } catch {
    throw new MaxentError(`reward_url "${url}" is not an http(s) URL; set it to e.g. http://127.0.0.1:8080/score`);
  }
  const timeoutMs = opts.timeoutMs ?? 30_000, tries = Math.max(1, opts.tries ?? 3), backoffMs = opts.backoffMs ?? 500;
  return async (batch: RewardInput[], ctx: RewardContext): Promise<RewardValue[]> => {
    const body = JSON.stringify({
      completions: batch.map((s) => s.completion),
      prompts: batch.map((s) => s.prompt),
      rows: batch.map((s) => s.row),
    });
    let last: Error | undefined;
    for (let attempt = 1; attempt <= tries; attempt++) {
      if (attempt > 1) await sleep(backoffMs * 2 ** (attempt - 2), ctx.signal);
      try {
        return await attemptOnce(url, body, batch.length, timeoutMs, ctx.signal);
      } catch (e) {
        if (!(e instanceof Retryable)) throw e;
        last = e;
      }
    }
    throw new MaxentError(`reward_url ${url}: ${last?.message} (gave up after ${tries} attempts)`);
  };
}

async function attemptOnce(
  url: string,
  body: string,
  n: number,
  timeoutMs: number,
  signal: AbortSignal | undefined,
): Promise<RewardValue[]> {
  const timeout = AbortSignal.timeout(timeoutMs);
  let res: Response;
  try {
    res = await fetch(url, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body,
      signal: signal ? AbortSignal.any([signal, timeout]) : timeout,
    });
  } catch (e) {
    if (signal?.aborted) throw new MaxentError(`reward_url ${url}: aborted`, { cause: e });
    if (timeout.aborted) throw new Retryable(`no answer within ${timeoutMs} ms (timeout)`);
    const msg = e instanceof Error ? `${e.message} ${String((e as { cause?: unknown }).cause ?? "")}` : String(e);
    if (/refused/i.test(msg)) {
      throw new Retryable("connection refused: is the reward server running and listening on that host and port?");
    }
    throw new Retryable(`request failed: ${e instanceof Error ? e.message : String(e)}`);
  }
  let text: string;
  try {
    text = await res.text();
  } catch (e) {
    if (timeout.aborted) throw new Retryable(`no complete answer within ${timeoutMs} ms (timeout)`);
    throw new Retryable(`reading the answer failed: ${e instanceof Error ? e.message : String(e)}`);
  }
  if (res.status >= 500) throw new Retryable(`HTTP ${res.status}: ${excerpt(text)}`);
  if (res.status !== 200) {
    throw new MaxentError(`reward_url ${url}: HTTP ${res.status} (expected 200): ${excerpt(text)}`);
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    throw new MaxentError(`reward_url ${url}: malformed JSON in the answer: ${excerpt(text)}`);
  }
  const rewards = (parsed as { rewards?: unknown } | null)?.rewards;
  if (!Array.isArray(rewards)) {
    throw new MaxentError(`reward_url ${url}: the answer has no "rewards" array: ${excerpt(text)}`);
  }
  if (rewards.length !== n) {
    throw new MaxentError(`reward_url ${url}: got ${rewards.length} rewards for ${n} completions`);
  }
  return rewards.map((r, i) => {
    if (r === null || typeof r === "number") return r;
    throw new MaxentError(`reward_url ${url}: rewards[${i}] is ${JSON.stringify(r)}, expected a number or null`);
  });
}

function excerpt(text: string): string {
  const t = text.trim().replace(/\s+/g, " ");
  return t.length > 200 ? `${t.slice(0, 200)}…` : t || "(empty body)";
}

function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(new MaxentError("reward_url: aborted"));
    const id = setTimeout(() => {
      signal?.removeEventListener("abort", onAbort);
      resolve();
    }, ms);
    const onAbort = () => {
      clearTimeout(id);
      reject(new MaxentError("reward_url: aborted"));
    };
    signal?.addEventListener("abort", onAbort, { once: true });
  });
}
