/**
 * How maxent talks to the Hugging Face Hub: the options every Hub call takes (endpoint, token, cache directory,
 * offline mode), read from the same environment variables as Python's `huggingface_hub`, plus the retrying `fetch`
 * and the error translation that turns Hub HTTP failures into messages saying what to do (never echoing the token).
 */
import { readEnv } from "../env.ts";
import { HubApiError } from "@huggingface/hub";
import { join } from "node:path";
import { MaxentError } from "../errors.ts";

/** Where and how to reach the Hub. Any field left out is taken from the environment (see `hubOptionsFromEnv`). */
export interface HubOptions {
  /** Hub base URL (`HF_ENDPOINT`), default `https://huggingface.co`. */
  endpoint?: string;
  /** Access token (`HF_TOKEN`); never printed or logged. */
  token?: string;
  /** The Hugging Face hub cache (`HF_HUB_CACHE`, else `$HF_HOME/hub`, else `~/.cache/huggingface/hub`). */
  cacheDir?: string;
  /** Use the cache only (`HF_HUB_OFFLINE=1`). */
  offline?: boolean;
  /** Receives one line per notable event (downloads, retries); quiet when absent. */
  log?: (line: string) => void;
  /** The fetch to use (tests, proxies); retries are layered on top of it. */
  fetch?: typeof fetch;
  /** Draw a progress bar on stderr for large files; default: when stderr is a terminal. */
  progress?: boolean;
}

/** The public Hub. */
export const DEFAULT_ENDPOINT = "https://huggingface.co";

function truthy(v: string | undefined): boolean {
  return v !== undefined && ["1", "true", "yes", "on"].includes(v.trim().toLowerCase());
}

/**
 * The hub cache directory as Python's `huggingface_hub` computes it: `HF_HUB_CACHE`, else `$HF_HOME/hub`, else
 * `$XDG_CACHE_HOME/huggingface/hub`, else `~/.cache/huggingface/hub`.
 */
export function hubCacheDir(env: Record<string, string | undefined>): string {
  if (env.HF_HUB_CACHE) return expandHome(env.HF_HUB_CACHE);
  if (env.HUGGINGFACE_HUB_CACHE) return expandHome(env.HUGGINGFACE_HUB_CACHE);
  if (env.HF_HOME) return join(expandHome(env.HF_HOME), "hub");
  const cacheHome = env.XDG_CACHE_HOME ? expandHome(env.XDG_CACHE_HOME) : join(homeDir(env), ".cache");
  return join(cacheHome, "huggingface", "hub");
}

function homeDir(env: Record<string, string | undefined> = {}): string {
  return env.HOME ?? env.USERPROFILE ?? Deno.env.get("HOME") ?? Deno.env.get("USERPROFILE") ?? ".";
}

/** Expands a leading `~` to the home directory. */
export function expandHome(p: string): string {
  if (p === "~") return homeDir();
  if (p.startsWith("~/")) return join(homeDir(), p.slice(2));
  return p;
}

/**
 * Hub options from environment variables (`HF_ENDPOINT`, `HF_TOKEN`, `HF_HUB_CACHE`/`HF_HOME`, `HF_HUB_OFFLINE`),
 * with `overrides` (e.g. `--token`) winning where they are defined.
 *
 * @example
 * ```ts
 * const opts = hubOptionsFromEnv(readEnv(), { token: flags.token });
 * ```
 */
export function hubOptionsFromEnv(
  env: Record<string, string | undefined> = readEnv(),
  overrides: Partial<HubOptions> = {},
): HubOptions {
  const base: HubOptions = {
    endpoint: (env.HF_ENDPOINT || DEFAULT_ENDPOINT).replace(/\/+$/, ""),
    token: env.HF_TOKEN || env.HUGGING_FACE_HUB_TOKEN || undefined,
    cacheDir: hubCacheDir(env),
    offline: truthy(env.HF_HUB_OFFLINE) || truthy(env.TRANSFORMERS_OFFLINE),
  };
  for (const [k, v] of Object.entries(overrides)) {
    if (v !== undefined) (base as Record<string, unknown>)[k] = v;
  }
  return base;
}

/** Options with every field decided: explicit values first, then the process environment. */
export interface ResolvedHubOptions {
  endpoint: string;
  token?: string;
  cacheDir: string;
  offline: boolean;
  log: (line: string) => void;
  fetch: typeof fetch;
  progress: boolean;
}

/** Fills the fields `opts` leaves out from the environment, and wraps fetch with retries. */
export function resolveHubOptions(opts: HubOptions = {}): ResolvedHubOptions {
  const env = hubOptionsFromEnv(safeEnv(), {});
  const token = opts.token ?? env.token;
  const rawLog = opts.log ?? (() => {});
  const log = (line: string) => rawLog(redact(line, token));
  return {
    endpoint: (opts.endpoint ?? env.endpoint!).replace(/\/+$/, ""),
    token,
    cacheDir: expandHome(opts.cacheDir ?? env.cacheDir!),
    offline: opts.offline ?? env.offline ?? false,
    log,
    fetch: retryingFetch(opts.fetch ?? fetch, log),
    progress: opts.progress ?? safeIsTerminal(),
  };
}

function safeEnv(): Record<string, string | undefined> {
  return readEnv();
}

function safeIsTerminal(): boolean {
  try {
    return Deno.stderr.isTerminal();
  } catch {
    return false;
  }
}

/** Replaces every occurrence of `token` in `text` (and any `hf_…` token-looking word) with `***`. */
export function redact(text: string, token?: string): string {
  let out = token ? text.split(token).join("***") : text;
  out = out.replace(/\bhf_[A-Za-z0-9]{6,}\b/g, "hf_***");
  return out;
}

const RETRY_STATUS = new Set([429, 500, 502, 503, 504]);
const RETRY_METHODS = new Set(["GET", "HEAD", "PUT"]);

/** Milliseconds to wait before retry `attempt` (1-based): 100, 300, 900. */
export function retryDelayMs(attempt: number): number {
  return 100 * 3 ** (attempt - 1);
}

/**
 * Wraps `base` so idempotent requests (GET, HEAD, PUT) are retried on 429/5xx answers and network errors, up to
 * 4 attempts, and remembers the Hub's `X-Error-Code` of failed answers for `hubError`.
 */
export function retryingFetch(base: typeof fetch, log: (line: string) => void, attempts = 4): typeof fetch {
  const wrapped = async (input: RequestInfo | URL, init?: RequestInit): Promise<Response> => {
    const method = (init?.method ?? (input instanceof Request ? input.method : "GET")).toUpperCase();
    const url = input instanceof Request ? input.url : String(input);
    const retryable = RETRY_METHODS.has(method);
    for (let attempt = 1;; attempt++) {
      let res: Response;
      try {
        res = await base(input, init);
      } catch (e) {
        if (!retryable || attempt >= attempts || (e instanceof DOMException && e.name === "AbortError")) throw e;
        log(`network error on ${method} ${stripQuery(url)} (${errMessage(e)}); retry ${attempt}/${attempts - 1}`);
        await sleep(retryDelayMs(attempt));
        continue;
      }
      if (retryable && RETRY_STATUS.has(res.status) && attempt < attempts) {
        await res.body?.cancel();
        log(`HTTP ${res.status} on ${method} ${stripQuery(url)}; retry ${attempt}/${attempts - 1}`);
        await sleep(retryDelayMs(attempt));
        continue;
      }
      if (!res.ok) {
        const code = res.headers.get("X-Error-Code");
        if (code) errorCodes.set(stripQuery(res.url || url), code);
      }
      return res;
    }
  };
  return wrapped as typeof fetch;
}

/** X-Error-Code of the last failed answer per URL (the library's HubApiError does not keep headers). */
const errorCodes = new Map<string, string>();

function stripQuery(url: string): string {
  const i = url.indexOf("?");
  return i < 0 ? url : url.slice(0, i);
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

function errMessage(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}

/** What the failing call was about, for the error message. */
export interface HubErrorContext {
  /** e.g. `download model org/name`. */
  action: string;
  repoId: string;
  repoType: "model" | "dataset";
  revision?: string;
  path?: string;
  /** True for uploads (the token needs write access). */
  write?: boolean;
}

/** True for a network-level failure (no answer from the Hub). */
export function isNetworkError(e: unknown): boolean {
  return e instanceof TypeError && !/access token/.test(e.message) ||
    (e instanceof Error && /(connection|network|ECONNREFUSED|error sending request|dns)/i.test(e.message) &&
      !(e instanceof HubApiError));
}

/** Translates a failure of a Hub call into a MaxentError that says what to do; the token never appears in it. */
export function hubError(e: unknown, ctx: HubErrorContext, opts: ResolvedHubOptions): MaxentError {
  if (e instanceof MaxentError) return e;
  const what = `${ctx.action} (${ctx.repoType} ${ctx.repoId}${ctx.revision ? `, revision ${ctx.revision}` : ""})`;
  const tokenHint = ctx.write
    ? "set HF_TOKEN (or pass --token) to a token with write access to this namespace"
    : "if the repo is private or gated, set HF_TOKEN (or pass --token) to a token with read access";
  let msg: string;
  if (e instanceof TypeError && /access token must start with/.test(e.message)) {
    msg = `${what}: the access token from HF_TOKEN/--token is not a Hugging Face token (it must start with "hf_")`;
  } else if (e instanceof HubApiError) {
    const code = errorCodes.get(stripQuery(e.url)) ?? "";
    const server = e.message.replace(/\.\s*URL: .*$/s, "");
    if (e.statusCode === 401 || e.statusCode === 403) {
      msg = `${what}: the Hub at ${opts.endpoint} answered ${e.statusCode} (${server}); ` +
        (opts.token
          ? "the token in HF_TOKEN/--token was refused: check that it is valid and has access"
          : ctx.write
          ? "uploading needs a token: set HF_TOKEN (or pass --token) to a token with write access"
          : "the repo may be private or gated: set HF_TOKEN (or pass --token) to a token with read access");
    } else if (e.statusCode === 404 && code === "RevisionNotFound") {
      msg = `${what}: revision "${ctx.revision}" does not exist in ${ctx.repoType} repo ${ctx.repoId} ` +
        `(check the branch, tag or commit name)`;
    } else if (e.statusCode === 404 && code === "EntryNotFound") {
      msg = `${what}: file "${ctx.path ?? "?"}" does not exist in ${ctx.repoType} repo ${ctx.repoId}` +
        `${ctx.revision ? ` at revision ${ctx.revision}` : ""}`;
    } else if (e.statusCode === 404) {
      msg = `${what}: ${ctx.repoType} repo "${ctx.repoId}" was not found at ${opts.endpoint} ` +
        `(check the id${ctx.repoType === "model" ? ", or pass --repo-type dataset for a dataset" : ""}; ${tokenHint})`;
    } else {
      msg = `${what}: the Hub at ${opts.endpoint} answered HTTP ${e.statusCode}: ${server} ` +
        `(retried where safe; try again later)`;
    }
  } else if (isNetworkError(e)) {
    msg = `${what}: cannot reach the Hub at ${opts.endpoint}: ${errMessage(e)} ` +
      `(check the network and HF_ENDPOINT, or set HF_HUB_OFFLINE=1 to use only the local cache)`;
  } else {
    msg = `${what}: ${errMessage(e)}`;
  }
  return new MaxentError(redact(msg, opts.token), { cause: e });
}
