/**
 * From a dataset name to examples: resolve the split's files (local path, or the Hub through a resolver), read only
 * the needed columns, and map each row to an `Example` (prompt text or message list, solution, source).
 */
import { MaxentError } from "../errors.ts";
import { localSplitFiles, readRows } from "./files.ts";
import type { ChatMessage, DatasetSpec, Example, FileResolver, Row } from "./types.ts";

/** Whether a dataset name must be a local path (it looks like one), as opposed to a possible Hub id. */
function looksLikePath(name: string): boolean {
  return /^(\.{1,2}\/|\/|~)/.test(name) || /\.(parquet|jsonl|ndjson|json)$/i.test(name);
}

/**
 * The data files of a dataset split: a `name` that exists locally is read directly (see `localSplitFiles`);
 * otherwise `resolveFiles` (the Hub) is asked. Neither → MaxentError.
 */
export async function datasetFiles(
  spec: Pick<DatasetSpec, "name" | "config" | "split" | "revision">,
  resolveFiles?: FileResolver,
): Promise<string[]> {
  const local = await Deno.stat(spec.name).then(() => true, () => false);
  if (local) return await localSplitFiles(spec.name, spec.split, spec.config);
  if (looksLikePath(spec.name)) {
    throw new MaxentError(`dataset ${spec.name} not found: no such local file or directory`);
  }
  if (!resolveFiles) {
    throw new MaxentError(
      `dataset ${spec.name} is neither a local path nor resolvable: no such file or directory, and no Hub resolver ` +
        `was given to download it`,
    );
  }
  const files = await resolveFiles(spec.name, { config: spec.config, split: spec.split, revision: spec.revision });
  if (files.length === 0) {
    throw new MaxentError(
      `dataset ${spec.name}${spec.config ? ` (config ${spec.config})` : ""} has no data files for split ` +
        `"${spec.split}"; check dataset_config and the split names`,
    );
  }
  return files;
}

/** The columns to read for a spec: prompt, solution, then the extra columns, without duplicates. */
export function neededColumns(spec: Pick<DatasetSpec, "promptColumn" | "solutionColumn" | "columns">): string[] {
  const cols = [spec.promptColumn, ...(spec.solutionColumn ? [spec.solutionColumn] : []), ...(spec.columns ?? [])];
  return [...new Set(cols)];
}

function isMessage(v: unknown): v is ChatMessage {
  return typeof v === "object" && v !== null && typeof (v as ChatMessage).role === "string" &&
    typeof (v as ChatMessage).content === "string";
}

function scalarText(v: unknown): string | undefined {
  if (typeof v === "string") return v;
  if (typeof v === "number" || typeof v === "bigint" || typeof v === "boolean") return String(v);
  return undefined;
}

/**
 * One row → one Example. The prompt column holds either text (numbers are stringified) or a message list
 * (`[{role, content}, …]`); for a list, `prompt` is the last user message's content and `messages` the list.
 */
export function rowToExample(
  row: Row,
  spec: Pick<DatasetSpec, "promptColumn" | "solutionColumn">,
  source: string,
): Example {
  const value = row[spec.promptColumn];
  let prompt = scalarText(value);
  let messages: ChatMessage[] | undefined;
  if (prompt === undefined) {
    if (Array.isArray(value) && value.length > 0 && value.every(isMessage)) {
      messages = value.map((m) => ({ role: m.role, content: m.content }));
      prompt = [...messages].reverse().find((m) => m.role === "user")?.content ?? "";
    } else {
      throw new MaxentError(
        `${source}: prompt column "${spec.promptColumn}" holds ${value === null ? "null" : typeof value}; ` +
          `expected text or a list of {role, content} messages`,
      );
    }
  }
  const example: Example = { prompt, row, source };
  if (messages) example.messages = messages;
  if (spec.solutionColumn) {
    const s = row[spec.solutionColumn];
    if (s !== null && s !== undefined) {
      example.solution = scalarText(s) ??
        JSON.stringify(s, (_k, v) => typeof v === "bigint" ? v.toString() : v);
    }
  }
  return example;
}

/**
 * Loads the examples of one dataset split: the prompt and solution columns (plus `spec.columns`), in file order,
 * at most `limit` of them. A missing column is a MaxentError naming it, the file and the present columns.
 *
 * @example
 * ```ts
 * const train = await loadExamples({ name: "data/", split: "train", promptColumn: "problem", solutionColumn: "answer" });
 * ```
 */
export async function loadExamples(
  spec: DatasetSpec,
  opts: { resolveFiles?: FileResolver; limit?: number } = {},
): Promise<Example[]> {
  const files = await datasetFiles(spec, opts.resolveFiles);
  const columns = neededColumns(spec);
  const out: Example[] = [];
  if (opts.limit !== undefined && opts.limit <= 0) return out;
  for (const file of files) {
    let i = 0;
    for await (const row of readRows(file, { columns })) {
      out.push(rowToExample(row, spec, `${file}#${i++}`));
      if (opts.limit !== undefined && out.length >= opts.limit) return out;
    }
  }
  return out;
}
