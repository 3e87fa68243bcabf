/**
 * `maxent score`: per-token log-probabilities under a model — of given token ids, or of a completion after a
 * (chat-templated) prompt. A quick way to check a model loads and to compare numbers with transformers.
 */
import { Command, Option } from "@commander-js/extra-typings";
import * as tf from "@tensorflow/tfjs";
import { UsageError } from "../errors.ts";
import { type BackendChoice, initBackend } from "../backend/mod.ts";
import type { CausalLM } from "../model/transformer.ts";
import { maskTensor } from "../model/host_mask.ts";
import type { CliContext } from "./context.ts";
import { loadSourceModel, loadSourceTokenizer, resolveModelSource, sourceWeightBytes } from "./model_source.ts";
import { hubOptionsFromEnv } from "../hub/mod.ts";
import { readEnv } from "../env.ts";

/** log p(ids[t] | ids[<t]) for t ≥ 1 of one sequence (read back asynchronously, as webgpu needs). */
export async function scoreIds(model: CausalLM, ids: number[]): Promise<number[]> {
  if (ids.length < 2) return [];
  const lp = tf.tidy(() => {
    const x = tf.tensor2d([ids], [1, ids.length], "int32");
    return model.tokenLogProbs(x, maskTensor(new Float32Array(ids.length).fill(1), [1, ids.length]));
  });
  try {
    return Array.from(await lp.data());
  } finally {
    lp.dispose();
  }
}

function parseIds(value: string): number[] {
  const parts = value.split(",").map((s) => s.trim());
  return parts.map((p, i) => {
    const n = Number(p);
    if (p === "" || !Number.isInteger(n) || n < 0) {
      throw new UsageError(`--ids: entry ${i + 1} ("${p}") is not a non-negative integer; expected e.g. 1,5,7,9`);
    }
    return n;
  });
}

/** Builds the `score` subcommand. */
export function scoreCommand(ctx: CliContext) {
  return new Command("score")
    .description(
      "Print log p(token | previous tokens) under a model: of --ids (t ≥ 1), or of the --completion tokens after " +
        "the chat-templated --prompt.",
    )
    .requiredOption(
      "--model <dir>",
      "model: local folder, Hub id, or LoRA adapter folder (merged into its base on load)",
    )
    .option("--ids <list>", "comma-separated token ids, e.g. 1,5,7,9", parseIds)
    .option("--prompt <text>", "prompt text (a user message, chat-templated unless --raw)")
    .option("--completion <text>", "completion text whose tokens are scored")
    .option("--system <text>", "system message before the prompt")
    .option("--raw", "use --prompt as plain text, without the chat template")
    .option("--json", 'print one JSON object {"logprobs": [...], "ids": [...], "sum": …}')
    .addOption(
      new Option("--backend <name>", "tfjs backend").choices(["auto", "tensorflow", "webgpu", "wasm", "cpu"]).default(
        "auto",
      ),
    )
    .action(async (opts) => {
      if ((opts.ids === undefined) === (opts.completion === undefined)) {
        throw new UsageError("give either --ids, or --prompt with --completion");
      }
      if (opts.completion !== undefined && opts.prompt === undefined) {
        throw new UsageError("--completion needs --prompt");
      }
      // float32 weights plus headroom for activations: lets `auto` avoid the 4 GiB wasm heap for big models
      const log = (l: string) => ctx.err(l);
      const source = await resolveModelSource(opts.model, hubOptionsFromEnv(readEnv(), { log }));
      await initBackend(opts.backend as BackendChoice, { log, modelBytes: sourceWeightBytes(source) * 1.25 });
      const model = await loadSourceModel(source);
      try {
        let ids: number[];
        let first = 1; // index in ids of the first scored token
        if (opts.ids !== undefined) {
          ids = opts.ids;
          if (ids.length < 2) throw new UsageError("--ids needs at least two ids (the first one is only context)");
        } else {
          const tok = await loadSourceTokenizer(source);
          const messages = [
            ...(opts.system !== undefined ? [{ role: "system", content: opts.system }] : []),
            { role: "user", content: opts.prompt! },
          ];
          const promptText = opts.raw ? opts.prompt! : tok.applyChatTemplate(messages, { addGenerationPrompt: true });
          const promptIds = tok.encode(promptText);
          const completionIds = tok.encode(opts.completion!);
          if (promptIds.length === 0) throw new UsageError("--prompt encodes to no tokens: nothing to condition on");
          if (completionIds.length === 0) throw new UsageError("--completion encodes to no tokens");
          ids = [...promptIds, ...completionIds];
          first = promptIds.length;
        }
        const bad = ids.find((id) => id >= model.config.vocabSize);
        if (bad !== undefined) {
          throw new UsageError(
            `token id ${bad} is outside the model's vocabulary (vocab_size ${model.config.vocabSize})`,
          );
        }
        const lp = (await scoreIds(model, ids)).slice(first - 1);
        const scored = ids.slice(first);
        const sum = lp.reduce((a, b) => a + b, 0);
        if (opts.json) {
          ctx.out(JSON.stringify({ logprobs: lp, ids: scored, sum }));
        } else {
          for (let i = 0; i < lp.length; i++) ctx.out(`${scored[i]}\t${lp[i].toFixed(6)}`);
          ctx.out(`sum\t${sum.toFixed(6)}\t(${lp.length} tokens, mean ${(sum / Math.max(1, lp.length)).toFixed(6)})`);
        }
      } finally {
        model.dispose();
      }
    });
}
