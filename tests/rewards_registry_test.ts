/**
 * The reward registry: name/weight resolution and its errors, TRL `nansum` weighting with null values, the
 * throwing / non-finite policy, and module rewards imported from a temporary .ts file.
 */
import { MaxentError } from "../src/errors.ts";
import { resolveRewards, type RewardInput, RewardSampleError } from "../src/rewards/mod.ts";
import { assert, assertClose, assertEquals, assertMatch, assertRejects } from "./assert.ts";

const GOOD = "<think>\nx\n</think>\n<answer>\n4\n</answer>";

function batchOf(...completions: string[]): RewardInput[] {
  return completions.map((completion) => ({ completion, prompt: "p", row: { answer: "4" } }));
}

Deno.test("registry: weights default to 1; weighted total", async () => {
  const set = await resolveRewards({ names: ["accuracy", "format", "tag_count"] });
  assertEquals(set.weights, [1, 1, 1]);
  const batch = batchOf(GOOD, "\\boxed{4}", "\\boxed{5}");
  const s = await set.score(batch);
  assertEquals(s.names, ["accuracy", "format", "tag_count"]);
  assertEquals(s.perFunction, [[1, 1, 0], [1, 0, 0], [1, 0, 0]]);
  assertEquals(s.total, [3, 1, 0]);
  const weighted = await resolveRewards({ names: ["accuracy", "format", "tag_count"], weights: [2, 0.5, -1] });
  // GOOD: 2·1 + 0.5·1 − 1·1 = 1.5; boxed 4: 2·1 = 2; boxed 5: 0
  assertClose((await weighted.score(batch)).total, [1.5, 2, 0]);
});

Deno.test("registry: null values are skipped in the weighted sum (TRL nansum); all-null rows flagged", async () => {
  const warnings: string[] = [];
  const set = await resolveRewards({
    names: ["accuracy", "format"],
    weights: [3, 0.5],
    onWarning: (m) => warnings.push(m),
  });
  const batch: RewardInput[] = [
    { completion: GOOD, prompt: "p", row: { answer: "4" } }, // 3·1 + 0.5·1 = 3.5
    { completion: GOOD, prompt: "p", row: {} }, // no gold: accuracy null, skipped → 0.5·1 = 0.5
    { completion: "\\boxed{4}", prompt: "p", row: {} }, // accuracy null, format 0 → 0
  ];
  const s = await set.score(batch);
  assertEquals(s.perFunction[0], [1, null, null]);
  assertEquals(s.total, [3.5, 0.5, 0]);
  assertEquals(s.unscorable, [false, false, false]);
  assertEquals(warnings.length, 0);

  const only = await resolveRewards({ names: ["accuracy"], weights: [2], onWarning: (m) => warnings.push(m) });
  const t = await only.score(batch);
  assertEquals(t.total, [2, 0, 0]);
  assertEquals(t.unscorable, [false, true, true]);
  assertEquals(warnings.length, 1);
  assertMatch(warnings[0], /sample\(s\) 1, 2/);
});

Deno.test("registry: configuration errors name the recipe keys", async () => {
  await assertRejects(
    () => resolveRewards({ names: ["accuracy", "format"], weights: [1] }),
    MaxentError,
    "reward_weights",
    "reward_funcs",
    "1",
    "2",
  );
  await assertRejects(() => resolveRewards({ names: [] }), MaxentError, "reward_funcs is empty");
  await assertRejects(() => resolveRewards({ names: ["acuracy"] }), MaxentError, '"acuracy"', "accuracy", "reward_url");
  await assertRejects(() => resolveRewards({ names: ["reward_url"] }), MaxentError, "no reward_url");
  await assertRejects(() => resolveRewards({ names: ["format"], weights: [NaN] }), MaxentError, "reward_weights[0]");
  await assertRejects(() => resolveRewards({ names: ["format"], rewardUrl: "ftp://x" }), MaxentError, "http(s)");
  await assertRejects(
    () => resolveRewards({ names: ["format"], weights: [1], rewardUrl: "http://127.0.0.1:9/score" }),
    MaxentError,
    "reward_url counts as one more",
  );
  await assertRejects(
    () => resolveRewards({ names: ["soft_overlong_punishment"], softPunishCache: 0 }),
    MaxentError,
    "soft_punish_cache",
  );
  const set = await resolveRewards({ names: ["format"], rewardUrl: "http://127.0.0.1:9/score" });
  assertEquals(set.names, ["format", "reward_url"]);
  assertEquals(set.weights, [1, 1]);
});

Deno.test("registry: soft_overlong_punishment uses max_completion_length and soft_punish_cache", async () => {
  const set = await resolveRewards({
    names: ["soft_overlong_punishment"],
    maxCompletionLength: 10,
    softPunishCache: 4,
  });
  const batch = [5, 6, 8, 11].map((n) => ({ completion: "", prompt: "", row: {}, completionTokens: n }));
  // L_max − L_cache = 6: 5 → 0, 6 → 0, 8 → (6 − 8)/4 = −0.5, 11 → −1
  assertClose((await set.score(batch)).total, [0, 0, -0.5, -1]);
});

async function withModule(source: string, fn: (dir: string) => Promise<void>): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "maxent_rewards_" });
  try {
    await Deno.writeTextFile(`${dir}/my_reward.ts`, source);
    await fn(dir);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

const MODULE = `
import type { RewardInput } from "${new URL("../src/rewards/mod.ts", import.meta.url).href}";
export default (batch: RewardInput[]) => batch.map((s) => s.completion.length);
export async function exclaims(batch: RewardInput[]) { return batch.map((s) => s.completion.endsWith("!") ? 1 : null); }
export function broken(batch: RewardInput[]) { return batch.map((s, i) => i === 1 ? NaN : 1); }
export function throws(batch: RewardInput[]) { if (batch.length > 0) throw new Error("kaboom"); return []; }
export function wrongLength() { return [1]; }
export const notAFunction = 3;
`;

Deno.test("registry: module rewards from a temporary .ts file (default and named exports)", async () => {
  await withModule(MODULE, async (dir) => {
    const set = await resolveRewards({
      names: ["./my_reward.ts", "module:./my_reward.ts#exclaims", "format"],
      weights: [1, 10, 100],
      baseDir: dir,
    });
    const s = await set.score([
      { completion: "hi!", prompt: "", row: {} }, // 3 + 10·1 + 0
      { completion: "hello", prompt: "", row: {} }, // 5 + null + 0
    ]);
    assertEquals(s.perFunction, [[3, 5], [1, null], [0, 0]]);
    assertEquals(s.total, [13, 5]);
    await assertRejects(
      () => resolveRewards({ names: ["module:./my_reward.ts#nope"], baseDir: dir }),
      MaxentError,
      '"nope"',
      "exclaims",
    );
    await assertRejects(
      () => resolveRewards({ names: ["module:./my_reward.ts#notAFunction"], baseDir: dir }),
      MaxentError,
      "no function export",
    );
    await assertRejects(
      () => resolveRewards({ names: ["./missing.ts"], baseDir: dir }),
      MaxentError,
      "cannot import",
      "reward_url",
    );
  });
});

Deno.test("registry: non-finite / throwing rewards → error naming function and sample, or skip with a warning", async () => {
  await withModule(MODULE, async (dir) => {
    const batch = batchOf("a", "b", "c");
    const strict = await resolveRewards({ names: ["format", "module:./my_reward.ts#broken"], baseDir: dir });
    const e = await assertRejects(
      () => strict.score(batch),
      MaxentError,
      "module:./my_reward.ts#broken",
      "sample 1",
      "NaN",
    );
    assert(!e.message.includes("sample 0"));

    const warnings: string[] = [];
    const lenient = await resolveRewards({
      names: ["format", "module:./my_reward.ts#broken"],
      weights: [1, 2],
      baseDir: dir,
      nonFinite: "skip",
      onWarning: (m) => warnings.push(m),
    });
    const s = await lenient.score(batch);
    assertEquals(s.perFunction[1], [1, null, 1]);
    assertEquals(s.total, [2, 0, 2]);
    assertMatch(warnings.join("\n"), /broken.*sample 1/);

    const throwing = await resolveRewards({ names: ["module:./my_reward.ts#throws"], baseDir: dir });
    await assertRejects(() => throwing.score(batch), MaxentError, "#throws", "kaboom", "batch of 3");
    const throwingSkip = await resolveRewards({
      names: ["module:./my_reward.ts#throws"],
      baseDir: dir,
      nonFinite: "skip",
      onWarning: (m) => warnings.push(m),
    });
    const t = await throwingSkip.score(batch);
    assertEquals(t.perFunction, [[null, null, null]]);
    assertEquals(t.unscorable, [true, true, true]);

    const wrong = await resolveRewards({
      names: ["module:./my_reward.ts#wrongLength"],
      baseDir: dir,
      nonFinite: "skip",
    });
    await assertRejects(() => wrong.score(batch), MaxentError, "1 values for 3 samples");
  });
});

Deno.test("registry: a built-in failing on one sample reports its index; skip keeps the other samples", async () => {
  const batch: RewardInput[] = [
    { completion: "", prompt: "", row: {}, completionTokens: 300 },
    { completion: "", prompt: "", row: {} }, // no token count
    { completion: "", prompt: "", row: {}, completionTokens: 1 },
  ];
  const strict = await resolveRewards({ names: ["soft_overlong_punishment"], maxCompletionLength: 100 });
  await assertRejects(
    () => strict.score(batch),
    MaxentError,
    "soft_overlong_punishment",
    "sample 1",
    "completionTokens",
  );
  const warnings: string[] = [];
  const skip = await resolveRewards({
    names: ["soft_overlong_punishment"],
    maxCompletionLength: 100,
    nonFinite: "skip",
    onWarning: (m) => warnings.push(m),
  });
  assertEquals((await skip.score(batch)).perFunction, [[-1, null, 0]]);
  assertMatch(warnings[0], /sample\(s\) 1/);
  assertEquals(new RewardSampleError(4, new Error("x")).index, 4);
});
