/**
 * The per-step metrics with TRL's names (reward, reward_std, rewards/<fn>/mean, frac_reward_zero_std,
 * completions/*, kl, entropy, loss, grad_norm, learning_rate, num_tokens, step_time, tokens_per_second; maxent/*
 * for MaxEnt-GRPO, clip_ratio/* for GRPO), and the two JSONL logs a run writes: metrics.jsonl (one line per step)
 * and completions.jsonl (`log_completions`: prompts with their candidates, rewards and weights).
 */
import type { RolloutGroup } from "./rollout.ts";
import type { MicroStats } from "./objective_step.ts";
import { writeFileAtomic } from "./checkpoint.ts";

const mean = (xs: number[]) => (xs.length ? xs.reduce((a, b) => a + b, 0) / xs.length : NaN);
// unbiased (n − 1) standard deviation, as torch.std
function std(xs: number[]): number {
  if (xs.length < 2) return 0;
  const m = mean(xs);
  return Math.sqrt(xs.reduce((a, x) => a + (x - m) ** 2, 0) / (xs.length - 1));
}

/** Inputs of `stepMetrics`. */
export interface StepMetricsInput {
  step: number;
  epoch: number;
  algorithm: string;
  rewardNames: string[];
  groups: RolloutGroup[];
  stats: MicroStats[];
  gradNorm: number;
  learningRate: number;
  stepTime: number;
  sampleTime: number;
  maxCompletionLength: number;
  /** num_tokens before this step (prompt + completion tokens processed so far). */
  tokensSoFar: number;
}

/** One metrics.jsonl line. `entropy` is the mean −log π_θ of the sampled tokens (an unbiased per-token estimate). */
export function stepMetrics(m: StepMetricsInput): Record<string, number> {
  const utilities = m.groups.flatMap((g) => g.utilities);
  const lengths = m.groups.flatMap((g) => g.candidates.map((c) => c.ids.length));
  const clipped = m.groups.flatMap((g) => g.candidates.map((c) => (c.finishReason === "length" ? 1 : 0)));
  const promptTokens = m.groups.reduce((a, g) => a + g.prompt.ids.length * g.candidates.length, 0);
  const completionTokens = m.stats.reduce((a, s) => a + s.tokens, 0);
  const out: Record<string, number> = {
    step: m.step,
    epoch: Number(m.epoch.toFixed(4)),
    loss: m.stats.reduce((a, s) => a + s.loss, 0),
    grad_norm: m.gradNorm,
    learning_rate: m.learningRate,
    reward: mean(utilities),
    reward_std: mean(m.groups.map((g) => std(g.utilities))),
    frac_reward_zero_std: mean(m.groups.map((g) => (std(g.utilities) === 0 ? 1 : 0))),
  };
  m.rewardNames.forEach((name, f) => {
    const vals = m.groups.flatMap((g) => g.perFunction[f]).filter((v): v is number => v !== null);
    out[`rewards/${name}/mean`] = mean(vals);
    out[`rewards/${name}/std`] = std(vals);
  });
  out["completions/mean_length"] = mean(lengths);
  out["completions/min_length"] = Math.min(...lengths);
  out["completions/max_length"] = Math.max(...lengths);
  out["completions/clipped_ratio"] = mean(clipped);
  const kl = m.stats.reduce((a, s) => a + s.klSum, 0);
  if (Number.isFinite(kl)) out.kl = kl / completionTokens;
  out.entropy = m.stats.reduce((a, s) => a + s.negLogProbSum, 0) / completionTokens;
  if (m.algorithm === "maxent-grpo") {
    out["maxent/q_entropy"] = mean(m.stats.flatMap((s) => s.qEntropy));
    out["maxent/weight_entropy"] = mean(m.stats.flatMap((s) => s.weightEntropy));
    out["maxent/ess"] = mean(m.stats.flatMap((s) => s.ess));
  } else {
    if (m.algorithm === "xdr-grpo" && m.stats.some((s) => s.ess.length)) {
      out["xdr/weight_entropy"] = mean(m.stats.flatMap((s) => s.weightEntropy));
      out["xdr/ess"] = mean(m.stats.flatMap((s) => s.ess));
    }
    const clip = m.stats.filter((s) => s.clip).map((s) => s.clip!);
    out["clip_ratio/low_mean"] = mean(clip.map((c) => c.low));
    out["clip_ratio/high_mean"] = mean(clip.map((c) => c.high));
    out["clip_ratio/region_mean"] = mean(clip.map((c) => c.region));
  }
  out.num_tokens = m.tokensSoFar + promptTokens + completionTokens;
  out.step_time = m.stepTime;
  out.sample_time = m.sampleTime;
  out.tokens_per_second = (promptTokens + completionTokens) / m.stepTime;
  return out;
}

/** metrics.jsonl, appended one line per step; a resumed run first rewrites it to the checkpoint's history. */
export class MetricsLog {
  private constructor(private readonly path: string) {}

  static async open(path: string, history: Array<Record<string, number>>): Promise<MetricsLog> {
    await writeFileAtomic(path, history.map((r) => JSON.stringify(r) + "\n").join(""));
    return new MetricsLog(path);
  }

  async append(row: Record<string, number>): Promise<void> {
    await Deno.writeTextFile(this.path, JSON.stringify(row) + "\n", { append: true });
  }
}

/** completions.jsonl: at each logging step, a few prompts with every candidate, its reward and weight. */
export class CompletionsLog {
  private constructor(private readonly path: string) {}

  static async open(path: string, fromStep: number): Promise<CompletionsLog> {
    let kept = "";
    try {
      kept = (await Deno.readTextFile(path)).split("\n")
        .filter((l) => l.trim() && JSON.parse(l).step <= fromStep).map((l) => l + "\n").join("");
    } catch { /* no earlier log */ }
    await writeFileAtomic(path, kept);
    return new CompletionsLog(path);
  }

  /** Logs up to `maxPrompts` groups of this step. */
  async append(step: number, groups: RolloutGroup[], stats: MicroStats[], maxPrompts = 2): Promise<void> {
    const perCandidate = stats.flatMap((s) => s.perCandidate);
    const lines = groups.slice(0, maxPrompts).map((g, i) =>
      JSON.stringify({
        step,
        prompt: g.prompt.text,
        candidates: g.candidates.map((c, j) => ({
          text: c.text,
          reward: g.utilities[j],
          weight: perCandidate[i]?.[j],
          tokens: c.ids.length,
          finish_reason: c.finishReason,
        })),
      }) + "\n"
    );
    await Deno.writeTextFile(this.path, lines.join(""), { append: true });
  }
}
