/**
 * `maxent train`: the loop, one readable page. For each optimiser step: for each micro-batch of prompts, sample K
 * candidates each → rewards → (MaxEnt-GRPO) listwise target q, reference log-probs, weights w, weighted NLL, or
 * (GRPO) advantages, clipped surrogate + β·KL → backward; then clip the global gradient norm → AdamW at the
 * scheduled learning rate → metrics → checkpoint. Everything the loop needs is prepared by `setupTraining`.
 */
import type * as tf from "@tensorflow/tfjs";
import { join } from "node:path";
import { MaxentError } from "../errors.ts";
import type { LoadedRecipe } from "../recipe/mod.ts";
import { learningRateAt } from "./schedule.ts";
import { clipCoefficient, globalNorm } from "./optimizer.ts";
import { collectRollouts, type RolloutGroup } from "./rollout.ts";
import { accumulateGradients, type MicroStats, objectiveMicroStep } from "./objective_step.ts";
import { saveCheckpoint } from "./checkpoint.ts";
import { stepMetrics } from "./metrics.ts";
import { type Run, setupTraining, type TrainOptions } from "./setup.ts";
import { finishTraining, writeCheckpointFiles } from "./outputs.ts";
import { Progress } from "./progress.ts";

export type { TrainOptions } from "./setup.ts";

/** What a finished (or stopped) run reports. */
export interface TrainResult {
  outputDir: string;
  /** Optimiser steps completed in total (including those before a resume). */
  steps: number;
  /** The last step's metrics. */
  lastMetrics: Record<string, number> | null;
  /** The HTML report, when the run finished. */
  reportPath: string | null;
}

/** Trains the policy as the recipe says; resumes, logs, checkpoints and reports. */
export async function train(loaded: LoadedRecipe, opts: TrainOptions = {}): Promise<TrainResult> {
  const run = await setupTraining(loaded, opts);
  const { recipe, plan, log } = run;
  const progress = new Progress(plan.totalSteps, run.startStep, opts.isTerminal ?? false, log);
  let lastMetrics: Record<string, number> | null = run.history.at(-1) ?? null;
  try {
    for (let step = run.startStep; step < plan.totalSteps; step++) {
      if (opts.stopAfterSteps !== undefined && step - run.startStep >= opts.stopAfterSteps) break;
      const started = performance.now();
      const lr = learningRateAt(plan.schedule, step);

      // ── sample, score, and accumulate gradients over the micro-batches of this step
      await run.syncSampler?.();
      const allGroups: RolloutGroup[] = [];
      const stats: MicroStats[] = [];
      let grads = new Map<string, tf.Tensor>();
      let sampleTime = 0;
      for (let micro = 0; micro < recipe.gradient_accumulation_steps; micro++) {
        const batch = run.promptBatch(step * recipe.gradient_accumulation_steps + micro);
        const t0 = performance.now();
        const groups = await collectRollouts(
          run.sampler,
          run.tokenizer,
          run.rewards,
          batch.examples,
          batch.prompts,
          batch.keys,
          recipe.num_generations,
          run.generation,
        );
        sampleTime += performance.now() - t0;
        const { grads: g, stats: s } = await objectiveMicroStep(
          run.policy,
          run.reference,
          groups,
          run.objective,
          run.lossScale,
          run.tokenizer.padTokenId,
        );
        grads = accumulateGradients(grads, g);
        allGroups.push(...groups);
        stats.push(s);
      }

      // ── clip, update: AdamW reads g · min(1, max_grad_norm / (‖g‖ + 1e-6)), so no clipped copy is made
      const gradNorm = await globalNorm(grads);
      run.optimizer.step(grads, lr, clipCoefficient(gradNorm, recipe.max_grad_norm));
      for (const g of grads.values()) g.dispose();

      // ── log
      const metrics = stepMetrics({
        step: step + 1,
        epoch: run.epochAt(step + 1),
        algorithm: recipe.algorithm,
        rewardNames: run.rewards.names,
        groups: allGroups,
        stats,
        gradNorm,
        learningRate: lr,
        stepTime: (performance.now() - started) / 1000,
        sampleTime: sampleTime / 1000,
        maxCompletionLength: recipe.max_completion_length,
        tokensSoFar: run.tokensSeen,
      });
      run.tokensSeen = metrics.num_tokens;
      if (run.shouldEval(step + 1)) Object.assign(metrics, await run.evaluate());
      run.history.push(metrics);
      lastMetrics = metrics;
      await run.metricsLog.append(metrics);
      if (recipe.log_completions && run.shouldLog(step + 1)) {
        await run.completionsLog.append(step + 1, allGroups, stats);
      }
      progress.update(step + 1, metrics, run.shouldLog(step + 1));

      // ── checkpoint
      if (run.shouldSave(step + 1)) {
        const path = await saveCheckpoint(
          recipe.output_dir,
          step + 1,
          (dir) => writeCheckpointFiles(run, dir, step + 1),
          { totalLimit: recipe.save_total_limit },
        );
        log(`saved ${path}`);
        await run.pushCheckpoint(path);
      }
    }
  } finally {
    progress.done();
  }
  const finished = run.history.length > 0 && (run.history.at(-1)!.step as number) >= plan.totalSteps;
  const reportPath = finished ? await finishTraining(run) : null;
  run.dispose();
  return {
    outputDir: recipe.output_dir,
    steps: (lastMetrics?.step as number) ?? run.startStep,
    lastMetrics,
    reportPath,
  };
}

/** Used by tests and the CLI: the run's type. */
export type { Run };
export { MaxentError };
export { join };
