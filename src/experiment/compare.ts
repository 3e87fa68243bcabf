/**
 * `maxent experiment compare`: trains every arm × training seed from the same recipe (same start model, prompts,
 * group size, sampling budget; arms differ only in objective keys), evaluates each trained model on the test split
 * (k samples at a temperature + one greedy answer, several evaluation seeds, the same sampling keys for every arm),
 * and writes `OUT/results.json`, `OUT/report.html` and `OUT/figure.svg` after every run (so an interrupted experiment
 * still has a report). Finished runs (`OUT/<arm>/seed-<s>/run.json` with the same settings) are reused.
 *
 * Runs go seed-major (every arm at seed 0, then every arm at seed 1, …) so a time-boxed experiment compares all arms.
 */
import { join } from "node:path";
import { MaxentError, UsageError } from "../errors.ts";
import { readEnv } from "../env.ts";
import { type Backend, type LoadedRecipe, parseRecipe } from "../recipe/mod.ts";
import { train } from "../train/trainer.ts";
import { writeFileAtomic } from "../train/checkpoint.ts";
import { hubOptionsFromEnv, resolveDatasetFiles, resolveModel } from "../hub/mod.ts";
import { initBackend } from "../backend/mod.ts";
import { loadEvalExamples } from "../eval/evaluate.ts";
import { resolveRewards } from "../rewards/mod.ts";
import { CausalLM } from "../model/transformer.ts";
import { Tokenizer } from "../tokenizer/mod.ts";
import type { Example } from "../data/mod.ts";
import { armDirName, armOverrides, type ArmSpec, type SweepSpec } from "./arms.ts";
import { evaluateArm } from "./evaluate_arm.ts";
import { type ExperimentResults, jsonSettings, metricMeans, type RunResult, summarizeArms } from "./results.ts";
import { experimentFigure, experimentHtml } from "./report.ts";

/** Options of {@linkcode runCompare}. */
export interface CompareOptions {
  /** The base recipe file (every arm's recipe is this plus `overrides` plus the arm's keys). */
  recipe: string;
  arms: ArmSpec[];
  /** A sweep: its arms join the comparison and the report draws the dose-response. */
  sweep?: SweepSpec;
  /** Training seeds per arm (recipe seed, +1, …; default 1). */
  seeds?: number;
  /** Evaluation seeds per trained model (default 1). */
  evalSeeds?: number;
  /** Samples per test prompt (default 8). */
  k?: number;
  /** Evaluation sampling temperature (default 1). */
  temperature?: number;
  /** Output folder. */
  out: string;
  /** `--set key=value` applied to every arm (shared settings, e.g. max_steps). */
  overrides?: string[];
  /** Label of the arm differences are taken to (default `dr_grpo` when present, else the first arm). */
  baseline?: string;
  /** Evaluate only the first n test prompts. */
  evalLimit?: number;
  /** Bootstrap resamples (default 2000). */
  resamples?: number;
  backend?: Backend;
  /** Progress lines. */
  log?: (line: string) => void;
  /** Per-step lines of the training runs (default: dropped except every logging step, prefixed). */
  trainLog?: (line: string) => void;
  env?: Record<string, string | undefined>;
}

/** What {@linkcode runCompare} returns. */
export interface CompareResult {
  results: ExperimentResults;
  resultsPath: string;
  reportPath: string;
  figurePath: string;
}

/** Seconds as `1h02m`, `3m05s`, `42s`. */
export function duration(seconds: number): string {
  if (!Number.isFinite(seconds)) return "?";
  const s = Math.round(seconds);
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m${String(s % 60).padStart(2, "0")}s`;
  return `${Math.floor(s / 3600)}h${String(Math.floor((s % 3600) / 60)).padStart(2, "0")}m`;
}

/** The arms of the comparison: `arms`, then the sweep's arms not already listed. */
export function comparisonArms(arms: ArmSpec[], sweep?: SweepSpec): ArmSpec[] {
  const all = [...arms];
  for (const a of sweep?.arms ?? []) if (!all.some((b) => b.label === a.label)) all.push(a);
  return all;
}

/** The per-run recipe: base text + shared overrides + the arm's keys + the run's own folder and seed. */
function runRecipe(
  text: string,
  file: string,
  arm: ArmSpec,
  shared: string[],
  outputDir: string,
  seed: number | null,
  env: Record<string, string | undefined>,
): LoadedRecipe {
  const overrides = [
    ...shared,
    ...armOverrides(arm),
    `output_dir=${JSON.stringify(outputDir)}`,
    "overwrite_output_dir=true",
    "resume_from_checkpoint=false",
    'save_strategy="no"',
    "do_eval=false",
    "push_to_hub=false",
  ];
  if (seed !== null) overrides.push(`seed=${seed}`);
  return parseRecipe(text, file, { overrides, env });
}

/** Reads `metrics.jsonl` of a run: [step, reward] rows. */
async function readRewardCurve(dir: string): Promise<Array<[number, number]>> {
  const text = await Deno.readTextFile(join(dir, "metrics.jsonl"));
  return text.split("\n").filter((l) => l.trim()).map((l) => JSON.parse(l)).filter((m) =>
    typeof m.step === "number" && typeof m.reward === "number"
  ).map((m) => [m.step, m.reward]);
}

/** Runs the comparison; see the module doc. */
export async function runCompare(opts: CompareOptions): Promise<CompareResult> {
  const log = opts.log ?? ((l: string) => console.error(l));
  const env = opts.env ?? readEnv();
  const seedsN = opts.seeds ?? 1, evalSeedsN = opts.evalSeeds ?? 1, k = opts.k ?? 8;
  const temperature = opts.temperature ?? 1;
  for (const [flag, v] of [["--seeds", seedsN], ["--eval-seeds", evalSeedsN], ["--k", k]] as const) {
    if (!(Number.isInteger(v) && v >= 1)) throw new UsageError(`${flag} must be an integer ≥ 1, got ${v}`);
  }
  const arms = comparisonArms(opts.arms, opts.sweep);
  if (arms.length === 0) throw new UsageError("--arms: give at least one arm");
  const baseline = opts.baseline ?? (arms.some((a) => a.label === "dr_grpo") ? "dr_grpo" : arms[0].label);
  if (!arms.some((a) => a.label === baseline)) {
    throw new UsageError(`--baseline ${baseline} is not one of the arms (${arms.map((a) => a.label).join(", ")})`);
  }

  // ── every arm's recipe, validated before any slow work
  let text: string;
  try {
    text = await Deno.readTextFile(opts.recipe);
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) throw new MaxentError(`recipe file not found: ${opts.recipe}`);
    throw e;
  }
  const shared = opts.overrides ?? [];
  const base = parseRecipe(text, opts.recipe, { overrides: shared, env }).recipe;
  for (const arm of arms) {
    try {
      runRecipe(text, opts.recipe, arm, shared, join(opts.out, armDirName(arm)), null, env);
    } catch (e) {
      if (e instanceof MaxentError && !(e instanceof UsageError)) {
        throw new UsageError(`arm "${arm.label}": ${e.message}`);
      }
      throw e;
    }
  }
  if (!base.dataset_name) throw new MaxentError(`${opts.recipe}: the comparison needs dataset_name (a test split)`);
  const trainSeeds = Array.from({ length: seedsN }, (_, i) => base.seed + i);
  // the same evaluation sampling keys for every arm (common random numbers pair the arms)
  const evalSeeds = Array.from({ length: evalSeedsN }, (_, i) => 10_000 + i);

  // ── test split and the judge (the recipe's first reward)
  const hubOpts = hubOptionsFromEnv(env, { log });
  const examples: Example[] = await loadEvalExamples({
    name: base.dataset_name,
    config: base.dataset_config,
    revision: base.dataset_revision,
    split: base.dataset_test_split,
    promptColumn: base.dataset_prompt_column,
    solutionColumn: base.dataset_solution_column,
  }, { resolveFiles: (id, o) => resolveDatasetFiles(id, { ...o, ...hubOpts }), limit: opts.evalLimit });
  if (examples.length === 0) {
    throw new MaxentError(`${base.dataset_name}: the ${base.dataset_test_split} split is empty`);
  }
  const judge = await resolveRewards({
    names: [base.reward_funcs[0]],
    solutionColumn: base.dataset_solution_column,
    maxCompletionLength: base.max_completion_length,
    onWarning: (m) => log(`warning: ${m}`),
  });

  // ── runs, seed-major
  await Deno.mkdir(opts.out, { recursive: true });
  const runs = new Map<string, RunResult[]>(arms.map((a) => [a.label, []]));
  const plan = trainSeeds.flatMap((seed) => arms.map((arm) => ({ arm, seed })));
  const started = performance.now();
  let fresh = 0, freshSeconds = 0;
  const paths = {
    resultsPath: join(opts.out, "results.json"),
    reportPath: join(opts.out, "report.html"),
    figurePath: join(opts.out, "figure.svg"),
  };
  // ── the start model, evaluated the same way (what RL changed); reused when present
  const startDir = join(opts.out, "start");
  // a rebuilt start model (same path, new weights) must not reuse old runs: its weights' size and time join the keys
  const startModel = await modelFingerprint(base.model_name_or_path);
  const startKey = JSON.stringify({
    model: base.model_name_or_path,
    startModel,
    evalSeeds,
    k,
    temperature,
    n: examples.length,
  });
  let start: RunResult | null = await readRun(startDir, startKey);
  if (!start) {
    log(`evaluating the start model ${base.model_name_or_path} (${examples.length} prompts × ${evalSeedsN} seed(s))`);
    await initBackend(opts.backend ?? base.backend, { log: () => {} });
    const modelDir = await resolveModel(base.model_name_or_path, base.model_revision, hubOpts);
    const evaluated = await evaluateModelDir(
      modelDir,
      base.max_completion_length,
      base.system_prompt,
      base.chat_template,
    );
    start = {
      seed: base.seed,
      outputDir: modelDir,
      steps: 0,
      trainSeconds: 0,
      evalSeconds: evaluated.seconds,
      rewardCurve: [],
      evalSeeds,
      rows: evaluated.rows,
    };
    await Deno.mkdir(startDir, { recursive: true });
    await writeFileAtomic(join(startDir, "run.json"), JSON.stringify({ key: startKey, run: start }) + "\n");
  }
  let results = await writeOutputs();
  // each run's recipe, and the finished runs that can be reused (the ETA counts only the others)
  const prepared = await Promise.all(plan.map(async ({ arm, seed }) => {
    const dir = join(opts.out, armDirName(arm), `seed-${seed}`);
    const loaded = runRecipe(text, opts.recipe, arm, shared, dir, seed, env);
    const key = JSON.stringify({
      recipe: loaded.recipe,
      startModel,
      evalSeeds,
      k,
      temperature,
      evalLimit: opts.evalLimit ?? null,
    });
    return { dir, loaded, key, reused: await readRun(dir, key) };
  }));
  const toTrainAfter = (i: number) => prepared.slice(i + 1).filter((p) => !p.reused).length;
  for (const [i, { arm, seed }] of plan.entries()) {
    const { dir, loaded, key, reused } = prepared[i];
    const tag = `[${i + 1}/${plan.length}] ${arm.label} seed ${seed}`;
    if (reused) {
      log(`${tag}: reusing ${join(dir, "run.json")}`);
      runs.get(arm.label)!.push(reused);
      results = await writeOutputs();
      continue;
    }
    const eta = fresh ? duration((freshSeconds / fresh) * (toTrainAfter(i) + 1)) : "?";
    log(`${tag}: training (${duration((performance.now() - started) / 1000)} elapsed, ETA ${eta})`);
    const t0 = performance.now();
    const trained = await train(loaded, {
      log: opts.trainLog ?? ((l) => {
        if (l.startsWith("step ")) log(`  ${arm.label} seed ${seed}: ${l}`);
      }),
      backend: opts.backend,
      env,
    });
    const trainSeconds = (performance.now() - t0) / 1000;
    log(`${tag}: evaluating ${examples.length} prompts × ${evalSeedsN} seed(s) × k=${k}`);
    const evaluated = await evaluateModelDir(
      trained.outputDir,
      loaded.recipe.max_completion_length,
      loaded.recipe.system_prompt,
      loaded.recipe.chat_template,
    );
    const run: RunResult = {
      seed,
      outputDir: dir,
      steps: trained.steps,
      trainSeconds,
      evalSeconds: evaluated.seconds,
      rewardCurve: await readRewardCurve(dir),
      evalSeeds,
      rows: evaluated.rows,
    };
    await writeFileAtomic(join(dir, "run.json"), JSON.stringify({ key, run }) + "\n");
    runs.get(arm.label)!.push(run);
    fresh++;
    freshSeconds += (performance.now() - t0) / 1000;
    results = await writeOutputs();
    const a = results.arms.find((x) => x.label === arm.label)!;
    const m = summarizeArms([{ ...a, runs: [run] }], arm.label)[0].mean;
    log(
      `${tag}: done in ${duration((performance.now() - t0) / 1000)} (train ${duration(trainSeconds)}, eval ${
        duration(evaluated.seconds)
      }): pass@${k} ${m.passK?.toFixed(3)} · mean@${k} ${m.meanK?.toFixed(3)} · coverage@${k} ${
        m.coverageK?.toFixed(3)
      }; ${toTrainAfter(i)} to train, ETA ${duration((freshSeconds / fresh) * toTrainAfter(i))}`,
    );
  }
  log(`results: ${paths.resultsPath}; report: ${paths.reportPath}`);
  return { results, ...paths };

  async function evaluateModelDir(dir: string, maxTokens: number, systemPrompt?: string, chatTemplate?: string) {
    const model = await CausalLM.load(dir, { trainable: false });
    try {
      const tokenizer = await Tokenizer.load(dir);
      return await evaluateArm(model, tokenizer, examples, {
        rewards: judge,
        k,
        temperature,
        maxTokens,
        seeds: evalSeeds,
        systemPrompt,
        chatTemplate,
      });
    } finally {
      model.dispose();
    }
  }

  async function writeOutputs(): Promise<ExperimentResults> {
    const done = new Set(
      [...runs.entries()].flatMap(([label, rs]) => rs.map((r) => `${label} seed-${r.seed}`)),
    );
    const r: ExperimentResults = {
      version: 1,
      createdAt: new Date().toISOString(),
      recipe: opts.recipe,
      model: base.model_name_or_path,
      dataset: base.dataset_name!,
      baseline,
      k,
      temperature,
      steps: [...runs.values()].flat()[0]?.steps ?? base.max_steps,
      promptsPerStep: base.per_device_train_batch_size * base.gradient_accumulation_steps,
      numGenerations: base.num_generations,
      trainSeeds,
      evalSeeds,
      prompts: examples.length,
      bootstrap: {
        resamples: opts.resamples ?? 2000,
        level: 0.95,
        unit: "test prompts and (training seed × evaluation seed) rows, paired across arms",
      },
      arms: summarizeArms(
        arms.map((a) => ({
          label: a.label,
          algorithm: a.algorithm,
          settings: jsonSettings(a.settings),
          runs: runs.get(a.label)!,
        })),
        baseline,
        { resamples: opts.resamples },
      ),
      start: start ? { mean: metricMeans([start]), runs: [start] } : undefined,
      missing: plan.map((p) => `${p.arm.label} seed-${p.seed}`).filter((x) => !done.has(x)),
    };
    if (opts.sweep) {
      r.sweep = {
        name: opts.sweep.name,
        key: opts.sweep.key,
        points: opts.sweep.values.map((value, i) => ({ value, label: opts.sweep!.arms[i].label })),
      };
    }
    await writeFileAtomic(paths.resultsPath, JSON.stringify(r, null, 1) + "\n");
    await writeFileAtomic(paths.reportPath, experimentHtml(r));
    await writeFileAtomic(paths.figurePath, experimentFigure(r));
    return r;
  }
}

/** Size and modification time of a local model's weights (null for a Hub id or sharded weights). */
async function modelFingerprint(path: string): Promise<string | null> {
  try {
    const st = await Deno.stat(join(path, "model.safetensors"));
    return `${st.size}:${st.mtime?.getTime() ?? 0}`;
  } catch {
    return null;
  }
}

/** A finished run's record when it exists and was made with the same settings. */
async function readRun(dir: string, key: string): Promise<RunResult | null> {
  try {
    const saved = JSON.parse(await Deno.readTextFile(join(dir, "run.json")));
    return saved.key === key ? saved.run as RunResult : null;
  } catch {
    return null;
  }
}
