/**
 * `deno task experiment`: the default multi-answer experiment end to end, each step a maxent command run in-process
 * and printed first: Countdown data (`maxent data countdown`) → warm-start rows (up to 4 valid answers per training
 * prompt) → a tiny character-level model (`maxent init`) → supervised warm start (`maxent sft`) → `maxent experiment
 * compare` of GRPO, Dr.GRPO, MaxEnt-GRPO and xDr.GRPO from recipes/experiments/countdown.yaml. Everything goes under
 * `runs/experiment/` (git-ignored); finished steps are reused when rerun (delete the folder to start over).
 *
 * Flags: `--out DIR` (runs/experiment), `--arms LIST`, `--sweep SPEC`, `--seeds N` (3), `--eval-seeds N` (3),
 * `--steps N` (the recipe's max_steps), `--sft-epochs N` (6), `--quick` (tiny sizes: a smoke run of a minute).
 */
import { join } from "node:path";
import { main } from "../src/cli/main.ts";
import { tinyModelInitArgs } from "./tiny_model.ts";
import type { CliContext } from "../src/cli/context.ts";
import { generateCountdown, writeTaskSplits } from "../src/tasks/mod.ts";
import { warmStartRows } from "../src/experiment/mod.ts";

const args = Deno.args;
const value = (flag: string) => {
  const i = args.indexOf(flag);
  return i >= 0 ? args[i + 1] : undefined;
};
const out = value("--out") ?? "runs/experiment";
const quick = args.includes("--quick");
const arms = value("--arms") ?? "grpo,dr_grpo,maxent-grpo:tau=0.2,xdr-grpo:tau=0.05";
const enc = new TextEncoder();
const ctx: CliContext = {
  out: (l) => void Deno.stdout.writeSync(enc.encode(l + "\n")),
  err: (l) => void Deno.stderr.writeSync(enc.encode(l + "\n")),
  isTerminal: Deno.stderr.isTerminal(),
};
const started = performance.now();
const run = async (argv: string[]) => {
  ctx.out(`$ maxent ${argv.map((a) => (/[\s\[\],'"]/.test(a) ? `'${a}'` : a)).join(" ")}`);
  const code = await main(argv, ctx);
  if (code !== 0) {
    ctx.err(`experiment: \`maxent ${argv[0]}\` failed with exit code ${code}`);
    Deno.exit(code);
  }
};
const exists = async (p: string) => {
  try {
    await Deno.stat(p);
    return true;
  } catch {
    return false;
  }
};

// ── data: the paper's Countdown (3 distinct numbers from 2..12, 2–8 valid answers per prompt)
const data = join(out, "data");
const train = quick ? 16 : 512, test = quick ? 4 : 64;
const splits = generateCountdown({ seed: 0, train, eval: test });
ctx.out(`$ maxent data countdown --out ${data} --train ${train} --eval ${test} --seed 0`);
await writeTaskSplits(data, splits);
const sftFile = join(out, "sft.jsonl");
const rows = warmStartRows(splits.train, 4, 0);
await Deno.writeTextFile(sftFile, rows.map((r) => JSON.stringify(r)).join("\n") + "\n");
ctx.out(`wrote ${sftFile}: ${rows.length} warm-start rows (up to 4 valid answers per training prompt)`);

// ── tiny model and warm start (reused when present)
const init = join(out, "init"), warm = join(out, "warmstart");
if (!(await exists(join(warm, "model.safetensors")))) {
  await run(tinyModelInitArgs(init, quick, 0));
  await run([
    "sft",
    "--model",
    init,
    "--dataset",
    sftFile,
    "--prompt-column",
    "prompt",
    "--answer-column",
    "completion",
    "--epochs",
    quick ? "1" : (value("--sft-epochs") ?? "6"),
    "--lr",
    "3e-3",
    "--batch-size",
    "32",
    "--seed",
    "0",
    "--out",
    warm,
  ]);
} else {
  ctx.out(`reusing the warm start in ${warm}`);
}

// ── the comparison
const sets = [`model_name_or_path=${warm}`, `dataset_name=${data}`];
if (value("--steps")) sets.push(`max_steps=${value("--steps")}`);
if (quick) sets.push("max_steps=2", "num_generations=4", "per_device_train_batch_size=2", "logging_steps=1");
const compare = [
  "experiment",
  "compare",
  "recipes/experiments/countdown.yaml",
  "--out",
  join(out, "compare"),
  "--arms",
  arms,
  "--seeds",
  quick ? "1" : (value("--seeds") ?? "3"),
  "--eval-seeds",
  quick ? "1" : (value("--eval-seeds") ?? "3"),
  "--k",
  "8",
  ...sets.flatMap((s) => ["--set", s]),
];
if (value("--sweep")) compare.push("--sweep", value("--sweep")!);
await run(compare);
ctx.out(
  `experiment: ${((performance.now() - started) / 60_000).toFixed(1)} min end to end; report ${
    join(out, "compare", "report.html")
  }`,
);
