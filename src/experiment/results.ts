/**
 * The comparison's results: per arm, per training seed, per evaluation seed, per prompt metrics; their means; and the
 * paired bootstrap of each arm's difference to the baseline arm (Dr.GRPO), resampling prompts and (training ×
 * evaluation) seeds. This is the shape of `OUT/results.json`.
 */
import { MaxentError } from "../errors.ts";
import {
  type BootstrapResult,
  METRIC_NAMES,
  type MetricName,
  pairedBootstrap,
  type PromptMetrics,
} from "../eval/metrics.ts";

/** One arm × training seed: the training run and its evaluation. */
export interface RunResult {
  /** Training seed (the recipe's `seed` for this run). */
  seed: number;
  outputDir: string;
  steps: number;
  trainSeconds: number;
  evalSeconds: number;
  /** Mean reward per step: [step, reward]. */
  rewardCurve: Array<[number, number]>;
  /** Evaluation seeds and, per seed, per prompt metrics (`rows[e][p]`, prompts in test-split order). */
  evalSeeds: number[];
  rows: PromptMetrics[][];
}

/** Means of the per-prompt metrics over every (training seed, evaluation seed, prompt). */
export type MetricMeans = Record<MetricName, number | null>;

/** One arm's results. */
export interface ArmResult {
  label: string;
  algorithm: string;
  /** The recipe keys the arm set (∞ written as the string "inf"). */
  settings: Record<string, unknown>;
  runs: RunResult[];
  mean: MetricMeans;
  /** Mean reward per step over the training seeds. */
  rewardCurve: Array<[number, number]>;
  /** Difference to the baseline arm per metric (null for the baseline itself or without paired runs). */
  diff: Record<MetricName, BootstrapResult | null> | null;
}

/** A sweep's dose-response: one point per value. */
export interface SweepResult {
  name: string;
  key: string;
  points: Array<{ value: number; label: string }>;
}

/** Everything `results.json` holds. */
export interface ExperimentResults {
  version: 1;
  createdAt: string;
  recipe: string;
  model: string;
  dataset: string;
  /** Label of the arm every difference is taken to. */
  baseline: string;
  k: number;
  temperature: number;
  /** Optimiser steps per run, prompts per step, group size. */
  steps: number;
  promptsPerStep: number;
  numGenerations: number;
  trainSeeds: number[];
  evalSeeds: number[];
  prompts: number;
  bootstrap: { resamples: number; level: number; unit: string };
  arms: ArmResult[];
  sweep?: SweepResult;
  /** The start model (before RL), evaluated the same way. */
  start?: { mean: MetricMeans; runs: RunResult[] };
  /** Runs still missing (a time-boxed or interrupted experiment): `arm seed-s`. */
  missing: string[];
}

/** Human names of the metrics at k. */
export function metricLabel(name: MetricName, k: number): string {
  return {
    pass1: "pass@1",
    passK: `pass@${k}`,
    meanK: `mean@${k}`,
    distinctK: `distinct@${k}`,
    coverageK: `coverage@${k}`,
  }[
    name
  ];
}

/**
 * The matrix of one metric for the bootstrap: one row per (training seed, evaluation seed) in run order, one column
 * per prompt. Only the runs whose training seed is in `seeds` are used, in that order.
 */
export function metricMatrix(runs: RunResult[], name: MetricName, seeds: number[]): number[][] {
  const out: number[][] = [];
  for (const seed of seeds) {
    const run = runs.find((r) => r.seed === seed);
    if (!run) throw new MaxentError(`no run with training seed ${seed}`);
    for (const row of run.rows) out.push(row.map((m) => m[name] ?? NaN));
  }
  return out;
}

/** Mean of each metric over every row of every run. */
export function metricMeans(runs: RunResult[]): MetricMeans {
  const mean = {} as MetricMeans;
  for (const name of METRIC_NAMES) {
    const xs = runs.flatMap((r) => r.rows.flat().map((m) => m[name])).filter((x): x is number => x !== null);
    mean[name] = xs.length ? xs.reduce((a, b) => a + b, 0) / xs.length : null;
  }
  return mean;
}

/** Mean over runs of the per-step reward (steps every run has). */
export function meanRewardCurve(runs: RunResult[]): Array<[number, number]> {
  if (runs.length === 0) return [];
  const bySteps = new Map<number, number[]>();
  for (const r of runs) for (const [s, v] of r.rewardCurve) bySteps.set(s, [...(bySteps.get(s) ?? []), v]);
  return [...bySteps.entries()].filter(([, vs]) => vs.length === runs.length).sort((a, b) => a[0] - b[0]).map((
    [s, vs],
  ) => [s, vs.reduce((a, b) => a + b, 0) / vs.length]);
}

/**
 * Fills in each arm's means, reward curve and bootstrap differences to `baseline` (paired by training seed,
 * evaluation seed and prompt; only training seeds both arms have finished are paired).
 */
export function summarizeArms(
  arms: Array<Pick<ArmResult, "label" | "algorithm" | "settings" | "runs">>,
  baseline: string,
  opts: { resamples?: number; level?: number; seed?: number } = {},
): ArmResult[] {
  const base = arms.find((a) => a.label === baseline);
  return arms.map((arm) => {
    const out: ArmResult = {
      ...arm,
      mean: metricMeans(arm.runs),
      rewardCurve: meanRewardCurve(arm.runs),
      diff: null,
    };
    if (!base || arm.label === baseline) return out;
    const seeds = arm.runs.map((r) => r.seed).filter((s) => base.runs.some((b) => b.seed === s));
    if (seeds.length === 0) return out;
    const diff = {} as Record<MetricName, BootstrapResult | null>;
    for (const name of METRIC_NAMES) {
      const a = metricMatrix(arm.runs, name, seeds), b = metricMatrix(base.runs, name, seeds);
      diff[name] = a.flat().some((x) => !Number.isFinite(x)) || b.flat().some((x) => !Number.isFinite(x))
        ? null
        : pairedBootstrap(a, b, { resamples: opts.resamples, level: opts.level, seed: opts.seed });
    }
    out.diff = diff;
    return out;
  });
}

/** Replaces ∞ by "inf" so settings survive JSON. */
export function jsonSettings(settings: Record<string, unknown>): Record<string, unknown> {
  return Object.fromEntries(Object.entries(settings).map(([k, v]) => [k, v === Infinity ? "inf" : v]));
}
