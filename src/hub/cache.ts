/**
 * The Hugging Face cache layout, shared with Python's `huggingface_hub`:
 * `<cache>/{models|datasets}--org--name/{blobs/<etag>, snapshots/<commit>/<path> → ../../blobs/<etag>,
 * refs/<revision> = <commit>}`. Every write is atomic (temporary name, then rename), so a reader — maxent or
 * Python — never sees a half-written blob, pointer or ref.
 */
import { dirname, join, relative } from "node:path";

/** A repo on the Hub. */
export interface RepoRef {
  type: "model" | "dataset";
  id: string;
}

/** `models--org--name` / `datasets--org--name`, as `huggingface_hub.file_download.repo_folder_name`. */
export function repoFolderName(repo: RepoRef): string {
  return [`${repo.type}s`, ...repo.id.split("/")].join("--");
}

/** The repo's folder in the cache. */
export function storageFolder(cacheDir: string, repo: RepoRef): string {
  return join(cacheDir, repoFolderName(repo));
}

/** A full 40-hex commit sha. */
export const COMMIT_SHA = /^[0-9a-f]{40}$/;

/** A short random suffix for temporary names. */
export function randomSuffix(): string {
  return crypto.randomUUID().replaceAll("-", "").slice(0, 8);
}

/** True when `path` exists (following symlinks: a dangling pointer does not count). */
export async function exists(path: string): Promise<boolean> {
  try {
    await Deno.stat(path);
    return true;
  } catch (e) {
    if (e instanceof Deno.errors.NotFound || e instanceof Deno.errors.NotADirectory) return false;
    throw e;
  }
}

/** Writes `text` to `path` atomically (temporary file in the same directory, then rename). */
export async function writeTextAtomic(path: string, text: string): Promise<void> {
  await Deno.mkdir(dirname(path), { recursive: true });
  const tmp = `${path}.${randomSuffix()}.tmp`;
  try {
    await Deno.writeTextFile(tmp, text);
    await Deno.rename(tmp, path);
  } catch (e) {
    await Deno.remove(tmp).catch(() => {});
    throw e;
  }
}

/** Records `refs/<revision>` → commit (only when revision is a branch/tag name, as Python does). */
export async function writeRef(storage: string, revision: string, commit: string): Promise<void> {
  if (revision === commit) return;
  const refPath = join(storage, "refs", revision);
  const current = await Deno.readTextFile(refPath).catch(() => undefined);
  if (current?.trim() === commit) return;
  await writeTextAtomic(refPath, commit);
}

/** The commit a revision names in the cache: the revision itself when it is a sha, else `refs/<revision>`. */
export async function readRef(storage: string, revision: string): Promise<string | undefined> {
  if (COMMIT_SHA.test(revision)) return revision;
  const text = await Deno.readTextFile(join(storage, "refs", revision)).catch(() => undefined);
  const sha = text?.trim();
  return sha && COMMIT_SHA.test(sha) ? sha : undefined;
}

/** `snapshots/<commit>` of a repo. */
export function snapshotDir(storage: string, commit: string): string {
  return join(storage, "snapshots", commit);
}

/** Points `snapshots/<commit>/<path>` at `blobs/<etag>` with a relative symlink (atomically replaced). */
export async function linkPointer(blobPath: string, pointerPath: string): Promise<void> {
  await Deno.mkdir(dirname(pointerPath), { recursive: true });
  const target = relative(dirname(pointerPath), blobPath);
  const tmp = `${pointerPath}.${randomSuffix()}.tmp`;
  try {
    await Deno.symlink(target, tmp);
    await Deno.rename(tmp, pointerPath);
  } catch (e) {
    await Deno.remove(tmp).catch(() => {});
    // No symlink support (unusual on Linux/macOS): fall back to a copy, as Python does.
    if (e instanceof Deno.errors.PermissionDenied || e instanceof Deno.errors.NotSupported) {
      const copyTmp = `${pointerPath}.${randomSuffix()}.tmp`;
      await Deno.copyFile(blobPath, copyTmp);
      await Deno.rename(copyTmp, pointerPath);
      return;
    }
    throw e;
  }
}

/** Every file path (relative, `/`-separated) under `dir`, following the snapshot's symlinks; [] if missing. */
export async function listSnapshotFiles(dir: string): Promise<string[]> {
  const out: string[] = [];
  async function walk(sub: string): Promise<void> {
    let entries: Deno.DirEntry[];
    try {
      entries = await Array.fromAsync(Deno.readDir(join(dir, sub)));
    } catch {
      return;
    }
    for (const e of entries) {
      const rel = sub ? `${sub}/${e.name}` : e.name;
      if (e.name.endsWith(".tmp") || e.name.endsWith(".incomplete")) continue;
      if (e.isDirectory) await walk(rel);
      else if (e.isFile || (e.isSymlink && await exists(join(dir, rel)))) {
        const st = await Deno.stat(join(dir, rel));
        if (st.isDirectory) await walk(rel);
        else out.push(rel);
      }
    }
  }
  await walk("");
  return out.sort();
}
