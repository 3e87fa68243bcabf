/**
 * Dataset resolution and examples: local split selection (files, directories, HF layouts, configs), Hub resolvers,
 * column mapping and its errors, seeded shuffling, and `dataset_mixture` weights and test split carve-out.
 */
import { assert, assertEquals, assertNotEquals, assertRejects, assertThrows } from "./assert.ts";
import { writeParquet } from "./fixtures/data/parquet_writer.ts";
import { MaxentError } from "../src/errors.ts";
import {
  DatasetMixtureSchema,
  type Example,
  type FileResolver,
  loadExamples,
  loadMixture,
  localSplitFiles,
  mulberry32,
  parseDatasetMixture,
  shuffled,
} from "../src/data/mod.ts";

async function withTempDir(fn: (dir: string) => Promise<void>): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "maxent_data_" });
  try {
    await fn(dir);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

/** Writes a JSON Lines file of rows `{problem: "<tag> i", answer: i}` for i in [0, n). */
async function writeJsonl(path: string, tag: string, n: number): Promise<void> {
  await Deno.mkdir(path.slice(0, path.lastIndexOf("/")), { recursive: true });
  const lines = Array.from({ length: n }, (_, i) => JSON.stringify({ problem: `${tag} ${i}`, answer: i, extra: "x" }));
  await Deno.writeTextFile(path, lines.join("\n") + "\n");
}

const prompts = (xs: Example[]) => xs.map((e) => e.prompt);

Deno.test("local splits: HF parquet layout data/<split>-*.parquet, other files ignored", async () => {
  await withTempDir(async (dir) => {
    await Deno.mkdir(`${dir}/data`);
    const part = async (name: string, tag: string, n: number) =>
      await writeParquet(`${dir}/data/${name}`, [
        { name: "problem", type: "string", data: Array.from({ length: n }, (_, i) => `${tag} ${i}`) },
        { name: "answer", type: "int64", data: Array.from({ length: n }, (_, i) => i) },
      ], { rowGroupSize: 2 });
    await part("train-00000-of-00002.parquet", "train0", 3);
    await part("train-00001-of-00002.parquet", "train1", 2);
    await part("test-00000-of-00001.parquet", "test", 2);
    await Deno.writeTextFile(`${dir}/README.md`, "---\nconfigs: []\n---\n");
    const spec = { name: dir, promptColumn: "problem", solutionColumn: "answer" };
    const train = await loadExamples({ ...spec, split: "train" });
    assertEquals(prompts(train), ["train0 0", "train0 1", "train0 2", "train1 0", "train1 1"]);
    assertEquals(train.map((e) => e.solution), ["0", "1", "2", "0", "1"]);
    assertEquals(train[3].source, `${dir}/data/train-00001-of-00002.parquet#0`);
    assertEquals(prompts(await loadExamples({ ...spec, split: "test" })), ["test 0", "test 1"]);
    await assertRejects(
      () => loadExamples({ ...spec, split: "validation" }),
      MaxentError,
      `split "validation"`,
      "data/test-00000-of-00001.parquet",
    );
    assertEquals(prompts(await loadExamples({ ...spec, split: "train" }, { limit: 4 })).length, 4);
  });
});

Deno.test("local splits: named files, synonyms, configs, the parquet-convert layout, single files", async () => {
  await withTempDir(async (dir) => {
    await writeJsonl(`${dir}/plain/train.jsonl`, "tr", 3);
    await writeJsonl(`${dir}/plain/dev.jsonl`, "dev", 2);
    await writeJsonl(`${dir}/plain/test.json`, "te", 1);
    assertEquals(await localSplitFiles(`${dir}/plain`, "train"), [`${dir}/plain/train.jsonl`]);
    assertEquals(await localSplitFiles(`${dir}/plain`, "validation"), [`${dir}/plain/dev.jsonl`]);
    assertEquals(await localSplitFiles(`${dir}/plain`, "test"), [`${dir}/plain/test.json`]);
    // "contest" does not mention "test": whole words only.
    await writeJsonl(`${dir}/words/contest.jsonl`, "c", 1);
    await writeJsonl(`${dir}/words/train.jsonl`, "t", 1);
    await assertRejects(() => localSplitFiles(`${dir}/words`, "test"), MaxentError, `split "test"`, "contest.jsonl");
    // No split names at all: every file is train; other splits do not exist.
    await writeJsonl(`${dir}/nosplit/a.jsonl`, "a", 1);
    await writeJsonl(`${dir}/nosplit/b.jsonl`, "b", 1);
    assertEquals(await localSplitFiles(`${dir}/nosplit`, "train"), [
      `${dir}/nosplit/a.jsonl`,
      `${dir}/nosplit/b.jsonl`,
    ]);
    await assertRejects(() => localSplitFiles(`${dir}/nosplit`, "test"), MaxentError, "a.jsonl, b.jsonl");
    // Configs are sub-folders; refs/convert/parquet names splits as folders (partial-<split> for big ones).
    await writeJsonl(`${dir}/hub/default/partial-train/0000.jsonl`, "d", 2);
    await writeJsonl(`${dir}/hub/default/test/0000.jsonl`, "dt", 1);
    await writeJsonl(`${dir}/hub/other/train/0000.jsonl`, "o", 1);
    const spec = { name: `${dir}/hub`, promptColumn: "problem" };
    assertEquals(prompts(await loadExamples({ ...spec, config: "default", split: "train" })), ["d 0", "d 1"]);
    assertEquals(prompts(await loadExamples({ ...spec, config: "other", split: "train" })), ["o 0"]);
    assertEquals(prompts(await loadExamples({ ...spec, config: "default", split: "test" })), ["dt 0"]);
    // A single file is the train split (and any split its name mentions), nothing else.
    const file = `${dir}/plain/dev.jsonl`;
    assertEquals(prompts(await loadExamples({ name: file, split: "train", promptColumn: "problem" })), [
      "dev 0",
      "dev 1",
    ]);
    assertEquals((await loadExamples({ name: file, split: "dev", promptColumn: "problem" })).length, 2);
    await assertRejects(
      () => loadExamples({ name: file, split: "test", promptColumn: "problem" }),
      MaxentError,
      "single file",
      `"train"`,
    );
  });
});

Deno.test("hub ids go through the resolver; neither local nor resolvable is an error", async () => {
  await withTempDir(async (dir) => {
    await writeJsonl(`${dir}/snap/train.jsonl`, "hub", 2);
    const calls: unknown[] = [];
    const resolve: FileResolver = (id, opts) => {
      calls.push({ id, ...opts });
      return Promise.resolve(opts.split === "train" ? [`${dir}/snap/train.jsonl`] : []);
    };
    const spec = { name: "org/math", config: "main", revision: "v1", split: "train", promptColumn: "problem" };
    assertEquals(prompts(await loadExamples(spec, { resolveFiles: resolve })), ["hub 0", "hub 1"]);
    assertEquals(calls, [{ id: "org/math", config: "main", split: "train", revision: "v1" }]);
    await assertRejects(
      () => loadExamples({ ...spec, split: "test" }, { resolveFiles: resolve }),
      MaxentError,
      "org/math",
      `split "test"`,
    );
    await assertRejects(() => loadExamples(spec), MaxentError, "org/math", "neither a local path nor resolvable");
    // Something that looks like a path is never sent to the Hub.
    await assertRejects(
      () => loadExamples({ ...spec, name: "./missing/train.jsonl" }, { resolveFiles: resolve }),
      MaxentError,
      "./missing/train.jsonl",
      "not found",
    );
    assertEquals(calls.length, 2);
  });
});

Deno.test("column mapping: prompt/solution/extra columns, message lists, errors naming missing columns", async () => {
  await withTempDir(async (dir) => {
    const path = `${dir}/train.jsonl`;
    const rows = [
      { problem: "2+2?", answer: 4, meta: { level: 1 }, other: "drop me" },
      { problem: 7, answer: null, meta: null, other: "" },
      {
        problem: [{ role: "system", content: "S" }, { role: "user", content: "first" }, {
          role: "assistant",
          content: "a",
        }, { role: "user", content: "last" }],
        answer: "x",
        meta: [1, 2],
        other: "",
      },
    ];
    await Deno.writeTextFile(path, rows.map((r) => JSON.stringify(r)).join("\n"));
    const ex = await loadExamples({
      name: path,
      split: "train",
      promptColumn: "problem",
      solutionColumn: "answer",
      columns: ["meta"],
    });
    assertEquals(ex.map((e) => e.prompt), ["2+2?", "7", "last"]);
    assertEquals(ex.map((e) => e.solution), ["4", undefined, "x"]);
    assertEquals(ex[0].row, { problem: "2+2?", answer: 4, meta: { level: 1 } });
    assertEquals(ex[0].messages, undefined);
    assertEquals(ex[2].messages, rows[2].problem);
    assertEquals(ex.map((e) => e.source), [`${path}#0`, `${path}#1`, `${path}#2`]);

    for (const spec of [{ promptColumn: "question" }, { promptColumn: "problem", solutionColumn: "solution" }]) {
      const missing = spec.promptColumn === "question" ? "question" : "solution";
      await assertRejects(
        () => loadExamples({ name: path, split: "train", ...spec }),
        MaxentError,
        `column "${missing}"`,
        path,
        `"problem", "answer", "meta", "other"`,
      );
    }
    await Deno.writeTextFile(path, JSON.stringify({ problem: null }) + "\n");
    await assertRejects(
      () => loadExamples({ name: path, split: "train", promptColumn: "problem" }),
      MaxentError,
      `${path}#0`,
      `"problem" holds null`,
    );
  });
});

Deno.test("shuffled: mulberry32 known values, a permutation, reproducible, seeds differ, roughly uniform", () => {
  // Reference values from an independent Python implementation of mulberry32 (seed 42, then seed 0).
  const g = mulberry32(42);
  assertEquals([g(), g(), g(), g()], [2581720956, 1925393290, 3661312704, 2876485805]);
  const g0 = mulberry32(0);
  assertEquals([g0(), g0()], [1144304738, 1416247]);

  const items = Array.from({ length: 100 }, (_, i) => i);
  const a = shuffled(items, 7);
  assertEquals(items, Array.from({ length: 100 }, (_, i) => i), "input unchanged");
  assertEquals([...a].sort((x, y) => x - y), items, "a permutation");
  assertEquals(shuffled(items, 7), a, "same seed, same order");
  assertNotEquals(shuffled(items, 8), a, "different seeds differ");
  assertNotEquals(a, items);
  assertNotEquals(shuffled(items, 2 ** 40), shuffled(items, 0), "high bits of the seed matter");
  assertEquals(shuffled([], 1), []);
  assertThrows(() => shuffled(items, 1.5), MaxentError, "seed");

  // 6000 shuffles of 3 items: each of the 6 orders ≈ 1000 times (σ ≈ 29; allow ±150).
  const counts = new Map<string, number>();
  for (let s = 0; s < 6000; s++) {
    const k = shuffled([0, 1, 2], s).join("");
    counts.set(k, (counts.get(k) ?? 0) + 1);
  }
  assertEquals(counts.size, 6);
  for (const [k, c] of counts) assert(Math.abs(c - 1000) < 150, `order ${k} drawn ${c} times`);
});

Deno.test("mixture: weights keep ⌊n·w⌋ rows per dataset, then a ⌈t·n⌉ test split, seeded", async () => {
  await withTempDir(async (dir) => {
    await writeJsonl(`${dir}/a/train.jsonl`, "a", 100);
    await writeJsonl(`${dir}/b/train.jsonl`, "b", 50);
    await writeJsonl(`${dir}/b/test.jsonl`, "bt", 5);
    const mixture = {
      seed: 42,
      test_split_size: 0.1,
      datasets: [
        { id: `${dir}/a`, weight: 0.29, columns: ["problem", "answer"] }, // 100·0.29 = 28.999… → 28, as Python int()
        { id: `${dir}/b`, split: "train", weight: 0.7, columns: ["answer", "problem"] }, // 35
      ],
    };
    const opts = { promptColumn: "problem", solutionColumn: "answer" };
    const { train, test } = await loadMixture(mixture, opts);
    // 63 rows; test = ⌈0.1·63⌉ = ⌈6.300000000000001⌉ = 7, train = 56 (HF train_test_split sizes).
    assertEquals([train.length, test.length], [56, 7]);
    const all = [...train, ...test].map((e) => e.prompt);
    assertEquals(new Set(all).size, 63, "train and test are disjoint");
    assertEquals(all.filter((p) => p.startsWith("a ")).length, 28);
    assertEquals(all.filter((p) => p.startsWith("b ")).length, 35);
    assertEquals(all.filter((p) => p.startsWith("bt ")).length, 0, "only the named split");
    // The kept rows of a dataset are the first ⌊n·w⌋ of its seeded shuffle.
    const aAll = await loadExamples({ name: `${dir}/a`, split: "train", ...opts });
    const aKept = new Set(prompts(shuffled(aAll, 42).slice(0, 28)));
    assertEquals(new Set(all.filter((p) => p.startsWith("a "))), aKept);
    // `columns` selects the row's columns.
    assertEquals(Object.keys(train[0].row).sort(), ["answer", "problem"]);

    const again = await loadMixture(mixture, opts);
    assertEquals(prompts(again.train), prompts(train), "same seed, same split and order");
    const other = await loadMixture({ ...mixture, seed: 43 }, opts);
    assertEquals([other.train.length, other.test.length], [56, 7]);
    assertNotEquals(prompts(other.test), prompts(test), "another seed, another test split");

    // Without test_split_size everything is train; absent weights keep every row.
    const plain = await loadMixture({ datasets: [{ id: `${dir}/a` }, { id: `${dir}/b`, split: "test" }] }, opts);
    assertEquals([plain.train.length, plain.test.length], [105, 0]);
    // Hub ids in a mixture go through the resolver.
    const resolveFiles: FileResolver = (id, o) => Promise.resolve([`${dir}/${id.split("/")[1]}/${o.split}.jsonl`]);
    const hub = await loadMixture({ datasets: [{ id: "org/b", split: "test", weight: 0.4 }] }, {
      ...opts,
      resolveFiles,
    });
    assertEquals(hub.train.length, 2);
  });
});

Deno.test("mixture schema: defaults, ranges, unknown keys, column consistency, empty splits", async () => {
  const m = DatasetMixtureSchema.parse({ datasets: [{ id: "org/a" }] });
  assertEquals(m, { datasets: [{ id: "org/a", split: "train" }], seed: 0 });
  assertThrows(() => parseDatasetMixture({ datasets: [{ id: "a", weight: 1.5 }] }), MaxentError, "datasets.0.weight");
  assertThrows(() => parseDatasetMixture({ datasets: [{ id: "a", weight: 0 }] }), MaxentError, "datasets.0.weight");
  assertThrows(
    () => parseDatasetMixture({ datasets: [{ id: "a" }], test_split_size: 1 }),
    MaxentError,
    "test_split_size",
  );
  assertThrows(() => parseDatasetMixture({ datasets: [] }), MaxentError, "dataset_mixture.datasets");
  assertThrows(() => parseDatasetMixture({ datasets: [{ id: "a", wieght: 0.5 }] }), MaxentError, "wieght");
  assertThrows(
    () =>
      parseDatasetMixture({
        datasets: [{ id: "a", columns: ["problem", "answer"] }, { id: "b" }, { id: "c", columns: ["problem"] }],
      }),
    MaxentError,
    "column names must be the same",
    "[problem, answer] vs [problem]",
  );
  await withTempDir(async (dir) => {
    await writeJsonl(`${dir}/one.jsonl`, "p", 1);
    await assertRejects(
      () => loadMixture({ datasets: [{ id: `${dir}/one.jsonl` }], test_split_size: 0.5 }, { promptColumn: "problem" }),
      MaxentError,
      "empty train split",
    );
    await assertRejects(
      () => loadMixture({ datasets: [{ id: `${dir}/one.jsonl` }] }),
      MaxentError,
      `column "prompt"`,
      `"problem"`,
    );
  });
});
