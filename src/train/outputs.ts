/**
 * What a run writes besides its logs: checkpoints (Hugging Face model layout + tokenizer files + optimizer state +
 * trainer_state.json + the resolved recipe) and, at the end, the final model in `output_dir` with a model card,
 * the HTML report, and the Hub upload.
 */
import { join } from "node:path";
import { stringify } from "yaml";
import { writeSafetensorsFile } from "../model/safetensors.ts";
import { adapterModelCard, LoraAdapters } from "../model/lora.ts";
import { modelCard } from "../hub/mod.ts";
import { writeTrainingReport } from "../report/training.ts";
import { TRAINER_STATE, writeFileAtomic } from "./checkpoint.ts";
import type { Run } from "./setup.ts";
import { copyTokenizerFiles } from "../tokenizer/files.ts";

/** Writes a complete checkpoint into `dir`; trainer_state.json goes last. */
export async function writeCheckpointFiles(run: Run, dir: string, step: number): Promise<void> {
  // with LoRA: the adapter in PEFT format (adapter_model.safetensors + adapter_config.json), not the base weights
  const adapters = run.policy.adapter instanceof LoraAdapters ? run.policy.adapter : null;
  if (adapters) await adapters.save(dir);
  else await run.policy.save(dir, { dtype: "F32" });
  await copyTokenizerFiles([run.modelDir], dir);
  const state = await run.optimizer.stateTensors();
  await writeSafetensorsFile(join(dir, "optimizer.safetensors"), [...state.entries()], { dtype: "F32" });
  await writeFileAtomic(join(dir, "recipe.yaml"), stringify(run.recipe));
  await writeFileAtomic(
    join(dir, TRAINER_STATE),
    JSON.stringify(
      {
        global_step: step,
        epoch: run.epochAt(step),
        max_steps: run.plan.totalSteps,
        num_train_epochs: run.recipe.num_train_epochs,
        seed: run.recipe.seed,
        algorithm: run.recipe.algorithm,
        optimizer_step: run.optimizer.stepCount,
        num_tokens: run.tokensSeen,
        ...(adapters ? { lora_dropout_calls: adapters.dropoutCalls } : {}),
        data_order:
          "epoch e visits prompts in shuffled(indices, seed + e); micro-batch m takes stream items m·P…m·P+P−1",
        rng: "Philox4x32-10 keyed by (seed, prompt stream index, candidate, position): stateless",
        log_history: run.history,
      },
      null,
      2,
    ) + "\n",
  );
}

/** Saves the final model and model card into output_dir, writes the report and pushes; returns the report path. */
export async function finishTraining(run: Run): Promise<string> {
  const out = run.recipe.output_dir;
  const adapters = run.policy.adapter instanceof LoraAdapters ? run.policy.adapter : null;
  if (adapters) await adapters.save(out);
  else await run.policy.save(out, { dtype: "F32" });
  await copyTokenizerFiles([run.modelDir], out);
  const last = run.history.at(-1) ?? {};
  const knobs: Record<string, unknown> = { ...run.objective };
  if (adapters) Object.assign(knobs, { lora_r: adapters.settings.r, lora_alpha: adapters.settings.alpha });
  const card = (text: string) => (adapters ? adapterModelCard(text, run.recipe.model_name_or_path) : text);
  await writeFileAtomic(
    join(out, "README.md"),
    card(modelCard({
      baseModel: run.recipe.model_name_or_path,
      datasets: run.recipe.dataset_name ? [run.recipe.dataset_name] : undefined,
      algorithm: run.recipe.algorithm,
      knobs,
      metrics: Object.fromEntries(
        ["reward", "kl", "entropy", "maxent/ess", "completions/mean_length"].filter((k) => k in last).map((
          k,
        ) => [k, last[k]]),
      ),
    })),
  );
  const report = await writeTrainingReport(out, {
    algorithm: run.recipe.algorithm,
    model: run.recipe.model_name_or_path,
    dataset: run.recipe.dataset_name ?? "mixture",
    recipe: run.loaded.file,
    num_generations: run.recipe.num_generations,
  });
  run.log(`final model in ${out}; report: ${report}`);
  await run.pushFinal();
  return report;
}
