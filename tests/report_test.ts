import { assert, assertEquals, assertMatch } from "./assert.ts";
import { join } from "node:path";
import { niceTicks } from "../src/report/svg.ts";
import { readMetrics, renderTrainingReport } from "../src/report/training.ts";
import { runCli } from "./cli_helpers.ts";

Deno.test("nice ticks cover the range with 1-2-5 steps", () => {
  assertEquals(niceTicks(0, 1), [0, 0.2, 0.4, 0.6, 0.8, 1]);
  assertEquals(niceTicks(-3, 7), [-2, 0, 2, 4, 6]);
});

Deno.test("the report has one SVG per available metric group and the final numbers", () => {
  const rows = [1, 2, 3].map((step) => ({ step, reward: step / 10, kl: 0.01 * step, "maxent/ess": 3 + step }));
  const html = renderTrainingReport(rows, { algorithm: "maxent-grpo", model: "<tiny>" });
  assertEquals(html.match(/<svg /g)?.length, 3); // reward, kl, ess — no entropy/length data
  assertMatch(html, /&lt;tiny&gt;/); // escaped
  assert(html.includes("<td>maxent/ess</td><td>6</td>"));
  assert(!html.includes("<script"), "self-contained, no scripts");
});

Deno.test("maxent report writes report.html from metrics.jsonl; a bad line names file and line", async () => {
  const dir = await Deno.makeTempDir();
  try {
    await Deno.writeTextFile(join(dir, "metrics.jsonl"), '{"step":1,"reward":0.5}\n{"step":2,"reward":0.75}\n');
    const r = await runCli(["report", dir]);
    assertEquals(r.code, 0, r.err);
    const html = await Deno.readTextFile(join(dir, "report.html"));
    assert(html.includes("<svg"));
    assertEquals((await readMetrics(join(dir, "metrics.jsonl"))).length, 2);
    await Deno.writeTextFile(join(dir, "metrics.jsonl"), '{"step":1}\nnot json\n');
    const bad = await runCli(["report", dir]);
    assertEquals(bad.code, 1);
    assert(bad.err.includes("metrics.jsonl:2"), bad.err);
    const missing = await runCli(["report", join(dir, "nope")]);
    assertEquals(missing.code, 1);
    assert(missing.err.includes("metrics.jsonl"), missing.err);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
