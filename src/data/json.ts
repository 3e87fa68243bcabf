/**
 * Rows from JSON Lines (streamed line by line, constant memory) and JSON documents (parsed whole). The JSON shapes
 * accepted, as Hugging Face `datasets`' json loader reads them:
 * - an array of row objects: `[{"problem": …}, …]`;
 * - an object with a single key holding an array of row objects: `{"data": [{…}, …]}` (what `load_dataset("json",
 *   field="data")` reads; common in SQuAD-style repos);
 * - an object of equal-length column arrays: `{"problem": [...], "answer": [...]}` (HF's column-dict form);
 * - a `.json` file that is really JSON Lines (one object per line; HF tries that first, and so do we).
 */
import { MaxentError } from "../errors.ts";
import { missingColumnError } from "./parquet.ts";
import type { Row } from "./types.ts";

/** Yields the non-empty lines of a UTF-8 text file with their 1-based line numbers, reading in chunks. */
async function* textLines(path: string): AsyncGenerator<{ line: string; lineNo: number }> {
  const file = await Deno.open(path, { read: true });
  const stream = file.readable.pipeThrough(new TextDecoderStream());
  let rest = "";
  let lineNo = 0;
  for await (const chunk of stream) {
    const text = rest + chunk;
    let start = 0;
    for (let nl = text.indexOf("\n", start); nl >= 0; nl = text.indexOf("\n", start)) {
      lineNo++;
      const line = text.slice(start, nl).trim();
      start = nl + 1;
      if (line) yield { line, lineNo };
    }
    rest = text.slice(start);
  }
  lineNo++;
  if (rest.trim()) yield { line: rest.trim(), lineNo };
}

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

/** Projects a row onto `columns` (missing keys → null, as HF's union schema); checks the first row has them all. */
function projector(path: string, columns: string[] | undefined): (row: Row) => Row {
  if (!columns) return (row) => row;
  const cols = [...new Set(columns)];
  let checked = false;
  return (row) => {
    if (!checked) {
      for (const c of cols) if (!(c in row)) throw missingColumnError(c, path, Object.keys(row));
      checked = true;
    }
    const out: Row = {};
    for (const c of cols) out[c] = c in row ? row[c] : null;
    return out;
  };
}

/**
 * Yields the rows of a JSON Lines file (one JSON object per line; blank lines skipped), streamed line by line.
 *
 * @example
 * ```ts
 * for await (const row of readJsonlRows("train.jsonl")) console.log(row);
 * ```
 */
export async function* readJsonlRows(path: string, opts: { columns?: string[] } = {}): AsyncGenerator<Row> {
  const project = projector(path, opts.columns);
  for await (const { line, lineNo } of textLines(path)) yield project(parseLine(path, line, lineNo));
}

function parseLine(path: string, line: string, lineNo: number): Row {
  let value: unknown;
  try {
    value = JSON.parse(line);
  } catch (e) {
    throw new MaxentError(`${path}:${lineNo}: invalid JSON (${(e as Error).message})`, { cause: e });
  }
  if (!isPlainObject(value)) throw new MaxentError(`${path}:${lineNo}: expected a JSON object per line`);
  return value;
}

/**
 * Yields the rows of a `.json` file in any of the shapes in this module's header. A JSON array or object is
 * parsed whole (use JSON Lines or Parquet for data larger than memory); JSON Lines content is streamed.
 */
export async function* readJsonRows(path: string, opts: { columns?: string[] } = {}): AsyncGenerator<Row> {
  const project = projector(path, opts.columns);
  // Peek at the first two non-empty lines to tell JSON Lines from one JSON document.
  const lines = textLines(path);
  const first = await lines.next();
  if (first.done) return;
  const second = await lines.next();
  let firstValue: unknown = undefined;
  if (first.value.line.startsWith("{")) {
    try {
      firstValue = JSON.parse(first.value.line);
    } catch { /* a pretty-printed document: parsed whole below */ }
  }
  if (isPlainObject(firstValue) && !second.done) {
    yield project(firstValue);
    yield project(parseLine(path, second.value.line, second.value.lineNo));
    for await (const { line, lineNo } of lines) yield project(parseLine(path, line, lineNo));
    return;
  }
  await lines.return(undefined);
  let doc: unknown;
  try {
    doc = JSON.parse(await Deno.readTextFile(path));
  } catch (e) {
    throw new MaxentError(`${path}: invalid JSON (${(e as Error).message})`, { cause: e });
  }
  for (const row of documentRows(path, doc)) yield project(row);
}

/** The rows of a parsed JSON document (see the module header for the shapes). */
function* documentRows(path: string, doc: unknown): Generator<Row> {
  if (Array.isArray(doc)) {
    for (let i = 0; i < doc.length; i++) {
      if (!isPlainObject(doc[i])) throw new MaxentError(`${path}: element ${i} of the JSON array is not an object`);
      yield doc[i];
    }
    return;
  }
  if (!isPlainObject(doc)) throw new MaxentError(`${path}: expected a JSON array of rows or an object`);
  const keys = Object.keys(doc);
  const values = Object.values(doc);
  // {"data": [{…}, …]}: one key holding the rows.
  if (keys.length === 1 && Array.isArray(values[0]) && values[0].length > 0 && values[0].every(isPlainObject)) {
    yield* values[0] as Row[];
    return;
  }
  // {"col": [...], "col2": [...]}: equal-length column arrays.
  if (keys.length > 0 && values.every(Array.isArray)) {
    const n = (values[0] as unknown[]).length;
    if (!values.every((v) => (v as unknown[]).length === n)) {
      throw new MaxentError(
        `${path}: a JSON object of column arrays needs arrays of equal length (got ${
          keys.map((k, i) => `${k}: ${(values[i] as unknown[]).length}`).join(", ")
        })`,
      );
    }
    for (let r = 0; r < n; r++) {
      const row: Row = {};
      for (let c = 0; c < keys.length; c++) row[keys[c]] = (values[c] as unknown[])[r];
      yield row;
    }
    return;
  }
  // A single JSON object is one row (a one-line JSON Lines file).
  yield doc;
}
