/**
 * Local data files: which reader a file needs (by extension), and which files of a local dataset directory make up a
 * split — the way Hugging Face `datasets` infers splits from file names (`train.jsonl`,
 * `data/train-00000-of-00001.parquet`, `default/partial-train/0000.parquet`, `test/…`).
 */
import { basename, join, relative, sep } from "node:path";
import { MaxentError } from "../errors.ts";
import { readJsonlRows, readJsonRows } from "./json.ts";
import { readParquetRows } from "./parquet.ts";
import type { Row } from "./types.ts";

/** Data file extensions, with the reader each selects. */
const READERS: Array<[string, (path: string, opts: { columns?: string[] }) => AsyncGenerator<Row>]> = [
  [".parquet", readParquetRows],
  [".jsonl", readJsonlRows],
  [".ndjson", readJsonlRows],
  [".json", readJsonRows],
];

/** JSON files `datasets` writes next to data (`save_to_disk`, dataset cards): never data. */
const NOT_DATA = new Set(["dataset_info.json", "dataset_infos.json", "dataset_dict.json", "state.json"]);

/** Split names and the synonyms HF `datasets` also recognises in file names. */
const SPLIT_KEYWORDS: Record<string, string[]> = {
  train: ["train", "training"],
  validation: ["validation", "valid", "dev", "val"],
  test: ["test", "testing", "eval", "evaluation"],
};

/** Whether `path` has a data file extension this module reads (and is not dataset metadata). */
export function isDataFile(path: string): boolean {
  const name = basename(path).toLowerCase();
  return !NOT_DATA.has(name) && READERS.some(([ext]) => name.endsWith(ext));
}

/**
 * Yields the rows of a data file (`.parquet`, `.jsonl`/`.ndjson`, `.json`) or of every data file under a directory
 * (sorted by path), reading only `columns` when given. A column the data lacks is a MaxentError that names it, the
 * file and the columns present.
 *
 * @example
 * ```ts
 * for await (const row of readRows("data/train.jsonl", { columns: ["problem", "answer"] })) console.log(row);
 * ```
 */
export async function* readRows(file: string, opts: { columns?: string[] } = {}): AsyncGenerator<Row> {
  let info: Deno.FileInfo;
  try {
    info = await Deno.stat(file);
  } catch (e) {
    throw new MaxentError(`data file ${file} not found (${(e as Error).message})`, { cause: e });
  }
  if (info.isDirectory) {
    for (const f of await listDataFiles(file)) yield* readRows(f, opts);
    return;
  }
  const name = file.toLowerCase();
  const reader = READERS.find(([ext]) => name.endsWith(ext));
  if (!reader) {
    throw new MaxentError(
      `${file}: unsupported data file type; supported: ${READERS.map(([e]) => e).join(", ")}`,
    );
  }
  yield* reader[1](file, opts);
}

/** All data files under `dir` (recursively, skipping hidden entries), sorted by path. */
export async function listDataFiles(dir: string): Promise<string[]> {
  const out: string[] = [];
  const walk = async (d: string): Promise<void> => {
    for await (const e of Deno.readDir(d)) {
      if (e.name.startsWith(".")) continue;
      const p = join(d, e.name);
      if (e.isDirectory) await walk(p);
      else if ((e.isFile || e.isSymlink) && isDataFile(p)) out.push(p);
    }
  };
  await walk(dir);
  return out.sort();
}

/** Whether a split keyword occurs in a relative path as a whole word (delimited by `-._ `, digits, `/` or the ends). */
function mentions(relPath: string, keyword: string): boolean {
  const escaped = keyword.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
  return new RegExp(`(^|[-._ 0-9/])${escaped}([-._ 0-9/]|$)`).test(relPath);
}

/**
 * The local files of one split of a local dataset (a file or a directory).
 * - A file serves as the `train` split, or as any split its name mentions.
 * - In a directory (narrowed to the sub-folder `config` when one exists), the data files whose relative path
 *   mentions the split name; failing that, its HF synonyms (`validation`: valid/dev/val; `test`: testing/eval/…;
 *   `train`: training); if no file mentions any split name and the split is `train`, every data file.
 */
export async function localSplitFiles(path: string, split: string, config?: string): Promise<string[]> {
  const info = await Deno.stat(path);
  if (!info.isDirectory) {
    if (split === "train" || mentions(basename(path), split)) return [path];
    throw new MaxentError(
      `dataset ${path} is a single file, which serves as the "train" split only; for split "${split}" name a ` +
        `directory holding a file whose name contains "${split}" (e.g. ${split}.jsonl), or set the split to train`,
    );
  }
  let dir = path;
  if (config) {
    const sub = join(path, config);
    if (await Deno.stat(sub).then((s) => s.isDirectory, () => false)) dir = sub;
  }
  const files = await listDataFiles(dir);
  if (files.length === 0) {
    throw new MaxentError(`dataset directory ${dir} holds no data files (.parquet, .jsonl, .ndjson, .json)`);
  }
  const rel = (f: string) => relative(dir, f).split(sep).join("/");
  const matching = (keywords: string[]) => files.filter((f) => keywords.some((k) => mentions(rel(f), k)));
  let chosen = matching([split]);
  if (chosen.length === 0 && SPLIT_KEYWORDS[split]) chosen = matching(SPLIT_KEYWORDS[split]);
  if (chosen.length === 0 && split === "train") {
    const allKeywords = Object.values(SPLIT_KEYWORDS).flat();
    if (matching(allKeywords).length === 0) chosen = files;
  }
  if (chosen.length === 0) {
    throw new MaxentError(
      `no data files for split "${split}" in ${dir}: none of ${files.map(rel).join(", ")} has "${split}" in its ` +
        `name; set dataset_train_split / dataset_test_split to a split that exists, or rename the files`,
    );
  }
  return chosen;
}
