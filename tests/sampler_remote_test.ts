import { assert, assertEquals, assertRejects } from "./assert.ts";
import { remoteEndpoint, sampleRemote } from "../src/sampler/remote.ts";
import type { GenerationParams } from "../src/sampler/types.ts";
import { MaxentError } from "../src/errors.ts";

const params: GenerationParams = {
  temperature: 0.8,
  topP: 0.9,
  topK: 0,
  minP: 0,
  repetitionPenalty: 1,
  maxTokens: 4,
  seed: 7,
};

/** A loopback server whose handler the test chooses; counts requests. */
function serve(handler: (req: Request, n: number) => Response | Promise<Response>) {
  let n = 0;
  const bodies: unknown[] = [];
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, async (req) => {
    bodies.push(await req.clone().json().catch(() => null));
    return handler(req, ++n);
  });
  const url = `http://127.0.0.1:${server.addr.port}`;
  return { url, server, bodies, count: () => n };
}

/** An OpenAI-style answer: completion j of prompt p is "p<p>c<j>" with token ids [p, j, 99]. */
async function openAIAnswer(req: Request): Promise<Response> {
  const body = await req.json();
  const choices = [];
  for (let p = 0; p < body.prompt.length; p++) {
    for (let j = 0; j < body.n; j++) {
      choices.push({
        index: p * body.n + j,
        text: `p${p}c${j}`,
        finish_reason: j === 0 ? "length" : "stop",
        logprobs: { tokens: [`token_id:${p}`, `token_id:${j}`, "token_id:99"], token_logprobs: [-0.5, -1, -2] },
      });
    }
  }
  return Response.json({ choices });
}

Deno.test("remoteEndpoint picks the protocol from the URL", () => {
  assertEquals(remoteEndpoint("http://localhost:8000"), {
    protocol: "openai",
    endpoint: "http://localhost:8000/v1/completions",
  });
  assertEquals(remoteEndpoint("http://h:1/v1").endpoint, "http://h:1/v1/completions");
  assertEquals(remoteEndpoint("http://localhost:8000/generate"), {
    protocol: "trl",
    endpoint: "http://localhost:8000/generate/",
  });
});

Deno.test("OpenAI protocol: groups of k per prompt with ids, log-probs and finish reasons", async () => {
  const s = serve((req) => openAIAnswer(req));
  try {
    const groups = await sampleRemote(["a", "b"], 3, params, { url: s.url });
    assertEquals(groups.length, 2);
    assertEquals(groups[1].map((c) => c.text), ["p1c0", "p1c1", "p1c2"]);
    assertEquals(groups[1][2].ids, [1, 2, 99]);
    assertEquals(groups[0][1].logprobs, [-0.5, -1, -2]);
    assertEquals(groups[0].map((c) => c.finishReason), ["length", "stop", "stop"]);
    const sent = s.bodies[0] as Record<string, unknown>;
    assertEquals([sent.n, sent.temperature, sent.top_p, sent.max_tokens, sent.seed], [3, 0.8, 0.9, 4, 7]);
  } finally {
    await s.server.shutdown();
  }
});

Deno.test("TRL /generate protocol: completion_ids decoded with the given decoder", async () => {
  const s = serve(async (req) => {
    const body = await req.json();
    const ids = body.prompts.flatMap((_: string, p: number) =>
      Array.from({ length: body.n }, (_, j) => [p, j, 2, 2].slice(0, body.max_tokens - j))
    );
    return Response.json({ completion_ids: ids });
  });
  try {
    const groups = await sampleRemote(["x"], 2, params, { url: `${s.url}/generate`, decode: (ids) => ids.join(".") });
    assertEquals(groups[0].map((c) => c.text), ["0.0.2.2", "0.1.2"]);
    assertEquals(groups[0].map((c) => c.finishReason), ["length", "stop"]);
  } finally {
    await s.server.shutdown();
  }
});

Deno.test("a 500 answer is retried and then succeeds", async () => {
  const s = serve((req, n) => (n === 1 ? new Response("busy", { status: 500 }) : openAIAnswer(req)));
  const logs: string[] = [];
  try {
    const groups = await sampleRemote(["a"], 1, params, { url: s.url, backoffMs: 10, log: (l) => logs.push(l) });
    assertEquals(groups[0][0].text, "p0c0");
    assertEquals(s.count(), 2);
    assert(logs.some((l) => l.includes("HTTP 500")), logs.join("\n"));
  } finally {
    await s.server.shutdown();
  }
});

Deno.test("a server that never answers times out after the bounded attempts", async () => {
  const s = serve(() => new Promise((r) => setTimeout(() => r(new Response("late")), 2000)));
  try {
    await assertRejects(
      () => sampleRemote(["a"], 1, params, { url: s.url, timeoutMs: 100, attempts: 2, backoffMs: 10 }),
      MaxentError,
      "no answer within 0.1 s",
      "after 2 attempts",
    );
  } finally {
    await s.server.shutdown();
  }
});

Deno.test("a refused connection says to start the server or fix vllm_url", async () => {
  const s = serve(() => new Response("x"));
  const url = s.url;
  await s.server.shutdown();
  await assertRejects(
    () => sampleRemote(["a"], 1, params, { url, attempts: 2, backoffMs: 10 }),
    MaxentError,
    "vllm_url",
  );
});

Deno.test("malformed answers are clear errors", async () => {
  const answers = [
    [new Response("{not json", { status: 200 }), "malformed JSON"],
    [Response.json({ nothing: 1 }), "no `choices` array"],
    [Response.json({ choices: [{ text: "only one" }] }), "expected 2 choices"],
  ] as const;
  for (const [answer, message] of answers) {
    const s = serve(() => answer.clone());
    try {
      await assertRejects(() => sampleRemote(["a"], 2, params, { url: s.url, attempts: 1 }), MaxentError, message);
    } finally {
      await s.server.shutdown();
    }
  }
});
