/**
 * README.md against the program: its generated blocks (subcommand table and reference, recipe keys) are what
 * `deno task readme` would write now, its `<!-- ci:test -->` command is the one `.ci/run` extracts and runs, its
 * permission table lists the exact flags of scripts/permissions.ts, and every subcommand has an example.
 */
import { assert, assertEquals } from "./assert.ts";
import { firstClause, regenerate, replaceBlock, subcommandDocs } from "../scripts/readme.ts";
import { RUN_PERMISSIONS } from "../scripts/permissions.ts";
import { recipeKeyTable } from "../src/recipe/mod.ts";

const ROOT = new URL("..", import.meta.url).pathname.replace(/\/$/, "");
const readme = await Deno.readTextFile(`${ROOT}/README.md`);

/** README without its generated blocks (what people wrote). */
function handWritten(doc: string): string {
  return doc.replace(/<!-- generated:([\w-]+) -->[\s\S]*?<!-- \/generated:\1 -->/g, "");
}

Deno.test("readme: generated blocks are up to date (run `deno task readme` to refresh)", async () => {
  const fresh = await regenerate(readme);
  if (fresh !== readme) {
    const a = readme.split("\n");
    const b = fresh.split("\n");
    const i = a.findIndex((line, k) => line !== b[k]);
    throw new Error(
      `README.md is stale from line ${i + 1}: run \`deno task readme\`\n  README: ${a[i]}\n  fresh:  ${b[i]}`,
    );
  }
});

Deno.test("readme: the recipe key table has one row per schema key, in order", () => {
  const block = readme.split("<!-- generated:recipe-keys -->")[1].split("<!-- /generated:recipe-keys -->")[0];
  const keys = [...block.matchAll(/^\| `([a-z0-9_]+)`/gm)].map((m) => m[1]);
  assertEquals(keys, recipeKeyTable().map((r) => r.key));
});

Deno.test("readme: the subcommand reference lists every registered subcommand", () => {
  const block =
    readme.split("<!-- generated:command-reference -->")[1].split("<!-- /generated:command-reference -->")[0];
  const table = readme.split("<!-- generated:subcommands -->")[1].split("<!-- /generated:subcommands -->")[0];
  assertEquals(
    [...table.matchAll(/^\| \[`maxent ([a-z -]+)`\]/gm)].map((m) => m[1]),
    subcommandDocs().map((d) => d.name),
  );
  const listed = [...block.matchAll(/^### maxent ([a-z -]+) \(reference\)$/gm)].map((m) => m[1]);
  const registered = (Deno.readTextFileSync(`${ROOT}/src/cli/commands.ts`).match(/^\s+\w+Command,\s*$/gm) ?? []).length;
  const topLevel = listed.filter((n) => !n.includes(" "));
  assertEquals(topLevel.length, registered, `README lists ${listed.join(", ")}`);
  assertEquals(listed, subcommandDocs().map((d) => d.name));
});

Deno.test("readme: the ci:test command is exactly what .ci/run extracts and runs", async () => {
  const ciRun = await Deno.readTextFile(`${ROOT}/.ci/run`);
  const fn = ciRun.split("\n").find((l) => l.startsWith("readme_cmd()"));
  assert(fn, ".ci/run no longer defines readme_cmd()");
  assert(/eval "\$test_cmd"/.test(ciRun) && /test_cmd=\$\(readme_cmd test\)/.test(ciRun), ".ci/run must run it");
  const out = await new Deno.Command("bash", {
    args: ["-c", `${fn}\nreadme_cmd test`],
    cwd: ROOT,
    stdout: "piped",
  }).output();
  const extracted = new TextDecoder().decode(out.stdout).trim();
  // Independent reading: the first fenced block after the marker line.
  const after = readme.split("\n<!-- ci:test -->\n")[1];
  assert(after !== undefined, "README.md has no <!-- ci:test --> line");
  const block = after.match(/```\w*\n([\s\S]*?)\n```/);
  assert(block, "no code block after <!-- ci:test -->");
  assertEquals(extracted, block[1].trim());
  assertEquals(extracted, "deno task test");
  const tasks = JSON.parse(await Deno.readTextFile(`${ROOT}/deno.json`)).tasks;
  assert(typeof tasks.test === "string" && tasks.test.includes("tests/"), "deno.json's test task runs tests/");
});

Deno.test("readme: the permissions table shows each flag maxent runs with, and no broader one", () => {
  const section = readme.split("\n## Permissions\n")[1]?.split("\n## ")[0];
  assert(section, "README.md has no Permissions section");
  for (const flag of RUN_PERMISSIONS) assert(section.includes(`\`${flag}\``), `Permissions does not show ${flag}`);
  assert(!/^\| `--allow-(all|run)/m.test(section));
});

Deno.test("readme: every subcommand has an example command outside the generated reference", () => {
  const text = handWritten(readme);
  const missing = subcommandDocs().map((d) => d.name).filter((name) => {
    // A shell line or inline code span running it with at least one argument, e.g. `deno task maxent weights --json`.
    const run = new RegExp(`(^|[\\s\`$/])maxent ${name} [^\`\\n]*\\S`, "m");
    return !run.test(text);
  });
  assertEquals(missing, [], `no example in README.md for: ${missing.join(", ")}`);
});

Deno.test("readme: replaceBlock rejects missing or duplicated markers", () => {
  let threw = 0;
  for (const doc of ["no markers", "<!-- generated:x -->\n<!-- generated:x -->\n<!-- /generated:x -->"]) {
    try {
      replaceBlock(doc, "x", "body");
    } catch {
      threw++;
    }
  }
  assertEquals(threw, 2);
  assertEquals(
    replaceBlock("a\n<!-- generated:x -->\nold\n<!-- /generated:x -->\nb", "x", "new"),
    "a\n<!-- generated:x -->\n\nnew\n\n<!-- /generated:x -->\nb",
  );
});

Deno.test("readme: the table summary is a description's first clause, ignoring separators inside brackets", () => {
  assertEquals(firstClause("Print the target for one group: q = softmax(u)"), "Print the target for one group");
  assertEquals(
    firstClause("Work with recipes (see `recipe check`. Or not: x)."),
    "Work with recipes (see `recipe check`. Or not: x)",
  );
  assertEquals(firstClause("one. two"), "one");
  assertEquals(firstClause("write a dataset\nsecond line: x"), "write a dataset");
});
