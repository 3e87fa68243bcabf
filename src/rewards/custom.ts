/**
 * Module rewards: a recipe names a JavaScript/TypeScript file whose export is a {@linkcode RewardFunction}
 * (`./my_reward.ts` → its default export; `module:./path.ts#name` → the export `name`), resolved against the recipe's
 * folder and loaded with a dynamic `import()` of its file URL.
 *
 * This works under `deno run` (with `--allow-read` for the file). A binary built with `deno compile` only contains
 * the modules it was compiled with and cannot import an arbitrary `.ts` file at run time: serve the reward over HTTP
 * and set `reward_url` instead.
 */
import { isAbsolute, resolve } from "node:path";
import { pathToFileURL } from "node:url";
import { MaxentError } from "../errors.ts";
import type { RewardFunction } from "./types.ts";

/** A module reward reference: the file and the export to use. */
export interface ModuleRewardSpec {
  path: string;
  exportName: string;
}

/**
 * Parses a `reward_funcs` entry that names a module: `module:PATH[#export]`, or a bare path that starts with `./`,
 * `../` or `/` or ends in `.ts`, `.js`, `.mts`, `.mjs` (optionally followed by `#export`). Null for other names.
 */
export function parseModuleSpec(name: string): ModuleRewardSpec | null {
  let rest: string;
  if (name.startsWith("module:")) rest = name.slice("module:".length);
  else if (/^(?:\.{1,2}\/|\/)|\.[mc]?[jt]s(?:#|$)/.test(name)) rest = name;
  else return null;
  const hash = rest.lastIndexOf("#");
  const path = hash >= 0 ? rest.slice(0, hash) : rest;
  const exportName = hash >= 0 ? rest.slice(hash + 1) : "default";
  if (path === "" || exportName === "") {
    throw new MaxentError(`reward_funcs entry "${name}": expected module:PATH or module:PATH#exportName`);
  }
  return { path, exportName };
}

/** Imports the reward function named by `spec`, with `spec.path` relative to `baseDir` (the recipe's folder). */
export async function loadModuleReward(name: string, spec: ModuleRewardSpec, baseDir: string): Promise<RewardFunction> {
  const file = isAbsolute(spec.path) ? spec.path : resolve(baseDir, spec.path);
  let mod: Record<string, unknown>;
  try {
    mod = await import(pathToFileURL(file).href);
  } catch (e) {
    throw new MaxentError(
      `reward_funcs entry "${name}": cannot import ${file}: ${e instanceof Error ? e.message : String(e)}. ` +
        "Module rewards need `deno run` with read permission for the file; the compiled maxent binary cannot import " +
        "TypeScript files at run time, so serve the reward over HTTP and set reward_url instead.",
      { cause: e },
    );
  }
  const fn = mod[spec.exportName];
  if (typeof fn !== "function") {
    const fns = Object.keys(mod).filter((k) => typeof mod[k] === "function");
    throw new MaxentError(
      `reward_funcs entry "${name}": ${file} has no function export "${spec.exportName}" ` +
        `(function exports: ${fns.length ? fns.join(", ") : "none"}); write module:${spec.path}#NAME to pick one`,
    );
  }
  return fn as RewardFunction;
}
