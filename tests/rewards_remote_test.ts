/**
 * `reward_url` against real HTTP servers started by the test on 127.0.0.1 (Deno.serve): the request body, success,
 * 500-then-success retries, timeouts, refused connections, malformed JSON, wrong lengths and non-200 answers.
 */
import { MaxentError } from "../src/errors.ts";
import { remoteReward, resolveRewards, type RewardInput } from "../src/rewards/mod.ts";
import { assert, assertEquals, assertRejects } from "./assert.ts";

type Handler = (req: Request, call: number) => Response | Promise<Response>;

/** Serves `handler` on an ephemeral 127.0.0.1 port for the duration of `fn`. */
async function withServer(handler: Handler, fn: (url: string) => Promise<void>): Promise<void> {
  let calls = 0;
  const ac = new AbortController();
  const server = Deno.serve(
    { hostname: "127.0.0.1", port: 0, signal: ac.signal, onListen: () => {} },
    (req) => handler(req, ++calls),
  );
  try {
    await fn(`http://127.0.0.1:${server.addr.port}/score`);
  } finally {
    ac.abort();
    await server.finished;
  }
}

const CTX = { solutionColumn: "answer", maxCompletionLength: 256 };
const BATCH: RewardInput[] = [
  { completion: "a", prompt: "p1", row: { answer: "1" } },
  { completion: "bb", prompt: "p2", row: { answer: "2", extra: [1, 2] } },
];
const FAST = { timeoutMs: 2000, backoffMs: 10 };

Deno.test("reward_url: posts completions/prompts/rows and returns the rewards", async () => {
  let seen: unknown;
  await withServer(async (req) => {
    seen = { method: req.method, type: req.headers.get("content-type"), body: await req.json() };
    return Response.json({ rewards: [0.5, null] });
  }, async (url) => {
    assertEquals(await remoteReward(url, FAST)(BATCH, CTX), [0.5, null]);
    const set = await resolveRewards({ names: ["format"], weights: [1, 2], rewardUrl: url });
    const s = await set.score(BATCH);
    assertEquals(s.perFunction[1], [0.5, null]);
    assertEquals(s.total, [1, 0]);
  });
  assertEquals(seen, {
    method: "POST",
    type: "application/json",
    body: { completions: ["a", "bb"], prompts: ["p1", "p2"], rows: [{ answer: "1" }, { answer: "2", extra: [1, 2] }] },
  });
});

Deno.test("reward_url: 500 then success is retried with backoff", async () => {
  const times: number[] = [];
  await withServer((_req, call) => {
    times.push(performance.now());
    return call < 3 ? new Response("overloaded", { status: 500 }) : Response.json({ rewards: [1, 2] });
  }, async (url) => {
    assertEquals(await remoteReward(url, { ...FAST, backoffMs: 40 })(BATCH, CTX), [1, 2]);
  });
  assertEquals(times.length, 3);
  // backoff 40 ms then 80 ms (exponential)
  assert(times[1] - times[0] >= 35 && times[2] - times[1] >= 75, `gaps ${times[1] - times[0]}, ${times[2] - times[1]}`);
});

Deno.test("reward_url: persistent 503 gives up after 3 tries; 4xx is not retried", async () => {
  let calls = 0;
  await withServer((_req, call) => {
    calls = call;
    return new Response("down", { status: 503 });
  }, async (url) => {
    await assertRejects(() => remoteReward(url, FAST)(BATCH, CTX), MaxentError, "HTTP 503", "down", "after 3 attempts");
  });
  assertEquals(calls, 3);
  await withServer((_req, call) => {
    calls = call;
    return new Response("no such route", { status: 404 });
  }, async (url) => {
    await assertRejects(() => remoteReward(url, FAST)(BATCH, CTX), MaxentError, "HTTP 404", "no such route");
  });
  assertEquals(calls, 1);
});

Deno.test("reward_url: timeout", async () => {
  let calls = 0;
  await withServer(async (_req, call) => {
    calls = call;
    await new Promise((r) => setTimeout(r, 300));
    return Response.json({ rewards: [1, 1] });
  }, async (url) => {
    const t0 = performance.now();
    await assertRejects(
      () => remoteReward(url, { timeoutMs: 50, tries: 2, backoffMs: 10 })(BATCH, CTX),
      MaxentError,
      "timeout",
      "50 ms",
    );
    assert(performance.now() - t0 < 1000);
  });
  assertEquals(calls, 2);
});

Deno.test("reward_url: refused connection", async () => {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (listener.addr as Deno.NetAddr).port;
  listener.close(); // nothing listens on this port any more
  await assertRejects(
    () => remoteReward(`http://127.0.0.1:${port}/score`, FAST)(BATCH, CTX),
    MaxentError,
    "connection refused",
    `127.0.0.1:${port}`,
  );
});

Deno.test("reward_url: malformed JSON, missing field, wrong length, wrong types", async () => {
  const answers = [
    "{not json",
    JSON.stringify({ scores: [1, 2] }),
    JSON.stringify({ rewards: [1] }),
    JSON.stringify({ rewards: [1, "2"] }),
  ];
  await withServer((_req, call) => new Response(answers[call - 1], { status: 200 }), async (url) => {
    const reward = remoteReward(url, FAST);
    await assertRejects(() => reward(BATCH, CTX), MaxentError, "malformed JSON", "{not json");
    await assertRejects(() => reward(BATCH, CTX), MaxentError, 'no "rewards" array');
    await assertRejects(() => reward(BATCH, CTX), MaxentError, "got 1 rewards for 2 completions");
    await assertRejects(() => reward(BATCH, CTX), MaxentError, "rewards[1]");
  });
});

Deno.test("reward_url: a non-finite value (1e999) goes through the registry policy", async () => {
  await withServer(() => new Response('{"rewards": [1, 1e999]}'), async (url) => {
    const set = await resolveRewards({ names: [], rewardUrl: url });
    await assertRejects(() => set.score(BATCH), MaxentError, '"reward_url"', "sample 1", "Infinity");
  });
});
