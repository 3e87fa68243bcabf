/**
 * Safetensors reading and writing: exact F32 round trip, BF16 rounding to nearest even, F16 decoding, sharding with
 * an index, and clear errors for corrupt, truncated, inconsistent and incomplete checkpoints.
 */
import { assert, assertClose, assertEquals, assertRejects } from "./assert.ts";
import { MaxentError } from "../src/errors.ts";
import {
  type HostTensor,
  INDEX_FILE,
  readSafetensorsDir,
  readSafetensorsHeader,
  writeSafetensorsDir,
} from "../src/model/safetensors.ts";

async function withDir(fn: (dir: string) => Promise<void>): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "maxent_st_" });
  try {
    await fn(dir);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

function tensors(): Map<string, HostTensor> {
  const m = new Map<string, HostTensor>();
  m.set("a.weight", { shape: [3, 4], data: Float32Array.from({ length: 12 }, (_, i) => Math.sin(i) * 1e3 + 1e-7 * i) });
  m.set("b.bias", { shape: [5], data: Float32Array.from([0, -0, 1.5, -2.25, 3.4028234663852886e38]) });
  m.set("c.scalar", { shape: [], data: Float32Array.from([7]) });
  m.set("d.empty", { shape: [0, 3], data: new Float32Array(0) });
  return m;
}

/** Builds a raw safetensors file from a header object and data bytes. */
function rawFile(header: unknown, data: Uint8Array): Uint8Array {
  const h = new TextEncoder().encode(JSON.stringify(header));
  const out = new Uint8Array(8 + h.length + data.length);
  new DataView(out.buffer).setBigUint64(0, BigInt(h.length), true);
  out.set(h, 8);
  out.set(data, 8 + h.length);
  return out;
}

Deno.test("F32 write → read round trip is exact, header has format pt and 8-byte aligned data", async () => {
  await withDir(async (dir) => {
    const files = await writeSafetensorsDir(dir, tensors(), { dtype: "F32" });
    assertEquals(files, ["model.safetensors"]);
    const back = await readSafetensorsDir(dir);
    for (const [name, t] of tensors()) {
      assertEquals(back.get(name)!.shape, t.shape);
      assertEquals(Array.from(back.get(name)!.data), Array.from(t.data), name);
    }
    const h = await readSafetensorsHeader(`${dir}/model.safetensors`);
    assertEquals(h.metadata, { format: "pt" });
    const bytes = await Deno.readFile(`${dir}/model.safetensors`);
    const n = Number(new DataView(bytes.buffer).getBigUint64(0, true));
    assertEquals(n % 8, 0);
  });
});

Deno.test("BF16 writing rounds to nearest even; reading BF16 and F16 decodes exactly", async () => {
  await withDir(async (dir) => {
    // 1 + 2^-8 is halfway between bf16 neighbours 1 and 1 + 2^-7: ties go to the even mantissa (1).
    // 1 + 3·2^-8 is halfway between 1 + 2^-7 (odd) and 1 + 2^-6 (even): rounds up to 1 + 2^-6.
    // 1 + 2^-8 + 2^-20 is above the halfway point: rounds up to 1 + 2^-7.
    const vals = [1 + 2 ** -8, 1 + 3 * 2 ** -8, 1 + 2 ** -8 + 2 ** -20, -2.5, 65504, 1e-30];
    const want = [1, 1 + 2 ** -6, 1 + 2 ** -7, -2.5, 65536, 1.0000001e-30];
    await writeSafetensorsDir(dir, new Map([["x", { shape: [6], data: Float32Array.from(vals) }]]), { dtype: "BF16" });
    const h = await readSafetensorsHeader(`${dir}/model.safetensors`);
    assertEquals(h.tensors.get("x")!.dtype, "BF16");
    const got = (await readSafetensorsDir(dir)).get("x")!.data;
    assertClose(Array.from(got).slice(0, 5), want.slice(0, 5), 0);
    assertClose(got[5], 1e-30, 1e-32);
    // F16 file written by hand: 1.0 = 0x3c00, -2 = 0xc000, 65504 = 0x7bff, smallest subnormal 2^-24 = 0x0001
    const half = new Uint16Array([0x3c00, 0xc000, 0x7bff, 0x0001]);
    await Deno.writeFile(
      `${dir}/model.safetensors`,
      rawFile({ h: { dtype: "F16", shape: [2, 2], data_offsets: [0, 8] } }, new Uint8Array(half.buffer)),
    );
    const f16 = (await readSafetensorsDir(dir)).get("h")!;
    assertEquals(f16.shape, [2, 2]);
    assertEquals(Array.from(f16.data), [1, -2, 65504, 2 ** -24]);
  });
});

Deno.test("sharded and single-file checkpoints hold the same tensors; stale layouts are removed", async () => {
  await withDir(async (dir) => {
    const big = new Map<string, HostTensor>();
    for (let i = 0; i < 5; i++) {
      big.set(`layer.${i}.w`, { shape: [10, 10], data: Float32Array.from({ length: 100 }, (_, j) => i * 100 + j) });
    }
    const files = await writeSafetensorsDir(`${dir}/sharded`, big, { dtype: "F32", maxShardBytes: 900 });
    assertEquals(files, [
      "model-00001-of-00003.safetensors",
      "model-00002-of-00003.safetensors",
      "model-00003-of-00003.safetensors",
      INDEX_FILE,
    ]);
    const index = JSON.parse(await Deno.readTextFile(`${dir}/sharded/${INDEX_FILE}`));
    assertEquals(index.metadata.total_size, 2000);
    assertEquals(index.weight_map["layer.4.w"], "model-00003-of-00003.safetensors");
    await writeSafetensorsDir(`${dir}/single`, big, { dtype: "F32" });
    const a = await readSafetensorsDir(`${dir}/sharded`);
    const b = await readSafetensorsDir(`${dir}/single`);
    assertEquals([...a.keys()].sort(), [...b.keys()].sort());
    for (const [k, t] of a) assertEquals(Array.from(t.data), Array.from(b.get(k)!.data));
    // rewriting a sharded directory as a single file removes the shards and the index
    await writeSafetensorsDir(`${dir}/sharded`, big, { dtype: "F32" });
    const names = [];
    for await (const e of Deno.readDir(`${dir}/sharded`)) names.push(e.name);
    assertEquals(names, ["model.safetensors"]);
  });
});

Deno.test("missing shard, bad index mapping: clear errors", async () => {
  await withDir(async (dir) => {
    await writeSafetensorsDir(dir, tensors(), { dtype: "F32", maxShardBytes: 40 });
    const index = JSON.parse(await Deno.readTextFile(`${dir}/${INDEX_FILE}`));
    const shard = index.weight_map["b.bias"];
    const bytes = await Deno.readFile(`${dir}/${shard}`);
    await Deno.remove(`${dir}/${shard}`);
    await assertRejects(() => readSafetensorsDir(dir), MaxentError, `shard "${shard}" is missing`);
    await Deno.writeFile(`${dir}/${shard}`, bytes);
    index.weight_map["b.bias"] = index.weight_map["a.weight"];
    await Deno.writeTextFile(`${dir}/${INDEX_FILE}`, JSON.stringify(index));
    await assertRejects(() => readSafetensorsDir(dir), MaxentError, `tensor "b.bias" is mapped to`);
  });
  await withDir(async (dir) => {
    await assertRejects(() => readSafetensorsDir(dir), MaxentError, "no model.safetensors");
  });
});

Deno.test("corrupt and truncated files: clear errors naming the file and tensor", async () => {
  await withDir(async (dir) => {
    const f = `${dir}/model.safetensors`;
    await writeSafetensorsDir(dir, tensors(), { dtype: "F32" });
    const good = await Deno.readFile(f);
    // truncated data
    await Deno.writeFile(f, good.subarray(0, good.length - 3));
    await assertRejects(() => readSafetensorsHeader(f), MaxentError, f, "truncated");
    // truncated header
    await Deno.writeFile(f, good.subarray(0, 20));
    await assertRejects(() => readSafetensorsHeader(f), MaxentError, "header length");
    await Deno.writeFile(f, good.subarray(0, 5));
    await assertRejects(() => readSafetensorsHeader(f), MaxentError, "truncated");
    // header that is not JSON
    const junk = good.slice();
    junk[8] = 0x7b;
    junk[9] = 0x7b;
    await Deno.writeFile(f, junk);
    await assertRejects(() => readSafetensorsHeader(f), MaxentError, "not valid JSON");
    // size does not match shape
    const d4 = new Uint8Array(16);
    await Deno.writeFile(f, rawFile({ w: { dtype: "F32", shape: [3], data_offsets: [0, 16] } }, d4));
    await assertRejects(() => readSafetensorsHeader(f), MaxentError, `tensor "w"`, "needs 12");
    // non-contiguous offsets
    await Deno.writeFile(
      f,
      rawFile({
        w: { dtype: "F32", shape: [1], data_offsets: [0, 4] },
        v: { dtype: "F32", shape: [1], data_offsets: [8, 12] },
      }, new Uint8Array(12)),
    );
    await assertRejects(() => readSafetensorsHeader(f), MaxentError, `tensor "v"`, "contiguous");
    // unsupported dtype
    await Deno.writeFile(f, rawFile({ w: { dtype: "I64", shape: [1], data_offsets: [0, 8] } }, new Uint8Array(8)));
    await assertRejects(() => readSafetensorsHeader(f), MaxentError, `tensor "w"`, "I64");
    // trailing garbage
    await Deno.writeFile(f, rawFile({ w: { dtype: "F32", shape: [1], data_offsets: [0, 4] } }, new Uint8Array(9)));
    await assertRejects(() => readSafetensorsHeader(f), MaxentError, "trailing");
  });
});

Deno.test("writes are atomic: no temporary files are left behind", async () => {
  await withDir(async (dir) => {
    await writeSafetensorsDir(dir, tensors(), { dtype: "BF16" });
    const names = [];
    for await (const e of Deno.readDir(dir)) names.push(e.name);
    assertEquals(names, ["model.safetensors"]);
    assert(!names.some((n) => n.includes(".tmp-")));
  });
});
