/**
 * `maxent sample`: K candidate completions per prompt from a local model, as the trainer samples them — for
 * checking a model, a chat template or sampling settings before training.
 */
import { Command, Option } from "@commander-js/extra-typings";
import { MaxentError, UsageError } from "../errors.ts";
import { type BackendChoice, initBackend } from "../backend/mod.ts";
import { sampleLocal } from "../sampler/local.ts";
import type { CliContext } from "./context.ts";
import { loadSourceModel, loadSourceTokenizer, resolveModelSource, sourceWeightBytes } from "./model_source.ts";
import { hubOptionsFromEnv } from "../hub/mod.ts";
import { readEnv } from "../env.ts";
import { parseNumber, parsePositiveInt } from "./parse.ts";

function parseIdList(value: string): number[] {
  return value.split(",").map((p, i) => {
    const n = Number(p.trim());
    if (p.trim() === "" || !Number.isInteger(n) || n < 0) {
      throw new UsageError(`--prompt-ids: entry ${i + 1} ("${p}") is not a token id; expected e.g. 1,2,3`);
    }
    return n;
  });
}

/** Reads prompts from a JSONL file: each line a JSON string or an object with a `prompt` field. */
async function readPromptFile(path: string): Promise<string[]> {
  let text: string;
  try {
    text = await Deno.readTextFile(path);
  } catch {
    throw new MaxentError(`--prompts: cannot read ${path}`);
  }
  return text.split("\n").flatMap((line, i) => {
    if (!line.trim()) return [];
    let v: unknown;
    try {
      v = JSON.parse(line);
    } catch {
      throw new MaxentError(`${path}:${i + 1}: not JSON (expected "text" or {"prompt": "text"})`);
    }
    if (typeof v === "string") return [v];
    if (v && typeof (v as { prompt?: unknown }).prompt === "string") return [(v as { prompt: string }).prompt];
    throw new MaxentError(`${path}:${i + 1}: expected a JSON string or an object with a "prompt" string`);
  });
}

/** Builds the `sample` subcommand. */
export function sampleCommand(ctx: CliContext) {
  return new Command("sample")
    .description("sample K candidate completions per prompt from a local model")
    .requiredOption(
      "--model <dir>",
      "model: local folder, Hub id, or LoRA adapter folder (merged into its base on load)",
    )
    .option("--prompt <text>", "one prompt (a user message, chat-templated unless --raw)")
    .option("--prompts <file.jsonl>", 'prompts, one per line: "text" or {"prompt": "text"}')
    .option("--prompt-ids <list>", "one prompt as token ids, e.g. 1,2,3 (no template)", parseIdList)
    .option("--system <text>", "system message before each prompt")
    .option("-k, --num-generations <k>", "candidates per prompt", parsePositiveInt("-k"), 8)
    .option("--temperature <t>", "0 = greedy", parseNumber("--temperature"), 0.8)
    .option("--top-p <p>", "nucleus mass (1 = off)", parseNumber("--top-p"), 1)
    .option("--top-k <k>", "keep the k most likely tokens (0 = off)", parseNumber("--top-k"), 0)
    .option("--min-p <p>", "drop tokens below p × the top probability (0 = off)", parseNumber("--min-p"), 0)
    .option("--repetition-penalty <x>", "HF repetition penalty (1 = off)", parseNumber("--repetition-penalty"), 1)
    .option("--max-tokens <n>", "max completion tokens", parsePositiveInt("--max-tokens"), 256)
    .option("--stop <text...>", "stop strings")
    .option("--seed <n>", "random seed", parseNumber("--seed"), 1)
    .option("--raw", "use prompts as plain text, without the chat template")
    .option("--json", "one JSON object per candidate and line")
    .addOption(
      new Option("--backend <name>", "tfjs backend").choices(["auto", "tensorflow", "webgpu", "wasm", "cpu"])
        .default("auto"),
    )
    .action(async (opts) => {
      const given = [opts.prompt, opts.prompts, opts.promptIds].filter((x) => x !== undefined).length;
      if (given !== 1) throw new UsageError("give exactly one of --prompt, --prompts or --prompt-ids");
      if (!Number.isInteger(opts.seed) || opts.seed < 0) throw new UsageError("--seed expects a non-negative integer");
      if (opts.temperature < 0) throw new UsageError("--temperature must be ≥ 0");
      if (!(opts.topP > 0 && opts.topP <= 1)) throw new UsageError("--top-p must be in (0, 1]");
      const log = (l: string) => ctx.err(l);
      const source = await resolveModelSource(opts.model, hubOptionsFromEnv(readEnv(), { log }));
      await initBackend(opts.backend as BackendChoice, { log, modelBytes: sourceWeightBytes(source) * 1.25 });
      const tokenizer = await loadSourceTokenizer(source);
      const model = await loadSourceModel(source);
      try {
        let promptIds: number[][];
        if (opts.promptIds) promptIds = [opts.promptIds];
        else {
          const texts = opts.prompt !== undefined ? [opts.prompt] : await readPromptFile(opts.prompts!);
          if (texts.length === 0) throw new MaxentError(`--prompts: ${opts.prompts} holds no prompts`);
          promptIds = texts.map((t) =>
            tokenizer.encode(
              opts.raw ? t : tokenizer.applyChatTemplate([
                ...(opts.system !== undefined ? [{ role: "system", content: opts.system }] : []),
                { role: "user", content: t },
              ], { addGenerationPrompt: true }),
            )
          );
        }
        if (promptIds.some((p) => p.length === 0)) throw new UsageError("a prompt encodes to no tokens");
        const groups = await sampleLocal(model, tokenizer, {
          promptIds,
          k: opts.numGenerations,
          params: {
            temperature: opts.temperature,
            topP: opts.topP,
            topK: opts.topK,
            minP: opts.minP,
            repetitionPenalty: opts.repetitionPenalty,
            maxTokens: opts.maxTokens,
            seed: opts.seed,
            stop: opts.stop,
          },
        });
        for (const c of groups.flat()) {
          if (opts.json) {
            ctx.out(JSON.stringify({
              prompt_index: c.promptIndex,
              candidate: c.candidate,
              ids: c.ids,
              text: c.text,
              logprobs: c.logprobs,
              finish_reason: c.finishReason,
            }));
          } else {
            const lp = c.logprobs!.reduce((a, b) => a + b, 0);
            ctx.out(
              `[prompt ${c.promptIndex} · candidate ${c.candidate} · ${c.ids!.length} tokens · ${c.finishReason}` +
                ` · log p ${lp.toFixed(3)}]`,
            );
            ctx.out(c.text);
          }
        }
      } finally {
        model.dispose();
      }
    });
}
