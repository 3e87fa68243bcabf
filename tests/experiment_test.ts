import { join } from "node:path";
import { assert, assertClose, assertEquals, assertMatch, assertThrows } from "./assert.ts";
import { initTinyModel, runCli } from "./cli_helpers.ts";
import { UsageError } from "../src/errors.ts";
import {
  armDirName,
  armOverrides,
  experimentHtml,
  markdownTable,
  metricMatrix,
  movingAverage,
  parseArm,
  parseArms,
  parseSweep,
  type RunResult,
  shortLabel,
  summarizeArms,
  warmStartRows,
} from "../src/experiment/mod.ts";
import { pairedBootstrap, type PromptMetrics } from "../src/eval/metrics.ts";
import { generateCountdown, writeTaskSplits } from "../src/tasks/mod.ts";
import type { TaskRow } from "../src/tasks/mod.ts";
import { parseRecipe } from "../src/recipe/mod.ts";

// ── arm parsing ──────────────────────────────────────────────────────────────────────────────────────────────────

Deno.test("parseArms: names, tau mapping, continued keys, labels", () => {
  const arms = parseArms("grpo,dr_grpo,maxent-grpo:tau=0.2,xdr-grpo:tau=0.05,xdr_ref_tilt=0.1");
  assertEquals(arms.map((a) => a.label), [
    "grpo",
    "dr_grpo",
    "maxent-grpo:tau=0.2",
    "xdr-grpo:tau=0.05,xdr_ref_tilt=0.1",
  ]);
  assertEquals(arms[1].settings, { algorithm: "grpo", loss_type: "dr_grpo", scale_rewards: "none", beta: 0 });
  assertEquals(arms[0].settings.loss_type, "grpo");
  assertEquals(arms[0].settings.scale_rewards, "group");
  assertEquals(arms[2].settings, { algorithm: "maxent-grpo", maxent_tau: 0.2 });
  assertEquals(arms[3].settings, { algorithm: "xdr-grpo", xdr_tau: 0.05, xdr_ref_tilt: 0.1 });
  assertEquals(parseArm("xdr-grpo:tau=inf").settings.xdr_tau, Infinity);
  assertEquals(parseArm("dr-grpo").label, "dr_grpo");
  assertEquals(armDirName(arms[3]), "xdr-grpo_tau=0.05_xdr_ref_tilt=0.1");
  // the overrides are valid recipe settings, ∞ included
  const base = "model_name_or_path: m\ndataset_name: d\n";
  const r = parseRecipe(base, "x.yaml", { overrides: armOverrides(parseArm("xdr-grpo:tau=inf")), env: {} }).recipe;
  assertEquals(r.algorithm, "xdr-grpo");
  assertEquals(r.xdr_tau, Infinity);
  const d = parseRecipe(base, "x.yaml", { overrides: armOverrides(arms[1]), env: {} }).recipe;
  assertEquals([d.algorithm, d.loss_type, d.scale_rewards, d.beta], ["grpo", "dr_grpo", "none", 0]);
});

Deno.test("parseArms: bad specs are UsageErrors naming the arm", () => {
  const bad: Array<[string, RegExp]> = [
    ["sgd", /arm "sgd": unknown name "sgd"/],
    ["grpo:tau=0.1", /arm "grpo:tau=0.1": tau is the temperature of maxent-grpo or xdr-grpo/],
    ["xdr-grpo:num_generations=4", /arm "xdr-grpo:num_generations=4": key "num_generations" cannot differ/],
    ["xdr-grpo:tau", /arm "xdr-grpo:tau": "tau" is not key=value/],
    ["xdr-grpo:tau=0.1,tau=0.2", /key "tau" is given twice/],
    ["maxent-grpo:tau=-1", /arm "maxent-grpo:tau=-1": tau must be ≥ 0/],
    ["maxent-grpo:tau=inf", /arm "maxent-grpo:tau=inf": tau=inf is only meaningful/],
    ["dr_grpo,dr_grpo", /arm "dr_grpo" is listed twice/],
    ["tau=1,grpo", /comes before any arm name/],
    ["grpo,,dr_grpo", /empty item/],
  ];
  for (const [spec, re] of bad) {
    const e = assertThrows(() => parseArms(spec), UsageError);
    assertMatch(e.message, re);
  }
});

Deno.test("parseSweep: one arm per value, sorted; bad values rejected", () => {
  const s = parseSweep("xdr-grpo:tau=0.5,0.001,0.05");
  assertEquals(s.values, [0.001, 0.05, 0.5]);
  assertEquals(s.arms.map((a) => a.label), ["xdr-grpo:tau=0.001", "xdr-grpo:tau=0.05", "xdr-grpo:tau=0.5"]);
  assertMatch(assertThrows(() => parseSweep("xdr-grpo:tau=0.1,abc"), UsageError).message, /"abc" is not a number/);
  assertMatch(assertThrows(() => parseSweep("xdr-grpo"), UsageError).message, /write name:key=v1,v2/);
  assertMatch(assertThrows(() => parseSweep("grpo:tau=0.1,0.2"), UsageError).message, /arm "grpo:tau=0.1"/);
});

Deno.test("warmStartRows: up to n distinct modes per prompt, boxed", () => {
  const rows = [
    { prompt: "p1", modes: ["a", "b", "c"] },
    { prompt: "p2", modes: ["d"] },
  ] as unknown as TaskRow[];
  const out = warmStartRows(rows, 2, 3);
  assertEquals(out.length, 3);
  const p1 = out.filter((r) => r.prompt === "p1").map((r) => r.completion);
  assertEquals(new Set(p1).size, 2);
  assert(p1.every((c) => ["\\boxed{a}", "\\boxed{b}", "\\boxed{c}"].includes(c)));
  assertEquals(out.find((r) => r.prompt === "p2")!.completion, "\\boxed{d}");
  assertEquals(warmStartRows(rows, 2, 3), out, "deterministic");
});

// ── aggregation and bootstrap plumbing on a hand-made structure ──────────────────────────────────────────────────

function pm(passK: number, meanK: number, distinctK: number, numModes: number, pass1 = 0): PromptMetrics {
  return { pass1, passK, meanK, distinctK, coverageK: distinctK / numModes };
}

function run(seed: number, rows: PromptMetrics[][]): RunResult {
  return {
    seed,
    outputDir: `x/seed-${seed}`,
    steps: 2,
    trainSeconds: 1,
    evalSeconds: 1,
    rewardCurve: [[1, 0.1 * seed], [2, 0.2 * seed]],
    evalSeeds: rows.map((_, i) => 10_000 + i),
    rows,
  };
}

Deno.test("summarizeArms: means, reward curve, paired differences by seed and prompt", () => {
  // baseline: 2 training seeds × 1 eval seed × 2 prompts; arm: +1 distinct mode on prompt 0 of seed 0 only
  const base = [run(0, [[pm(1, 0.5, 1, 2), pm(0, 0, 0, 4)]]), run(1, [[pm(1, 1, 1, 2), pm(1, 0.25, 1, 4)]])];
  const arm = [run(1, [[pm(1, 1, 1, 2), pm(1, 0.25, 1, 4)]]), run(0, [[pm(1, 0.5, 2, 2), pm(0, 0, 0, 4)]])];
  const out = summarizeArms(
    [
      { label: "dr_grpo", algorithm: "grpo", settings: {}, runs: base },
      { label: "xdr-grpo:tau=0.05", algorithm: "xdr-grpo", settings: {}, runs: arm },
    ],
    "dr_grpo",
    { resamples: 500, seed: 1 },
  );
  assertEquals(out[0].diff, null);
  // means over the 4 (seed, prompt) cells
  assertClose(out[0].mean.meanK!, (0.5 + 0 + 1 + 0.25) / 4, 1e-12);
  assertClose(out[1].mean.distinctK!, (2 + 0 + 1 + 1) / 4, 1e-12);
  assertClose(out[1].mean.coverageK!, (1 + 0 + 0.5 + 0.25) / 4, 1e-12);
  // the matrix is ordered by the given seeds, whatever the run order
  assertEquals(metricMatrix(arm, "distinctK", [0, 1]), [[2, 0], [1, 1]]);
  // paired: only cell (seed 0, prompt 0) differs, by +1 distinct mode = +0.5 coverage
  const d = out[1].diff!;
  assertClose(d.distinctK!.meanDiff, 1 / 4, 1e-12);
  assertClose(d.coverageK!.meanDiff, 0.5 / 4, 1e-12);
  assertEquals(d.meanK!.meanDiff, 0);
  assertEquals([d.meanK!.low, d.meanK!.high], [0, 0]);
  // the same interval as pairedBootstrap on the hand-built matrices
  const ref = pairedBootstrap([[2, 0], [1, 1]], [[1, 0], [1, 1]], { resamples: 500, seed: 1 });
  assertEquals([d.distinctK!.low, d.distinctK!.high], [ref.low, ref.high]);
  assert(d.distinctK!.low <= 0.25 && d.distinctK!.high >= 0.25);
  // reward curve: mean over seeds per step
  assertEquals(out[0].rewardCurve.map(([s, v]) => [s, Number(v.toFixed(12))]), [[1, 0.05], [2, 0.1]]);
  // an arm missing a seed is paired on the seeds both have
  const partial = summarizeArms(
    [
      { label: "dr_grpo", algorithm: "grpo", settings: {}, runs: base },
      { label: "a", algorithm: "grpo", settings: {}, runs: [arm[1]] },
    ],
    "dr_grpo",
    { resamples: 50 },
  );
  assertClose(partial[1].diff!.distinctK!.meanDiff, 1 / 2, 1e-12);
});

// ── the command end to end on a minimal configuration ────────────────────────────────────────────────────────────

Deno.test("experiment compare: two arms, one seed, tiny sizes, writes results.json and report.html", async () => {
  const root = await Deno.makeTempDir({ prefix: "maxent-experiment-" });
  try {
    const data = join(root, "data");
    await writeTaskSplits(data, generateCountdown({ seed: 0, train: 8, eval: 3 }));
    const model = join(root, "model");
    await initTinyModel(model, 1, { hidden: 16, layers: 1, heads: 2, "kv-heads": 1, intermediate: 32 });
    const recipe = join(root, "recipe.yaml");
    await Deno.writeTextFile(
      recipe,
      [
        "algorithm: grpo",
        "backend: cpu",
        `model_name_or_path: ${model}`,
        `dataset_name: ${data}`,
        "dataset_prompt_column: prompt",
        "dataset_solution_column: answer",
        "reward_funcs: [countdown]",
        "num_generations: 2",
        "per_device_train_batch_size: 2",
        "max_prompt_length: 128",
        "max_completion_length: 4",
        "learning_rate: 1.0e-3",
        "max_steps: 2",
        "logging_steps: 1",
        "seed: 3",
        `output_dir: ${join(root, "unused")}`,
      ].join("\n") + "\n",
    );
    const out = join(root, "out");
    const args = [
      "experiment",
      "compare",
      recipe,
      "--arms",
      "dr_grpo,xdr-grpo:tau=0.05",
      "--seeds",
      "1",
      "--eval-seeds",
      "2",
      "--k",
      "2",
      "--resamples",
      "100",
      "--out",
      out,
    ];
    const r = await runCli(args);
    assertEquals(r.code, 0, r.err);
    assertMatch(r.err, /\[1\/2\] dr_grpo seed 3: training/);
    assertMatch(r.err, /\[2\/2\] xdr-grpo:tau=0\.05 seed 3: training \(.* elapsed, ETA /);
    const printed = JSON.parse(r.out);
    assertEquals(printed.missing, 0);
    const res = JSON.parse(await Deno.readTextFile(join(out, "results.json")));
    assertEquals(res.baseline, "dr_grpo");
    assertEquals(res.arms.map((a: { label: string }) => a.label), ["dr_grpo", "xdr-grpo:tau=0.05"]);
    assertEquals(res.prompts, 3);
    assertEquals(res.trainSeeds, [3]);
    assertEquals(res.evalSeeds.length, 2);
    for (const arm of res.arms) {
      assertEquals(arm.runs.length, 1);
      const run = arm.runs[0];
      assertEquals(run.steps, 2);
      assertEquals(run.rewardCurve.map((p: number[]) => p[0]), [1, 2]);
      assertEquals(run.rows.length, 2);
      assertEquals(run.rows[0].length, 3);
      for (const m of run.rows.flat()) {
        for (const v of Object.values(m) as number[]) assert(v >= 0 && v <= 2, `metric ${v}`);
        assert(m.coverageK <= 1 + 1e-12);
      }
      // the mean is the mean of the rows
      const cells = run.rows.flat().map((m: PromptMetrics) => m.meanK);
      assertClose(arm.mean.meanK, cells.reduce((a: number, b: number) => a + b, 0) / cells.length, 1e-12);
    }
    assertEquals(res.arms[0].diff, null);
    // the start model is evaluated the same way (same prompts and evaluation seeds)
    assertMatch(r.err, /evaluating the start model/);
    assertEquals(res.start.runs[0].rows.length, 2);
    assertEquals(res.start.runs[0].rows[0].length, 3);
    assertEquals(res.start.runs[0].steps, 0);
    const d = res.arms[1].diff.coverageK;
    assert(d.low <= d.meanDiff && d.meanDiff <= d.high);
    // the recipe each run trained with: the arm's keys on the shared base
    const rec = await Deno.readTextFile(join(out, "xdr-grpo_tau=0.05", "seed-3", "recipe.yaml"));
    assertMatch(rec, /algorithm: xdr-grpo/);
    assertMatch(rec, /xdr_tau: 0\.05/);
    const html = await Deno.readTextFile(join(out, "report.html"));
    assertMatch(html, /^<!doctype html>/);
    assertMatch(html, /<svg[^>]*>.*training reward/s);
    assertMatch(html, /coverage@2 − dr_grpo/);
    assert(!/<script/i.test(html), "self-contained, no scripts");
    assertMatch(await Deno.readTextFile(join(out, "figure.svg")), /^<svg xmlns/);
    // a second call reuses the finished runs
    const again = await runCli(args);
    assertEquals(again.code, 0, again.err);
    assertMatch(again.err, /\[1\/2\] dr_grpo seed 3: reusing/);
    // new start weights (same path) invalidate the finished runs
    const later = new Date(Date.now() + 60_000);
    await Deno.utime(join(model, "model.safetensors"), later, later);
    const rebuilt = await runCli([...args, "--arms", "dr_grpo"]);
    assertEquals(rebuilt.code, 0, rebuilt.err);
    assertMatch(rebuilt.err, /evaluating the start model/);
    assertMatch(rebuilt.err, /\[1\/1\] dr_grpo seed 3: training/);
    // a bad arm is a usage error naming it, before any training
    const bad = await runCli(["experiment", "compare", recipe, "--arms", "dr_grpo,grpo:tau=1", "--out", out]);
    assertEquals(bad.code, 2);
    assertMatch(bad.err, /arm "grpo:tau=1"/);
  } finally {
    await Deno.remove(root, { recursive: true });
  }
});

Deno.test("report: markdown table and HTML from a hand-made results structure", () => {
  const arms = summarizeArms(
    [
      { label: "dr_grpo", algorithm: "grpo", settings: {}, runs: [run(0, [[pm(1, 0.5, 1, 2)]])] },
      { label: "maxent-grpo:tau=0.2", algorithm: "maxent-grpo", settings: {}, runs: [run(0, [[pm(1, 0.5, 2, 2)]])] },
    ],
    "dr_grpo",
    { resamples: 20 },
  );
  const results = {
    version: 1 as const,
    createdAt: "2026-01-01T00:00:00Z",
    recipe: "r.yaml",
    model: "m",
    dataset: "d",
    baseline: "dr_grpo",
    k: 8,
    temperature: 1,
    steps: 2,
    promptsPerStep: 2,
    numGenerations: 8,
    trainSeeds: [0],
    evalSeeds: [10000],
    prompts: 1,
    bootstrap: { resamples: 20, level: 0.95, unit: "prompts" },
    arms,
    missing: ["maxent-grpo:tau=0.2 seed-1"],
  };
  const md = markdownTable(results);
  assertMatch(md, /\| maxent-grpo:tau=0\.2 \| 1\.000 \(\+0\.000 \[\+0\.000, \+0\.000\]\) \| 0\.500/);
  assertMatch(md, /coverage@8 \(Δ vs dr_grpo, 95% CI\)/);
  assertMatch(md, /\| maxent-grpo:tau=0\.2 \|.*\| 1\.000 \(\+0\.500 \[\+0\.500, \+0\.500\]\) \|/);
  const html = experimentHtml(results);
  assertMatch(html, /Not finished \(1 runs missing\)/);
  assertEquals(movingAverage([[1, 1], [2, 3], [3, 5]], 2), [[1, 1], [2, 2], [3, 4]]);
  assertEquals(shortLabel("maxent-grpo:tau=0.2"), "maxent τ=0.2");
});
