/**
 * `deno task demo`: maxent's CPU demo end to end, each step a maxent command run in-process and printed first:
 * Countdown data → a tiny character-level model (`maxent init`) → a supervised warm start (`maxent sft`) →
 * MaxEnt-GRPO (`maxent train demo`) → evaluation (`maxent eval`); then the reward at the start vs the end of training
 * and the report's path. Everything goes under `runs/demo/` (git-ignored).
 *
 * Flags: `--out DIR` (default runs/demo), `--seed N` (default 0), `--quick` (tiny sizes, a few steps: for tests).
 */
import { join } from "node:path";
import { main } from "../src/cli/main.ts";
import { tinyModelInitArgs } from "./tiny_model.ts";
import type { CliContext } from "../src/cli/context.ts";
import { generateCountdown, writeTaskSplits } from "../src/tasks/mod.ts";

/** Options of {@linkcode runDemo}. */
export interface DemoOptions {
  /** Output folder (default runs/demo). */
  out?: string;
  /** Seed of data, init, SFT and training (default 0). */
  seed?: number;
  /** Tiny sizes and a few steps (for tests). */
  quick?: boolean;
  /** Where lines go (default: the process's stdout/stderr). */
  ctx?: CliContext;
}

/** What the demo reports. */
export interface DemoResult {
  /** Mean `reward` over the first and the last few training steps. */
  startReward: number;
  endReward: number;
  /** Per-step rewards. */
  rewards: number[];
  /** The HTML report. */
  report: string | null;
  /** metrics.jsonl of the training run. */
  metrics: string;
  /** The `maxent eval` metrics of the warm-started model (before MaxEnt-GRPO) and of the trained one. */
  evalBefore: Record<string, number>;
  eval: Record<string, number>;
  /** Seconds, end to end. */
  seconds: number;
}

/** Runs the demo; throws when a step fails. */
export async function runDemo(opts: DemoOptions = {}): Promise<DemoResult> {
  const started = performance.now();
  const out = opts.out ?? "runs/demo";
  const seed = opts.seed ?? 0;
  const quick = opts.quick ?? false;
  const enc = new TextEncoder();
  const ctx: CliContext = opts.ctx ?? {
    out: (l) => void Deno.stdout.writeSync(enc.encode(l + "\n")),
    err: (l) => void Deno.stderr.writeSync(enc.encode(l + "\n")),
    isTerminal: Deno.stderr.isTerminal(),
  };
  const captured: string[] = [];
  const run = async (args: string[]) => {
    ctx.out(`$ maxent ${args.map((a) => (/[\s\[\],'"]/.test(a) ? `'${a}'` : a)).join(" ")}`);
    captured.length = 0;
    const code = await main(args, { ...ctx, out: (l) => (captured.push(l), ctx.out(l)) });
    if (code !== 0) throw new Error(`demo: \`maxent ${args[0]}\` failed with exit code ${code}`);
    return captured.slice();
  };

  // Countdown with two numbers from 2..20 (every target has one answer): a task a 0.3M-parameter model learns in
  // minutes. `maxent data countdown` writes the paper's three-number version; this is the same generator.
  // The warm start and MaxEnt-GRPO see different prompts (SFT the first `sftRows`, RL the rest), so RL starts where
  // the warm-started model has to generalise rather than recall.
  const data = join(out, "data");
  const train = quick ? 16 : 330, test = quick ? 4 : 64, sftRows = quick ? 10 : 230;
  ctx.out(
    `$ # data: generateCountdown({ count: 2, maxNumber: 20, minModes: 1, train: ${train}, eval: ${test}, seed: ${seed} })`,
  );
  const splits = generateCountdown({ count: 2, maxNumber: 20, minModes: 1, train, eval: test, seed });
  const rows = splits.train.slice(0, sftRows);
  const paths = await writeTaskSplits(data, { train: splits.train.slice(sftRows), test: splits.test });
  ctx.out(
    `wrote ${paths.train} (${train - sftRows} RL prompts) and ${paths.test} (${test} test prompts); ${sftRows} ` +
      `more prompts for the warm start`,
  );

  // The warm-start target: open-r1's think/answer format around the dataset's boxed answer.
  const sftFile = join(out, "sft.jsonl");
  await Deno.writeTextFile(
    sftFile,
    rows.map((r) =>
      JSON.stringify({
        prompt: r.prompt,
        completion: `<think>\n${r.target}\n</think>\n<answer>\n${r.answer}\n</answer>`,
      }) + "\n"
    ).join(""),
  );
  ctx.out(
    `wrote ${sftFile}: ${rows.length} prompt → "<think>\\nTARGET\\n</think>\\n<answer>\\n\\boxed{…}\\n</answer>" rows`,
  );

  await run(tinyModelInitArgs(join(out, "init"), quick, seed));
  await run([
    "sft",
    "--model",
    join(out, "init"),
    "--dataset",
    sftFile,
    "--prompt-column",
    "prompt",
    "--answer-column",
    "completion",
    "--epochs",
    quick ? "1" : "26",
    "--lr",
    "2e-3",
    "--batch-size",
    "8",
    "--seed",
    String(seed),
    "--out",
    join(out, "sft"),
  ]);

  // test-set accuracy of a model (greedy pass@1, sampled pass@1, pass@8), before and after MaxEnt-GRPO
  const evaluate = async (model: string) => {
    const lines = await run([
      "eval",
      "--model",
      model,
      "--dataset",
      data,
      "--reward",
      "countdown",
      "--k",
      quick ? "2" : "8",
      "--max-tokens",
      quick ? "12" : "40",
      "--seed",
      String(seed),
    ]);
    return JSON.parse(lines.at(-1) ?? "{}") as Record<string, number>;
  };
  const evalBefore = await evaluate(join(out, "sft"));

  const trainDir = join(out, "train");
  const sets = [
    `model_name_or_path=${join(out, "sft")}`,
    `dataset_name=${data}`,
    `output_dir=${trainDir}`,
    `seed=${seed}`,
  ];
  if (quick) {
    sets.push(
      "max_steps=3",
      "num_generations=4",
      "per_device_train_batch_size=2",
      "max_completion_length=12",
      "save_steps=2",
      "logging_steps=1",
      "do_eval=true",
      "eval_steps=3",
    );
  }
  const trainOut = await run(["train", "demo", ...sets.flatMap((s) => ["--set", s])]);
  const metricsPath = join(trainDir, "metrics.jsonl");
  const steps = (await Deno.readTextFile(metricsPath)).trim().split("\n").map((l) => JSON.parse(l));
  const rewards = steps.map((m) => m.reward as number);
  const window = Math.max(1, Math.min(10, Math.floor(rewards.length / 3)));
  const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
  const startReward = mean(rewards.slice(0, window));
  const endReward = mean(rewards.slice(-window));
  const report = (JSON.parse(trainOut.at(-1) ?? "{}").report as string | null) ?? null;

  const evalMetrics = await evaluate(trainDir);
  const seconds = (performance.now() - started) / 1000;
  ctx.out("");
  ctx.out(
    `demo: reward ${startReward.toFixed(3)} (mean of the first ${window} steps) → ${endReward.toFixed(3)} (last ` +
      `${window}) over ${rewards.length} MaxEnt-GRPO steps; ${seconds.toFixed(0)} s end to end`,
  );
  const f = (m: Record<string, number>) =>
    `pass@1 ${m["pass@1"]?.toFixed(3)} greedy, ${m["pass@1_sampled"]?.toFixed(3)} sampled, pass@k ${
      m["pass@k"]?.toFixed(3)
    }`;
  ctx.out(`demo: test prompts before MaxEnt-GRPO: ${f(evalBefore)}; after: ${f(evalMetrics)}`);
  ctx.out(`demo: report ${report ?? "(not written)"}; model ${trainDir}; metrics ${metricsPath}`);
  return {
    startReward,
    endReward,
    rewards,
    report,
    metrics: metricsPath,
    evalBefore,
    eval: evalMetrics,
    seconds,
  };
}

if (import.meta.main) {
  const args = Deno.args;
  const value = (flag: string) => {
    const i = args.indexOf(flag);
    return i >= 0 ? args[i + 1] : undefined;
  };
  try {
    await runDemo({
      out: value("--out"),
      seed: value("--seed") !== undefined ? Number(value("--seed")) : undefined,
      quick: args.includes("--quick"),
    });
  } catch (e) {
    console.error(e instanceof Error ? e.message : String(e));
    Deno.exit(1);
  }
}
