/**
 * Streaming Parquet rows with `hyparquet`: the footer is read once, then one row group at a time is fetched and
 * decoded (only the requested columns), so a 1 GB file never becomes 1 GB of JS objects at once — the peak is about
 * one decoded row group. Codecs: UNCOMPRESSED and SNAPPY (hyparquet), GZIP, BROTLI and ZSTD (`node:zlib`).
 */
import * as zlib from "node:zlib";
import { parquetMetadataAsync, parquetReadObjects, parquetSchema } from "hyparquet";
import type { AsyncBuffer, Compressors, FileMetaData } from "hyparquet";
import { MaxentError } from "../errors.ts";
import type { Row } from "./types.ts";

/** Options for {@link readParquetRows}. */
export interface ParquetRowsOptions {
  /** Top-level columns to decode; all columns when absent. A column the file lacks is a MaxentError. */
  columns?: string[];
  /** Called before each row group is fetched (index, rows in it): for progress, and for tests to count reads. */
  onRowGroup?: (index: number, numRows: number) => void;
}

/** Decompressors hyparquet lacks, from Deno's `node:zlib` (synchronous, as hyparquet wants). */
const COMPRESSORS: Compressors = {
  GZIP: (input) => new Uint8Array(zlib.unzipSync(input)),
  BROTLI: (input) => new Uint8Array(zlib.brotliDecompressSync(input)),
  ZSTD: (input) => new Uint8Array(zlib.zstdDecompressSync(input)),
};

/**
 * Opens a local file as hyparquet's `AsyncBuffer`. Reads are serialised (one seek+read at a time on one handle),
 * because hyparquet may ask for several byte ranges concurrently.
 */
async function openAsyncBuffer(path: string): Promise<{ buffer: AsyncBuffer; close: () => void }> {
  const file = await Deno.open(path, { read: true });
  const size = (await file.stat()).size;
  let queue: Promise<unknown> = Promise.resolve();
  const readAt = async (start: number, end: number): Promise<ArrayBuffer> => {
    const out = new Uint8Array(Math.max(0, end - start));
    await file.seek(start, Deno.SeekMode.Start);
    let off = 0;
    while (off < out.length) {
      const n = await file.read(out.subarray(off));
      if (n === null) throw new MaxentError(`${path}: unexpected end of file at byte ${start + off} (truncated?)`);
      off += n;
    }
    return out.buffer;
  };
  const buffer: AsyncBuffer = {
    byteLength: size,
    slice(start: number, end?: number): Promise<ArrayBuffer> {
      const next = queue.then(() => readAt(start, end ?? size));
      queue = next.catch(() => {});
      return next;
    },
  };
  return { buffer, close: () => file.close() };
}

/** The top-level column names of a Parquet file's schema. */
export function parquetColumnNames(metadata: FileMetaData): string[] {
  return parquetSchema(metadata).children.map((c) => c.element.name);
}

/**
 * Yields the rows of a Parquet file as plain objects, one row group decoded at a time.
 * Values are as hyparquet decodes them: strings, numbers, `bigint` for INT64, booleans, `null`, nested lists and
 * structs as arrays and objects (so a `messages` column of `{role, content}` structs arrives as a message list).
 *
 * @example
 * ```ts
 * for await (const row of readParquetRows("train.parquet", { columns: ["problem"] })) console.log(row.problem);
 * ```
 */
export async function* readParquetRows(path: string, opts: ParquetRowsOptions = {}): AsyncGenerator<Row> {
  const { buffer, close } = await openAsyncBuffer(path);
  try {
    let metadata: FileMetaData;
    try {
      metadata = await parquetMetadataAsync(buffer);
    } catch (e) {
      throw new MaxentError(`${path}: not a readable Parquet file (${(e as Error).message})`, { cause: e });
    }
    const present = parquetColumnNames(metadata);
    const columns = opts.columns ? [...new Set(opts.columns)] : undefined;
    for (const c of columns ?? []) {
      if (!present.includes(c)) throw missingColumnError(c, path, present);
    }
    let groupStart = 0;
    for (let g = 0; g < metadata.row_groups.length; g++) {
      const numRows = Number(metadata.row_groups[g].num_rows);
      if (numRows === 0) continue;
      opts.onRowGroup?.(g, numRows);
      let rows: Row[];
      try {
        rows = await parquetReadObjects({
          file: buffer,
          metadata,
          columns,
          rowStart: groupStart,
          rowEnd: groupStart + numRows,
          compressors: COMPRESSORS,
        });
      } catch (e) {
        throw new MaxentError(
          `${path}: failed to decode row group ${g} (${(e as Error).message}). Supported codecs: ` +
            `UNCOMPRESSED, SNAPPY, GZIP, BROTLI, ZSTD; rewrite the file with one of them if it uses another.`,
          { cause: e },
        );
      }
      groupStart += numRows;
      // Hand rows out one by one and drop the group's array before fetching the next group.
      for (let i = 0; i < rows.length; i++) yield rows[i];
      rows = [];
    }
  } finally {
    close();
  }
}

/** The error for a column the data lacks: names the column, the file and the columns that are there. */
export function missingColumnError(column: string, path: string, present: string[]): MaxentError {
  return new MaxentError(
    `column "${column}" not found in ${path}; present columns: ${
      present.map((c) => `"${c}"`).join(", ") || "(none)"
    }. ` +
      `Set dataset_prompt_column / dataset_solution_column (or the mixture's columns) to one of them.`,
  );
}
