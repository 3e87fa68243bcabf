/**
 * The comparison's self-contained HTML report (`OUT/report.html`) and its figure (`OUT/figure.svg`): reward over
 * steps per arm; pass@k, mean@k, distinct@k and coverage@k per arm as differences to the baseline with bootstrap
 * intervals; and, for a sweep, the dose-response curve. Inline SVG only, no scripts.
 */
import { escapeHtml, intervalPlot, linePlot } from "../report/svg.ts";
import type { MetricName } from "../eval/metrics.ts";
import { type ArmResult, type ExperimentResults, metricLabel } from "./results.ts";

const SHOWN: MetricName[] = ["passK", "meanK", "distinctK", "coverageK"];

function f3(x: number | null | undefined): string {
  return x === null || x === undefined || !Number.isFinite(x) ? "–" : x.toFixed(3);
}

function signed(x: number): string {
  return `${x >= 0 ? "+" : "−"}${Math.abs(x).toFixed(3)}`;
}

/** `+0.031 [−0.010, +0.072]` for a difference, or "baseline" / "–". */
export function diffText(arm: ArmResult, name: MetricName, baseline: string): string {
  if (arm.label === baseline) return "baseline";
  const d = arm.diff?.[name];
  return d ? `${signed(d.meanDiff)} [${signed(d.low)}, ${signed(d.high)}]` : "–";
}

/** A short label for narrow charts: `maxent-grpo:tau=0.2` → `maxent τ=0.2`. */
export function shortLabel(label: string): string {
  return label.replace(/^maxent-grpo/, "maxent").replace(/^xdr-grpo/, "xdr").replace(":", " ").replace(/\btau=/g, "τ=");
}

/** Trailing moving average over `window` points: m_i = mean(y_{i−window+1..i}). */
export function movingAverage(points: Array<[number, number]>, window: number): Array<[number, number]> {
  return points.map(([x], i) => {
    const part = points.slice(Math.max(0, i - window + 1), i + 1);
    return [x, part.reduce((a, p) => a + p[1], 0) / part.length];
  });
}

/** The reward-over-steps chart (mean over training seeds, smoothed over ~1/16 of the run). */
export function rewardChart(r: ExperimentResults, width = 460, height = 260): string {
  const steps = Math.max(0, ...r.arms.map((a) => a.rewardCurve.length));
  const window = Math.max(1, Math.round(steps / 16));
  return linePlot(r.arms.map((a) => ({ name: a.label, points: movingAverage(a.rewardCurve, window) })), {
    title: `training reward (mean over seeds, ${window}-step moving average)`,
    xLabel: "step",
    width,
    height,
  });
}

/** Per metric, the arms' differences to the baseline with their intervals (dashed line: no difference). */
export function diffChart(r: ExperimentResults, name: MetricName, width = 460, height = 260): string {
  const items = r.arms.filter((a) => a.label !== r.baseline && a.diff?.[name]).map((a) => ({
    label: shortLabel(a.label),
    value: a.diff![name]!.meanDiff,
    lo: a.diff![name]!.low,
    hi: a.diff![name]!.high,
  }));
  return intervalPlot(items, {
    title: `${metricLabel(name, r.k)} − ${r.baseline} (${Math.round(r.bootstrap.level * 100)}% CI)`,
    reference: 0,
    width,
    height,
  });
}

/** The sweep's dose-response: differences to the baseline over the swept values. */
export function sweepChart(r: ExperimentResults, name: MetricName, width = 460, height = 260): string | null {
  if (!r.sweep) return null;
  const items = r.sweep.points.flatMap((p) => {
    const d = r.arms.find((a) => a.label === p.label)?.diff?.[name];
    return d ? [{ label: shortLabel(`${r.sweep!.key}=${p.value}`), value: d.meanDiff, lo: d.low, hi: d.high }] : [];
  });
  if (items.length === 0) return null;
  return intervalPlot(items, {
    title: `dose-response: ${metricLabel(name, r.k)} − ${r.baseline} over ${r.sweep.name} ${r.sweep.key}`,
    reference: 0,
    width,
    height,
  });
}

/** One SVG with the reward curves and the coverage / pass / mean difference charts (for docs/). */
export function experimentFigure(r: ExperimentResults): string {
  // wide enough for ~90 px per compared arm
  const w = Math.max(460, 90 * (r.arms.length - 1) + 80), h = 260;
  const panels = [rewardChart(r, w, h), diffChart(r, "passK", w, h), diffChart(r, "meanK", w, h)];
  panels.push(diffChart(r, "distinctK", w, h), diffChart(r, "coverageK", w, h));
  for (const name of ["passK", "coverageK"] as MetricName[]) {
    const sweep = sweepChart(r, name, w, h);
    if (sweep) panels.push(sweep);
  }
  const cols = 2, rows = Math.ceil(panels.length / cols);
  const body = panels.map((svg, i) =>
    svg.replace("<svg ", `<svg x="${(i % cols) * w}" y="${Math.floor(i / cols) * h}" `)
  ).join("");
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${cols * w}" height="${rows * h}" viewBox="0 0 ${cols * w} ${
    rows * h
  }"><rect width="100%" height="100%" fill="white"/>${body}</svg>\n`;
}

/** The results table as Markdown (README): arm, each metric's mean and its difference to the baseline. */
export function markdownTable(r: ExperimentResults): string {
  const names: MetricName[] = ["passK", "meanK", "distinctK", "coverageK", "pass1"];
  const head = `| arm | ${names.map((n) => `${metricLabel(n, r.k)} (Δ vs ${r.baseline}, 95% CI)`).join(" | ")} |`;
  const sep = `| --- | ${names.map(() => "---").join(" | ")} |`;
  const rows = r.arms.map((a) =>
    `| ${a.label} | ${
      names.map((n) => `${f3(a.mean[n])}${a.label === r.baseline ? "" : ` (${diffText(a, n, r.baseline)})`}`).join(
        " | ",
      )
    } |`
  );
  const start = r.start ? [`| start model (no RL) | ${names.map((n) => f3(r.start!.mean[n])).join(" | ")} |`] : [];
  return [head, sep, ...start, ...rows].join("\n");
}

/** The whole report as one HTML page. */
export function experimentHtml(r: ExperimentResults): string {
  const names: MetricName[] = ["pass1", "passK", "meanK", "distinctK", "coverageK"];
  const header = `<tr><th>arm</th><th>runs</th>${
    names.map((n) => `<th>${escapeHtml(metricLabel(n, r.k))}</th><th>Δ vs ${escapeHtml(r.baseline)}</th>`).join("")
  }<th>train s/run</th></tr>`;
  const rows = r.arms.map((a) => {
    const secs = a.runs.length ? a.runs.reduce((s, x) => s + x.trainSeconds, 0) / a.runs.length : NaN;
    return `<tr><td>${escapeHtml(a.label)}</td><td>${a.runs.length}</td>${
      names.map((n) => `<td>${f3(a.mean[n])}</td><td>${escapeHtml(diffText(a, n, r.baseline))}</td>`).join("")
    }<td>${Number.isFinite(secs) ? secs.toFixed(0) : "–"}</td></tr>`;
  }).join("");
  const startRow = r.start
    ? `<tr><td>start model (no RL)</td><td>–</td>${
      names.map((n) => `<td>${f3(r.start!.mean[n])}</td><td></td>`).join("")
    }<td>–</td></tr>`
    : "";
  const settings = r.arms.map((a) =>
    `<tr><td>${escapeHtml(a.label)}</td><td><code>${escapeHtml(JSON.stringify(a.settings))}</code></td></tr>`
  ).join("");
  const w = Math.max(460, 90 * (r.arms.length - 1) + 80);
  const charts = [rewardChart(r, w), ...SHOWN.map((n) => diffChart(r, n, w))];
  for (const n of ["coverageK", "passK", "meanK"] as MetricName[]) {
    const s = sweepChart(r, n, w);
    if (s) charts.push(s);
  }
  const missing = r.missing.length
    ? `<p class="warn">Not finished (${r.missing.length} runs missing): ${escapeHtml(r.missing.join(", "))}</p>`
    : "";
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>maxent experiment: ${escapeHtml(r.recipe)}</title>
<style>body{font-family:sans-serif;margin:24px;max-width:1100px}table{border-collapse:collapse;margin:12px 0}
td,th{border:1px solid #ccc;padding:3px 7px;font-size:13px;text-align:right}td:first-child{text-align:left}
.charts svg{margin:6px}.warn{color:#a00}code{font-size:12px}</style></head><body>
<h1>Multi-answer comparison</h1>
<p>Recipe <code>${escapeHtml(r.recipe)}</code>, start model <code>${escapeHtml(r.model)}</code>, data <code>${
    escapeHtml(r.dataset)
  }</code>. Every arm: ${r.steps} steps × ${r.promptsPerStep} prompts × ${r.numGenerations} candidates, training seeds ${
    escapeHtml(r.trainSeeds.join(", "))
  }. Evaluation: ${r.prompts} test prompts, k = ${r.k} samples at temperature ${r.temperature} plus one greedy answer, ` +
    `evaluation seeds ${escapeHtml(r.evalSeeds.join(", "))}. Differences to <b>${escapeHtml(r.baseline)}</b> with ${
      Math.round(r.bootstrap.level * 100)
    }% paired-bootstrap intervals (${r.bootstrap.resamples} resamples of ${escapeHtml(r.bootstrap.unit)}).</p>
${missing}
<table>${header}${startRow}${rows}</table>
<div class="charts">${charts.join("\n")}</div>
<h2>Arms</h2><table><tr><th>arm</th><th>recipe keys</th></tr>${settings}</table>
<p>Generated ${escapeHtml(r.createdAt)} by <code>maxent experiment compare</code>; the numbers are in results.json.</p>
</body></html>
`;
}
