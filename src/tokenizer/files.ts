/**
 * The tokenizer and generation files a Hugging Face model directory carries besides its weights, and copying them
 * into a new model directory (checkpoints, the final model, SFT output, merged adapters, `maxent init --tokenizer`).
 */
import { join } from "node:path";

/** Files copied from a base model into every model directory maxent writes. */
export const TOKENIZER_FILE_NAMES: readonly string[] = [
  "tokenizer.json",
  "tokenizer_config.json",
  "special_tokens_map.json",
  "generation_config.json",
  "chat_template.jinja",
  "vocab.json",
  "merges.txt",
];

/**
 * Copies each of `names` that exists into `toDir`, taking it from the first of `fromDirs` that holds it; a name no
 * directory holds is skipped. Returns the names copied.
 *
 * @example
 * ```ts
 * await copyTokenizerFiles(["runs/adapter", "models/base"], "runs/merged"); // the adapter's files win
 * ```
 */
export async function copyTokenizerFiles(
  fromDirs: readonly string[],
  toDir: string,
  names: readonly string[] = TOKENIZER_FILE_NAMES,
): Promise<string[]> {
  const copied: string[] = [];
  for (const name of names) {
    for (const dir of fromDirs) {
      try {
        await Deno.copyFile(join(dir, name), join(toDir, name));
        copied.push(name);
        break;
      } catch (e) {
        if (!(e instanceof Deno.errors.NotFound)) throw e;
      }
    }
  }
  return copied;
}
