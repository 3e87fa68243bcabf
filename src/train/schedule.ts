/**
 * Learning-rate schedules with Hugging Face `transformers` semantics (`get_scheduler`): the rate used for optimiser
 * step s (0-based) is base · λ(s), so with warm-up the first step runs at rate 0, exactly as the HF Trainer does.
 */

/** `lr_scheduler_type` values maxent supports. */
export type SchedulerType = "constant" | "constant_with_warmup" | "linear" | "cosine";

/** What a schedule needs: the type, the total optimiser steps and the warm-up. */
export interface ScheduleSpec {
  type: SchedulerType;
  baseLr: number;
  totalSteps: number;
  /** warmup_steps if > 0, else ⌈warmup_ratio · totalSteps⌉ (HF `get_warmup_steps`). */
  warmupSteps: number;
}

/** HF TrainingArguments.get_warmup_steps: warmup_steps > 0 wins, else ceil(warmup_ratio · total). */
export function warmupStepsFor(totalSteps: number, warmupSteps: number, warmupRatio: number): number {
  return warmupSteps > 0 ? warmupSteps : Math.ceil(warmupRatio * totalSteps);
}

/**
 * The multiplier λ(s) for optimiser step s.
 * - warm-up (s < W): s / max(1, W)
 * - linear: max(0, (T − s) / max(1, T − W))
 * - cosine: max(0, ½ (1 + cos(π · (s − W) / max(1, T − W))))
 * - constant: 1 (no warm-up); constant_with_warmup: 1 after warm-up
 */
export function lrMultiplier(spec: ScheduleSpec, step: number): number {
  const { type, totalSteps: T } = spec;
  if (type === "constant") return 1;
  const W = spec.warmupSteps;
  if (step < W) return step / Math.max(1, W);
  if (type === "constant_with_warmup") return 1;
  const progress = (step - W) / Math.max(1, T - W);
  if (type === "linear") return Math.max(0, (T - step) / Math.max(1, T - W));
  return Math.max(0, 0.5 * (1 + Math.cos(Math.PI * progress)));
}

/** The learning rate for optimiser step s: baseLr · λ(s). */
export function learningRateAt(spec: ScheduleSpec, step: number): number {
  return spec.baseLr * lrMultiplier(spec, step);
}
