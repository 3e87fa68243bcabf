/**
 * `deno task compile`: builds `./maxent`, one self-contained executable carrying the program, every npm package it
 * reaches, tfjs-backend-wasm's `.wasm` files and `recipes/`, with the permission flags of scripts/permissions.ts.
 *
 * Usage: `deno task compile [--output PATH] [--plan]`
 *   --output PATH  where to write the binary (default ./maxent)
 *   --plan         print the `deno compile` command (one argument per line) and exit; needs no runtime
 * Environment: DENORT_BIN=/path/to/denort uses that runtime instead of downloading it (see scripts/denort.ts);
 * MAXENT_COMPILE_TIMEOUT_S caps the compile (default 900 s).
 *
 * Exit codes: 0 built; 1 the runtime cannot be obtained or the compile failed; 2 bad arguments.
 */
import { compilePlan, denoExecutable } from "./compile_plan.ts";
import { denortHelp, findDenort, isDenortFailure } from "./denort.ts";

function fail(message: string, code = 1): never {
  console.error(`compile: ${message}`);
  Deno.exit(code);
}

async function denoDir(): Promise<string> {
  const out = await new Deno.Command(denoExecutable(), { args: ["info", "--json"], stdout: "piped" }).output();
  return JSON.parse(new TextDecoder().decode(out.stdout)).denoDir;
}

async function run(args: string[]): Promise<void> {
  let output = "maxent";
  let planOnly = false;
  for (let i = 0; i < args.length; i++) {
    if (args[i] === "--output" && i + 1 < args.length) output = args[++i];
    else if (args[i] === "--plan") planOnly = true;
    else fail(`unknown argument "${args[i]}" (usage: deno task compile [--output PATH] [--plan])`, 2);
  }
  const root = new URL("..", import.meta.url).pathname.replace(/\/$/, "");
  const started = performance.now();

  // Fail fast, before the graph walk and type check, when no runtime can be had.
  const source = planOnly ? null : await findDenort({
    denortBin: Deno.env.get("DENORT_BIN"),
    denoDir: await denoDir(),
    denoExe: denoExecutable(),
    timeoutMs: 5000,
  });
  if (source && !source.ok) fail(denortHelp(source.reason));

  const outPath = output.startsWith("/") ? output : `${root}/${output}`;
  const plan = await compilePlan(root, outPath);
  if (planOnly) {
    console.log(["deno", ...plan.args].join("\n"));
    return;
  }
  console.error(
    `compile: ${plan.graph.localFiles.length} local modules, ${plan.graph.npmPackages.length} npm packages, ` +
      `includes ${plan.includes.length}, excludes ${plan.excludes.length} source maps; runtime from ${
        source!.ok ? source!.how : "?"
      }`,
  );
  const timeoutS = Number(Deno.env.get("MAXENT_COMPILE_TIMEOUT_S") ?? 900);
  const child = new Deno.Command(denoExecutable(), {
    args: plan.args,
    cwd: root,
    stdout: "inherit",
    stderr: "piped",
    signal: AbortSignal.timeout(timeoutS * 1000),
  }).spawn();
  const stderrChunks: Uint8Array[] = [];
  for await (const chunk of child.stderr) {
    stderrChunks.push(chunk);
    await Deno.stderr.write(chunk);
  }
  const status = await child.status;
  if (!status.success) {
    const stderr = new TextDecoder().decode(await new Blob(stderrChunks as BlobPart[]).bytes());
    if (status.signal) fail(`deno compile did not finish within ${timeoutS} s (MAXENT_COMPILE_TIMEOUT_S)`);
    if (isDenortFailure(stderr)) fail(denortHelp("deno compile failed while setting up its base binary (above)"));
    fail(`deno compile failed (exit ${status.code})`);
  }
  const size = (await Deno.stat(outPath)).size;
  console.error(
    `compile: wrote ${outPath} (${(size / 1e6).toFixed(1)} MB) in ${
      ((performance.now() - started) / 1000).toFixed(1)
    } s`,
  );
}

if (import.meta.main) await run(Deno.args);
