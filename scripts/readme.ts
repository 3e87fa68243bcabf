/**
 * `deno task readme`: regenerates README.md's generated blocks from the program itself, so the README cannot drift
 * from the CLI or the recipe schema:
 * - between `<!-- generated:subcommands -->` and `<!-- /generated:subcommands -->`: a table of the subcommands;
 * - between `<!-- generated:command-reference -->` and `<!-- /generated:command-reference -->`: each one's `--help`;
 * - between `<!-- generated:recipe-keys -->` and `<!-- /generated:recipe-keys -->`: the recipe key table from
 *   `recipeKeyTable()` (src/recipe/mod.ts).
 * Blocks are formatted with `deno fmt` so the result passes `deno fmt --check`. tests/readme_test.ts fails when
 * README.md differs from what this would write. `--check` exits 1 (writing nothing) when the README is stale.
 */
import { buildProgram } from "../src/cli/main.ts";
import type { CliContext } from "../src/cli/context.ts";
import { recipeKeyTable } from "../src/recipe/mod.ts";

const ROOT = new URL("..", import.meta.url).pathname.replace(/\/$/, "");
/** Help is rendered at a fixed width so the output does not depend on the terminal. */
export const HELP_WIDTH = 100;

/** A subcommand as README shows it. */
export interface SubcommandDoc {
  name: string;
  summary: string;
  help: string;
}

/** Every registered subcommand (and nested one, e.g. `recipe check`) with its `--help` text, in `--help` order. */
export function subcommandDocs(): SubcommandDoc[] {
  const ctx: CliContext = { out: () => {}, err: () => {}, isTerminal: false };
  const program = buildProgram(ctx);
  const plain = { getOutHasColors: () => false, getErrHasColors: () => false, getOutHelpWidth: () => HELP_WIDTH };
  program.configureHelp({ helpWidth: HELP_WIDTH }).configureOutput(plain);
  const docs: SubcommandDoc[] = [];
  // deno-lint-ignore no-explicit-any
  const visit = (cmd: any, prefix: string) => {
    if (cmd.name() === "help") return;
    cmd.configureHelp({ helpWidth: HELP_WIDTH }).configureOutput(plain);
    const name = `${prefix}${cmd.name()}`;
    // deno-lint-ignore no-control-regex
    const help = cmd.helpInformation().replace(/\x1b\[[0-9;]*m/g, "").trimEnd();
    docs.push({ name, summary: cmd.summary() || firstClause(cmd.description()), help });
    for (const sub of cmd.commands) visit(sub, `${name} `);
  };
  for (const cmd of program.commands) visit(cmd, "");
  return docs;
}

/** The subcommands block: one table row per command, linking to its full help in the reference block. */
export function renderSubcommands(docs: SubcommandDoc[] = subcommandDocs()): string {
  return [
    "| command | what it does |",
    "| --- | --- |",
    ...docs.map((d) => `| [\`maxent ${d.name}\`](#${anchor(`maxent ${d.name} (reference)`)}) | ${cell(d.summary)} |`),
    "",
  ].join("\n");
}

/** The command reference block: each command's full `--help`. */
export function renderCommandReference(docs: SubcommandDoc[] = subcommandDocs()): string {
  const lines: string[] = [];
  for (const d of docs) lines.push(`### maxent ${d.name} (reference)`, "", "```text", d.help, "```", "");
  return lines.join("\n");
}

/** A description's first clause: up to the first `: ` or `. ` outside parentheses (the table's short summary). */
export function firstClause(text: string): string {
  const line = text.split("\n")[0];
  let depth = 0;
  for (let i = 0; i < line.length - 1; i++) {
    const ch = line[i];
    if (ch === "(" || ch === "[" || ch === "{") depth++;
    else if (ch === ")" || ch === "]" || ch === "}") depth = Math.max(0, depth - 1);
    else if (depth === 0 && (ch === ":" || ch === ".") && line[i + 1] === " ") return line.slice(0, i);
  }
  return line.replace(/\.$/, "");
}

/** GitHub's heading anchor: lower case, spaces to dashes, punctuation dropped. */
function anchor(heading: string): string {
  return heading.toLowerCase().replace(/[^a-z0-9 _-]/g, "").replaceAll(" ", "-");
}

function cell(text: string): string {
  return text.replaceAll("|", "\\|").replaceAll("\n", " ");
}

/** The recipe key table: key, type, default, meaning. */
export function renderRecipeKeys(): string {
  const rows = recipeKeyTable();
  return [
    `${rows.length} keys, in schema order (generated from \`src/recipe/schema.ts\`).`,
    "",
    "| key | type | default | meaning |",
    "| --- | --- | --- | --- |",
    ...rows.map((r) => `| \`${r.key}\` | \`${cell(r.type)}\` | \`${cell(r.default)}\` | ${cell(r.description)} |`),
    "",
  ].join("\n");
}

/** Formats a markdown fragment with the project's `deno fmt` settings. */
export async function fmtMarkdown(text: string): Promise<string> {
  const child = new Deno.Command(Deno.execPath(), {
    args: ["fmt", "--ext=md", "-"],
    cwd: ROOT,
    stdin: "piped",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const writer = child.stdin.getWriter();
  await writer.write(new TextEncoder().encode(text));
  await writer.close();
  const out = await child.output();
  if (!out.success) throw new Error(`deno fmt failed: ${new TextDecoder().decode(out.stderr)}`);
  return new TextDecoder().decode(out.stdout);
}

/** Replaces the body of the `name` block in `doc`; throws if the markers are missing or unbalanced. */
export function replaceBlock(doc: string, name: string, body: string): string {
  const open = `<!-- generated:${name} -->`;
  const close = `<!-- /generated:${name} -->`;
  const i = doc.indexOf(open);
  const j = doc.indexOf(close);
  if (i < 0 || j < i || doc.indexOf(open, i + 1) >= 0) {
    throw new Error(`README.md needs exactly one ${open} … ${close} pair`);
  }
  return `${doc.slice(0, i + open.length)}\n\n${body.trim()}\n\n${doc.slice(j)}`;
}

/** README.md with every generated block brought up to date. */
export async function regenerate(doc: string): Promise<string> {
  const docs = subcommandDocs();
  let out = replaceBlock(doc, "subcommands", await fmtMarkdown(renderSubcommands(docs)));
  out = replaceBlock(out, "command-reference", await fmtMarkdown(renderCommandReference(docs)));
  out = replaceBlock(out, "recipe-keys", await fmtMarkdown(renderRecipeKeys()));
  return out;
}

if (import.meta.main) {
  const path = `${ROOT}/README.md`;
  const current = await Deno.readTextFile(path);
  const next = await regenerate(current);
  if (Deno.args.includes("--check")) {
    if (next !== current) {
      console.error("README.md is stale: run `deno task readme`");
      Deno.exit(1);
    }
    console.error("README.md is up to date");
  } else if (next !== current) {
    await Deno.writeTextFile(path, next);
    console.error("README.md: generated blocks updated");
  } else {
    console.error("README.md: already up to date");
  }
}
