/**
 * Turning what a recipe names — `model_name_or_path` (+ `model_revision`), `dataset_name` + `dataset_config` +
 * split — into local files: local paths pass through after a check; Hub ids are downloaded into the shared cache,
 * fetching only the files training needs (model config, safetensors weights or shards, tokenizer and generation
 * config; the data files of one dataset config and split).
 */
import { parse as parseYaml } from "yaml";
import { join, resolve as resolvePath } from "node:path";
import { MaxentError } from "../errors.ts";
import { exists, listSnapshotFiles, snapshotDir } from "./cache.ts";
import {
  ensureFile,
  listRepoFiles,
  type RepoFile,
  type RepoSession,
  repoSession,
  resolveCommit,
  resolveRevisionOnline,
} from "./download.ts";
import { globToRegExp, matchesAny } from "./glob.ts";
import { expandHome, type HubOptions } from "./options.ts";

/**
 * True when `idOrPath` names a local file or directory rather than a Hub repo id: it exists on disk, or it starts
 * with `./`, `../`, `/`, `~` or a Windows drive letter.
 */
export function isLocalPath(idOrPath: string): boolean {
  if (/^(\.{1,2}([/\\]|$)|[/\\]|~([/\\]|$)|[A-Za-z]:[/\\])/.test(idOrPath)) return true;
  try {
    Deno.statSync(idOrPath);
    return true;
  } catch {
    return false;
  }
}

/** The files of a model repo that loading and training need (top level only). */
export const MODEL_FILE_GLOBS = [
  "config.json",
  "generation_config.json",
  "*.safetensors",
  "model.safetensors.index.json",
  "tokenizer.json",
  "tokenizer_config.json",
  "special_tokens_map.json",
  "added_tokens.json",
  "vocab.json",
  "merges.txt",
  "tokenizer.model",
  "chat_template.jinja",
  "chat_template.json",
  "adapter_config.json",
];

async function checkLocalModel(dir: string): Promise<string> {
  const abs = resolvePath(expandHome(dir));
  let st: Deno.FileInfo;
  try {
    st = await Deno.stat(abs);
  } catch {
    throw new MaxentError(`model path ${dir} does not exist (for a Hub model, give its id as org/name)`);
  }
  if (!st.isDirectory) throw new MaxentError(`model path ${dir} is a file; give the directory holding config.json`);
  if (!(await exists(join(abs, "config.json")))) {
    throw new MaxentError(`model directory ${dir} has no config.json: it is not a Hugging Face model folder`);
  }
  return abs;
}

/** The weight files a model snapshot needs, given its file list and (if any) the safetensors index. */
function requiredWeights(paths: string[], index: { weight_map?: Record<string, string> } | undefined): string[] {
  if (index?.weight_map) return [...new Set(Object.values(index.weight_map))].sort();
  return paths.filter((p) => !p.includes("/") && p.endsWith(".safetensors"));
}

/**
 * A model repo id (or local path) → a local directory with config.json, the safetensors weights (or the index and
 * its shards), the tokenizer files and generation_config.json. Local paths pass through after checking they exist.
 *
 * @example
 * ```ts
 * const dir = await resolveModel("Qwen/Qwen2.5-1.5B-Instruct", "main", hubOptionsFromEnv());
 * ```
 */
export async function resolveModel(idOrPath: string, revision?: string, opts: HubOptions = {}): Promise<string> {
  if (isLocalPath(idOrPath)) return await checkLocalModel(idOrPath);
  const s = repoSession({ type: "model", id: idOrPath }, opts);
  const rev = revision ?? "main";
  const { commit, online } = await resolveCommit(s, rev);
  const snap = snapshotDir(s.storage, commit);
  if (!online) {
    const cached = await listSnapshotFiles(snap);
    const missing: string[] = [];
    if (!cached.includes("config.json")) missing.push("config.json");
    let index: { weight_map?: Record<string, string> } | undefined;
    if (cached.includes("model.safetensors.index.json")) {
      index = JSON.parse(await Deno.readTextFile(join(snap, "model.safetensors.index.json")));
    }
    const weights = requiredWeights(cached, index);
    if (weights.length === 0) missing.push("*.safetensors");
    missing.push(...weights.filter((w) => !cached.includes(w)));
    if (missing.length) {
      throw new MaxentError(
        `the cached snapshot ${snap} of model ${idOrPath}@${rev} is missing ${missing.join(", ")} and the Hub is ` +
          `not used (HF_HUB_OFFLINE or unreachable): run "maxent download ${idOrPath}" online first`,
      );
    }
    return snap;
  }
  const files = await listRepoFiles(s, commit);
  const byPath = new Map(files.map((f) => [f.path, f]));
  if (!byPath.has("config.json")) {
    throw new MaxentError(
      `model repo ${idOrPath}@${rev} has no config.json at its top level: it is not a transformers model ` +
        `(files: ${preview(files.map((f) => f.path))})`,
    );
  }
  let index: { weight_map?: Record<string, string> } | undefined;
  const indexFile = byPath.get("model.safetensors.index.json");
  if (indexFile) {
    const p = await ensureFile(s, commit, indexFile);
    index = JSON.parse(await Deno.readTextFile(p));
  }
  const weights = requiredWeights(files.map((f) => f.path), index);
  if (weights.length === 0) {
    const bins = files.filter((f) => /\.(bin|pt|pth|ckpt|gguf)$/.test(f.path)).map((f) => f.path);
    throw new MaxentError(
      `model repo ${idOrPath}@${rev} has no .safetensors weights${bins.length ? ` (only ${preview(bins)})` : ""}; ` +
        `maxent reads safetensors only: convert the checkpoint with transformers (save_pretrained) first`,
    );
  }
  const missingShards = weights.filter((w) => !byPath.has(w));
  if (missingShards.length) {
    throw new MaxentError(
      `model repo ${idOrPath}@${rev}: model.safetensors.index.json names shards that are not in the repo: ` +
        preview(missingShards),
    );
  }
  // With an index, only the shards it names (repos often also hold e.g. a consolidated copy of the weights).
  const wanted = files.filter((f) =>
    weights.includes(f.path) ||
    (!f.path.includes("/") && !f.path.endsWith(".safetensors") && matchesAny(f.path, MODEL_FILE_GLOBS))
  );
  for (const f of wanted) await ensureFile(s, commit, f);
  return snap;
}

function preview(items: string[], n = 8): string {
  return items.length <= n ? items.join(", ") : `${items.slice(0, n).join(", ")}, … (${items.length} in all)`;
}

/** File extensions maxent's dataset readers take. */
export const DATA_EXTENSIONS = [".parquet", ".jsonl", ".json"];

function isDataFile(p: string): boolean {
  return DATA_EXTENSIONS.some((e) => p.endsWith(e)) && !p.split("/").some((s) => s.startsWith("."));
}

/** One config of a dataset card's `configs:` list. */
interface CardConfig {
  config_name?: string;
  default?: boolean;
  data_files?: unknown;
}

/** The `configs:` of a README.md's YAML front matter ([] when absent or unreadable). */
export function cardConfigs(readme: string | undefined): CardConfig[] {
  if (!readme) return [];
  const m = /^---\r?\n([\s\S]*?)\r?\n---/.exec(readme);
  if (!m) return [];
  try {
    const meta = parseYaml(m[1]) as { configs?: CardConfig[] } | null;
    return Array.isArray(meta?.configs) ? meta.configs : [];
  } catch {
    return [];
  }
}

/** The `data_files` globs of one split in a card config (string, list, list of {split, path}, or dict). */
function splitGlobs(dataFiles: unknown, split: string): string[] | undefined {
  const asList = (v: unknown) => (Array.isArray(v) ? v.map(String) : [String(v)]);
  if (typeof dataFiles === "string") return split === "train" ? [dataFiles] : undefined;
  if (Array.isArray(dataFiles)) {
    if (dataFiles.every((d) => typeof d === "string")) return split === "train" ? dataFiles : undefined;
    const entry = dataFiles.find((d) => d && typeof d === "object" && (d as { split?: string }).split === split);
    return entry ? asList((entry as { path: unknown }).path) : undefined;
  }
  if (dataFiles && typeof dataFiles === "object") {
    const v = (dataFiles as Record<string, unknown>)[split];
    return v === undefined ? undefined : asList(v);
  }
  return undefined;
}

/** Split names a card config declares. */
function cardSplits(dataFiles: unknown): string[] {
  if (typeof dataFiles === "string") return ["train"];
  if (Array.isArray(dataFiles)) {
    if (dataFiles.every((d) => typeof d === "string")) return ["train"];
    return dataFiles.map((d) => String((d as { split?: string }).split));
  }
  return dataFiles && typeof dataFiles === "object" ? Object.keys(dataFiles) : [];
}

/**
 * Chooses the data files of `config` and `split` among a repo's `paths`: from the dataset card's `configs:` when
 * it has them, else by the Hub's file-name conventions (`data/<split>-*`, `<config>/<split>-*`, `<split>/…`,
 * `<split>.jsonl`, and the converted `<config>/<split>/*.parquet` layout of `refs/convert/parquet`).
 */
export function selectDataFiles(
  paths: string[],
  readme: string | undefined,
  config: string | undefined,
  split: string,
) {
  const data = paths.filter(isDataFile);
  const configs = cardConfigs(readme);
  if (configs.length) {
    const chosen = config
      ? configs.find((c) => (c.config_name ?? "default") === config)
      : configs.find((c) => c.default) ?? configs.find((c) => (c.config_name ?? "default") === "default") ??
        (configs.length === 1 ? configs[0] : undefined);
    if (chosen) {
      const globs = splitGlobs(chosen.data_files, split);
      if (globs) return data.filter((p) => globs.some((g) => globToRegExp(g).test(p))).sort();
      return [];
    }
    if (config) return [];
  }
  const base = config && config !== "default" ? `${config}/` : "";
  const s = split;
  const globs = [
    `${base}data/${s}-*`,
    `${base}data/${s}.*`,
    `${base}data/${s}/**`,
    `${base}${s}-*`,
    `${base}${s}.*`,
    `${base}${s}/**`,
    `${config ?? "default"}/${s}/*.parquet`,
    `${config ?? "default"}/partial-${s}/*.parquet`,
  ];
  for (const g of globs) {
    const re = globToRegExp(g);
    const hit = data.filter((p) => re.test(p));
    if (hit.length) return hit.sort();
  }
  return [];
}

/** What configs/splits a repo seems to offer (for error messages). */
function describeAvailable(paths: string[], readme: string | undefined): string {
  const configs = cardConfigs(readme);
  if (configs.length) {
    return configs.map((c) => `${c.config_name ?? "default"} (${cardSplits(c.data_files).join(", ")})`).join("; ");
  }
  return preview(paths.filter(isDataFile));
}

/**
 * A dataset repo → the local paths of the data files of the chosen config and split: `data/<split>-*.parquet`,
 * `<config>/<split>-*.parquet`, the converted `refs/convert/parquet` layout (`<config>/<split>/*.parquet`), or
 * *.jsonl/*.json files named by split. The dataset card's `configs:` are honoured. A local directory is searched
 * with the same rules; a local file is returned as is.
 *
 * @example
 * ```ts
 * const files = await resolveDatasetFiles("open-r1/OpenR1-Math-220k", { config: "default", split: "train" });
 * ```
 */
export async function resolveDatasetFiles(
  id: string,
  opts: { config?: string; split: string; revision?: string } & HubOptions,
): Promise<string[]> {
  if (isLocalPath(id)) return await localDatasetFiles(id, opts.config, opts.split);
  const s = repoSession({ type: "dataset", id }, opts);
  const rev = opts.revision ?? "main";
  const { commit, online } = await resolveCommit(s, rev);
  const found = online ? await onlineDataFiles(s, commit, opts.config, opts.split) : undefined;
  if (found && found.files.length) return found.files;
  if (!online) {
    const snap = snapshotDir(s.storage, commit);
    const cached = await listSnapshotFiles(snap);
    const readme = cached.includes("README.md") ? await Deno.readTextFile(join(snap, "README.md")) : undefined;
    const hit = selectDataFiles(cached, readme, opts.config, opts.split);
    if (hit.length) return hit.map((p) => join(snap, p));
    // The converted parquet branch may be cached too.
    if (opts.revision === undefined) {
      const conv = await convertedCommitOffline(s);
      if (conv) {
        const convSnap = snapshotDir(s.storage, conv);
        const convHit = selectDataFiles(await listSnapshotFiles(convSnap), undefined, opts.config, opts.split);
        if (convHit.length) return convHit.map((p) => join(convSnap, p));
      }
    }
    throw new MaxentError(
      `the cached snapshot ${snap} of dataset ${id}@${rev} has no data files for config ` +
        `"${opts.config ?? "default"}", split "${opts.split}" and the Hub is not used (HF_HUB_OFFLINE or ` +
        `unreachable): run "maxent download ${id} --repo-type dataset" online first (cached: ${preview(cached)})`,
    );
  }
  // Nothing in the repo's own files: try the Hub's automatic parquet conversion.
  if (opts.revision === undefined) {
    let conv: string | undefined;
    try {
      conv = await resolveRevisionOnline(s, "refs/convert/parquet");
    } catch {
      conv = undefined;
    }
    if (conv) {
      const convFound = await onlineDataFiles(s, conv, opts.config, opts.split, false);
      if (convFound.files.length) return convFound.files;
    }
  }
  throw new MaxentError(
    `dataset ${id}@${rev} has no data files (${DATA_EXTENSIONS.join(", ")}) for config ` +
      `"${opts.config ?? "default"}" and split "${opts.split}"; available: ${
        describeAvailable(found!.paths, found!.readme)
      } (set dataset_config / the split name accordingly)`,
  );
}

async function convertedCommitOffline(s: RepoSession): Promise<string | undefined> {
  const text = await Deno.readTextFile(join(s.storage, "refs", "refs", "convert", "parquet")).catch(() => undefined);
  return text?.trim() || undefined;
}

async function onlineDataFiles(
  s: RepoSession,
  commit: string,
  config: string | undefined,
  split: string,
  useCard = true,
): Promise<{ files: string[]; paths: string[]; readme?: string }> {
  const files = await listRepoFiles(s, commit);
  const byPath = new Map<string, RepoFile>(files.map((f) => [f.path, f]));
  let readme: string | undefined;
  const card = byPath.get("README.md");
  if (useCard && card) readme = await Deno.readTextFile(await ensureFile(s, commit, card));
  const chosen = selectDataFiles(files.map((f) => f.path), readme, config, split);
  const out: string[] = [];
  for (const p of chosen) out.push(await ensureFile(s, commit, byPath.get(p)!));
  return { files: out, paths: files.map((f) => f.path), readme };
}

async function localDatasetFiles(path: string, config: string | undefined, split: string): Promise<string[]> {
  const abs = resolvePath(expandHome(path));
  let st: Deno.FileInfo;
  try {
    st = await Deno.stat(abs);
  } catch {
    throw new MaxentError(`dataset path ${path} does not exist (for a Hub dataset, give its id as org/name)`);
  }
  if (st.isFile) return [abs];
  const paths = await listSnapshotFiles(abs);
  const readme = paths.includes("README.md") ? await Deno.readTextFile(join(abs, "README.md")) : undefined;
  const hit = selectDataFiles(paths, readme, config, split);
  if (!hit.length) {
    throw new MaxentError(
      `dataset directory ${path} has no data files for config "${config ?? "default"}", split "${split}" ` +
        `(looked for data/${split}-*, ${split}-*, ${split}.jsonl …; found: ${describeAvailable(paths, readme)})`,
    );
  }
  return hit.map((p) => join(abs, p));
}
