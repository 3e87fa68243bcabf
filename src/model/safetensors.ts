/**
 * Safetensors checkpoints: reads single-file and sharded (`model.safetensors.index.json`) checkpoints tensor by
 * tensor (F32/F16/BF16 → Float32Array), validating the header, offsets and sizes; writes F32 or BF16 files in the
 * Hugging Face layout, sharded above a size threshold, atomically.
 */
import { MaxentError } from "../errors.ts";

/** A tensor in host memory: row-major float32 data and its shape. */
export interface HostTensor {
  shape: number[];
  data: Float32Array;
}

/** Dtypes maxent reads (all converted to float32). */
export type SafetensorsDtype = "F32" | "F16" | "BF16";

/** One tensor's entry in a safetensors header; offsets are absolute file positions. */
export interface SafetensorsEntry {
  dtype: SafetensorsDtype;
  shape: number[];
  /** Absolute byte offset of the first byte in the file. */
  start: number;
  /** Absolute byte offset one past the last byte. */
  end: number;
}

/** A parsed safetensors header. */
export interface SafetensorsHeader {
  file: string;
  /** Tensors in file order (by offset). */
  tensors: Map<string, SafetensorsEntry>;
  metadata: Record<string, string>;
}

const DTYPE_BYTES: Record<SafetensorsDtype, number> = { F32: 4, F16: 2, BF16: 2 };
const MAX_HEADER_BYTES = 100_000_000;

/** The single-file name and the index name Hugging Face uses. */
export const SINGLE_FILE = "model.safetensors";
export const INDEX_FILE = "model.safetensors.index.json";

async function readExactly(f: Deno.FsFile, buf: Uint8Array, file: string, what: string): Promise<void> {
  let off = 0;
  while (off < buf.length) {
    const n = await f.read(buf.subarray(off));
    if (n === null || n === 0) {
      throw new MaxentError(`${file}: truncated: ${what} needs ${buf.length} bytes, only ${off} could be read`);
    }
    off += n;
  }
}

/**
 * Reads and validates a safetensors file's header: JSON well-formed, every entry has a supported dtype, a shape of
 * non-negative integers and offsets whose size equals prod(shape)·bytes, entries contiguous from 0 and ending
 * exactly at the end of the file.
 *
 * @example
 * ```ts
 * const h = await readSafetensorsHeader("model/model.safetensors");
 * for (const [name, e] of h.tensors) console.log(name, e.dtype, e.shape);
 * ```
 */
export async function readSafetensorsHeader(file: string): Promise<SafetensorsHeader> {
  let f: Deno.FsFile;
  try {
    f = await Deno.open(file, { read: true });
  } catch (e) {
    throw new MaxentError(`${file}: cannot open (${(e as Error).message})`);
  }
  try {
    const fileSize = (await f.stat()).size;
    if (fileSize < 8) throw new MaxentError(`${file}: truncated: ${fileSize} bytes, not a safetensors file`);
    const lenBuf = new Uint8Array(8);
    await readExactly(f, lenBuf, file, "the header length");
    const headerLen = Number(new DataView(lenBuf.buffer).getBigUint64(0, true));
    if (headerLen > MAX_HEADER_BYTES || 8 + headerLen > fileSize) {
      throw new MaxentError(
        `${file}: bad header: header length ${headerLen} does not fit in the file (${fileSize} bytes); truncated or not safetensors`,
      );
    }
    const headerBuf = new Uint8Array(headerLen);
    await readExactly(f, headerBuf, file, "the header");
    let json: unknown;
    try {
      json = JSON.parse(new TextDecoder("utf-8", { fatal: true }).decode(headerBuf));
    } catch (e) {
      throw new MaxentError(`${file}: bad header: not valid JSON (${(e as Error).message})`);
    }
    if (typeof json !== "object" || json === null || Array.isArray(json)) {
      throw new MaxentError(`${file}: bad header: expected a JSON object`);
    }
    const dataStart = 8 + headerLen;
    const entries: Array<[string, SafetensorsEntry]> = [];
    let metadata: Record<string, string> = {};
    for (const [name, value] of Object.entries(json as Record<string, unknown>)) {
      if (name === "__metadata__") {
        metadata = (value ?? {}) as Record<string, string>;
        continue;
      }
      const v = value as { dtype?: unknown; shape?: unknown; data_offsets?: unknown };
      if (typeof v !== "object" || v === null) throw new MaxentError(`${file}: bad header entry for tensor "${name}"`);
      if (typeof v.dtype !== "string" || !(v.dtype in DTYPE_BYTES)) {
        throw new MaxentError(
          `${file}: tensor "${name}" has dtype ${JSON.stringify(v.dtype)}; maxent reads F32, F16 and BF16`,
        );
      }
      if (!Array.isArray(v.shape) || !v.shape.every((d) => Number.isInteger(d) && d >= 0)) {
        throw new MaxentError(`${file}: tensor "${name}" has an invalid shape ${JSON.stringify(v.shape)}`);
      }
      const off = v.data_offsets;
      if (
        !Array.isArray(off) || off.length !== 2 || !off.every((d) => Number.isInteger(d) && d >= 0) || off[1] < off[0]
      ) {
        throw new MaxentError(`${file}: tensor "${name}" has invalid data_offsets ${JSON.stringify(off)}`);
      }
      const dtype = v.dtype as SafetensorsDtype;
      const numel = (v.shape as number[]).reduce((a, b) => a * b, 1);
      if (off[1] - off[0] !== numel * DTYPE_BYTES[dtype]) {
        throw new MaxentError(
          `${file}: tensor "${name}": data_offsets span ${off[1] - off[0]} bytes but shape ${
            JSON.stringify(v.shape)
          } × ${dtype} needs ${numel * DTYPE_BYTES[dtype]}`,
        );
      }
      entries.push([name, { dtype, shape: v.shape as number[], start: dataStart + off[0], end: dataStart + off[1] }]);
    }
    entries.sort((a, b) => a[1].start - b[1].start);
    let expect = dataStart;
    for (const [name, e] of entries) {
      if (e.start !== expect) {
        throw new MaxentError(
          `${file}: tensor "${name}" starts at data offset ${e.start - dataStart}, expected ${
            expect - dataStart
          } (offsets must be contiguous)`,
        );
      }
      expect = e.end;
    }
    if (expect !== fileSize) {
      throw new MaxentError(
        expect > fileSize
          ? `${file}: truncated: the header describes ${expect} bytes but the file has ${fileSize}`
          : `${file}: ${fileSize - expect} unexpected trailing bytes after the last tensor`,
      );
    }
    return { file, tensors: new Map(entries), metadata };
  } finally {
    f.close();
  }
}

// bf16 → f32: the 16 bits are the upper half of the float32.
function bf16ToF32(src: Uint16Array, dst: Float32Array): void {
  const u = new Uint32Array(dst.buffer, dst.byteOffset, dst.length);
  for (let i = 0; i < src.length; i++) u[i] = src[i] << 16;
}

// IEEE half → float32 (sign, 5-bit exponent bias 15, 10-bit mantissa; subnormals, inf, NaN).
function f16ToF32(src: Uint16Array, dst: Float32Array): void {
  for (let i = 0; i < src.length; i++) {
    const h = src[i];
    const s = h & 0x8000 ? -1 : 1;
    const e = (h >> 10) & 0x1f;
    const m = h & 0x3ff;
    dst[i] = e === 0 ? s * m * 2 ** -24 : e === 31 ? (m ? NaN : s * Infinity) : s * (1 + m / 1024) * 2 ** (e - 15);
  }
}

/** Reads one tensor of an already-validated header (seek + read, converted to float32). */
export async function readSafetensorsTensor(header: SafetensorsHeader, name: string): Promise<HostTensor> {
  const e = header.tensors.get(name);
  if (!e) throw new MaxentError(`${header.file}: no tensor "${name}"`);
  const f = await Deno.open(header.file, { read: true });
  try {
    return await readEntry(f, header.file, name, e);
  } finally {
    f.close();
  }
}

async function readEntry(f: Deno.FsFile, file: string, name: string, e: SafetensorsEntry): Promise<HostTensor> {
  const numel = e.shape.reduce((a, b) => a * b, 1);
  const data = new Float32Array(numel);
  await f.seek(e.start, Deno.SeekMode.Start);
  if (e.dtype === "F32") {
    await readExactly(f, new Uint8Array(data.buffer), file, `tensor "${name}"`);
  } else {
    const half = new Uint16Array(numel);
    await readExactly(f, new Uint8Array(half.buffer), file, `tensor "${name}"`);
    if (e.dtype === "BF16") bf16ToF32(half, data);
    else f16ToF32(half, data);
  }
  return { shape: [...e.shape], data };
}

/** Options for reading a checkpoint directory. */
export interface ReadOptions {
  /** Read only the tensors this accepts (others are skipped without being read). */
  filter?: (name: string) => boolean;
}

/** The headers of a checkpoint directory: `model.safetensors`, or the shards its index lists. */
export async function readSafetensorsDirHeaders(dir: string): Promise<SafetensorsHeader[]> {
  const indexPath = `${dir}/${INDEX_FILE}`;
  const singlePath = `${dir}/${SINGLE_FILE}`;
  if (await exists(singlePath)) return [await readSafetensorsHeader(singlePath)];
  if (!(await exists(indexPath))) {
    throw new MaxentError(`${dir}: no ${SINGLE_FILE} or ${INDEX_FILE}; not a safetensors model directory`);
  }
  let index: { weight_map?: Record<string, string> };
  try {
    index = JSON.parse(await Deno.readTextFile(indexPath));
  } catch (e) {
    throw new MaxentError(`${indexPath}: invalid JSON (${(e as Error).message})`);
  }
  const weightMap = index.weight_map;
  if (typeof weightMap !== "object" || weightMap === null) {
    throw new MaxentError(`${indexPath}: field "weight_map" is missing`);
  }
  const shards = [...new Set(Object.values(weightMap))].sort();
  const headers: SafetensorsHeader[] = [];
  for (const shard of shards) {
    if (typeof shard !== "string" || shard.includes("/") || shard.includes("\\")) {
      throw new MaxentError(`${indexPath}: invalid shard name ${JSON.stringify(shard)}`);
    }
    const path = `${dir}/${shard}`;
    if (!(await exists(path))) {
      throw new MaxentError(`${indexPath}: shard "${shard}" is missing from ${dir} (incomplete download?)`);
    }
    headers.push(await readSafetensorsHeader(path));
  }
  for (const [name, shard] of Object.entries(weightMap)) {
    const h = headers.find((h) => h.file === `${dir}/${shard}`)!;
    if (!h.tensors.has(name)) {
      throw new MaxentError(`${indexPath}: tensor "${name}" is mapped to "${shard}", which does not contain it`);
    }
  }
  return headers;
}

/**
 * Streams a checkpoint directory tensor by tensor (one file handle open, one tensor in memory at a time beyond what
 * the caller keeps).
 */
export async function* iterateSafetensorsDir(
  dir: string,
  opts: ReadOptions = {},
): AsyncGenerator<[string, HostTensor]> {
  const headers = await readSafetensorsDirHeaders(dir);
  const seen = new Set<string>();
  for (const h of headers) {
    const f = await Deno.open(h.file, { read: true });
    try {
      for (const [name, e] of h.tensors) {
        if (seen.has(name)) throw new MaxentError(`${h.file}: tensor "${name}" appears in more than one shard`);
        seen.add(name);
        if (opts.filter && !opts.filter(name)) continue;
        yield [name, await readEntry(f, h.file, name, e)];
      }
    } finally {
      f.close();
    }
  }
}

/**
 * Reads every tensor of a checkpoint directory into host memory.
 *
 * @example
 * ```ts
 * const tensors = await readSafetensorsDir("model");
 * console.log(tensors.get("model.embed_tokens.weight")?.shape);
 * ```
 */
export async function readSafetensorsDir(dir: string, opts: ReadOptions = {}): Promise<Map<string, HostTensor>> {
  const out = new Map<string, HostTensor>();
  for await (const [name, t] of iterateSafetensorsDir(dir, opts)) out.set(name, t);
  return out;
}

async function exists(path: string): Promise<boolean> {
  try {
    await Deno.stat(path);
    return true;
  } catch {
    return false;
  }
}

/** Options for writing a checkpoint. */
export interface WriteOptions {
  /** Storage dtype: F32 (exact) or BF16 (round to nearest even). */
  dtype: "F32" | "BF16";
  /** Start a new shard when a file would exceed this many tensor bytes (default 5 GB, as transformers). */
  maxShardBytes?: number;
  /** Extra `__metadata__` entries (`format: "pt"` is always written). */
  metadata?: Record<string, string>;
}

// f32 → bf16 with round-to-nearest-even: (bits + 0x7fff + lsb) >> 16; NaN stays a quiet NaN.
function f32ToBf16(src: Float32Array, dst: Uint16Array): void {
  const u = new Uint32Array(src.buffer, src.byteOffset, src.length);
  for (let i = 0; i < u.length; i++) {
    const b = u[i];
    dst[i] = (b & 0x7fffffff) > 0x7f800000 ? ((b >>> 16) | 0x40) : ((b + 0x7fff + ((b >>> 16) & 1)) >>> 16);
  }
}

function tensorBytes(t: HostTensor, dtype: "F32" | "BF16"): number {
  return t.data.length * DTYPE_BYTES[dtype];
}

async function writeAll(f: Deno.FsFile, bytes: Uint8Array): Promise<void> {
  let off = 0;
  while (off < bytes.length) off += await f.write(bytes.subarray(off));
}

/** Writes one safetensors file atomically (`path.tmp-<random>`, then rename). */
export async function writeSafetensorsFile(
  path: string,
  tensors: Array<[string, HostTensor]>,
  opts: WriteOptions,
): Promise<void> {
  const header: Record<string, unknown> = { __metadata__: { format: "pt", ...(opts.metadata ?? {}) } };
  let offset = 0;
  for (const [name, t] of tensors) {
    const numel = t.shape.reduce((a, b) => a * b, 1);
    if (numel !== t.data.length) {
      throw new MaxentError(
        `${path}: tensor "${name}" has ${t.data.length} values but shape ${JSON.stringify(t.shape)}`,
      );
    }
    const n = tensorBytes(t, opts.dtype);
    header[name] = { dtype: opts.dtype, shape: t.shape, data_offsets: [offset, offset + n] };
    offset += n;
  }
  let headerText = JSON.stringify(header);
  // Pad the header with spaces so the data starts 8-byte aligned (as the safetensors library does).
  const enc = new TextEncoder();
  let headerBytes = enc.encode(headerText);
  const pad = (8 - (headerBytes.length % 8)) % 8;
  if (pad) {
    headerText += " ".repeat(pad);
    headerBytes = enc.encode(headerText);
  }
  const tmp = `${path}.tmp-${crypto.randomUUID().slice(0, 8)}`;
  const f = await Deno.open(tmp, { write: true, create: true, truncate: true });
  try {
    const len = new Uint8Array(8);
    new DataView(len.buffer).setBigUint64(0, BigInt(headerBytes.length), true);
    await writeAll(f, len);
    await writeAll(f, headerBytes);
    for (const [, t] of tensors) {
      if (opts.dtype === "F32") {
        await writeAll(f, new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength));
      } else {
        // Convert in chunks so a big tensor never needs a full second copy.
        const chunk = 1 << 20;
        const half = new Uint16Array(Math.min(chunk, t.data.length));
        for (let i = 0; i < t.data.length; i += chunk) {
          const src = t.data.subarray(i, Math.min(i + chunk, t.data.length));
          const dst = half.subarray(0, src.length);
          f32ToBf16(src, dst);
          await writeAll(f, new Uint8Array(dst.buffer, 0, dst.byteLength));
        }
      }
    }
    f.close();
  } catch (e) {
    try {
      f.close();
    } catch { /* already closed */ }
    await Deno.remove(tmp).catch(() => {});
    throw new MaxentError(`${path}: write failed (${(e as Error).message})`);
  }
  await Deno.rename(tmp, path);
}

/**
 * Writes a checkpoint directory's weights: `model.safetensors`, or — when the tensors exceed `maxShardBytes` —
 * `model-0000i-of-0000n.safetensors` shards plus `model.safetensors.index.json`. Stale weight files of the other
 * layout are removed afterwards, so the directory always holds exactly one checkpoint.
 *
 * @example
 * ```ts
 * await writeSafetensorsDir("out", new Map([["w", { shape: [2], data: new Float32Array([1, 2]) }]]), { dtype: "F32" });
 * ```
 */
export async function writeSafetensorsDir(
  dir: string,
  tensors: Map<string, HostTensor> | Array<[string, HostTensor]>,
  opts: WriteOptions,
): Promise<string[]> {
  const max = opts.maxShardBytes ?? 5_000_000_000;
  const list = [...tensors];
  const shards: Array<Array<[string, HostTensor]>> = [[]];
  let size = 0;
  let total = 0;
  for (const entry of list) {
    const n = tensorBytes(entry[1], opts.dtype);
    total += n;
    if (size + n > max && shards[shards.length - 1].length > 0) {
      shards.push([]);
      size = 0;
    }
    shards[shards.length - 1].push(entry);
    size += n;
  }
  await Deno.mkdir(dir, { recursive: true });
  const written: string[] = [];
  const existing: string[] = [];
  for await (const e of Deno.readDir(dir)) existing.push(e.name);
  const shardPattern = /^model-\d{5}-of-\d{5}\.safetensors$/;
  if (shards.length === 1) {
    await writeSafetensorsFile(`${dir}/${SINGLE_FILE}`, shards[0], opts);
    written.push(SINGLE_FILE);
    for (const name of existing) {
      if (name === INDEX_FILE || shardPattern.test(name)) await Deno.remove(`${dir}/${name}`);
    }
    return written;
  }
  const n = shards.length;
  const weightMap: Record<string, string> = {};
  for (let i = 0; i < n; i++) {
    const name = `model-${String(i + 1).padStart(5, "0")}-of-${String(n).padStart(5, "0")}.safetensors`;
    await writeSafetensorsFile(`${dir}/${name}`, shards[i], opts);
    for (const [t] of shards[i]) weightMap[t] = name;
    written.push(name);
  }
  const index = { metadata: { total_size: total }, weight_map: weightMap };
  await writeTextAtomic(`${dir}/${INDEX_FILE}`, JSON.stringify(index, null, 2) + "\n");
  written.push(INDEX_FILE);
  for (const name of existing) {
    if (name === SINGLE_FILE || (shardPattern.test(name) && !written.includes(name))) {
      await Deno.remove(`${dir}/${name}`);
    }
  }
  return written;
}

/** Writes a text file atomically (temporary file, then rename). */
export async function writeTextAtomic(path: string, text: string): Promise<void> {
  const tmp = `${path}.tmp-${crypto.randomUUID().slice(0, 8)}`;
  await Deno.writeTextFile(tmp, text);
  await Deno.rename(tmp, path);
}
