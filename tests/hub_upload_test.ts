/**
 * Uploads against the local Hub server: folder → Hub → download again gives identical bytes (a >10 MB file through
 * the LFS path, whose PUT carries no token), repo/branch creation, auth errors, the hub_strategy plan, the model
 * card.
 */
import { createHash } from "node:crypto";
import { join } from "node:path";
import { parse as parseYaml } from "yaml";
import { assert, assertEquals, assertMatch, assertRejects, assertThrows } from "./assert.ts";
import { type HubServer, pseudoRandomBytes, startHubServer } from "./fixtures/hub_server.ts";
import { downloadRepo, hubUploadPlan, modelCard, uploadFolder } from "../src/hub/mod.ts";
import { MaxentError } from "../src/errors.ts";
import { loadModelConfig } from "../src/model/config.ts";
import { readSafetensorsDir, writeSafetensorsDir } from "../src/model/safetensors.ts";
import { resolveModel } from "../src/hub/mod.ts";

const TOKEN = "hf_UploadTestToken0123456789";

async function withHub(fn: (srv: HubServer, cache: string, work: string) => Promise<void>) {
  const srv = startHubServer();
  const cache = await Deno.makeTempDir({ prefix: "maxent-hub-up-" });
  const work = await Deno.makeTempDir({ prefix: "maxent-hub-src-" });
  try {
    await fn(srv, cache, work);
  } finally {
    await srv.close();
    await Deno.remove(cache, { recursive: true });
    await Deno.remove(work, { recursive: true });
  }
}

async function writeCheckpoint(dir: string, bigBytes: number): Promise<Record<string, Uint8Array>> {
  const files: Record<string, Uint8Array> = {
    "config.json": new TextEncoder().encode('{"model_type":"qwen2"}'),
    "model.safetensors": pseudoRandomBytes(bigBytes, 21),
    "tokenizer.json": new TextEncoder().encode('{"version":"1.0"}'),
    "nested/notes.txt": new TextEncoder().encode("hello\n"),
  };
  for (const [p, b] of Object.entries(files)) {
    await Deno.mkdir(join(dir, p, ".."), { recursive: true });
    await Deno.writeFile(join(dir, p), b);
  }
  // Temporary files of an interrupted write are never uploaded.
  await Deno.writeFile(join(dir, "model.safetensors.tmp-1234"), new Uint8Array(3));
  return files;
}

Deno.test("upload a folder (with an 11 MB LFS file), download it again: identical bytes", async () => {
  await withHub(async (srv, cache, work) => {
    const files = await writeCheckpoint(work, 11 * 1024 * 1024);
    const logs: string[] = [];
    const res = await uploadFolder(work, "me/tiny-trained", {
      endpoint: srv.url,
      token: TOKEN,
      cacheDir: cache,
      private: true,
      message: "first push",
      log: (l) => logs.push(l),
    });
    assertMatch(res.commit, /^[0-9a-f]{40}$/);
    assertEquals(res.url, `${srv.url}/me/tiny-trained`);
    const repo = srv.repos.get("model:me/tiny-trained")!;
    assert(repo.private, "--private creates a private repo");
    assertEquals(repo.refs.get("main"), res.commit);
    // The big file went through LFS: batch call with the token, PUT of the object without it.
    const sha = createHash("sha256").update(files["model.safetensors"]).digest("hex");
    const put = srv.requests.find((r) => r.method === "PUT");
    assertEquals(put?.path, `/lfs-upload/${sha}`);
    assertEquals(put?.authorization, null);
    assert(
      srv.requests.some((r) => r.path.endsWith(".git/info/lfs/objects/batch") && r.authorization?.includes(TOKEN)),
    );
    assertEquals(repo.commits.get(res.commit)!.get("model.safetensors")!.lfsSha256, sha);
    assert(!repo.commits.get(res.commit)!.has("model.safetensors.tmp-1234"));
    const dir = await downloadRepo("me/tiny-trained", { endpoint: srv.url, token: TOKEN, cacheDir: cache });
    for (const [p, bytes] of Object.entries(files)) assertEquals(await Deno.readFile(join(dir, p)), bytes, p);
    assert(logs.every((l) => !l.includes(TOKEN)));
  });
});

Deno.test("upload to a new branch of an existing repo; a second upload makes a new commit; pathInRepo", async () => {
  await withHub(async (srv, cache, work) => {
    const files = await writeCheckpoint(work, 2048);
    const opts = { endpoint: srv.url, token: TOKEN, cacheDir: cache };
    const first = await uploadFolder(work, "me/model", opts);
    const dev = await uploadFolder(work, "me/model", { ...opts, revision: "dev", pathInRepo: "last-checkpoint" });
    assertEquals(dev.url, `${srv.url}/me/model/tree/dev`);
    const repo = srv.repos.get("model:me/model")!;
    assertEquals(repo.refs.get("main"), first.commit, "main is untouched by a push to dev");
    assertEquals(repo.refs.get("dev"), dev.commit);
    const devTree = repo.commits.get(dev.commit)!;
    assert(devTree.has("config.json") && devTree.has("last-checkpoint/config.json"));
    await Deno.writeTextFile(join(work, "config.json"), '{"model_type":"qwen2","step":2}');
    const second = await uploadFolder(work, "me/model", { ...opts, include: ["config.json"] });
    assert(second.commit !== first.commit);
    const mainDir = await downloadRepo("me/model", { ...opts, include: ["*.json", "*.safetensors"] });
    assertEquals(await Deno.readTextFile(join(mainDir, "config.json")), '{"model_type":"qwen2","step":2}');
    assertEquals(await Deno.readFile(join(mainDir, "model.safetensors")), files["model.safetensors"]);
  });
});

Deno.test("upload without a token, or with a refused one, says to set HF_TOKEN and never echoes it", async () => {
  await withHub(async (srv, cache, work) => {
    await writeCheckpoint(work, 16);
    const e1 = await assertRejects(
      () => uploadFolder(work, "me/x", { endpoint: srv.url, cacheDir: cache }),
      MaxentError,
    );
    assertMatch(e1.message, /set HF_TOKEN or pass --token/);
    srv.faults.requireToken = TOKEN;
    const wrong = "hf_NotTheRightToken5555555";
    const e2 = await assertRejects(
      () => uploadFolder(work, "me/x", { endpoint: srv.url, cacheDir: cache, token: wrong }),
      MaxentError,
    );
    assertMatch(e2.message, /401/);
    assert(!e2.message.includes(wrong));
    const e3 = await assertRejects(
      () => uploadFolder(work, "me/x", { endpoint: srv.url, cacheDir: cache, token: TOKEN, offline: true }),
      MaxentError,
    );
    assertMatch(e3.message, /HF_HUB_OFFLINE/);
    await assertRejects(() => uploadFolder(work, "x", { endpoint: srv.url, token: TOKEN }), MaxentError, "me/x");
    await assertRejects(
      () => uploadFolder(join(work, "nope"), "me/x", { endpoint: srv.url, token: TOKEN }),
      MaxentError,
      "not a directory",
    );
  });
});

Deno.test("a sharded checkpoint from the model module: upload, resolveModel, load: identical tensors", async () => {
  await withHub(async (srv, cache, work) => {
    const config = {
      architectures: ["Qwen2ForCausalLM"],
      model_type: "qwen2",
      hidden_size: 16,
      intermediate_size: 24,
      num_hidden_layers: 1,
      num_attention_heads: 4,
      num_key_value_heads: 2,
      vocab_size: 40,
    };
    await Deno.writeTextFile(join(work, "config.json"), JSON.stringify(config));
    const rand = pseudoRandomBytes(4 * 16 * 40, 9);
    const tensors = new Map([
      ["model.embed_tokens.weight", {
        shape: [40, 16],
        data: new Float32Array(rand.length / 4).map((_, i) => rand[i] / 255 - 0.5),
      }],
      ["model.norm.weight", { shape: [16], data: new Float32Array(16).fill(1) }],
      ["lm_head.weight", { shape: [40, 16], data: new Float32Array(640).map((_, i) => Math.sin(i)) }],
    ]);
    const written = await writeSafetensorsDir(work, tensors, { dtype: "F32", maxShardBytes: 3000 });
    assert(written.length > 2, `expected shards + index, got ${written}`);
    const opts = { endpoint: srv.url, token: TOKEN, cacheDir: cache };
    await uploadFolder(work, "me/sharded", opts);
    const dir = await resolveModel("me/sharded", undefined, opts);
    assertEquals((await loadModelConfig(dir)).modelType, "qwen2");
    const loaded = await readSafetensorsDir(dir);
    assertEquals([...loaded.keys()].sort(), [...tensors.keys()].sort());
    for (const [name, t] of tensors) {
      assertEquals(loaded.get(name)!.shape, t.shape);
      assertEquals(loaded.get(name)!.data, t.data, name);
    }
  });
});

Deno.test("hubUploadPlan follows transformers' hub_strategy", () => {
  const ck = "/out/checkpoint-50";
  assertEquals(hubUploadPlan("end", "save", ck, "/out"), []);
  const every = hubUploadPlan("every_save", "save", ck, "/out");
  assertEquals(every.map((u) => [u.localDir, u.pathInRepo]), [[ck, ""]]);
  assert(every[0].include!.includes("*.safetensors") && every[0].include!.includes("config.json"));
  assert(!every[0].include!.some((g) => g.includes("optimizer")));
  assertEquals(hubUploadPlan("checkpoint", "save", ck, "/out").map((u) => [u.localDir, u.pathInRepo]), [
    [ck, ""],
    [ck, "last-checkpoint"],
  ]);
  assertEquals(hubUploadPlan("all_checkpoints", "save", ck, "/out").map((u) => [u.localDir, u.pathInRepo]), [
    [ck, ""],
    [ck, "checkpoint-50"],
  ]);
  for (const s of ["end", "every_save", "checkpoint"] as const) {
    const [end] = hubUploadPlan(s, "end", ck, "/out");
    assertEquals([end.localDir, end.pathInRepo], ["/out", ""]);
    assert(end.exclude!.includes("checkpoint-*/**"), s);
  }
  assert(!hubUploadPlan("all_checkpoints", "end", ck, "/out")[0].exclude!.includes("checkpoint-*/**"));
  // deno-lint-ignore no-explicit-any
  assertThrows(() => hubUploadPlan("sometimes" as any, "save", ck, "/out"), MaxentError, "hub_strategy");
});

Deno.test("modelCard has the Hub's front matter and the run's knobs and metrics", () => {
  const card = modelCard({
    baseModel: "Qwen/Qwen2.5-1.5B-Instruct",
    datasets: ["open-r1/OpenR1-Math-220k"],
    algorithm: "maxent-grpo",
    knobs: { tau: 0.2, num_generations: 8, "a|b": "x" },
    metrics: { "eval/accuracy": 0.4125, steps: 100 },
  });
  const m = /^---\n([\s\S]*?)\n---\n/.exec(card);
  assert(m, "front matter");
  const meta = parseYaml(m[1]);
  assertEquals(meta.base_model, "Qwen/Qwen2.5-1.5B-Instruct");
  assertEquals(meta.datasets, ["open-r1/OpenR1-Math-220k"]);
  assertEquals(meta.library_name, "maxent");
  assert(meta.tags.includes("maxent") && meta.tags.includes("maxent-grpo"));
  assertMatch(card, /\| tau \| 0\.2 \|/);
  assertMatch(card, /\| a\\\|b \| x \|/);
  assertMatch(card, /\| eval\/accuracy \| 0\.412500 \|/);
  assertMatch(card, /\| steps \| 100 \|/);
  assert(!/datasets:/.test(modelCard({ baseModel: "a/b", algorithm: "grpo", knobs: {} })));
});
