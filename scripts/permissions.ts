/**
 * The Deno permissions maxent runs with — the one place they are defined. The `maxent` task in deno.json, the
 * compiled binary (`deno task compile` bakes these flags in) and the clean-copy test in tests/binary_test.ts all use
 * this list; tests/binary_test.ts fails if deno.json's task drifts from it (`deno task readme` does not touch it:
 * edit the task string by hand to `maxentTaskCommand()`'s value).
 *
 * Why each flag, and why not narrower (also in README.md, "Permissions"):
 * - `--allow-read`: recipes, datasets, model files and the Hugging Face cache live wherever the user keeps them
 *   (paths come from the recipe, flags and HF_HOME at run time), and the wasm backend reads its `.wasm` files.
 * - `--allow-write`: the output and cache directories come from the recipe and the environment at run time, but
 *   `deno compile` fixes the flags when the binary is built, so write access cannot be scoped to them by Deno.
 *   Instead every write goes through `assertWritableUnder()` (src/paths.ts), which resolves `..` and symlinks and
 *   refuses any path outside the run's output and cache roots.
 * - `--allow-env=<list>`: only the variables maxent and its libraries read (prefix wildcards `HF_*` etc.). With it,
 *   `Deno.env.toObject()` throws: code reads the environment through `readEnv()` (src/env.ts).
 * - `--allow-net`: the Hub endpoint (HF_ENDPOINT), a remote sampler and reward URLs are chosen by the recipe or the
 *   environment at run time, so no host list can be baked in; nothing is contacted that the recipe does not name.
 * - `--allow-ffi`: OpenBLAS (libopenblas.so.0) through `Deno.dlopen` for fast matmul; a path-scoped `--allow-ffi`
 *   breaks the soname lookup (measured), and the library's location varies by distribution.
 * - `--allow-sys=<list>`: `homedir` (the Hub client's default cache path) and the few system facts reported in
 *   run metadata.
 * - `--no-prompt`: a missing permission fails with an error instead of prompting on a terminal.
 * Not granted: `--allow-run` (no feature starts processes), `--allow-all`, `--allow-import`.
 */

/**
 * Environment variables maxent may read. Trailing `*` is a prefix wildcard (Deno ≥ 2.1).
 * HF_* / HUGGINGFACE_* / HUGGING_FACE_HUB_TOKEN / TRANSFORMERS_OFFLINE: Hub endpoint, token, cache and offline
 * mode, under their current and legacy names (the Hub client reads HUGGINGFACE_HUB_CACHE);
 * MAXENT_*: the objective's overrides (MAXENT_TAU, …) and maxent's own settings; OPENBLAS_* / OMP_NUM_THREADS:
 * BLAS threading; XDG_*: XDG_RUNTIME_DIR for WebGPU and XDG_CACHE_HOME; HOME / USERPROFILE / TMPDIR: default cache
 * and temp locations; DENO_DIR: where the backend looks for an installed tfjs-node; NO_COLOR / FORCE_COLOR / CLICOLOR_FORCE / TERM / COLUMNS: terminal output (commander reads them);
 * CUDA_VISIBLE_DEVICES / TF_CPP_MIN_LOG_LEVEL: the optional tfjs-node-gpu backend; LOG_TOKENS / LOG_STREAM: the
 * `yaml` package's debug switches, read on every parse (without them loading a recipe fails).
 */
export const ENV_VARS: readonly string[] = [
  "HF_*",
  "HUGGINGFACE_*",
  "HUGGING_FACE_HUB_TOKEN",
  "TRANSFORMERS_OFFLINE",
  "MAXENT_*",
  "OPENBLAS_*",
  "OMP_NUM_THREADS",
  "XDG_*",
  "HOME",
  "USERPROFILE",
  "TMPDIR",
  "DENO_DIR",
  "NO_COLOR",
  "FORCE_COLOR",
  "CLICOLOR_FORCE",
  "TERM",
  "COLUMNS",
  "CUDA_VISIBLE_DEVICES",
  "TF_CPP_MIN_LOG_LEVEL",
  "LOG_TOKENS",
  "LOG_STREAM",
];

/** System information maxent may query (`Deno.osRelease()` etc. / node:os). */
export const SYS_APIS: readonly string[] = ["homedir", "cpus", "osRelease", "systemMemoryInfo"];

/**
 * The runtime permission flags, in the order they appear on the command line. Used verbatim by the `maxent` task,
 * by `deno compile` and by the clean-copy test.
 */
export const RUN_PERMISSIONS: readonly string[] = [
  "--allow-read",
  "--allow-write",
  `--allow-env=${ENV_VARS.join(",")}`,
  "--allow-net",
  "--allow-ffi",
  `--allow-sys=${SYS_APIS.join(",")}`,
  "--no-prompt",
];

/** Quotes `arg` for deno task's shell when it holds characters the shell would expand (`*` globs). */
export function shellQuote(arg: string): string {
  return /^[A-Za-z0-9_@%+=:,./-]+$/.test(arg) ? arg : `'${arg.replaceAll("'", "'\\''")}'`;
}

/** The exact command deno.json's `maxent` task must hold: `deno run <RUN_PERMISSIONS> cli.ts`. */
export function maxentTaskCommand(): string {
  return ["deno", "run", ...RUN_PERMISSIONS, "cli.ts"].map(shellQuote).join(" ");
}
