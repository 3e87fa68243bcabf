/**
 * The compiled binary, as far as CI without Deno's release host can check it: the exact payload `deno task compile`
 * embeds (local module graph, `--include` files, reachable npm packages minus `--exclude`d files) is rebuilt in an
 * empty temporary directory with its own DENO_DIR, and run with exactly the compile task's permission flags from
 * another working directory. A missing `--include`, an npm file wrongly excluded or a missing permission fails here.
 * With DENORT_BIN set to a real denort runtime the real binary is built and run too. Also: the compile task fails
 * within seconds, with the DENORT_BIN advice, where the runtime cannot be obtained; deno.json's `maxent` task holds
 * the same flags.
 */
import { assert, assertEquals, assertMatch } from "./assert.ts";
import { type CompilePlan, compilePlan, denoExecutable, walkFiles } from "../scripts/compile_plan.ts";
import { ENV_VARS, maxentTaskCommand, RUN_PERMISSIONS } from "../scripts/permissions.ts";
import { ENV_NAMES } from "../src/env.ts";
import { denortHelp, findDenort } from "../scripts/denort.ts";
import { VERSION } from "../src/version.ts";
import { seedTinyRepos, startHubServer } from "./fixtures/hub_server.ts";

const ROOT = new URL("..", import.meta.url).pathname.replace(/\/$/, "");
const dec = new TextDecoder();

interface Run {
  code: number;
  out: string;
  err: string;
}

async function exec(cmd: string, args: string[], opts: { cwd: string; env: Record<string, string> }): Promise<Run> {
  const r = await new Deno.Command(cmd, { args, cwd: opts.cwd, env: opts.env, clearEnv: true, stdin: "null" })
    .output();
  return { code: r.code, out: dec.decode(r.stdout), err: dec.decode(r.stderr) };
}

/**
 * Puts `src` at `dst`, creating parent folders: a hard link for immutable npm cache files when `link` (fast; a copy
 * across devices), else a copy (project files, so later edits in the checkout do not leak into the snapshot).
 */
async function place(src: string, dst: string, link = false): Promise<void> {
  await Deno.mkdir(dst.slice(0, dst.lastIndexOf("/")), { recursive: true });
  if (link) {
    try {
      await Deno.link(src, dst);
      return;
    } catch { /* fall back to a copy */ }
  }
  await Deno.copyFile(src, dst);
}

async function copyTree(
  src: string,
  dst: string,
  skip: (path: string) => boolean = () => false,
  link = false,
): Promise<number> {
  let n = 0;
  for await (const e of Deno.readDir(src)) {
    const s = `${src}/${e.name}`;
    if (skip(s)) continue;
    if (e.isDirectory) n += await copyTree(s, `${dst}/${e.name}`, skip, link);
    else if (e.isFile) {
      await place(s, `${dst}/${e.name}`, link);
      n++;
    }
  }
  return n;
}

/** The clean copy: app/ (what compile embeds from the project), denodir/ (its npm payload), work/ (empty cwd). */
interface CleanCopy {
  dir: string;
  app: string;
  work: string;
  env: Record<string, string>;
  plan: CompilePlan;
}

let cached: Promise<CleanCopy> | null = null;

/** Builds the clean copy once per test file. */
function cleanCopy(): Promise<CleanCopy> {
  cached ??= (async () => {
    const plan = await compilePlan(ROOT);
    const dir = await Deno.makeTempDir({ prefix: "maxent-binary-" });
    const app = `${dir}/app`;
    // deno.json (import map) and deno.lock are what compile resolves with; both are read by the compile step.
    for (const f of new Set([...plan.graph.localFiles, "deno.json", "deno.lock"])) {
      try {
        await place(`${ROOT}/${f}`, `${app}/${f}`);
      } catch (e) {
        if (!(e instanceof Deno.errors.NotFound) || f !== "deno.lock") throw e;
      }
    }
    for (const inc of plan.includes) {
      if (inc.startsWith("/")) continue; // npm run-time files: part of their package below
      await copyTree(`${ROOT}/${inc.replace(/\/$/, "")}`, `${app}/${inc.replace(/\/$/, "")}`);
    }
    const excluded = new Set(plan.excludes);
    const npmRoot = `${dir}/denodir/npm/registry.npmjs.org`;
    for (const pkg of plan.graph.npmPackages) {
      const rel = `${pkg.name}/${pkg.version}`;
      await copyTree(pkg.localPath, `${npmRoot}/${rel}`, (p) => excluded.has(p), true);
      const meta = pkg.localPath.replace(/\/[^/]+$/, "/registry.json");
      await place(meta, `${npmRoot}/${pkg.name}/registry.json`).catch(() => {});
    }
    // Deno checks at start-up that every package of the lockfile snapshot is cached, even unreachable ones; the
    // binary does not carry those, so they get an empty shell (package.json only): any real use of one fails here.
    const reached = new Set(plan.graph.npmPackages.map((p) => p.localPath));
    for (const pkg of plan.graph.snapshotPackages.filter((p) => !reached.has(p.localPath))) {
      await place(`${pkg.localPath}/package.json`, `${npmRoot}/${pkg.name}/${pkg.version}/package.json`);
      await place(pkg.localPath.replace(/\/[^/]+$/, "/registry.json"), `${npmRoot}/${pkg.name}/registry.json`)
        .catch(() => {});
    }
    await Deno.mkdir(`${dir}/work`);
    await Deno.mkdir(`${dir}/home`);
    const env = { DENO_DIR: `${dir}/denodir`, HOME: `${dir}/home`, PATH: "/usr/bin:/bin", NO_COLOR: "1" };
    return { dir, app, work: `${dir}/work`, env, plan };
  })();
  return cached;
}

/** Runs the clean copy like the binary: `deno run <compile's permission flags> --cached-only … cli.ts <args>`. */
async function runCopy(args: string[], extraEnv: Record<string, string> = {}): Promise<Run> {
  const c = await cleanCopy();
  return exec(denoExecutable(), [
    "run",
    ...RUN_PERMISSIONS,
    "--cached-only",
    "--node-modules-dir=none",
    "--config",
    `${c.app}/deno.json`,
    `${c.app}/cli.ts`,
    ...args,
  ], { cwd: c.work, env: { ...c.env, ...extraEnv } });
}

/** Subcommand names from `maxent --help` (commander's "Commands:" section), without `help`. */
export function subcommandsFromHelp(help: string): string[] {
  const section = help.split(/^Commands:\s*$/m)[1] ?? "";
  return [...section.matchAll(/^ {2}([a-z][a-z0-9-]*)(?=[ \[<]|$)/gm)].map((m) => m[1]).filter((n) => n !== "help");
}

function noPermissionErrors(r: Run, what: string): void {
  assert(!/NotCapable|Requires \w+ access|PermissionDenied/.test(r.err), `${what} hit a permission error:\n${r.err}`);
  assert(!/Module not found|Cannot find module|ENOENT/.test(r.err), `${what} misses a file:\n${r.err}`);
}

Deno.test("binary: permission flags are narrow and deno.json's maxent task uses exactly them", async () => {
  for (const f of RUN_PERMISSIONS) {
    assert(!/^--allow-all$|^-A$|^--allow-run|^--allow-import|^--unstable/.test(f), `flag ${f} must not be granted`);
  }
  assert(RUN_PERMISSIONS.includes("--no-prompt"), "--no-prompt: a missing permission must fail, not prompt");
  assert(RUN_PERMISSIONS.some((f) => /^--allow-env=./.test(f)), "--allow-env must list its variables");
  assert(RUN_PERMISSIONS.some((f) => /^--allow-sys=./.test(f)), "--allow-sys must list its APIs");
  const tasks = JSON.parse(await Deno.readTextFile(`${ROOT}/deno.json`)).tasks;
  assertEquals(tasks.maxent, maxentTaskCommand(), "deno.json tasks.maxent must equal maxentTaskCommand()");
  const plan = await compilePlan(ROOT);
  for (const f of RUN_PERMISSIONS) assert(plan.args.includes(f), `compile args lack ${f}`);
  // Every variable maxent's code reads by name (src/env.ts) is granted.
  const granted = (name: string) =>
    ENV_VARS.some((p) => p.endsWith("*") ? name.startsWith(p.slice(0, -1)) : p === name);
  for (const name of ENV_NAMES) assert(granted(name), `${name} (src/env.ts) is not in scripts/permissions.ts ENV_VARS`);
});

Deno.test("binary: no code calls Deno.env.toObject(), which throws under the narrow --allow-env", async () => {
  const offenders: string[] = [];
  const files = [
    ...(await walkFiles(`${ROOT}/src`, (n) => n.endsWith(".ts"))),
    `${ROOT}/cli.ts`,
    `${ROOT}/mod.ts`,
  ];
  for (const file of files) {
    const lines = (await Deno.readTextFile(file)).split("\n");
    lines.forEach((line, i) => {
      if (/Deno\.env\.toObject\(/.test(line) && !/^\s*(\*|\/\/)/.test(line)) {
        offenders.push(`${file.slice(ROOT.length + 1)}:${i + 1}`);
      }
    });
  }
  assertEquals(offenders, [], "use readEnv() from src/env.ts instead of Deno.env.toObject() at");
});

Deno.test("binary: with the baked flags, env outside the list, subprocesses and prompts are refused", async () => {
  const dir = await Deno.makeTempDir({ prefix: "maxent-perm-" });
  try {
    await Deno.writeTextFile(
      `${dir}/probe.ts`,
      `const r: string[] = [];
      try { Deno.env.get("AWS_SECRET_ACCESS_KEY"); r.push("env:allowed"); } catch { r.push("env:denied"); }
      r.push(Deno.env.get("HF_HOME") === "/x/hf" ? "hf:read" : "hf:missing");
      const { readEnv } = await import("${new URL("../src/env.ts", import.meta.url).href}");
      const e = readEnv(["HF_HOME", "AWS_SECRET_ACCESS_KEY", "HF_UNSET_VAR"]);
      r.push("readEnv:" + Object.keys(e).join("+"));
      try { await new Deno.Command("true").output(); r.push("run:allowed"); } catch { r.push("run:denied"); }
      await Deno.writeTextFile("${dir}/w.txt", "ok"); r.push("write:ok");
      console.log(r.join(" "));`,
    );
    const r = await exec(denoExecutable(), ["run", ...RUN_PERMISSIONS, "--no-config", `${dir}/probe.ts`], {
      cwd: dir,
      env: { HF_HOME: "/x/hf", AWS_SECRET_ACCESS_KEY: "s", PATH: "/usr/bin:/bin", DENO_DIR: `${dir}/dd` },
    });
    assertEquals(r.code, 0, r.err);
    assertEquals(r.out.trim(), "env:denied hf:read readEnv:HF_HOME run:denied write:ok");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("binary: the compile plan embeds the graph, recipes/ and tfjs-backend-wasm's .wasm files, no source maps", async () => {
  const plan = (await cleanCopy()).plan;
  assert(plan.graph.localFiles.includes("cli.ts") && plan.graph.localFiles.includes("deno.json"));
  assert(
    plan.graph.localFiles.every((f) => !f.startsWith("tests/") && !f.startsWith("scripts/")),
    "test code embedded",
  );
  try {
    await Deno.stat(`${ROOT}/recipes`);
    assert(plan.includes.includes("recipes/"), "recipes/ exists but is not included");
  } catch (e) {
    if (!(e instanceof Deno.errors.NotFound)) throw e;
  }
  if (plan.graph.npmPackages.some((p) => p.name === "@tensorflow/tfjs-backend-wasm")) {
    const wasm = plan.includes.filter((i) => i.endsWith(".wasm"));
    assertEquals(wasm.length, 3, `wasm includes: ${wasm.join(", ")}`);
  }
  assert(plan.excludes.every((e) => e.endsWith(".map")), "only source maps are excluded");
  const i = plan.args.indexOf("--output");
  assertEquals(plan.args[i + 1], `${ROOT}/maxent`);
  assertEquals(plan.args.at(-1), "cli.ts");
  for (const f of ["--node-modules-dir=none", "--exclude-unused-npm"]) assert(plan.args.includes(f), f);
});

Deno.test("binary: clean copy runs --version and --help from another directory", async () => {
  const v = await runCopy(["--version"]);
  assertEquals(v.code, 0, v.err);
  noPermissionErrors(v, "--version");
  assertMatch(v.out, new RegExp(`^maxent ${VERSION.replaceAll(".", "\\.")}\\b`));
  assertMatch(v.out, /deno \d+\.\d+\.\d+/);
  const h = await runCopy(["--help"]);
  assertEquals(h.code, 0, h.err);
  noPermissionErrors(h, "--help");
  assertMatch(h.out, /Usage: maxent/);
});

Deno.test("binary: clean copy runs every registered subcommand's --help, and `weights` for real", async () => {
  const help = (await runCopy(["--help"])).out;
  const names = subcommandsFromHelp(help);
  const registered = (await Deno.readTextFile(`${ROOT}/src/cli/commands.ts`)).match(/^\s+\w+Command,\s*$/gm) ?? [];
  assertEquals(names.length, registered.length, `--help lists ${names.join(", ")}; commands.ts has ${registered}`);
  for (const name of names) {
    const r = await runCopy([name, "--help"]);
    assertEquals(r.code, 0, `${name} --help: ${r.err}`);
    noPermissionErrors(r, `${name} --help`);
    assertMatch(r.out, new RegExp(`Usage: maxent ${name}\\b`));
  }
  if (names.includes("weights")) {
    const r = await runCopy(["weights", "--utilities", "1,0", "--json"]);
    assertEquals(r.code, 0, `weights: ${r.err}`);
    noPermissionErrors(r, "weights");
    // Independent expectation (defaults T_q = 1, τ = 0.2, β = 0): q = softmax([1, 0]), w ∝ q^(1/τ) = q^5, so
    // w_1 = e^5 / (e^5 + 1) = sigmoid(5) ≈ 0.993307.
    const parsed = JSON.parse(r.out) as { weights?: number[] };
    if (Array.isArray(parsed.weights)) {
      assertEquals(parsed.weights.length, 2);
      assert(Math.abs(parsed.weights[0] - 1 / (1 + Math.exp(-5))) < 1e-6, `weights ${parsed.weights}`);
      assert(Math.abs(parsed.weights[0] + parsed.weights[1] - 1) < 1e-9);
    }
  }
});

Deno.test("binary: clean copy runs the subcommands for real under the baked permissions", async () => {
  const names = subcommandsFromHelp((await runCopy(["--help"])).out);
  const c = await cleanCopy();
  const out = `${c.work}/out`;
  const ok = (r: Run, what: string) => {
    assertEquals(r.code, 0, `${what}: ${r.err}`);
    noPermissionErrors(r, what);
  };
  if (names.includes("init")) {
    ok(await runCopy(["init", "--preset", "tiny", `${out}/tiny`]), "init");
    assert(Deno.statSync(`${out}/tiny/model.safetensors`).isFile);
    if (names.includes("score")) {
      const r = await runCopy(["score", "--model", `${out}/tiny`, "--ids", "1,5,7,9"]);
      ok(r, "score");
      assertMatch(r.out, /^sum\t-\d/m);
    }
    if (names.includes("sample")) {
      const r = await runCopy([
        "sample",
        "--model",
        `${out}/tiny`,
        "--prompt",
        "2+2?",
        "-k",
        "2",
        "--max-tokens",
        "3",
        "--json",
      ]);
      ok(r, "sample");
      const lines = r.out.trim().split("\n").map((l) => JSON.parse(l));
      assertEquals(lines.length, 2);
      assert(lines.every((l) => l.ids.length === 3), r.out);
    }
  }
  if (names.includes("recipe")) {
    for (const f of ["maxent-grpo", "grpo"]) {
      const path = `${c.app}/recipes/Qwen2.5-1.5B-Instruct/${f}/config_math.yaml`;
      try {
        Deno.statSync(path);
      } catch {
        continue;
      }
      ok(await runCopy(["recipe", "check", path]), `recipe check ${f}`);
    }
  }
});

Deno.test("binary: clean copy trains a tiny model from a recipe and writes its report under the baked permissions", async () => {
  const names = subcommandsFromHelp((await runCopy(["--help"])).out);
  if (!names.includes("train") || !names.includes("init")) return;
  const c = await cleanCopy();
  const run = (args: string[]) => runCopy(args);
  const ok = (r: Run, what: string) => {
    assertEquals(r.code, 0, `${what}: ${r.err}`);
    noPermissionErrors(r, what);
  };
  ok(await run(["init", "--preset", "tiny", `${c.work}/train-model`]), "init");
  const rows = Array.from({ length: 4 }, (_, i) => JSON.stringify({ problem: `${i}+1=`, answer: String(i + 1) }));
  await Deno.writeTextFile(`${c.work}/train.jsonl`, rows.join("\n") + "\n");
  await Deno.writeTextFile(
    `${c.work}/tiny.yaml`,
    [
      `model_name_or_path: ${c.work}/train-model`,
      `dataset_name: ${c.work}/train.jsonl`,
      "reward_funcs: [format, tag_count]",
      "num_generations: 2",
      "per_device_train_batch_size: 2",
      "max_completion_length: 3",
      "max_steps: 1",
      "output_dir: run-tiny", // relative: lands in the working directory
      "backend: cpu",
      "",
    ].join("\n"),
  );
  ok(await run(["train", `${c.work}/tiny.yaml`]), "train");
  assert(Deno.statSync(`${c.work}/run-tiny/metrics.jsonl`).isFile, "train wrote no metrics.jsonl");
  if (names.includes("report")) {
    await Deno.remove(`${c.work}/run-tiny/report.html`).catch(() => {});
    ok(await run(["report", "run-tiny"]), "report");
    assert(Deno.statSync(`${c.work}/run-tiny/report.html`).isFile, "report wrote no report.html");
  }
});

Deno.test("binary: clean copy runs the Hub subcommands (download, upload) under the baked permissions", async () => {
  const names = subcommandsFromHelp((await runCopy(["--help"])).out);
  const c = await cleanCopy();
  const out = `${c.work}/out-hub`;
  const ok = (r: Run, what: string) => {
    assertEquals(r.code, 0, `${what}: ${r.err}`);
    noPermissionErrors(r, what);
  };
  if (names.includes("download")) {
    const srv = startHubServer();
    try {
      seedTinyRepos(srv);
      const env = { HF_ENDPOINT: srv.url, HF_HUB_CACHE: `${c.work}/hf-cache` };
      const r = await runCopy(["download", "org/tiny-model", "--include", "*.json"], env);
      ok(r, "download");
      assert(r.out.trim().startsWith(`${c.work}/hf-cache/models--org--tiny-model/snapshots/`), r.out);
      if (names.includes("upload") && names.includes("init")) {
        ok(await runCopy(["init", "--preset", "tiny", `${out}/tiny`]), "init");
        const up = await runCopy(["upload", `${out}/tiny`, "me/uploaded"], {
          ...env,
          HF_TOKEN: "hf_BinaryTest0123456789",
        });
        ok(up, "upload");
        assert(srv.repos.has("model:me/uploaded"), "upload created no repo");
      }
    } finally {
      await srv.close();
    }
  }
});

Deno.test("binary: the compile task fails within seconds with the DENORT_BIN advice when denort is unreachable", async () => {
  const dir = await Deno.makeTempDir({ prefix: "maxent-denort-" });
  try {
    // DENORT_BIN pointing at the deno CLI itself is refused at once (such a binary would only open the REPL).
    const started = performance.now();
    const env = { PATH: Deno.env.get("PATH") ?? "/usr/bin:/bin", HOME: Deno.env.get("HOME") ?? dir };
    const self = await exec(denoExecutable(), ["task", "compile", "--output", `${dir}/m`], {
      cwd: ROOT,
      env: { ...env, DENORT_BIN: denoExecutable() },
    });
    assertEquals(self.code, 1, self.err);
    assert(self.err.includes("is the deno CLI itself") && self.err.includes("DENORT_BIN=/path/to/denort"), self.err);
    // Without DENORT_BIN: where the release host is unreachable (as in CI here), the real task must fail fast.
    // Probed in a subprocess: this test process has no network permission beyond 127.0.0.1.
    const probeUrl = new URL("../scripts/denort.ts", import.meta.url).href;
    const probed = await exec(denoExecutable(), [
      "eval",
      `import { probe } from "${probeUrl}"; console.log((await probe("https://dl.deno.land/", 3000)) ?? "reachable");`,
    ], { cwd: dir, env });
    const host = probed.out.trim();
    if (host !== "reachable") {
      const t0 = performance.now();
      const r = await exec(denoExecutable(), ["task", "compile", "--output", `${dir}/m`], { cwd: ROOT, env });
      const seconds = (performance.now() - t0) / 1000;
      assertEquals(r.code, 1, r.err);
      assert(r.err.includes("cannot obtain the Deno runtime") && r.err.includes("DENORT_BIN="), r.err);
      assert(seconds < 20, `compile took ${seconds.toFixed(1)} s to fail`);
    } else {
      console.log("dl.deno.land is reachable here: the unreachable-host path is covered by the probe tests only");
    }
    assert((performance.now() - started) / 1000 < 40);
    await Deno.stat(`${dir}/m`).then(() => assert(false, "no binary may be written"), () => {});
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("binary: the runtime probe gives up on a silent host within its timeout", async () => {
  // A listener that accepts and never answers: what a firewall that drops packets looks like to fetch.
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const conns: Deno.Conn[] = [];
  const accepting = (async () => {
    for await (const c of listener) conns.push(c);
  })();
  try {
    const port = (listener.addr as Deno.NetAddr).port;
    const t0 = performance.now();
    const r = await findDenort({ denoDir: "/nonexistent", url: `http://127.0.0.1:${port}/denort.zip`, timeoutMs: 500 });
    const ms = performance.now() - t0;
    assertEquals(r.ok, false);
    if (!r.ok) assert(r.reason.includes("did not answer within 0.5 s"), r.reason);
    assert(ms < 3000, `probe took ${ms} ms`);
    assert(denortHelp("x").includes("DENORT_BIN=/path/to/denort deno task compile"));
    // A cached runtime or an executable DENORT_BIN that is not the CLI are accepted without any network.
    const dd = await Deno.makeTempDir();
    try {
      const zip = `${dd}/dl/release/v${Deno.version.deno}/denort-${Deno.build.target}.zip`;
      await Deno.mkdir(zip.slice(0, zip.lastIndexOf("/")), { recursive: true });
      await Deno.writeFile(zip, new Uint8Array(1));
      assertEquals((await findDenort({ denoDir: dd, url: "http://127.0.0.1:1/", timeoutMs: 100 })).ok, true);
      await Deno.writeFile(`${dd}/denort`, new Uint8Array(1), { mode: 0o755 });
      const viaBin = await findDenort({
        denortBin: `${dd}/denort`,
        denoDir: "/nonexistent",
        denoExe: denoExecutable(),
      });
      assertEquals(viaBin.ok && viaBin.how, "DENORT_BIN");
      await Deno.chmod(`${dd}/denort`, 0o644);
      assertEquals((await findDenort({ denortBin: `${dd}/denort`, denoDir: "/nonexistent" })).ok, false);
    } finally {
      await Deno.remove(dd, { recursive: true });
    }
  } finally {
    listener.close();
    await accepting.catch(() => {});
    for (const c of conns) c.close();
  }
});

const denortBin = Deno.env.get("DENORT_BIN");
let denortUsable = false;
if (denortBin) {
  try {
    denortUsable = (await findDenort({ denortBin, denoDir: "/nonexistent", denoExe: denoExecutable() })).ok;
  } catch { /* not usable */ }
}

Deno.test({
  name: "binary: the real ./maxent built with DENORT_BIN runs from an empty directory (skipped without DENORT_BIN)",
  ignore: !denortUsable,
  fn: async () => {
    const dir = await Deno.makeTempDir({ prefix: "maxent-real-" });
    try {
      const bin = `${dir}/maxent`;
      const env = { PATH: Deno.env.get("PATH") ?? "", HOME: Deno.env.get("HOME") ?? dir, DENORT_BIN: denortBin! };
      const build = await exec(denoExecutable(), ["task", "compile", "--output", bin], { cwd: ROOT, env });
      assertEquals(build.code, 0, build.err);
      await Deno.mkdir(`${dir}/empty`);
      const runEnv = { PATH: "/usr/bin:/bin", HOME: `${dir}/empty`, NO_COLOR: "1" };
      const v = await exec(bin, ["--version"], { cwd: `${dir}/empty`, env: runEnv });
      assertEquals(v.code, 0, v.err);
      assertMatch(v.out, new RegExp(`^maxent ${VERSION.replaceAll(".", "\\.")}\\b`));
      const h = await exec(bin, ["--help"], { cwd: `${dir}/empty`, env: runEnv });
      assertEquals(h.code, 0, h.err);
      for (const name of subcommandsFromHelp(h.out)) {
        const r = await exec(bin, [name, "--help"], { cwd: `${dir}/empty`, env: runEnv });
        assertEquals(r.code, 0, `${name}: ${r.err}`);
        noPermissionErrors(r, `${name} --help`);
      }
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});

// Clean up the shared clean copy after the last test that uses it.
Deno.test("binary: clean-copy cleanup", async () => {
  if (cached) await Deno.remove((await cached).dir, { recursive: true });
});
