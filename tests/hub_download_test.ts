/**
 * Hub downloads against the local Hub-compatible server: model/dataset resolution, the Hugging Face cache layout,
 * no refetching, revisions, 401/404/500, connections cut mid-file, offline mode, options from the environment.
 */
import { createHash } from "node:crypto";
import { join } from "node:path";
import { assert, assertEquals, assertMatch, assertRejects } from "./assert.ts";
import {
  fromBase64,
  type HubServer,
  PARQUET_TEST_B64,
  pseudoRandomBytes,
  seedTinyRepos,
  startHubServer,
} from "./fixtures/hub_server.ts";
import {
  downloadRepo,
  hubCacheDir,
  hubOptionsFromEnv,
  isLocalPath,
  resolveDatasetFiles,
  resolveModel,
  selectDataFiles,
} from "../src/hub/mod.ts";
import { ensureFile, repoSession } from "../src/hub/download.ts";
import { MaxentError } from "../src/errors.ts";

const TOKEN = "hf_SecretTestToken0123456789";

async function withHub(
  fn: (srv: HubServer, cache: string, commits: { model: string; dataset: string }) => Promise<void>,
) {
  const srv = startHubServer();
  const cache = await Deno.makeTempDir({ prefix: "maxent-hub-" });
  try {
    await fn(srv, cache, seedTinyRepos(srv));
  } finally {
    await srv.close();
    await Deno.remove(cache, { recursive: true });
  }
}

/** Independent etag computations: git blob sha1 and sha256. */
function gitOid(bytes: Uint8Array): string {
  return createHash("sha1").update(`blob ${bytes.length}\0`).update(bytes).digest("hex");
}
function sha256(bytes: Uint8Array): string {
  return createHash("sha256").update(bytes).digest("hex");
}

function serverFile(srv: HubServer, type: "model" | "dataset", id: string, path: string, rev = "main"): Uint8Array {
  const repo = srv.repos.get(`${type}:${id}`)!;
  return repo.commits.get(repo.refs.get(rev) ?? rev)!.get(path)!.content;
}

async function listTree(dir: string): Promise<string[]> {
  const out: string[] = [];
  for await (const e of Deno.readDir(dir)) {
    if (e.isDirectory) { for (const s of await listTree(join(dir, e.name))) out.push(`${e.name}/${s}`); }
    else out.push(e.name);
  }
  return out.sort();
}

Deno.test("resolveModel downloads only the model files, byte-identical, in Python's cache layout", async () => {
  await withHub(async (srv, cache, commits) => {
    const dir = await resolveModel("org/tiny-model", undefined, { endpoint: srv.url, cacheDir: cache });
    const storage = join(cache, "models--org--tiny-model");
    assertEquals(dir, join(storage, "snapshots", commits.model));
    assertEquals(await listTree(dir), [
      "config.json",
      "generation_config.json",
      "model.safetensors",
      "tokenizer.json",
      "tokenizer_config.json",
    ]);
    for (const name of await listTree(dir)) {
      const expected = serverFile(srv, "model", "org/tiny-model", name);
      assertEquals(await Deno.readFile(join(dir, name)), expected, name);
      // Pointer: relative symlink into blobs/<etag>, etag = sha256 for LFS files, git blob sha1 otherwise.
      const etag = name.endsWith(".safetensors") ? sha256(expected) : gitOid(expected);
      assertEquals(await Deno.readLink(join(dir, name)), `../../blobs/${etag}`);
      assert((await Deno.lstat(join(storage, "blobs", etag))).isFile);
    }
    assertEquals(await Deno.readTextFile(join(storage, "refs", "main")), commits.model);
    // Nothing temporary left behind.
    assert((await listTree(join(storage, "blobs"))).every((n) => /^[0-9a-f]{40}([0-9a-f]{24})?$/.test(n)));
  });
});

Deno.test("a cached file is not fetched again; a new commit on the branch is picked up", async () => {
  await withHub(async (srv, cache) => {
    const opts = { endpoint: srv.url, cacheDir: cache };
    const first = await resolveModel("org/tiny-model", "main", opts);
    const before = srv.requests.length;
    const second = await resolveModel("org/tiny-model", "main", opts);
    assertEquals(second, first);
    const again = srv.requests.slice(before);
    assertEquals(again.filter((r) => r.path.includes("/resolve/")).length, 0, "no file downloads the second time");
    // A commit changing only config.json: the unchanged blobs are reused, only config.json is fetched.
    const newCommit = srv.addCommit("model", "org/tiny-model", { "config.json": '{"model_type":"qwen2","v":2}' });
    const mark = srv.requests.length;
    const third = await resolveModel("org/tiny-model", "main", opts);
    assert(third.endsWith(newCommit));
    const fetched = srv.requests.slice(mark).filter((r) => r.path.includes("/resolve/") && r.range === null);
    assertEquals(fetched.map((r) => r.path.split("/").pop()), ["config.json"]);
    assertEquals(await Deno.readTextFile(join(third, "config.json")), '{"model_type":"qwen2","v":2}');
    assertEquals(await Deno.readTextFile(join(cache, "models--org--tiny-model", "refs", "main")), newCommit);
  });
});

Deno.test("revisions: a branch gets refs/<branch>; a commit sha needs no revision lookup", async () => {
  await withHub(async (srv, cache, commits) => {
    const dev = srv.addCommit("model", "org/tiny-model", { "config.json": '{"dev":true}' }, { branch: "dev" });
    const opts = { endpoint: srv.url, cacheDir: cache };
    const devDir = await downloadRepo("org/tiny-model", { ...opts, revision: "dev", include: ["config.json"] });
    assertEquals(await Deno.readTextFile(join(devDir, "config.json")), '{"dev":true}');
    assertEquals(await Deno.readTextFile(join(cache, "models--org--tiny-model", "refs", "dev")), dev);
    const mark = srv.requests.length;
    const shaDir = await downloadRepo("org/tiny-model", { ...opts, revision: commits.model, include: ["*.json"] });
    assert(shaDir.endsWith(commits.model));
    assert(!srv.requests.slice(mark).some((r) => r.path.includes("/revision/")));
    assert(!(await listTree(join(cache, "models--org--tiny-model", "refs"))).includes(commits.model));
  });
});

Deno.test("downloadRepo --include globs, nested paths and a renamed repo (redirect)", async () => {
  await withHub(async (srv, cache) => {
    srv.renames.set("old/tiny-model", "org/tiny-model");
    const dir = await downloadRepo("org/tiny-model", {
      endpoint: srv.url,
      cacheDir: cache,
      include: ["extra/*", "*.bin"],
    });
    assertEquals(await listTree(dir), ["extra/notes.txt", "training_args.bin"]);
    const notes = serverFile(srv, "model", "org/tiny-model", "extra/notes.txt");
    assertEquals(await Deno.readLink(join(dir, "extra/notes.txt")), `../../../blobs/${gitOid(notes)}`);
    await assertRejects(
      () => downloadRepo("org/tiny-model", { endpoint: srv.url, cacheDir: cache, include: ["*.gguf"] }),
      MaxentError,
      "matches --include",
    );
    // The Hub answers 307 for an old repo name; the client follows it.
    const renamed = await downloadRepo("old/tiny-model", { endpoint: srv.url, cacheDir: cache, include: ["*.json"] });
    assert((await listTree(renamed)).includes("config.json"));
  });
});

Deno.test("sharded weights: the index and only the shards it names; a 0-byte file; an unreachable Hub", async () => {
  await withHub(async (srv, cache) => {
    const shard1 = pseudoRandomBytes(3000, 1);
    const shard2 = pseudoRandomBytes(2000, 2);
    const index = {
      metadata: {},
      weight_map: { "a.weight": "model-00001-of-00002.safetensors", "b.weight": "model-00002-of-00002.safetensors" },
    };
    srv.addCommit("model", "org/sharded", {
      "config.json": "{}",
      "model.safetensors.index.json": JSON.stringify(index),
      "model-00001-of-00002.safetensors": shard1,
      "model-00002-of-00002.safetensors": shard2,
      "consolidated.safetensors": pseudoRandomBytes(5000, 3),
      "special_tokens_map.json": "",
    });
    const opts = { endpoint: srv.url, cacheDir: cache };
    const dir = await resolveModel("org/sharded", undefined, opts);
    assertEquals(await listTree(dir), [
      "config.json",
      "model-00001-of-00002.safetensors",
      "model-00002-of-00002.safetensors",
      "model.safetensors.index.json",
      "special_tokens_map.json",
    ]);
    assertEquals(await Deno.readFile(join(dir, "model-00002-of-00002.safetensors")), shard2);
    assertEquals((await Deno.stat(join(dir, "special_tokens_map.json"))).size, 0);
    // Offline, a shard missing from the snapshot is named.
    await Deno.remove(join(dir, "model-00001-of-00002.safetensors"));
    const e = await assertRejects(
      () => resolveModel("org/sharded", undefined, { ...opts, offline: true }),
      MaxentError,
    );
    assertMatch(e.message, /missing model-00001-of-00002\.safetensors/);
    await resolveModel("org/sharded", undefined, opts);
    // The Hub unreachable (not offline): the cached snapshot of the revision is used, with a log line.
    const gone = startHubServer();
    const goneUrl = gone.url;
    await gone.close();
    const logs: string[] = [];
    const again = await resolveModel("org/sharded", undefined, {
      ...opts,
      endpoint: goneUrl,
      log: (l) => logs.push(l),
    });
    assertEquals(again, dir);
    assert(logs.some((l) => /unreachable; using the cached snapshot/.test(l)), logs.join("\n"));
  });
});

Deno.test("404: missing repo, revision and file give messages naming them", async () => {
  await withHub(async (srv, cache) => {
    const opts = { endpoint: srv.url, cacheDir: cache };
    const e1 = await assertRejects(() => resolveModel("org/no-such-model", undefined, opts), MaxentError);
    assertMatch(e1.message, /model repo "org\/no-such-model" was not found/);
    assertMatch(e1.message, /HF_TOKEN/);
    const e2 = await assertRejects(() => resolveModel("org/tiny-model", "v9", opts), MaxentError);
    assertMatch(e2.message, /revision "v9" does not exist in model repo org\/tiny-model/);
    const s = repoSession({ type: "model", id: "org/tiny-model" }, opts);
    const sha = srv.repos.get("model:org/tiny-model")!.refs.get("main")!;
    const e3 = await assertRejects(
      () => ensureFile(s, sha, { path: "missing.json", size: 3, oid: "0".repeat(40) }),
      MaxentError,
    );
    assertMatch(e3.message, /file "missing.json" does not exist in model repo org\/tiny-model/);
    await assertRejects(() => resolveModel("org/tiny-model", "../../etc", opts), MaxentError, "not a valid revision");
    const e4 = await assertRejects(() => resolveModel("not a repo id!", undefined, opts), MaxentError);
    assertMatch(e4.message, /neither an existing local path nor a Hub repo id/);
  });
});

Deno.test("401: the message says to set HF_TOKEN and never contains the token", async () => {
  await withHub(async (srv, cache) => {
    srv.faults.requireToken = TOKEN;
    const logs: string[] = [];
    const opts = { endpoint: srv.url, cacheDir: cache, log: (l: string) => logs.push(l) };
    const e1 = await assertRejects(() => resolveModel("org/tiny-model", undefined, opts), MaxentError);
    assertMatch(e1.message, /401/);
    assertMatch(e1.message, /set HF_TOKEN/);
    const wrong = "hf_WrongTokenAbcdef987654";
    const e2 = await assertRejects(
      () => resolveModel("org/tiny-model", undefined, { ...opts, token: wrong }),
      MaxentError,
    );
    assertMatch((e2 as Error).message, /token .* was refused/);
    assert(!(e2 as Error).message.includes(wrong), "token echoed in the error");
    const e3 = await assertRejects(
      () => resolveModel("org/tiny-model", undefined, { ...opts, token: "secret123" }),
      MaxentError,
    );
    assertMatch((e3 as Error).message, /must start with "hf_"/);
    assert(!(e3 as Error).message.includes("secret123"));
    // With the right token everything works and the token went only into Authorization headers.
    const dir = await resolveModel("org/tiny-model", undefined, { ...opts, token: TOKEN });
    assert((await listTree(dir)).includes("model.safetensors"));
    assert(srv.requests.some((r) => r.authorization === `Bearer ${TOKEN}`));
    assert(logs.length > 0 && logs.every((l) => !l.includes(TOKEN) && !l.includes(wrong)));
  });
});

Deno.test("500 then success: API calls and file downloads are retried", async () => {
  await withHub(async (srv, cache) => {
    const logs: string[] = [];
    srv.faults.fail500 = { pathIncludes: "/revision/", times: 2 };
    const opts = { endpoint: srv.url, cacheDir: cache, log: (l: string) => logs.push(l) };
    await downloadRepo("org/tiny-model", { ...opts, include: ["config.json"] });
    assertEquals(srv.faults.fail500.times, 0);
    srv.faults.fail500 = { pathIncludes: "model.safetensors", times: 2 };
    const dir = await resolveModel("org/tiny-model", undefined, opts);
    assertEquals(srv.faults.fail500.times, 0);
    assertEquals(
      await Deno.readFile(join(dir, "model.safetensors")),
      serverFile(srv, "model", "org/tiny-model", "model.safetensors"),
    );
    assert(logs.filter((l) => /HTTP 500/.test(l)).length >= 4, logs.join("\n"));
    // A Hub that keeps failing gives up with a clear message.
    srv.faults.fail500 = { pathIncludes: "/revision/", times: 100 };
    const e = await assertRejects(() => resolveModel("org/tiny-model", undefined, opts), MaxentError);
    assertMatch(e.message, /HTTP 500/);
  });
});

Deno.test("connection cut mid-file: no complete-looking file; resumed in-run, or completed by a rerun", async () => {
  await withHub(async (srv, cache) => {
    const big = pseudoRandomBytes(300_000, 11);
    srv.addCommit("model", "org/tiny-model", { "model.safetensors": big });
    const opts = { endpoint: srv.url, cacheDir: cache };
    const storage = join(cache, "models--org--tiny-model");
    // Every attempt is cut: the run fails and leaves neither the blob nor the pointer nor a temp file.
    srv.faults.cut = { pathIncludes: "model.safetensors", bytes: 10_000, times: 100 };
    await assertRejects(() => resolveModel("org/tiny-model", undefined, opts), MaxentError);
    const blobs = await listTree(join(storage, "blobs"));
    assert(!blobs.includes(sha256(big)), "the cut file must not be stored under its final name");
    assert(blobs.every((b) => !b.includes("incomplete")), `leftover temp file: ${blobs}`);
    const snap = (await listTree(join(storage, "snapshots"))).filter((p) => p.endsWith("model.safetensors"));
    assertEquals(snap, []);
    // A rerun (no more faults) completes it.
    srv.faults.cut = undefined;
    const dir = await resolveModel("org/tiny-model", undefined, opts);
    assertEquals(await Deno.readFile(join(dir, "model.safetensors")), big);
    // One cut only: the download resumes with a Range request within the same run.
    await Deno.remove(cache, { recursive: true });
    await Deno.mkdir(cache);
    srv.faults.cut = { pathIncludes: "model.safetensors", bytes: 100_000, times: 1 };
    const mark = srv.requests.length;
    const dir2 = await resolveModel("org/tiny-model", undefined, opts);
    assertEquals(await Deno.readFile(join(dir2, "model.safetensors")), big);
    const ranges = srv.requests.slice(mark).filter((r) => r.path.endsWith("model.safetensors")).map((r) => r.range);
    assert(ranges.some((r) => r !== null && /^bytes=[1-9]\d*-/.test(r)), `expected a resume: ${ranges}`);
  });
});

Deno.test("offline mode: cache hit works without the Hub; a miss names what is missing", async () => {
  await withHub(async (srv, cache, commits) => {
    const online = { endpoint: srv.url, cacheDir: cache };
    const dir = await resolveModel("org/tiny-model", undefined, online);
    const files = await resolveDatasetFiles("org/tiny-dataset", { split: "test", ...online });
    const mark = srv.requests.length;
    const offline = { endpoint: "http://127.0.0.1:9", cacheDir: cache, offline: true };
    assertEquals(await resolveModel("org/tiny-model", undefined, offline), dir);
    assertEquals(await resolveDatasetFiles("org/tiny-dataset", { split: "test", ...offline }), files);
    assertEquals(await downloadRepo("org/tiny-model", offline), join(dir));
    assertEquals(srv.requests.length, mark, "offline mode must not touch the network");
    const e1 = await assertRejects(() => resolveModel("org/other-model", undefined, offline), MaxentError);
    assertMatch(e1.message, /HF_HUB_OFFLINE/);
    assertMatch(e1.message, /org\/other-model/);
    assertMatch(e1.message, /maxent download org\/other-model/);
    const e2 = await assertRejects(
      () => resolveDatasetFiles("org/tiny-dataset", { split: "validation", ...offline }),
      MaxentError,
    );
    assertMatch(e2.message, /split "validation"/);
    // Weights deleted from the snapshot: offline resolution says which file is missing.
    await Deno.remove(join(cache, "models--org--tiny-model", "snapshots", commits.model, "model.safetensors"));
    const e3 = await assertRejects(() => resolveModel("org/tiny-model", undefined, offline), MaxentError);
    assertMatch(e3.message, /missing \*\.safetensors/);
  });
});

Deno.test("resolveDatasetFiles: card configs, splits, conventions and the refs/convert/parquet layout", async () => {
  await withHub(async (srv, cache) => {
    const opts = { endpoint: srv.url, cacheDir: cache };
    const train = await resolveDatasetFiles("org/tiny-dataset", { split: "train", ...opts });
    assertEquals(train.map((p) => p.split("/snapshots/")[1].slice(41)), [
      "data/train-00000-of-00002.parquet",
      "data/train-00001-of-00002.parquet",
    ]);
    assertEquals(await Deno.readFile(train[1]), fromBase64(PARQUET_TEST_B64));
    const extra = await resolveDatasetFiles("org/tiny-dataset", { config: "extra", split: "train", ...opts });
    assert(extra[0].endsWith("extra/train-00000-of-00001.parquet"));
    const e = await assertRejects(
      () => resolveDatasetFiles("org/tiny-dataset", { split: "validation", ...opts }),
      MaxentError,
    );
    assertMatch(e.message, /default \(train, test\); extra \(train\)/);
    // A repo with only raw files: the Hub's parquet conversion branch is used.
    srv.addCommit("dataset", "org/raw-dataset", { "README.md": "# raw\n", "raw/data.csv": "a,b\n1,2\n" });
    srv.addCommit("dataset", "org/raw-dataset", {
      "default/train/0000.parquet": fromBase64(PARQUET_TEST_B64),
      "default/test/0000.parquet": fromBase64(PARQUET_TEST_B64),
    }, { branch: "refs/convert/parquet", replace: true });
    const conv = await resolveDatasetFiles("org/raw-dataset", { split: "train", ...opts });
    assertEquals(conv.length, 1);
    assert(conv[0].endsWith("default/train/0000.parquet"));
    assert((await Deno.readTextFile(join(cache, "datasets--org--raw-dataset", "refs/refs/convert/parquet"))).length);
    // JSON Lines named by split.
    srv.addCommit("dataset", "org/jsonl-dataset", { "train.jsonl": '{"a":1}\n', "test.jsonl": '{"a":2}\n' });
    const jl = await resolveDatasetFiles("org/jsonl-dataset", { split: "test", ...opts });
    assertEquals(await Deno.readTextFile(jl[0]), '{"a":2}\n');
  });
});

Deno.test("selectDataFiles follows the Hub's conventions", () => {
  const paths = [
    "README.md",
    "data/train-00000-of-00002.parquet",
    "data/train-00001-of-00002.parquet",
    "data/test-00000-of-00001.parquet",
    "other/train-0.parquet",
  ];
  assertEquals(selectDataFiles(paths, undefined, undefined, "test"), ["data/test-00000-of-00001.parquet"]);
  assertEquals(selectDataFiles(paths, undefined, "other", "train"), ["other/train-0.parquet"]);
  assertEquals(selectDataFiles(paths, undefined, undefined, "validation"), []);
  const card = "---\nconfigs:\n- config_name: all\n  data_files:\n    train: other/*\n---\n";
  assertEquals(selectDataFiles(paths, card, "all", "train"), ["other/train-0.parquet"]);
  assertEquals(selectDataFiles(paths, card, "default", "train"), []);
  assertEquals(selectDataFiles(["a/train.jsonl", "train.json"], undefined, undefined, "train"), ["train.json"]);
});

Deno.test("options from the environment: HF_ENDPOINT, HF_TOKEN, cache dir precedence, HF_HUB_OFFLINE", () => {
  const o = hubOptionsFromEnv({
    HF_ENDPOINT: "http://127.0.0.1:1234/",
    HF_TOKEN: TOKEN,
    HF_HOME: "/x/hf",
    HF_HUB_OFFLINE: "1",
  });
  assertEquals(o.endpoint, "http://127.0.0.1:1234");
  assertEquals(o.token, TOKEN);
  assertEquals(o.cacheDir, "/x/hf/hub");
  assertEquals(o.offline, true);
  assertEquals(hubOptionsFromEnv({ HOME: "/h" }).endpoint, "https://huggingface.co");
  assertEquals(hubCacheDir({ HF_HUB_CACHE: "/c", HF_HOME: "/x" }), "/c");
  assertEquals(hubCacheDir({ XDG_CACHE_HOME: "/xdg", HOME: "/h" }), "/xdg/huggingface/hub");
  assertEquals(hubCacheDir({ HOME: "/h" }), "/h/.cache/huggingface/hub");
  assertEquals(hubOptionsFromEnv({ HF_HUB_OFFLINE: "0" }).offline, false);
  assertEquals(hubOptionsFromEnv({ HF_TOKEN: TOKEN }, { token: "hf_other", offline: undefined }).token, "hf_other");
});

Deno.test("isLocalPath and local model paths", async () => {
  assert(isLocalPath("./model"));
  assert(isLocalPath("../model"));
  assert(isLocalPath("/abs/model"));
  assert(isLocalPath("~/model"));
  assert(!isLocalPath("Qwen/Qwen2.5-1.5B-Instruct"));
  const dir = await Deno.makeTempDir();
  try {
    assert(isLocalPath(dir));
    const e = await assertRejects(() => resolveModel(dir), MaxentError);
    assertMatch(e.message, /has no config.json/);
    await Deno.writeTextFile(join(dir, "config.json"), "{}");
    assertEquals(await resolveModel(dir), dir);
    await assertRejects(() => resolveModel("./no/such/dir"), MaxentError, "does not exist");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
