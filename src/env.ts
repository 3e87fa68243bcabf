/**
 * Reading the environment under maxent's narrow `--allow-env=<list>` permission. `Deno.env.toObject()` needs access
 * to every variable and so throws in `deno task maxent` and the compiled binary; use {@link readEnv} instead, which
 * reads the named variables one by one and treats a variable maxent may not read as unset.
 */

/**
 * The variables maxent's code reads by name (its libraries read a few more; the full grant is in
 * scripts/permissions.ts, whose `--allow-env` list must cover every name here — tests/binary_test.ts checks it).
 */
export const ENV_NAMES: readonly string[] = [
  // Hugging Face Hub
  "HF_ENDPOINT",
  "HF_TOKEN",
  "HF_HOME",
  "HF_HUB_CACHE",
  "HUGGINGFACE_HUB_CACHE",
  "HF_HUB_OFFLINE",
  "HUGGING_FACE_HUB_TOKEN",
  "TRANSFORMERS_OFFLINE",
  // MaxEnt-GRPO overrides and maxent's own settings
  "MAXENT_TAU",
  "MAXENT_Q_TEMPERATURE",
  "MAXENT_Q_EPS",
  "MAXENT_LENGTH_NORM_REF",
  "MAXENT_BLAS",
  // BLAS threads, caches, temp and home folders, terminal
  "OPENBLAS_NUM_THREADS",
  "OMP_NUM_THREADS",
  "XDG_CACHE_HOME",
  "XDG_RUNTIME_DIR",
  "HOME",
  "USERPROFILE",
  "TMPDIR",
  "DENO_DIR",
  "NO_COLOR",
  "FORCE_COLOR",
  "TERM",
  "COLUMNS",
];

/**
 * The environment as a plain object, like `Deno.env.toObject()` but limited to `names` (default {@link ENV_NAMES})
 * and never throwing: a variable that is unset or not readable under the granted permissions is left out.
 *
 * @example
 * ```ts
 * const hub = hubOptionsFromEnv(readEnv(), { token: flags.token }); // instead of Deno.env.toObject()
 * ```
 */
export function readEnv(names: readonly string[] = ENV_NAMES): Record<string, string | undefined> {
  const env: Record<string, string | undefined> = {};
  for (const name of names) {
    try {
      const value = Deno.env.get(name);
      if (value !== undefined) env[name] = value;
    } catch { /* not granted: counts as unset */ }
  }
  return env;
}
