/**
 * `maxent eval`: pass@1 (greedy and sampled), unbiased pass@k, mean@k, distinct correct answers and coverage of a
 * model on a dataset split (src/eval/evaluate.ts), as JSON and a one-line summary.
 */
import { Command, Option } from "@commander-js/extra-typings";
import type { Backend } from "../recipe/mod.ts";
import { initBackend } from "../backend/mod.ts";
import { hubOptionsFromEnv, resolveDatasetFiles } from "../hub/mod.ts";
import { readEnv } from "../env.ts";
import { resolveRewards } from "../rewards/mod.ts";
import { evalSummary, evaluateModel, loadEvalExamples } from "../eval/evaluate.ts";
import type { CliContext } from "./context.ts";
import { loadSourceModel, loadSourceTokenizer, resolveModelSource, sourceWeightBytes } from "./model_source.ts";
import { parseNumber, parsePositiveInt } from "./parse.ts";

/** Builds the `eval` subcommand. */
export function evalCommand(ctx: CliContext) {
  return new Command("eval")
    .description(
      "evaluate a model: per prompt one greedy and k sampled completions, judged by a reward; prints pass@1 " +
        "(greedy, sampled), pass@k (unbiased), mean@k, distinct@k and coverage@k (with a num_modes column)",
    )
    .requiredOption(
      "--model <dir>",
      "model: local folder, Hub id, or LoRA adapter folder (merged into its base on load)",
    )
    .requiredOption("--dataset <file-or-id>", "dataset: .jsonl/.json/.parquet file, folder, or Hub id")
    .option("--split <name>", "dataset split", "test")
    .option("--prompt-column <name>", "column with the prompt", "prompt")
    .option("--solution-column <name>", "column with the gold answer (for accuracy rewards)", "answer")
    .option("--k <n>", "samples per prompt", parsePositiveInt("--k"), 8)
    .option("--limit <n>", "evaluate the first n prompts", parsePositiveInt("--limit"))
    .option("--temperature <x>", "sampling temperature of the k samples", parseNumber("--temperature"), 1)
    .option("--max-tokens <n>", "longest completion", parsePositiveInt("--max-tokens"), 256)
    .option("--seed <n>", "sampling seed", parseNumber("--seed"), 0)
    .option("--eval-seeds <n>", "independent evaluation seeds (averaged)", parsePositiveInt("--eval-seeds"), 1)
    .option("--reward <name>", "reward that judges correctness (a task reward, accuracy, …)", "accuracy")
    .option("--threshold <x>", "a reward at or above this is correct", parseNumber("--threshold"), 1)
    .option("--system-prompt <text>", "system message prepended to every prompt")
    .option("--json", "print the full JSON report (default: the summary line, then the metrics JSON)")
    .addOption(
      new Option("--backend <name>", "tfjs backend").choices(["auto", "tensorflow", "webgpu", "wasm", "cpu"]),
    )
    .option("--token <token>", "Hugging Face token (default: HF_TOKEN)")
    .action(async (opts) => {
      const log = (l: string) => ctx.err(l);
      const hubOpts = hubOptionsFromEnv(readEnv(), { log, ...(opts.token ? { token: opts.token } : {}) });
      const source = await resolveModelSource(opts.model, hubOpts);
      const examples = await loadEvalExamples({
        name: opts.dataset,
        split: opts.split,
        promptColumn: opts.promptColumn,
        solutionColumn: opts.solutionColumn,
      }, { resolveFiles: (id, o) => resolveDatasetFiles(id, { ...o, ...hubOpts }), limit: opts.limit });
      const rewards = await resolveRewards({
        names: [opts.reward],
        solutionColumn: opts.solutionColumn,
        maxCompletionLength: opts.maxTokens,
        onWarning: (m) => log(`warning: ${m}`),
      });
      await initBackend((opts.backend ?? "auto") as Backend, { log, modelBytes: sourceWeightBytes(source) * 1.25 });
      const tokenizer = await loadSourceTokenizer(source);
      const model = await loadSourceModel(source);
      try {
        const report = await evaluateModel(model, tokenizer, examples, {
          rewards,
          k: opts.k,
          temperature: opts.temperature,
          maxTokens: opts.maxTokens,
          seed: opts.seed,
          evalSeeds: opts.evalSeeds,
          threshold: opts.threshold,
          systemPrompt: opts.systemPrompt,
          perPrompt: opts.json ?? false,
        });
        if (opts.json) {
          ctx.out(JSON.stringify(report));
        } else {
          ctx.out(evalSummary(report));
          ctx.out(JSON.stringify(report.metrics));
        }
      } finally {
        model.dispose();
      }
    });
}
