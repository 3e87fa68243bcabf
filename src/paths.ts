/**
 * Write-path confinement: maxent holds `--allow-write` for the whole file system (the binary's flags are fixed at
 * compile time, while output and cache directories come from the recipe at run time), so every path it writes is
 * first checked to lie under the run's allowed roots (output_dir, the Hub cache, a temp dir). Symlinks (dangling ones
 * too) are followed, so neither `../..` nor a planted symlink can lead a recipe's path outside.
 *
 * Measured (Deno 2.9.6): with granular permissions (`--allow-write`, as maxent runs) Deno removes `..` lexically
 * before the system call, so `link/../x` names `./x`; with `-A` the kernel resolves it, from the link's target. The
 * check accepts a path only when both readings stay inside, and returns a path free of `..` and symlinks, on which
 * both agree.
 */
import { MaxentError } from "./errors.ts";

const MAX_SYMLINK_HOPS = 40;

function lstatOrNull(path: string): Deno.FileInfo | null {
  try {
    return Deno.lstatSync(path);
  } catch (e) {
    if (e instanceof Deno.errors.NotFound || e instanceof Deno.errors.NotADirectory) return null;
    throw e;
  }
}

function parentOf(path: string): string {
  const i = path.lastIndexOf("/");
  return i <= 0 ? "/" : path.slice(0, i);
}

/**
 * The absolute, symlink-free path that `path` (relative to `cwd`) names, as the file system would resolve it:
 * components that exist are followed through symlinks, `..` climbs from the real location, and the part that does
 * not exist yet is appended as written. POSIX paths only.
 *
 * @example
 * ```ts
 * resolvePath("out/../out/run1", "/home/me"); // "/home/me/out/run1" (when no symlinks are involved)
 * ```
 */
export function resolvePath(path: string, cwd: string = Deno.cwd()): string {
  if (path === "") throw new MaxentError("empty path: give a file or directory name");
  if (path.includes("\0")) throw new MaxentError(`path ${JSON.stringify(path)} contains a NUL byte`);
  const pending = (path.startsWith("/") ? path : `${cwd}/${path}`).split("/").reverse();
  let current = "/";
  let exists = true;
  let hops = 0;
  while (pending.length > 0) {
    const part = pending.pop()!;
    if (part === "" || part === ".") continue;
    if (part === "..") {
      current = parentOf(current);
      continue;
    }
    const next = current === "/" ? `/${part}` : `${current}/${part}`;
    const info = exists ? lstatOrNull(next) : null;
    if (info === null) {
      exists = false;
      current = next;
      continue;
    }
    if (info.isSymlink) {
      if (++hops > MAX_SYMLINK_HOPS) throw new MaxentError(`too many symlinks resolving ${path}`);
      const target = Deno.readLinkSync(next);
      // The target's components replace the link, relative to the link's folder (or absolute).
      pending.push(...target.split("/").reverse());
      if (target.startsWith("/")) current = "/";
      continue;
    }
    current = next;
  }
  return current;
}

/** `path` made absolute against `cwd` with `.` and `..` removed lexically (no file system access). */
export function normalizeLexically(path: string, cwd: string = Deno.cwd()): string {
  const out: string[] = [];
  for (const part of (path.startsWith("/") ? path : `${cwd}/${path}`).split("/")) {
    if (part === "" || part === ".") continue;
    if (part === "..") out.pop();
    else out.push(part);
  }
  return "/" + out.join("/");
}

/**
 * The file a write to `path` reaches when Deno runs with granular permissions (maxent's case): `..` removed
 * lexically first, then symlinks followed.
 */
export function resolveForWrite(path: string, cwd: string = Deno.cwd()): string {
  if (path === "") throw new MaxentError("empty path: give a file or directory name");
  return resolvePath(normalizeLexically(path, cwd));
}

/** True when `path` equals `root` or lies inside it; both must already be resolved (see {@link resolvePath}). */
export function isUnder(path: string, root: string): boolean {
  if (root === "/") return path.startsWith("/");
  const r = root.endsWith("/") ? root.slice(0, -1) : root;
  return path === r || path.startsWith(r + "/");
}

/**
 * Checks that writing `path` stays inside one of `allowedRoots` after resolving `..` and symlinks (in the path and
 * in the roots), and returns the resolved absolute path to write to. Throws a MaxentError naming the path, where it
 * leads and the allowed roots otherwise.
 *
 * @param path the file or directory about to be written (relative paths resolve against the current directory)
 * @param allowedRoots directories the run may write under, e.g. `[outputDir, hubCacheDir]`; need not exist yet
 * @param what how the error names the path, e.g. "output_dir" or "checkpoint file" (default "path")
 * @example
 * ```ts
 * const file = assertWritableUnder(`${recipe.output_dir}/metrics.jsonl`, [recipe.output_dir]);
 * await Deno.writeTextFile(file, line, { append: true });
 * ```
 */
export function assertWritableUnder(path: string, allowedRoots: readonly string[], what = "path"): string {
  if (allowedRoots.length === 0) throw new MaxentError(`${what} ${path}: no directory is allowed for writing`);
  const resolved = resolveForWrite(path);
  const kernel = resolvePath(path);
  const roots = allowedRoots.map((r) => resolveForWrite(r));
  const inside = (p: string) => roots.some((r) => isUnder(p, r));
  if (inside(resolved) && inside(kernel)) return resolved;
  const bad = inside(resolved) ? kernel : resolved;
  const shown = bad === path ? "" : ` (resolves to ${bad})`;
  throw new MaxentError(
    `${what} ${path}${shown} is outside the directories maxent may write to: ${roots.join(", ")}. ` +
      `Choose a path under one of them (output_dir for run outputs, HF_HOME / HF_HUB_CACHE for the Hub cache).`,
  );
}
