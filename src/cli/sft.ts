/** `maxent sft`: supervised fine-tuning on prompt → answer pairs, loss on the answer tokens only (src/train/sft.ts). */
import { Command, Option } from "@commander-js/extra-typings";
import type { Backend } from "../recipe/mod.ts";
import { supervisedFineTune } from "../train/sft.ts";
import type { CliContext } from "./context.ts";
import { parseNumber, parsePositiveInt } from "./parse.ts";

/** Builds the `sft` subcommand. */
export function sftCommand(ctx: CliContext) {
  return new Command("sft")
    .description(
      "supervised fine-tuning: chat-templated prompt → answer text + end token, loss on the completion tokens only; " +
        "writes a Hugging Face model folder with the tokenizer files",
    )
    .requiredOption("--model <dir>", "base model: local folder or Hub id")
    .requiredOption("--dataset <file-or-id>", "dataset: .jsonl/.json/.parquet file, folder, or Hub id")
    .option("--split <name>", "dataset split", "train")
    .option("--prompt-column <name>", "column with the prompt", "problem")
    .option("--answer-column <name>", "column with the target answer", "answer")
    .option("--epochs <n>", "passes over the data", parsePositiveInt("--epochs"), 3)
    .option("--lr <x>", "AdamW learning rate", parseNumber("--lr"), 1e-4)
    .option("--warmup-steps <n>", "linear warm-up steps", parseNumber("--warmup-steps"), 0)
    .option("--batch-size <n>", "rows per optimiser step", parsePositiveInt("--batch-size"), 8)
    .option("--max-length <n>", "longest prompt + answer in tokens", parsePositiveInt("--max-length"), 512)
    .option("--weight-decay <x>", "AdamW weight decay", parseNumber("--weight-decay"), 0)
    .option("--max-grad-norm <x>", "global gradient-norm clip (0 = off)", parseNumber("--max-grad-norm"), 1)
    .option("--seed <n>", "shuffling seed", parseNumber("--seed"), 42)
    .option("--system-prompt <text>", "system message prepended to every prompt")
    .option("--out <dir>", "output folder for the fine-tuned model")
    .option(
      "--gradient-checkpointing",
      "recompute each decoder layer in the backward pass instead of keeping its activations (less memory, ~1 more " +
        "forward pass of compute)",
    )
    .addOption(
      new Option("--backend <name>", "tfjs backend").choices(["auto", "tensorflow", "webgpu", "wasm", "cpu"]),
    )
    .option("--token <token>", "Hugging Face token (default: HF_TOKEN)")
    .action(async (opts) => {
      const result = await supervisedFineTune({
        model: opts.model,
        dataset: opts.dataset,
        split: opts.split,
        promptColumn: opts.promptColumn,
        answerColumn: opts.answerColumn,
        epochs: opts.epochs,
        learningRate: opts.lr,
        warmupSteps: opts.warmupSteps,
        batchSize: opts.batchSize,
        maxLength: opts.maxLength,
        weightDecay: opts.weightDecay,
        maxGradNorm: opts.maxGradNorm,
        seed: opts.seed,
        systemPrompt: opts.systemPrompt,
        out: opts.out,
        gradientCheckpointing: opts.gradientCheckpointing ?? false,
        backend: opts.backend as Backend | undefined,
        hub: opts.token ? { token: opts.token } : {},
        log: (l) => ctx.err(l),
      });
      ctx.out(JSON.stringify({ out: result.out ?? null, steps: result.steps, losses: result.losses }));
    });
}
