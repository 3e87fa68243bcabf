/**
 * An OpenAI-compatible completions server over the local sampler (`maxent serve`): `POST /v1/completions` with
 * `prompt` (a string or a list), `n`, `temperature`, `top_p`, `top_k`, `min_p`, `repetition_penalty`, `max_tokens`,
 * `seed`, `stop`, `logprobs` and vLLM's `return_tokens_as_token_ids`; `GET /v1/models`; with `acceptWeights`, the
 * weight-sync endpoint of src/sampler/weight_sync.ts, so a training run keeps the served model equal to its policy.
 * It lets a training run on another machine (or the remote sampler's tests) sample from a maxent model as from vLLM.
 */
import { z } from "zod";
import { sampleLocal, type SamplerModel } from "./local.ts";
import type { Tokenizer } from "../tokenizer/mod.ts";
import type { HostTensor } from "../model/safetensors.ts";
import { weightRoute } from "./weight_sync.ts";

const CompletionRequest = z.object({
  model: z.string().optional(),
  prompt: z.union([z.string(), z.array(z.string()).min(1)]),
  n: z.number().int().positive().max(256).default(1),
  temperature: z.number().min(0).default(1),
  top_p: z.number().gt(0).max(1).default(1),
  top_k: z.number().int().default(-1),
  min_p: z.number().min(0).max(1).default(0),
  repetition_penalty: z.number().positive().default(1),
  max_tokens: z.number().int().positive().default(16),
  seed: z.number().int().min(0).optional(),
  stop: z.union([z.string(), z.array(z.string())]).optional(),
  logprobs: z.number().int().min(0).nullable().optional(),
  return_tokens_as_token_ids: z.boolean().optional(),
});

/** A running server: its base URL and how to stop it. */
export interface RunningServer {
  url: string;
  shutdown(): Promise<void>;
}

/** Starts the server on `hostname:port` (port 0 = any free port). Requests are served one at a time. */
export function serveCompletions(
  model: SamplerModel,
  tokenizer: Tokenizer,
  opts: {
    hostname?: string;
    port?: number;
    modelName?: string;
    log?: (line: string) => void;
    /** Replaces a weight (Hugging Face name and layout); enables `PUT /maxent/weights/<name>`. */
    acceptWeights?: (name: string, t: HostTensor) => void;
  },
): RunningServer {
  const modelName = opts.modelName ?? "maxent";
  let queue = Promise.resolve();
  const server = Deno.serve({ hostname: opts.hostname ?? "127.0.0.1", port: opts.port ?? 0, onListen() {} }, (req) => {
    const url = new URL(req.url);
    if (req.method === "GET" && url.pathname === "/v1/models") {
      return Response.json({ object: "list", data: [{ id: modelName, object: "model", owned_by: "maxent" }] });
    }
    if (url.pathname.startsWith("/maxent/")) {
      // weight updates wait for the running generation and are applied between requests
      const answer = queue.then(async () =>
        await weightRoute(req, opts.acceptWeights) ??
          Response.json({ error: { message: `no route ${req.method} ${url.pathname}` } }, { status: 404 })
      );
      queue = answer.then(() => {}, () => {});
      return answer;
    }
    if (req.method !== "POST" || url.pathname !== "/v1/completions") {
      return Response.json({ error: { message: `no route ${req.method} ${url.pathname}` } }, { status: 404 });
    }
    // one generation at a time: the model and its backend are not re-entrant
    const answer = queue.then(() => complete(req));
    queue = answer.then(() => {}, () => {});
    return answer;
  });

  async function complete(req: Request): Promise<Response> {
    let body: z.infer<typeof CompletionRequest>;
    try {
      body = CompletionRequest.parse(await req.json());
    } catch (e) {
      const message = e instanceof z.ZodError
        ? e.issues.map((i) => `${i.path.join(".")}: ${i.message}`).join("; ")
        : "body is not JSON";
      return Response.json({ error: { message, type: "invalid_request_error" } }, { status: 400 });
    }
    const prompts = typeof body.prompt === "string" ? [body.prompt] : body.prompt;
    const started = Date.now();
    const groups = await sampleLocal(model, tokenizer, {
      promptIds: prompts.map((p) => tokenizer.encode(p)),
      k: body.n,
      params: {
        temperature: body.temperature,
        topP: body.top_p,
        topK: body.top_k > 0 ? body.top_k : 0,
        minP: body.min_p,
        repetitionPenalty: body.repetition_penalty,
        maxTokens: body.max_tokens,
        seed: body.seed ?? Math.floor(Math.random() * 2 ** 31),
        stop: body.stop === undefined ? undefined : [body.stop].flat(),
      },
    });
    const choices = groups.flat().map((c) => ({
      index: c.promptIndex * body.n + c.candidate,
      text: c.text,
      finish_reason: c.finishReason,
      logprobs: body.logprobs === undefined || body.logprobs === null ? null : {
        tokens: c.ids!.map((id) => body.return_tokens_as_token_ids ? `token_id:${id}` : tokenizer.decode([id])),
        token_logprobs: c.logprobs,
      },
    }));
    const completionTokens = groups.flat().reduce((n, c) => n + c.ids!.length, 0);
    opts.log?.(
      `served ${prompts.length}×${body.n} completions (${completionTokens} tokens) in ${Date.now() - started} ms`,
    );
    return Response.json({
      id: `cmpl-${crypto.randomUUID()}`,
      object: "text_completion",
      created: Math.floor(Date.now() / 1000),
      model: body.model ?? modelName,
      choices,
      usage: { completion_tokens: completionTokens },
    });
  }

  return {
    url: `http://${server.addr.hostname}:${server.addr.port}`,
    shutdown: () => server.shutdown(),
  };
}
