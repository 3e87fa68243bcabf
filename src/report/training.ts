/**
 * The training report: one self-contained HTML page with SVG plots of reward, KL, entropy, MaxEnt weight ESS and
 * completion length over steps, and a table of the final numbers. Written at the end of `maxent train` and by
 * `maxent report OUTPUT_DIR` from `metrics.jsonl`.
 */
import { join } from "node:path";
import { MaxentError } from "../errors.ts";
import { escapeHtml, linePlot, type Series } from "./svg.ts";

/** One line of metrics.jsonl: `step` plus TRL-style metric names. */
export type MetricsRow = Record<string, number> & { step: number };

/** The plots the report draws, in order: [title, metric names on one chart]. Missing metrics are skipped. */
const PLOTS: Array<[string, string[]]> = [
  ["reward", ["reward"]],
  ["KL to reference (per token)", ["kl"]],
  ["policy entropy (per token)", ["entropy"]],
  ["MaxEnt weights: effective sample size", ["maxent/ess"]],
  ["MaxEnt entropies", ["maxent/q_entropy", "maxent/weight_entropy"]],
  ["completion length", ["completions/mean_length", "completions/max_length"]],
  ["loss", ["loss"]],
  ["gradient norm", ["grad_norm"]],
  ["learning rate", ["learning_rate"]],
];

/** Reads `metrics.jsonl` rows; a malformed line is an error naming the file and line. */
export async function readMetrics(path: string): Promise<MetricsRow[]> {
  let text: string;
  try {
    text = await Deno.readTextFile(path);
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) {
      throw new MaxentError(`${path} does not exist: is this a maxent output directory (it has metrics.jsonl)?`);
    }
    throw e;
  }
  return text.split("\n").flatMap((line, i) => {
    if (!line.trim()) return [];
    try {
      const row = JSON.parse(line);
      if (typeof row.step !== "number") throw new Error("no step");
      return [row as MetricsRow];
    } catch {
      throw new MaxentError(`${path}:${i + 1} is not a metrics line (JSON with a numeric "step")`);
    }
  });
}

/** Renders the report page. `meta` is shown as a small table (algorithm, model, dataset, …). */
export function renderTrainingReport(rows: MetricsRow[], meta: Record<string, string | number | boolean>): string {
  const charts = PLOTS.flatMap(([title, names]) => {
    const series: Series[] = names
      .map((name) => ({
        name,
        points: rows.filter((r) => typeof r[name] === "number").map((r) => [r.step, r[name]] as [number, number]),
      }))
      .filter((s) => s.points.length > 0);
    return series.length ? [linePlot(series, { title })] : [];
  });
  const last = rows.length ? rows[rows.length - 1] : undefined;
  const finalRows = last
    ? Object.keys(last).sort().map((k) => `<tr><td>${escapeHtml(k)}</td><td>${formatNumber(last[k])}</td></tr>`)
    : [];
  const metaRows = Object.entries(meta).map(([k, v]) =>
    `<tr><td>${escapeHtml(k)}</td><td>${escapeHtml(String(v))}</td></tr>`
  );
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>maxent training report</title>
<style>body{font-family:sans-serif;margin:24px;max-width:1320px}table{border-collapse:collapse;margin:8px 0 20px}
td{border:1px solid #ddd;padding:3px 8px;font-size:13px}.charts{display:flex;flex-wrap:wrap;gap:8px}</style></head>
<body><h1>maxent training report</h1>
<table>${metaRows.join("")}<tr><td>steps logged</td><td>${rows.length}</td></tr></table>
<div class="charts">${charts.join("\n")}</div>
<h2>Final numbers (step ${last?.step ?? "–"})</h2><table>${finalRows.join("")}</table>
</body></html>
`;
}

function formatNumber(v: number): string {
  return Number.isInteger(v) ? String(v) : Number(v.toPrecision(6)).toString();
}

/** Writes `report.html` in `outputDir` from its metrics.jsonl; returns the report's path. */
export async function writeTrainingReport(
  outputDir: string,
  meta: Record<string, string | number | boolean> = {},
): Promise<string> {
  const rows = await readMetrics(join(outputDir, "metrics.jsonl"));
  const path = join(outputDir, "report.html");
  const tmp = `${path}.tmp-${crypto.randomUUID().slice(0, 8)}`;
  await Deno.writeTextFile(tmp, renderTrainingReport(rows, meta));
  await Deno.rename(tmp, path);
  return path;
}
