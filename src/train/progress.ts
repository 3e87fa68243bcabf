/**
 * What a person sees while training: on a terminal a one-line progress bar with the step, ETA and the headline
 * numbers (reward, KL, ESS or clip ratio), redrawn each step; otherwise a plain log line every `logging_steps`.
 */

function duration(seconds: number): string {
  if (!Number.isFinite(seconds)) return "?";
  const s = Math.round(seconds);
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m${String(s % 60).padStart(2, "0")}s`;
  return `${Math.floor(s / 3600)}h${String(Math.floor((s % 3600) / 60)).padStart(2, "0")}m`;
}

function headline(m: Record<string, number>): string {
  const parts = [`reward ${m.reward.toFixed(3)}`];
  if (m.kl !== undefined) parts.push(`kl ${m.kl.toFixed(4)}`);
  if (m["maxent/ess"] !== undefined) parts.push(`ess ${m["maxent/ess"].toFixed(2)}`);
  if (m["clip_ratio/region_mean"] !== undefined) parts.push(`clip ${m["clip_ratio/region_mean"].toFixed(3)}`);
  parts.push(`len ${m["completions/mean_length"].toFixed(1)}`, `loss ${m.loss.toFixed(4)}`);
  return parts.join(" · ");
}

/** Progress reporting for one run. */
export class Progress {
  private readonly started = performance.now();
  private drawn = false;

  constructor(
    private readonly total: number,
    private readonly first: number,
    private readonly terminal: boolean,
    private readonly log: (line: string) => void,
  ) {}

  /** After step `step` (1-based) with its metrics; `logLine` marks a logging step. */
  update(step: number, m: Record<string, number>, logLine: boolean): void {
    const elapsed = (performance.now() - this.started) / 1000;
    const eta = (elapsed / (step - this.first)) * (this.total - step);
    if (this.terminal) {
      const width = 24, filled = Math.round((width * step) / this.total);
      const bar = "█".repeat(filled) + "░".repeat(width - filled);
      const text = `\r${bar} ${step}/${this.total} · ETA ${duration(eta)} · ${headline(m)}`;
      Deno.stderr.writeSync(new TextEncoder().encode(text.padEnd(120)));
      this.drawn = true;
      if (!logLine) return;
    }
    if (logLine) {
      if (this.drawn) Deno.stderr.writeSync(new TextEncoder().encode("\n"));
      this.drawn = false;
      this.log(`step ${step}/${this.total} · ${headline(m)} · ${m.step_time.toFixed(1)} s/step · ETA ${duration(eta)}`);
    }
  }

  done(): void {
    if (this.drawn) Deno.stderr.writeSync(new TextEncoder().encode("\n"));
  }
}
