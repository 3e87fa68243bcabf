/**
 * `maxent download` and `maxent upload` in-process against the local Hub server, configured only through the
 * environment (HF_ENDPOINT, HF_HUB_CACHE, HF_TOKEN, HF_HUB_OFFLINE) and flags.
 */
import { join } from "node:path";
import { assert, assertEquals, assertMatch } from "./assert.ts";
import { runCli } from "./cli_helpers.ts";
import { type HubServer, seedTinyRepos, startHubServer } from "./fixtures/hub_server.ts";

const TOKEN = "hf_CliTestToken0123456789abc";
const VARS = ["HF_ENDPOINT", "HF_HUB_CACHE", "HF_TOKEN", "HF_HUB_OFFLINE", "HF_HOME"];

async function withEnv(fn: (srv: HubServer, cache: string) => Promise<void>) {
  const saved = Object.fromEntries(VARS.map((k) => [k, Deno.env.get(k)]));
  const srv = startHubServer();
  seedTinyRepos(srv);
  const cache = await Deno.makeTempDir({ prefix: "maxent-hub-cli-" });
  try {
    for (const k of VARS) Deno.env.delete(k);
    Deno.env.set("HF_ENDPOINT", srv.url);
    Deno.env.set("HF_HUB_CACHE", cache);
    await fn(srv, cache);
  } finally {
    for (const [k, v] of Object.entries(saved)) v === undefined ? Deno.env.delete(k) : Deno.env.set(k, v);
    await srv.close();
    await Deno.remove(cache, { recursive: true });
  }
}

Deno.test("maxent download prints the snapshot path; --include, --repo-type, --revision; offline", async () => {
  await withEnv(async (srv, cache) => {
    const sha = srv.repos.get("model:org/tiny-model")!.refs.get("main")!;
    const r = await runCli(["download", "org/tiny-model", "--include", "*.json", "--include", "*.safetensors"]);
    assertEquals(r.code, 0, r.err);
    assertEquals(r.out, join(cache, "models--org--tiny-model", "snapshots", sha));
    const names = [...Deno.readDirSync(r.out)].map((e) => e.name).sort();
    assertEquals(names, [
      "config.json",
      "generation_config.json",
      "model.safetensors",
      "tokenizer.json",
      "tokenizer_config.json",
    ]);
    assertEquals(r.err, "", "quiet when stderr is not a terminal");
    const d = await runCli(["download", "org/tiny-dataset", "--repo-type", "dataset", "--include", "data/test-*"]);
    assertEquals(d.code, 0, d.err);
    assert(Deno.statSync(join(d.out, "data/test-00000-of-00001.parquet")).isFile);
    Deno.env.set("HF_HUB_OFFLINE", "1");
    const off = await runCli(["download", "org/tiny-model"]);
    assertEquals(off.code, 0, off.err);
    assertEquals(off.out, r.out);
    const miss = await runCli(["download", "org/tiny-model", "--revision", "v2"]);
    assertEquals(miss.code, 1);
    assertMatch(miss.err, /HF_HUB_OFFLINE is set.*revision "v2"/);
    Deno.env.delete("HF_HUB_OFFLINE");
    const bad = await runCli(["download", "org/tiny-model", "--repo-type", "space"]);
    assertEquals(bad.code, 2);
    const missing = await runCli(["download", "org/nothing-here"]);
    assertEquals(missing.code, 1);
    assertMatch(missing.err, /model repo "org\/nothing-here" was not found/);
  });
});

Deno.test("maxent upload uses HF_TOKEN or --token, prints commit and URL, never the token", async () => {
  await withEnv(async (srv) => {
    const dir = await Deno.makeTempDir();
    try {
      await Deno.writeTextFile(join(dir, "config.json"), '{"a":1}');
      srv.faults.requireToken = TOKEN;
      const noTok = await runCli(["upload", dir, "me/cli-model"]);
      assertEquals(noTok.code, 1);
      assertMatch(noTok.err, /HF_TOKEN/);
      const wrong = "hf_WrongCliToken99999999";
      const bad = await runCli(["upload", dir, "me/cli-model", "--token", wrong]);
      assertEquals(bad.code, 1);
      assert(!bad.err.includes(wrong) && !bad.out.includes(wrong), bad.err);
      const ok = await runCli(["upload", dir, "me/cli-model", "--token", TOKEN, "--private", "--message", "hi"]);
      assertEquals(ok.code, 0, ok.err);
      const [commit, url] = ok.out.split(" ");
      assertEquals(srv.repos.get("model:me/cli-model")!.refs.get("main"), commit);
      assertEquals(url, `${srv.url}/me/cli-model`);
      assert(!ok.out.includes(TOKEN) && !ok.err.includes(TOKEN));
      Deno.env.set("HF_TOKEN", TOKEN);
      const br = await runCli(["upload", dir, "me/cli-model", "--revision", "exp"]);
      assertEquals(br.code, 0, br.err);
      assertEquals(srv.repos.get("model:me/cli-model")!.refs.get("exp"), br.out.split(" ")[0]);
      const dl = await runCli(["download", "me/cli-model", "--revision", "exp"]);
      assertEquals(dl.code, 0, dl.err);
      assertEquals(await Deno.readTextFile(join(dl.out, "config.json")), '{"a":1}');
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  });
});
