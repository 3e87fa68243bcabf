/**
 * Self-contained SVG plots for maxent's HTML reports: line charts of metrics over steps, and interval charts
 * (points with error bars) for comparing arms. No scripts, no external assets: the report opens anywhere.
 */

/** One line of a chart. */
export interface Series {
  name: string;
  points: Array<[number, number]>;
}

const PALETTE = ["#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2", "#17becf"];

/** Escapes text for HTML/SVG content and attributes. */
export function escapeHtml(s: string): string {
  return s.replace(/[&<>"']/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" })[c]!);
}

/** Rounds a tick value to a short label. */
function fmt(v: number): string {
  if (v === 0) return "0";
  const a = Math.abs(v);
  if (a >= 1e4 || a < 1e-3) return v.toExponential(1);
  return Number(v.toPrecision(3)).toString();
}

/** ~5 "nice" ticks covering [lo, hi]. */
export function niceTicks(lo: number, hi: number, count = 5): number[] {
  if (!(hi > lo)) return [lo];
  const raw = (hi - lo) / count;
  const mag = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 5, 10].map((m) => m * mag).find((s) => s >= raw) ?? 10 * mag;
  const ticks: number[] = [];
  for (let t = Math.ceil(lo / step) * step; t <= hi + step * 1e-9; t += step) ticks.push(Number(t.toPrecision(12)));
  return ticks;
}

interface Frame {
  width: number;
  height: number;
  x0: number;
  x1: number;
  y0: number;
  y1: number;
}

const PAD = { left: 56, right: 12, top: 28, bottom: 36 };

function sx(f: Frame, x: number) {
  return PAD.left + ((x - f.x0) / (f.x1 - f.x0 || 1)) * (f.width - PAD.left - PAD.right);
}
function sy(f: Frame, y: number) {
  return f.height - PAD.bottom - ((y - f.y0) / (f.y1 - f.y0 || 1)) * (f.height - PAD.top - PAD.bottom);
}

function axes(f: Frame, title: string, xLabel: string, xTicks: number[] | null): string {
  const parts: string[] = [];
  parts.push(
    `<text x="${f.width / 2}" y="16" text-anchor="middle" font-size="13" font-weight="bold">${
      escapeHtml(title)
    }</text>`,
  );
  for (const t of niceTicks(f.y0, f.y1)) {
    const y = sy(f, t);
    parts.push(
      `<line x1="${PAD.left}" x2="${f.width - PAD.right}" y1="${y}" y2="${y}" stroke="#eee"/>`,
      `<text x="${PAD.left - 4}" y="${y + 4}" text-anchor="end" font-size="10">${fmt(t)}</text>`,
    );
  }
  for (const t of xTicks ?? niceTicks(f.x0, f.x1)) {
    const x = sx(f, t);
    parts.push(`<text x="${x}" y="${f.height - PAD.bottom + 14}" text-anchor="middle" font-size="10">${fmt(t)}</text>`);
  }
  parts.push(
    `<rect x="${PAD.left}" y="${PAD.top}" width="${f.width - PAD.left - PAD.right}" height="${
      f.height - PAD.top - PAD.bottom
    }" fill="none" stroke="#999"/>`,
    `<text x="${f.width / 2}" y="${f.height - 4}" text-anchor="middle" font-size="11">${escapeHtml(xLabel)}</text>`,
  );
  return parts.join("");
}

function padRange(lo: number, hi: number): [number, number] {
  if (!Number.isFinite(lo) || !Number.isFinite(hi)) return [0, 1];
  if (lo === hi) return [lo - (Math.abs(lo) || 1) * 0.05, hi + (Math.abs(hi) || 1) * 0.05];
  const m = (hi - lo) * 0.05;
  return [lo - m, hi + m];
}

/** A line chart of one or more series (non-finite points are skipped). */
export function linePlot(
  series: Series[],
  opts: { title: string; xLabel?: string; width?: number; height?: number },
): string {
  const width = opts.width ?? 420, height = opts.height ?? 240;
  const pts = series.flatMap((s) => s.points).filter(([x, y]) => Number.isFinite(x) && Number.isFinite(y));
  const [x0, x1] = pts.length ? [Math.min(...pts.map((p) => p[0])), Math.max(...pts.map((p) => p[0]))] : [0, 1];
  const [y0, y1] = padRange(Math.min(...pts.map((p) => p[1])), Math.max(...pts.map((p) => p[1])));
  const f: Frame = { width, height, x0, x1: x1 > x0 ? x1 : x0 + 1, y0, y1 };
  const lines = series.map((s, i) => {
    const color = PALETTE[i % PALETTE.length];
    const good = s.points.filter(([x, y]) => Number.isFinite(x) && Number.isFinite(y));
    const d = good.map(([x, y], j) => `${j ? "L" : "M"}${sx(f, x).toFixed(1)},${sy(f, y).toFixed(1)}`).join("");
    const dots = good.length === 1
      ? `<circle cx="${sx(f, good[0][0])}" cy="${sy(f, good[0][1])}" r="3" fill="${color}"/>`
      : "";
    return `<path d="${d}" fill="none" stroke="${color}" stroke-width="1.6"/>${dots}`;
  });
  const legend = series.length > 1
    ? series.map((s, i) =>
      `<text x="${PAD.left + 6}" y="${PAD.top + 14 + 13 * i}" font-size="11" fill="${PALETTE[i % PALETTE.length]}">${
        escapeHtml(s.name)
      }</text>`
    ).join("")
    : "";
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="sans-serif">${
    axes(f, opts.title, opts.xLabel ?? "step", null)
  }${lines.join("")}${legend}</svg>`;
}

/** Points with error bars, one per labelled group (e.g. an arm's metric with its confidence interval). */
export function intervalPlot(
  items: Array<{ label: string; value: number; lo: number; hi: number }>,
  opts: { title: string; width?: number; height?: number; reference?: number },
): string {
  const width = opts.width ?? 420, height = opts.height ?? 240;
  const ys = items.flatMap((i) => [i.lo, i.hi, i.value]).concat(opts.reference ?? []);
  const [y0, y1] = padRange(Math.min(...ys), Math.max(...ys));
  const f: Frame = { width, height, x0: -0.5, x1: items.length - 0.5, y0, y1 };
  const parts = items.map((it, i) => {
    const x = sx(f, i), color = PALETTE[i % PALETTE.length];
    return `<line x1="${x}" x2="${x}" y1="${sy(f, it.lo)}" y2="${sy(f, it.hi)}" stroke="${color}" stroke-width="2"/>` +
      `<circle cx="${x}" cy="${sy(f, it.value)}" r="4" fill="${color}"/>` +
      `<text x="${x}" y="${height - PAD.bottom + 14}" text-anchor="middle" font-size="10">${
        escapeHtml(it.label)
      }</text>`;
  });
  const ref = opts.reference === undefined
    ? ""
    : `<line x1="${PAD.left}" x2="${width - PAD.right}" y1="${sy(f, opts.reference)}" y2="${
      sy(f, opts.reference)
    }" stroke="#555" stroke-dasharray="4 3"/>`;
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="sans-serif">${
    axes(f, opts.title, "", [])
  }${ref}${parts.join("")}</svg>`;
}
