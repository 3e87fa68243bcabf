/**
 * What `deno task compile` embeds in the `maxent` binary, worked out from the real module graph: the local modules,
 * the npm packages they reach, the data files loaded at run time (`--include`) and the files left out
 * (`--exclude`). scripts/compile.ts runs it; tests/binary_test.ts rebuilds exactly this payload in an empty
 * directory and runs it with the same permission flags, so a missing file or permission fails in CI.
 *
 * Run-time file loads, and how each one reaches the binary:
 * - tfjs-backend-wasm's `.wasm` files: emscripten reads them with `fs.readFileSync(__dirname + name)` from the
 *   package's own folder. `--exclude-unused-npm` embeds every reachable npm package's whole folder, so they ride
 *   along; they are also passed with `--include` so that the list of run-time files is explicit and checked.
 *   (`deno compile --bundle` would drop them and, measured, leaves `__dirname` undefined in the bundle: not used.)
 * - `recipes/`: shipped recipes (`maxent train --recipe demo`), read relative to the module: `--include recipes/`.
 * - deno.json: imported as a JSON module by src/version.ts, so it is in the graph and embedded by itself.
 * - OpenBLAS: a system library opened with `Deno.dlopen`, never embedded (the image installs libopenblas0-pthread).
 * Left out: source maps (`*.map`, ~200 MB of tfjs bundles' maps; nothing loads them at run time).
 *
 * Measured here (2026-11-25, Deno 2.9.6, 103 local modules, 85 npm packages reached of 87 in the lockfile): the
 * embedded files total 105.5 MB (the 556 excluded source maps would add 215 MB); with the deno CLI standing in for
 * denort (DENORT_BIN pointed at a copy of it: the build succeeds, the result only opens the REPL) the file is 209 MB,
 * built in ~5 s. `--bundle` gave a 2.6 MB payload but breaks the wasm backend (`__dirname is not defined`).
 */
import { RUN_PERMISSIONS } from "./permissions.ts";

/** The program's entry module, relative to the project root. */
export const ENTRY = "cli.ts";

/** Project folders embedded whole with `--include` when they exist (data files the program reads at run time). */
export const DATA_DIRS: readonly string[] = ["recipes"];

/** Files inside npm packages that the program loads at run time (not imported modules), by package name. */
export const NPM_RUNTIME_FILES: Readonly<Record<string, readonly string[]>> = {
  "@tensorflow/tfjs-backend-wasm": [
    "dist/tfjs-backend-wasm.wasm",
    "dist/tfjs-backend-wasm-simd.wasm",
    "dist/tfjs-backend-wasm-threaded-simd.wasm",
  ],
};

/** One npm package reachable from the entry module. */
export interface NpmPackage {
  /** e.g. "@tensorflow/tfjs-backend-wasm" */
  name: string;
  version: string;
  /** Its folder in Deno's npm cache. */
  localPath: string;
}

/** The module graph as `deno info --json` reports it, reduced to what the payload needs. */
export interface ModuleGraph {
  /** Local modules (code and JSON) the entry reaches, relative to the root, sorted. */
  localFiles: string[];
  /** npm packages the entry reaches, sorted by name: what `--exclude-unused-npm` embeds. */
  npmPackages: NpmPackage[];
  /** Every package of the lockfile's npm snapshot (a superset of npmPackages). */
  snapshotPackages: NpmPackage[];
}

/** Everything `deno compile` is told, plus the graph it came from. */
export interface CompilePlan {
  root: string;
  graph: ModuleGraph;
  /** `--include` values: project data folders (relative) and npm run-time files (absolute cache paths). */
  includes: string[];
  /** `--exclude` values (absolute paths inside npm packages). */
  excludes: string[];
  /** The argument list after `deno`: `compile … cli.ts`. */
  args: string[];
}

/** The path of the `deno` CLI running this code (tests and scripts spawn the same one). */
export function denoExecutable(): string {
  return Deno.execPath();
}

async function denoJson(args: string[], cwd: string): Promise<Record<string, unknown>> {
  const out = await new Deno.Command(denoExecutable(), { args, cwd, stdout: "piped", stderr: "piped" }).output();
  if (!out.success) {
    throw new Error(`deno ${args.join(" ")} failed:\n${new TextDecoder().decode(out.stderr)}`);
  }
  return JSON.parse(new TextDecoder().decode(out.stdout));
}

/** Runs `deno info --json <entry>` in `root` and keeps the local files and npm packages. */
export async function moduleGraph(root: string, entry = ENTRY): Promise<ModuleGraph> {
  const info = await denoJson(["info", "--json", "--node-modules-dir=none", entry], root) as {
    modules: Array<{ specifier: string; kind?: string; npmPackage?: string; error?: string }>;
    npmPackages?: Record<string, { name: string; version: string; localPath?: string; dependencies?: string[] }>;
  };
  const broken = info.modules.filter((m) => m.error);
  if (broken.length > 0) {
    throw new Error(
      `module graph of ${entry} has errors:\n${broken.map((m) => `${m.specifier}: ${m.error}`).join("\n")}`,
    );
  }
  const rootUrl = new URL(`file://${root.endsWith("/") ? root : root + "/"}`).href;
  const localFiles = info.modules
    .filter((m) => m.specifier.startsWith("file://"))
    .map((m) => {
      if (!m.specifier.startsWith(rootUrl)) throw new Error(`${m.specifier} is outside the project root ${root}`);
      return decodeURIComponent(m.specifier.slice(rootUrl.length));
    })
    .sort();
  // deno info lists the whole npm snapshot; keep what the graph reaches (what --exclude-unused-npm embeds).
  const all = info.npmPackages ?? {};
  const reached = new Set<string>();
  const queue = info.modules.filter((m) => m.kind === "npm" && m.npmPackage).map((m) => m.npmPackage!);
  while (queue.length > 0) {
    const id = queue.pop()!;
    if (reached.has(id) || !all[id]) continue;
    reached.add(id);
    queue.push(...(all[id].dependencies ?? []));
  }
  const toPackage = (id: string): NpmPackage => {
    const p = all[id];
    if (!p.localPath) throw new Error(`npm package ${p.name}@${p.version} is not in Deno's cache: run deno install`);
    return { name: p.name, version: p.version, localPath: p.localPath };
  };
  const byName = (a: NpmPackage, b: NpmPackage) => a.name.localeCompare(b.name) || a.version.localeCompare(b.version);
  const npmPackages = [...reached].map(toPackage).sort(byName);
  const snapshotPackages = Object.keys(all).map(toPackage).sort(byName);
  return { localFiles, npmPackages, snapshotPackages };
}

async function exists(path: string): Promise<boolean> {
  try {
    await Deno.stat(path);
    return true;
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return false;
    throw e;
  }
}

/** Every file under `dir` (recursively) whose name matches `keep`. */
export async function walkFiles(dir: string, keep: (name: string) => boolean = () => true): Promise<string[]> {
  const found: string[] = [];
  const stack = [dir];
  while (stack.length > 0) {
    const d = stack.pop()!;
    for await (const e of Deno.readDir(d)) {
      const p = `${d}/${e.name}`;
      if (e.isDirectory) stack.push(p);
      else if (e.isFile && keep(e.name)) found.push(p);
    }
  }
  return found.sort();
}

/** True for files the binary never reads: source maps. */
export function isExcludedNpmFile(name: string): boolean {
  return name.endsWith(".map");
}

/** Works out the whole compile command for the project at `root`, writing the binary to `output`. */
export async function compilePlan(root: string, output = `${root}/maxent`): Promise<CompilePlan> {
  const graph = await moduleGraph(root);
  const includes: string[] = [];
  for (const dir of DATA_DIRS) if (await exists(`${root}/${dir}`)) includes.push(`${dir}/`);
  for (const pkg of graph.npmPackages) {
    for (const file of NPM_RUNTIME_FILES[pkg.name] ?? []) {
      const path = `${pkg.localPath}/${file}`;
      if (!(await exists(path))) throw new Error(`${pkg.name}@${pkg.version} has no ${file} (expected at ${path})`);
      includes.push(path);
    }
  }
  const excludes: string[] = [];
  for (const pkg of graph.npmPackages) excludes.push(...await walkFiles(pkg.localPath, isExcludedNpmFile));
  const args = [
    "compile",
    "--output",
    output,
    ...RUN_PERMISSIONS,
    "--node-modules-dir=none",
    "--exclude-unused-npm",
    ...includes.flatMap((i) => ["--include", i]),
    ...excludes.flatMap((e) => ["--exclude", e]),
    ENTRY,
  ];
  return { root, graph, includes, excludes, args };
}
