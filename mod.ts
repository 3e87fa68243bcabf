/**
 * maxent's public library API: recipes, the MaxEnt-GRPO / GRPO objective math, models, sampling, rewards and
 * training, for programs that embed maxent rather than run its CLI.
 *
 * @example
 * ```ts
 * import { VERSION } from "./mod.ts";
 * console.log(VERSION);
 * ```
 *
 * @module
 */
export { VERSION } from "./src/version.ts";
export { MaxentError, UsageError } from "./src/errors.ts";
