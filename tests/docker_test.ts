/**
 * The Dockerfile, checked without a Docker engine (none runs here): parsed for the properties the image promises —
 * a Deno compile stage running `deno task compile`, runtime stages holding the binary alone as a non-root user with
 * a /data volume and `ENTRYPOINT ["maxent"]`, no `--allow-all` — plus .dockerignore letting through every file the
 * compile reads, and a lint with the npm `dockerfile-utils` linter (Debian has no hadolint package).
 */
import { assert, assertEquals } from "./assert.ts";
import { compilePlan, denoExecutable } from "../scripts/compile_plan.ts";

const ROOT = new URL("..", import.meta.url).pathname.replace(/\/$/, "");

/** One Dockerfile instruction: keyword, its argument text (continuations joined) and the stage it belongs to. */
interface Instruction {
  keyword: string;
  args: string;
  stage: number;
}

/** A Dockerfile's stages (`FROM image AS name`) and instructions. */
export function parseDockerfile(text: string): { stages: Array<{ image: string; name?: string }>; ins: Instruction[] } {
  const logical: string[] = [];
  let acc = "";
  for (const raw of text.split("\n")) {
    const line = raw.trimEnd();
    if (acc === "" && (line.trim().startsWith("#") || line.trim() === "")) continue;
    if (acc !== "" && line.trim().startsWith("#")) continue; // comments inside continuations
    if (line.endsWith("\\")) acc += line.slice(0, -1) + " ";
    else {
      logical.push((acc + line).trim());
      acc = "";
    }
  }
  const stages: Array<{ image: string; name?: string }> = [];
  const ins: Instruction[] = [];
  for (const l of logical) {
    const m = l.match(/^(\w+)\s+(.*)$/s);
    if (!m) throw new Error(`cannot parse Dockerfile line: ${l}`);
    const keyword = m[1].toUpperCase();
    if (keyword === "FROM") {
      const f = m[2].match(/^(?:--\S+\s+)*(\S+)(?:\s+AS\s+(\S+))?$/i);
      if (!f) throw new Error(`bad FROM: ${l}`);
      stages.push({ image: f[1], name: f[2] });
    }
    ins.push({ keyword, args: m[2].replace(/\s+/g, " "), stage: stages.length - 1 });
  }
  return { stages, ins };
}

const dockerfile = await Deno.readTextFile(`${ROOT}/Dockerfile`);
const { stages, ins } = parseDockerfile(dockerfile);
const inStage = (s: number, k: string) => ins.filter((i) => i.stage === s && i.keyword === k);

Deno.test("docker: multi-stage — a Deno compile stage on this project's Deno version running deno task compile", () => {
  assert(stages.length >= 2, "multi-stage build expected");
  assertEquals(stages[0].image, `denoland/deno:${Deno.version.deno}`);
  const ciRun = Deno.readTextFileSync(`${ROOT}/.ci/run`);
  assert(ciRun.includes(`deno@${Deno.version.deno}`), ".ci/run and the image must pin the same Deno");
  assert(inStage(0, "RUN").some((i) => /deno task compile\b/.test(i.args)), "compile stage must run deno task compile");
});

Deno.test("docker: every runtime stage has the binary alone, a non-root user, /data, HF_HOME and ENTRYPOINT maxent", () => {
  const runtime = stages.map((_, i) => i).filter((i) => !stages[i].image.startsWith("denoland/deno"));
  assert(runtime.length >= 1);
  assertEquals(stages.at(-1)!.name, "runtime", "the default (last) stage is the CPU runtime");
  for (const s of runtime) {
    const copies = inStage(s, "COPY");
    assertEquals(copies.length, 1, `stage ${stages[s].name}: exactly one COPY (the binary)`);
    assert(/^--from=compile \/out\/maxent \/usr\/local\/bin\/maxent$/.test(copies[0].args), copies[0].args);
    const users = inStage(s, "USER");
    assertEquals(users.length, 1, `stage ${stages[s].name}: one USER`);
    assert(!/^(root|0)(:|$)/.test(users[0].args), `stage ${stages[s].name} runs as root`);
    // The user is created in this stage.
    assert(inStage(s, "RUN").some((r) => r.args.includes(`useradd`) && r.args.includes(users[0].args)));
    assertEquals(inStage(s, "VOLUME").map((v) => v.args), ["/data"]);
    assert(inStage(s, "ENV").some((e) => /\bHF_HOME=\/data\/hf\b/.test(e.args)), "HF_HOME=/data/hf");
    assertEquals(inStage(s, "WORKDIR").map((w) => w.args), ["/data"], "relative output_dir lands in /data");
    assertEquals(inStage(s, "ENTRYPOINT").map((e) => JSON.parse(e.args)), [["maxent"]]);
    assert(inStage(s, "RUN").some((r) => r.args.includes("libopenblas0-pthread")), "OpenBLAS for the FFI matmul");
  }
  const gpu = stages.findIndex((s) => s.name === "gpu");
  assert(gpu >= 0, "a gpu target");
  assert(inStage(gpu, "RUN").some((r) => r.args.includes("libvulkan1")), "gpu target needs the Vulkan loader");
  assert(inStage(gpu, "ENV").some((e) => e.args.includes("NVIDIA_DRIVER_CAPABILITIES=compute,utility,graphics")));
});

Deno.test("docker: no --allow-all, -A or --allow-run anywhere in the Dockerfile", () => {
  for (const i of ins) assert(!/--allow-all|(^|\s)-A(\s|$)|--allow-run/.test(i.args), `${i.keyword} ${i.args}`);
});

/** True when .dockerignore (allow-list style: `*` then `!path` lines) lets `path` into the build context. */
function allowedByDockerignore(rules: string[], path: string): boolean {
  let allowed = true;
  for (const r of rules) {
    const neg = r.startsWith("!");
    const pat = (neg ? r.slice(1) : r).replace(/\/$/, "");
    const matches = pat === "*" || pat === "**" || path === pat || path.startsWith(pat + "/");
    if (matches) allowed = neg;
  }
  return allowed;
}

Deno.test("docker: .dockerignore lets in every file the compile reads and keeps the rest out", async () => {
  const rules = (await Deno.readTextFile(`${ROOT}/.dockerignore`)).split("\n").map((l) => l.trim())
    .filter((l) => l && !l.startsWith("#"));
  const plan = await compilePlan(ROOT);
  const needed = [...plan.graph.localFiles, "deno.json", "deno.lock", "scripts/compile.ts", "scripts/compile_plan.ts"];
  for (const inc of plan.includes) if (!inc.startsWith("/")) needed.push(inc.replace(/\/$/, ""));
  for (const f of needed) assert(allowedByDockerignore(rules, f), `.dockerignore excludes ${f}`);
  for (const f of ["node_modules/x", ".tools/deno", "tests/cli_test.ts", "maxent", ".git/HEAD"]) {
    assert(!allowedByDockerignore(rules, f), `.dockerignore lets in ${f}`);
  }
  // The Dockerfile COPYs each top-level entry the compile reads.
  const copied = ins.filter((i) => i.stage === 0 && i.keyword === "COPY").flatMap((i) =>
    i.args.split(" ").slice(0, -1)
  );
  for (const top of new Set(needed.map((f) => f.split("/")[0]))) {
    assert(copied.some((c) => c.replace(/\/$/, "") === top), `compile stage does not COPY ${top}`);
  }
});

Deno.test("docker: dockerfile-utils lint passes (and flags a broken Dockerfile)", async () => {
  const lint = (file: string) =>
    new Deno.Command(denoExecutable(), {
      args: [
        "run",
        "--no-config",
        "--no-lock",
        "--allow-read",
        "--allow-env",
        "--no-prompt",
        "npm:dockerfile-utils@0.16.3",
        "lint",
        file,
      ],
      stdout: "piped",
      stderr: "piped",
    }).output();
  const dir = await Deno.makeTempDir();
  try {
    await Deno.writeTextFile(`${dir}/bad.Dockerfile`, "FROM debian\nEXPOSE notaport\nFROM\n");
    const bad = await lint(`${dir}/bad.Dockerfile`);
    const badErr = new TextDecoder().decode(bad.stderr);
    if (!bad.success && /error sending request|Failed caching|dns error|npm package not found/i.test(badErr)) {
      console.log(
        `dockerfile-utils could not be fetched from the npm registry; lint skipped: ${badErr.split("\n")[0]}`,
      );
      return;
    }
    assert(!bad.success, "the linter must reject a broken Dockerfile");
    const good = await lint(`${ROOT}/Dockerfile`);
    const out = new TextDecoder().decode(good.stdout) + new TextDecoder().decode(good.stderr);
    assert(good.success && !/Error|Warning/.test(out), out);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
