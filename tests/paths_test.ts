/** Tests for src/paths.ts: write paths are resolved like the kernel does and confined to the allowed roots. */
import { assert, assertEquals, assertThrows } from "./assert.ts";
import { assertWritableUnder, isUnder, normalizeLexically, resolveForWrite, resolvePath } from "../src/paths.ts";
import { MaxentError } from "../src/errors.ts";

/** A temp tree: base/out (allowed), base/secret (not), base/deep/dir; returns base's real path. */
async function tree(): Promise<string> {
  const base = Deno.realPathSync(await Deno.makeTempDir({ prefix: "maxent-paths-" }));
  for (const d of ["out/sub", "secret", "deep/dir"]) await Deno.mkdir(`${base}/${d}`, { recursive: true });
  return base;
}

Deno.test("paths: a plain path inside the root is allowed and returned absolute", async () => {
  const base = await tree();
  try {
    assertEquals(
      assertWritableUnder(`${base}/out/run1/metrics.jsonl`, [`${base}/out`]),
      `${base}/out/run1/metrics.jsonl`,
    );
    assertEquals(assertWritableUnder(`${base}/out`, [`${base}/out`]), `${base}/out`);
    assertEquals(resolvePath("out/./sub/../x", base), `${base}/out/x`);
  } finally {
    await Deno.remove(base, { recursive: true });
  }
});

Deno.test("paths: .. that climbs out of the root is refused with a message naming path and roots", async () => {
  const base = await tree();
  try {
    const e = assertThrows(
      () => assertWritableUnder(`${base}/out/../secret/x`, [`${base}/out`], "output_dir"),
      MaxentError,
    );
    assert(e instanceof MaxentError);
    assert(e.message.includes("output_dir") && e.message.includes(`${base}/secret/x`), e.message);
    assert(e.message.includes(`${base}/out`), e.message);
  } finally {
    await Deno.remove(base, { recursive: true });
  }
});

Deno.test("paths: a symlink inside the root pointing outside is refused, also when dangling", async () => {
  const base = await tree();
  try {
    await Deno.symlink(`${base}/secret`, `${base}/out/link`);
    await Deno.symlink("../secret/not-yet", `${base}/out/dangling`);
    assertThrows(() => assertWritableUnder(`${base}/out/link/x`, [`${base}/out`]), MaxentError);
    assertThrows(() => assertWritableUnder(`${base}/out/dangling`, [`${base}/out`]), MaxentError);
    assertEquals(resolvePath(`${base}/out/dangling`), `${base}/secret/not-yet`);
  } finally {
    await Deno.remove(base, { recursive: true });
  }
});

Deno.test("paths: .. after a symlink climbs from the link's target, as the kernel does", async () => {
  const base = await tree();
  try {
    await Deno.symlink(`${base}/deep/dir`, `${base}/out/l2`);
    // out/l2 -> deep/dir; ../.. from there is base, so this names base/out/x (lexically it would be out/out/x).
    const p = `${base}/out/l2/../../out/x`;
    assertEquals(resolvePath(p), `${base}/out/x`);
    await Deno.writeTextFile(`${base}/out/x`, "");
    assertEquals(resolvePath(p), Deno.realPathSync(p)); // independent oracle: the OS's own resolution
    // And the same trick leading outside is caught.
    assertThrows(() => assertWritableUnder(`${base}/out/l2/../../secret/y`, [`${base}/out`]), MaxentError);
  } finally {
    await Deno.remove(base, { recursive: true });
  }
});

Deno.test("paths: resolveForWrite / resolvePath name the file a write really creates (granular / -A)", async () => {
  const base = await tree();
  try {
    await Deno.symlink("deep", `${base}/a`);
    await Deno.symlink("a/dir/../dir", `${base}/b`);
    await Deno.mkdir(`${base}/dir`); // where a lexical `b/../dir` lands
    const paths = [`${base}/b/f0`, `${base}/a/dir/f1`, `${base}/b/../dir/f2`];
    // Oracle 1: this test runs with granular permissions, like maxent; write, then look where the bytes landed.
    for (const [i, p] of paths.entries()) {
      await Deno.writeTextFile(p, `granular-${i}`);
      assertEquals(await Deno.readTextFile(resolveForWrite(p)), `granular-${i}`, p);
    }
    assertEquals(resolveForWrite(paths[2]), `${base}/dir/f2`);
    // Oracle 2: a process with -A (kernel resolution of `..`).
    const script = paths.map((p, i) => `Deno.writeTextFileSync(${JSON.stringify(p + "k")}, "all-${i}");`).join("");
    const r = await new Deno.Command(Deno.execPath(), { args: ["eval", script], stdout: "null", stderr: "piped" })
      .output();
    assert(r.success, new TextDecoder().decode(r.stderr));
    for (const [i, p] of paths.entries()) assertEquals(await Deno.readTextFile(resolvePath(p + "k")), `all-${i}`, p);
    assertEquals(resolvePath(paths[2]), `${base}/deep/dir/f2`);
    // Both readings inside the root: allowed, and the returned path is the granular one.
    assertEquals(assertWritableUnder(paths[2], [base]), `${base}/dir/f2`);
  } finally {
    await Deno.remove(base, { recursive: true });
  }
});

Deno.test("paths: a path is refused when either reading of `..` leaves the root", async () => {
  const base = await tree();
  try {
    // out/l -> ../deep/dir. Lexically out/l/../x is out/x (inside); the kernel reads deep/x (outside out/).
    await Deno.symlink("../deep/dir", `${base}/out/l`);
    assertEquals(resolveForWrite(`${base}/out/l/../x`), `${base}/out/x`);
    assertEquals(resolvePath(`${base}/out/l/../x`), `${base}/deep/x`);
    assertThrows(() => assertWritableUnder(`${base}/out/l/../x`, [`${base}/out`]), MaxentError, `${base}/deep/x`);
    // The reverse: kernel reading inside, lexical reading outside.
    await Deno.symlink(`${base}/out/sub`, `${base}/deep/dir/s`);
    assertEquals(resolvePath(`${base}/deep/dir/s/../y`), `${base}/out/y`);
    assertThrows(
      () => assertWritableUnder(`${base}/deep/dir/s/../y`, [`${base}/out`]),
      MaxentError,
      `${base}/deep/dir/y`,
    );
  } finally {
    await Deno.remove(base, { recursive: true });
  }
});

Deno.test("paths: allowed roots are resolved too; a sibling with the root as name prefix is outside", async () => {
  const base = await tree();
  try {
    await Deno.symlink(`${base}/out`, `${base}/out-link`);
    assertEquals(assertWritableUnder(`${base}/out/f`, [`${base}/out-link`]), `${base}/out/f`);
    await Deno.mkdir(`${base}/outside`);
    assertThrows(() => assertWritableUnder(`${base}/outside/f`, [`${base}/out`]), MaxentError);
    assert(!isUnder("/x/outside/f", "/x/out"));
    assert(isUnder("/x/out/f", "/x/out/"));
    assert(isUnder("/anything", "/"));
    // Several roots: any one suffices; a root that does not exist yet still confines.
    assertEquals(assertWritableUnder(`${base}/new/f`, [`${base}/out`, `${base}/new`]), `${base}/new/f`);
  } finally {
    await Deno.remove(base, { recursive: true });
  }
});

Deno.test("paths: relative paths resolve against the cwd; loops, empty paths and no roots are errors", async () => {
  const base = await tree();
  try {
    assertEquals(resolvePath("sub/f", `${base}/out`), `${base}/out/sub/f`);
    assertEquals(normalizeLexically("a/../../b/./c", "/x/y"), "/x/b/c");
    assertEquals(normalizeLexically("/../..", "/x"), "/");
    await Deno.symlink(`${base}/loop2`, `${base}/loop1`);
    await Deno.symlink(`${base}/loop1`, `${base}/loop2`);
    assertThrows(() => resolvePath(`${base}/loop1/x`), MaxentError, "too many symlinks");
    assertThrows(() => resolvePath(""), MaxentError);
    assertThrows(() => assertWritableUnder(`${base}/out/f`, []), MaxentError, "no directory");
  } finally {
    await Deno.remove(base, { recursive: true });
  }
});
