/**
 * Recipe loading: YAML text → one validated `Recipe`, with the seed project's extra keys reported once, readable
 * errors for unknown keys and wrong types, the MaxEnt environment variables, and `--set key=value` overrides.
 *
 * Precedence of a value, highest first:
 * 1. `--set key=value` on the command line;
 * 2. the recipe file;
 * 3. the environment (`MAXENT_TAU`, `MAXENT_Q_TEMPERATURE`, `MAXENT_Q_EPS`, `MAXENT_LENGTH_NORM_REF`), only for the
 *    four MaxEnt keys, as DESIGN.md says (recipe value, then environment, then default);
 * 4. the schema default.
 *
 * @module
 */
import YAML from "yaml";
import { MaxentError, UsageError } from "../errors.ts";
import { IGNORED_KEYS, type Recipe, RECIPE_KEYS, recipeKeyJsonSchemas, RecipeSchema, typeText } from "./schema.ts";

/** Options of `parseRecipe` / `loadRecipe`. */
export interface RecipeLoadOptions {
  /**
   * Environment to read the MAXENT_* variables from. Unset: the process environment (only those four variables
   * are read; without `--allow-env` they count as unset).
   */
  env?: Record<string, string | undefined>;
  /** Command-line overrides `key=value` (the value is YAML: `--set reward_funcs=[a,b]`); `key=` restores the default. */
  overrides?: string[];
}

/** A loaded recipe with the warnings to show the user once and the file it came from. */
export interface LoadedRecipe {
  /** The validated recipe, defaults filled in. */
  recipe: Recipe;
  /** Human-readable warnings (ignored seed keys, environment variables shadowed by the recipe). */
  warnings: string[];
  /** The file name the recipe was read from (as given). */
  file: string;
}

/** The environment variables honoured by the loader and the recipe key each one sets. */
export const RECIPE_ENV_VARS = {
  MAXENT_TAU: "maxent_tau",
  MAXENT_Q_TEMPERATURE: "maxent_q_temperature",
  MAXENT_Q_EPS: "maxent_q_epsilon",
  MAXENT_LENGTH_NORM_REF: "maxent_length_normalize_ref",
} as const;

type Raw = Record<string, unknown>;

/**
 * Reads and validates the recipe at `path`. Throws `MaxentError` naming the file and key for an unreadable file,
 * invalid YAML, unknown keys (with the nearest valid key), wrong types and bad MAXENT_* variables; `UsageError` for
 * a bad `--set`. See the module doc for the precedence of `--set`, recipe, environment and defaults.
 *
 * @example
 * ```ts
 * const { recipe, warnings } = await loadRecipe("recipes/Qwen2.5-1.5B-Instruct/maxent-grpo/config_math.yaml");
 * recipe.maxent_tau; // 0.2
 * ```
 */
export async function loadRecipe(path: string, opts: RecipeLoadOptions = {}): Promise<LoadedRecipe> {
  let text: string;
  try {
    text = await Deno.readTextFile(path);
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) throw new MaxentError(`recipe file not found: ${path}`);
    if (e instanceof Deno.errors.IsADirectory) {
      throw new MaxentError(`recipe ${path} is a folder; give the path of a .yaml file`);
    }
    throw new MaxentError(`cannot read recipe ${path}: ${e instanceof Error ? e.message : String(e)}`);
  }
  return parseRecipe(text, path, opts);
}

/**
 * Validates recipe YAML text; `file` names the source in messages. Same rules and errors as `loadRecipe`.
 *
 * @example
 * ```ts
 * const { recipe } = parseRecipe("model_name_or_path: m\ndataset_name: d\n", "inline.yaml");
 * recipe.algorithm; // "maxent-grpo"
 * ```
 */
export function parseRecipe(yamlText: string, file: string, opts: RecipeLoadOptions = {}): LoadedRecipe {
  const warnings: string[] = [];
  const raw = readYamlMapping(yamlText, file);

  // Keys: seed-only keys are dropped with one warning; unknown keys are an error with a suggestion.
  const ignored: string[] = [];
  const unknown: string[] = [];
  for (const key of Object.keys(raw)) {
    if (RECIPE_KEYS.includes(key)) continue;
    if (IGNORED_KEYS.has(key)) ignored.push(key);
    else unknown.push(key);
    delete raw[key];
  }
  if (unknown.length > 0) {
    const parts = unknown.map((k) => `unknown key \`${k}\` (did you mean \`${nearestKey(k)}\`?)`);
    throw new MaxentError(`recipe ${file}: ${parts.join("; ")}`);
  }
  if (ignored.length > 0) {
    warnings.push(
      `recipe ${file}: ignoring ${ignored.length} key${ignored.length === 1 ? "" : "s"} that the seed's TRL ` +
        `tooling accepts but maxent does not use: ${ignored.join(", ")}`,
    );
  }

  // --set overrides (highest precedence), then the environment for MaxEnt keys the recipe leaves unset.
  for (const item of opts.overrides ?? []) applyOverride(raw, item);
  applyEnvironment(raw, opts.env ?? processEnv(), file, warnings);

  coerceNumericStrings(raw);
  if (
    raw.gen_temperature !== undefined && raw.temperature !== undefined && raw.gen_temperature !== raw.temperature
  ) {
    throw new MaxentError(
      `recipe ${file}: \`gen_temperature\` and \`temperature\` are the same knob with different values; set only one`,
    );
  }
  if (raw.gen_top_p !== undefined && raw.top_p !== undefined && raw.gen_top_p !== raw.top_p) {
    throw new MaxentError(
      `recipe ${file}: \`gen_top_p\` and \`top_p\` are the same knob with different values; set only one`,
    );
  }

  const parsed = RecipeSchema.safeParse(raw);
  if (!parsed.success) {
    const problems = parsed.error.issues.map((issue) => describeIssue(issue, raw));
    throw new MaxentError(`recipe ${file}: ${[...new Set(problems)].join("; ")}`);
  }
  return { recipe: parsed.data, warnings, file };
}

// YAML 1.1, as PyYAML (and so the seed's TRL parser) reads recipes: `yes`/`no` are booleans, `5e-6` is a string that
// coerceNumericStrings turns into a number for number-typed keys, as TRL's argument parser does.
function readYamlMapping(text: string, file: string): Raw {
  const doc = YAML.parseDocument(text, { version: "1.1", uniqueKeys: true, prettyErrors: true });
  if (doc.errors.length > 0) {
    const e = doc.errors[0];
    const where = e.linePos ? ` (line ${e.linePos[0].line}, column ${e.linePos[0].col})` : "";
    const first = e.message.split("\n")[0].replace(/ at line \d+, column \d+:?$/, "");
    throw new MaxentError(`recipe ${file} is not valid YAML${where}: ${first}`);
  }
  const value = doc.toJS();
  if (value === null || value === undefined) {
    throw new MaxentError(`recipe ${file} is empty; it needs at least \`model_name_or_path\` and \`dataset_name\``);
  }
  if (typeof value !== "object" || Array.isArray(value)) {
    throw new MaxentError(`recipe ${file} must be a mapping of \`key: value\` lines, not a ${describeValue(value)}`);
  }
  return { ...(value as Raw) };
}

function applyOverride(raw: Raw, item: string): void {
  const eq = item.indexOf("=");
  if (eq <= 0) throw new UsageError(`--set expects key=value (e.g. --set maxent_tau=0.1), got "${item}"`);
  const key = item.slice(0, eq).trim();
  const text = item.slice(eq + 1);
  if (!RECIPE_KEYS.includes(key)) {
    const why = IGNORED_KEYS.has(key)
      ? "is not used by maxent"
      : `is not a recipe key (did you mean \`${nearestKey(key)}\`?)`;
    throw new UsageError(`--set ${key}: \`${key}\` ${why}`);
  }
  let value: unknown;
  try {
    value = YAML.parse(text, { version: "1.1" });
  } catch {
    value = text; // not YAML: take the text as a string
  }
  if (value === null || value === undefined) delete raw[key];
  else raw[key] = value;
}

function processEnv(): Record<string, string | undefined> {
  const env: Record<string, string | undefined> = {};
  for (const name of Object.keys(RECIPE_ENV_VARS)) {
    try {
      env[name] = Deno.env.get(name);
    } catch {
      env[name] = undefined; // no --allow-env: the variables count as unset
    }
  }
  return env;
}

function applyEnvironment(raw: Raw, env: Record<string, string | undefined>, file: string, warnings: string[]) {
  for (const [name, key] of Object.entries(RECIPE_ENV_VARS)) {
    const text = env[name]?.trim();
    if (text === undefined || text === "") continue;
    let value: number | boolean;
    if (key === "maxent_length_normalize_ref") {
      const t = text.toLowerCase();
      if (t === "1" || t === "true") value = true;
      else if (t === "0" || t === "false") value = false;
      else throw new MaxentError(`environment variable ${name}="${text}" must be "1" or "0"; fix or unset it`);
    } else {
      value = Number(text);
      if (!Number.isFinite(value)) {
        throw new MaxentError(`environment variable ${name}="${text}" is not a number; fix or unset it`);
      }
    }
    if (key in raw) {
      warnings.push(`${name}=${text} is ignored: recipe ${file} (or --set) sets \`${key}\`, which takes precedence`);
    } else {
      raw[key] = value;
    }
  }
}

const NUMERIC = /^[-+]?(\d[\d_]*\.?\d*|\.\d+)([eE][-+]?\d+)?$/;

function isNumberSchema(s: Record<string, unknown> | undefined): boolean {
  return s?.type === "number" || s?.type === "integer";
}

// "5e-6" → 5e-6 for number-typed keys (and lists of numbers); anything else is left for the schema to judge.
function coerceNumericStrings(raw: Raw): void {
  const props = recipeKeyJsonSchemas();
  const toNumber = (
    v: unknown,
  ) => (typeof v === "string" && NUMERIC.test(v.trim()) ? Number(v.trim().replaceAll("_", "")) : v);
  for (const [key, value] of Object.entries(raw)) {
    const s = props[key];
    if (isNumberSchema(s)) raw[key] = toNumber(value);
    else if (s?.type === "array" && isNumberSchema(s.items) && Array.isArray(value)) raw[key] = value.map(toNumber);
  }
}

interface Issue {
  code: string;
  path: PropertyKey[];
  message: string;
  keys?: string[];
}

function describeIssue(issue: Issue, raw: Raw): string {
  const [top, ...rest] = issue.path;
  const key = String(top ?? "");
  if (issue.code === "custom") return `\`${key}\` ${issue.message}`;
  if (issue.code === "unrecognized_keys") {
    const at = issue.path.length > 0 ? `${pathText(issue.path)}.` : "";
    return (issue.keys ?? []).map((k) => `unknown key \`${at}${k}\``).join("; ");
  }
  if (rest.length > 0) return `\`${pathText(issue.path)}\`: ${issue.message}`;
  const expected = typeText(recipeKeyJsonSchemas()[key] ?? {});
  if (!(key in raw)) return `\`${key}\` is required (${expected})`;
  return `\`${key}\` expects ${expected}, got ${describeValue(raw[key])}`;
}

function pathText(path: PropertyKey[]): string {
  return path.map((p, i) => (typeof p === "number" ? `[${p}]` : `${i > 0 ? "." : ""}${String(p)}`)).join("");
}

function describeValue(v: unknown): string {
  if (v === null) return "an empty value";
  if (Array.isArray(v)) return `a list ${JSON.stringify(v)}`;
  if (typeof v === "object") return "a mapping";
  if (typeof v === "string") return `string ${JSON.stringify(v)}`;
  return `${typeof v} ${String(v)}`;
}

/** The valid recipe key nearest to `key` by edit distance (ties: the first in schema order). */
export function nearestKey(key: string): string {
  let best = RECIPE_KEYS[0];
  let bestDistance = Infinity;
  for (const candidate of RECIPE_KEYS) {
    const d = editDistance(key.toLowerCase(), candidate);
    if (d < bestDistance) [best, bestDistance] = [candidate, d];
  }
  return best;
}

/** Levenshtein distance (insertions, deletions, substitutions) between `a` and `b`. */
export function editDistance(a: string, b: string): number {
  // d[i][j] = distance between a[0..i) and b[0..j), one row at a time.
  let prev = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const cur = [i];
    for (let j = 1; j <= b.length; j++) {
      cur[j] = Math.min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (a[i - 1] === b[j - 1] ? 0 : 1));
    }
    prev = cur;
  }
  return prev[b.length];
}
