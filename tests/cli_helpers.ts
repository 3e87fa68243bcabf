/** Runs maxent's CLI in-process for tests, capturing what it prints. */
import { main } from "../src/cli/main.ts";
import type { CliContext } from "../src/cli/context.ts";

/** Runs the CLI in-process and captures what it prints. */
export async function runCli(args: string[]): Promise<{ code: number; out: string; err: string }> {
  const out: string[] = [];
  const err: string[] = [];
  const ctx: CliContext = { out: (l) => out.push(l), err: (l) => err.push(l), isTerminal: false };
  const code = await main(args, ctx);
  return { code, out: out.join("\n"), err: err.join("\n") };
}

/**
 * Writes a randomly initialised `tiny`-preset model to `dir` with `maxent init` (`flags` are extra init flags such as
 * `--hidden 32`); throws with init's stderr when it fails.
 */
export async function initTinyModel(dir: string, seed: number, flags: Record<string, number> = {}): Promise<void> {
  const extra = Object.entries(flags).flatMap(([k, v]) => [`--${k}`, String(v)]);
  const r = await runCli(["init", dir, "--preset", "tiny", "--seed", String(seed), ...extra]);
  if (r.code !== 0) throw new Error(`maxent init ${dir} failed: ${r.err}`);
}

/** Recipe YAML from keys (JSON-quoted values; undefined keys left out). */
export function recipeYaml(keys: Record<string, unknown>): string {
  return Object.entries(keys).filter(([, v]) => v !== undefined).map(([k, v]) => `${k}: ${JSON.stringify(v)}`)
    .join("\n") + "\n";
}

/**
 * A temp folder with a tiny model (`model`, init seed `seed`) and a 12-row `n+1=` dataset (`data`) for training tests.
 */
export async function tinyTrainingSetup(
  prefix: string,
  seed: number,
): Promise<{ root: string; model: string; data: string }> {
  const root = await Deno.makeTempDir({ prefix });
  const model = `${root}/model`, data = `${root}/train.jsonl`;
  await initTinyModel(model, seed);
  const rows = Array.from({ length: 12 }, (_, i) => JSON.stringify({ problem: `${i}+1=`, answer: String(i + 1) }));
  await Deno.writeTextFile(data, rows.join("\n") + "\n");
  return { root, model, data };
}
