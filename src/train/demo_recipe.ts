/**
 * The embedded demo recipe: `maxent train demo` means `recipes/demo/config_countdown.yaml`, found next to the program
 * (source checkout or compiled binary with recipes/ embedded), not in the working directory.
 */
import { fileURLToPath } from "node:url";

/** Recipe names that refer to recipes shipped with maxent, and their files relative to this module. */
export const EMBEDDED_RECIPES: Record<string, URL> = {
  demo: new URL("../../recipes/demo/config_countdown.yaml", import.meta.url),
};

/** A recipe argument → the file to load: an embedded recipe's path for a known name (`demo`), else the argument. */
export function resolveRecipeArg(arg: string): string {
  const url = EMBEDDED_RECIPES[arg];
  return url ? fileURLToPath(url) : arg;
}
