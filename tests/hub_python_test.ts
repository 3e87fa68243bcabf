/**
 * Cache sharing with Python's `huggingface_hub`, both ways, against the local Hub server: Python downloads and
 * maxent then resolves offline from that cache; maxent downloads and Python then loads offline (and its cache
 * scanner finds no problem). Runs only where `python3 -c "import huggingface_hub"` works.
 */
import { pythonCanImport } from "./python.ts";
import { join } from "node:path";
import { assert, assertEquals } from "./assert.ts";
import { type HubServer, seedTinyRepos, startHubServer } from "./fixtures/hub_server.ts";
import { resolveDatasetFiles, resolveModel } from "../src/hub/mod.ts";

const PYTHON = await pythonCanImport("huggingface_hub");

async function python(code: string, env: Record<string, string>): Promise<string> {
  const r = await new Deno.Command("python3", {
    args: ["-c", code],
    env: { HF_HUB_DISABLE_XET: "1", HF_HUB_DISABLE_TELEMETRY: "1", HF_HUB_DISABLE_PROGRESS_BARS: "1", ...env },
    stdout: "piped",
    stderr: "piped",
  }).output();
  const out = new TextDecoder().decode(r.stdout);
  if (!r.success) throw new Error(`python failed:\n${new TextDecoder().decode(r.stderr)}`);
  return out.trim();
}

async function withHub(fn: (srv: HubServer, cache: string) => Promise<void>) {
  const srv = startHubServer();
  seedTinyRepos(srv);
  const cache = await Deno.makeTempDir({ prefix: "maxent-hub-py-" });
  try {
    await fn(srv, cache);
  } finally {
    await srv.close();
    await Deno.remove(cache, { recursive: true });
  }
}

Deno.test({
  name: "Python downloads, maxent resolves offline from the same cache",
  ignore: !PYTHON,
  fn: async () => {
    await withHub(async (srv, cache) => {
      const out = await python(
        `from huggingface_hub import snapshot_download\n` +
          `print(snapshot_download("org/tiny-model"))\n` +
          `print(snapshot_download("org/tiny-dataset", repo_type="dataset", allow_patterns=["README.md", "data/*"]))`,
        { HF_ENDPOINT: srv.url, HF_HUB_CACHE: cache },
      );
      const [pyModel, pyData] = out.split("\n");
      const offline = { endpoint: "http://127.0.0.1:9", cacheDir: cache, offline: true };
      const mark = srv.requests.length;
      const dir = await resolveModel("org/tiny-model", undefined, offline);
      assertEquals(dir, pyModel);
      const cfg = srv.repos.get("model:org/tiny-model")!;
      const files = cfg.commits.get(cfg.refs.get("main")!)!;
      assertEquals(await Deno.readFile(join(dir, "model.safetensors")), files.get("model.safetensors")!.content);
      const test = await resolveDatasetFiles("org/tiny-dataset", { split: "test", ...offline });
      assertEquals(test, [join(pyData, "data/test-00000-of-00001.parquet")]);
      assertEquals(srv.requests.length, mark, "offline resolution made requests");
      // Online, maxent finds everything already cached by Python and downloads nothing.
      const online = { endpoint: srv.url, cacheDir: cache };
      assertEquals(await resolveModel("org/tiny-model", undefined, online), pyModel);
      assert(!srv.requests.slice(mark).some((r) => r.path.includes("/resolve/")));
    });
  },
});

Deno.test({
  name: "maxent downloads, Python loads offline from the same cache and its scanner sees a clean repo",
  ignore: !PYTHON,
  fn: async () => {
    await withHub(async (srv, cache) => {
      const dir = await resolveModel("org/tiny-model", undefined, { endpoint: srv.url, cacheDir: cache });
      const files = await resolveDatasetFiles("org/tiny-dataset", {
        split: "train",
        endpoint: srv.url,
        cacheDir: cache,
      });
      const out = await python(
        `import json\n` +
          `from huggingface_hub import snapshot_download, hf_hub_download, scan_cache_dir\n` +
          `print(snapshot_download("org/tiny-model", allow_patterns=["*.json", "*.safetensors"]))\n` +
          `print(hf_hub_download("org/tiny-model", "model.safetensors"))\n` +
          `print(hf_hub_download("org/tiny-dataset", "data/train-00001-of-00002.parquet", repo_type="dataset"))\n` +
          `info = scan_cache_dir()\n` +
          `print(json.dumps({"warnings": [str(w) for w in info.warnings], "repos": sorted(` +
          `[r.repo_id, r.repo_type, r.nb_files, sorted(sorted(x.refs) for x in r.revisions)] for r in info.repos)}))`,
        { HF_ENDPOINT: "http://127.0.0.1:9", HF_HUB_CACHE: cache, HF_HUB_OFFLINE: "1" },
      );
      const [snap, weights, parquet, scan] = out.split("\n");
      assertEquals(snap, dir);
      assertEquals(weights, join(dir, "model.safetensors"));
      assertEquals(parquet, files[1]);
      const info = JSON.parse(scan);
      assertEquals(info.warnings, []);
      assertEquals(info.repos, [
        ["org/tiny-dataset", "dataset", 3, [["main"]]],
        ["org/tiny-model", "model", 5, [["main"]]],
      ]);
    });
  },
});
