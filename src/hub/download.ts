/**
 * Downloading repo files from the Hub into the shared Hugging Face cache: a revision is resolved to its commit
 * first (so files land in `snapshots/<commit>/`, where Python looks), each file is streamed into a process-unique
 * `blobs/<etag>.<random>.incomplete`, checked against its size and hash, then renamed to `blobs/<etag>` and linked
 * from the snapshot. A file already in the snapshot is never fetched again; `offline` reads the cache only.
 * Hub calls go through `@huggingface/hub` (repo info, tree listing, file download).
 */
import { datasetInfo, downloadFile, type ListFileEntry, listFiles, modelInfo } from "@huggingface/hub";
import { createHash } from "node:crypto";
import { join } from "node:path";
import { MaxentError } from "../errors.ts";
import {
  COMMIT_SHA,
  exists,
  linkPointer,
  listSnapshotFiles,
  randomSuffix,
  readRef,
  type RepoRef,
  snapshotDir,
  storageFolder,
  writeRef,
} from "./cache.ts";
import { matchesAny } from "./glob.ts";
import { hubError, type HubOptions, isNetworkError, type ResolvedHubOptions, resolveHubOptions } from "./options.ts";

/** A file of a repo at a commit, as the tree listing describes it. */
export interface RepoFile {
  path: string;
  size: number;
  /** git blob sha1 of a regular file. */
  oid?: string;
  /** sha256 of an LFS file. */
  lfsSha256?: string;
}

/** The cache blob name of a file: the sha256 for LFS files, the git blob id otherwise (Python's etag). */
export function fileEtag(f: RepoFile): string {
  const etag = f.lfsSha256 ?? f.oid;
  if (!etag) throw new MaxentError(`the Hub gave no oid for ${f.path}: cannot place it in the cache`);
  return etag;
}

/** Files larger than this get a progress bar on a terminal. */
export const PROGRESS_MIN_BYTES = 10 * 1024 * 1024;

/** A repo, its cache folder and the resolved options: what every step below needs. */
export interface RepoSession {
  repo: RepoRef;
  storage: string;
  opts: ResolvedHubOptions;
}

/** Opens a session for `repo` with `opts` (environment filling the gaps). */
export function repoSession(repo: RepoRef, opts: HubOptions = {}): RepoSession {
  validateRepoId(repo.id);
  const o = resolveHubOptions(opts);
  return { repo, storage: storageFolder(o.cacheDir, repo), opts: o };
}

/** Throws a MaxentError unless `id` looks like a Hub repo id (`name` or `org/name`). */
export function validateRepoId(id: string): void {
  if (!/^[A-Za-z0-9][\w.-]*(\/[\w.-]+)?$/.test(id) || id.includes("..") || id.endsWith(".git")) {
    throw new MaxentError(
      `"${id}" is neither an existing local path nor a Hub repo id of the form org/name (check the spelling, ` +
        `or prefix a local path with ./)`,
    );
  }
}

function credentials(s: RepoSession) {
  return {
    hubUrl: s.opts.endpoint,
    fetch: s.opts.fetch,
    ...(s.opts.token ? { accessToken: s.opts.token } : {}),
  };
}

function hubRepo(s: RepoSession) {
  return { type: s.repo.type, name: s.repo.id } as const;
}

/** Asks the Hub for the commit a branch, tag or sha names, and records `refs/<revision>`. */
export async function resolveRevisionOnline(s: RepoSession, revision: string): Promise<string> {
  let sha: string | undefined;
  try {
    const params = { ...credentials(s), name: s.repo.id, revision, additionalFields: ["sha" as const] };
    const info = s.repo.type === "dataset" ? await datasetInfo(params) : await modelInfo(params);
    sha = (info as { sha?: string }).sha;
  } catch (e) {
    throw hubError(e, { action: "resolve revision", repoId: s.repo.id, repoType: s.repo.type, revision }, s.opts);
  }
  if (!sha || !COMMIT_SHA.test(sha)) {
    throw new MaxentError(`the Hub at ${s.opts.endpoint} gave no commit sha for ${s.repo.id}@${revision}`);
  }
  await writeRef(s.storage, revision, sha);
  return sha;
}

/** The commit a revision names in the cache, or a MaxentError naming what is missing (offline mode). */
export async function resolveRevisionOffline(s: RepoSession, revision: string, why: string): Promise<string> {
  const sha = await readRef(s.storage, revision);
  if (!sha || !(await exists(snapshotDir(s.storage, sha)))) {
    throw new MaxentError(
      `${why}, and the cache has no snapshot of ${s.repo.type} ${s.repo.id} at revision "${revision}" ` +
        `(looked in ${sha ? snapshotDir(s.storage, sha) : `${s.storage}/refs/${revision}`}): ` +
        `download it once online (maxent download ${s.repo.id}${
          s.repo.type === "dataset" ? " --repo-type dataset" : ""
        }${revision === "main" ? "" : ` --revision ${revision}`}) or unset HF_HUB_OFFLINE`,
    );
  }
  return sha;
}

/**
 * The commit for `revision`: from the Hub when online (falling back to the cache when the Hub cannot be reached),
 * from `refs/` when offline. Returns whether the Hub is usable for the next steps.
 */
export async function resolveCommit(s: RepoSession, revision: string): Promise<{ commit: string; online: boolean }> {
  if (!revision || revision.startsWith("/") || revision.split("/").some((p) => p === ".." || p === "")) {
    throw new MaxentError(`"${revision}" is not a valid revision (a branch, tag or commit sha) for ${s.repo.id}`);
  }
  if (s.opts.offline) {
    return { commit: await resolveRevisionOffline(s, revision, "HF_HUB_OFFLINE is set"), online: false };
  }
  // A full commit sha names an immutable snapshot: no need to ask the Hub (as Python does).
  if (COMMIT_SHA.test(revision)) return { commit: revision, online: true };
  try {
    return { commit: await resolveRevisionOnline(s, revision), online: true };
  } catch (e) {
    if (isNetworkError((e as Error).cause ?? e)) {
      const sha = await readRef(s.storage, revision);
      if (sha && await exists(snapshotDir(s.storage, sha))) {
        s.opts.log(`the Hub is unreachable; using the cached snapshot ${sha} of ${s.repo.id}`);
        return { commit: sha, online: false };
      }
    }
    throw e;
  }
}

/** Lists every file of the repo at `commit` (the library follows the pagination). */
export async function listRepoFiles(s: RepoSession, commit: string): Promise<RepoFile[]> {
  const out: RepoFile[] = [];
  try {
    for await (const e of listFiles({ ...credentials(s), repo: hubRepo(s), revision: commit, recursive: true })) {
      if (e.type !== "file") continue;
      out.push(toRepoFile(e));
    }
  } catch (e) {
    throw hubError(e, { action: "list files", repoId: s.repo.id, repoType: s.repo.type, revision: commit }, s.opts);
  }
  return out.sort((a, b) => a.path.localeCompare(b.path));
}

function toRepoFile(e: ListFileEntry): RepoFile {
  return { path: e.path, size: e.lfs?.size ?? e.size, oid: e.oid, lfsSha256: e.lfs?.oid };
}

/** Rejects repo paths that would escape the snapshot folder. */
function checkRelativePath(path: string): void {
  if (path.startsWith("/") || path.split("/").some((p) => p === ".." || p === "") || path.includes("\\")) {
    throw new MaxentError(`the Hub listed an unsafe file path "${path}": refusing to write it`);
  }
}

/**
 * Makes `snapshots/<commit>/<file.path>` exist in the cache and returns its path: nothing is fetched when the
 * pointer is already there; only a symlink is made when the blob is; otherwise the blob is downloaded.
 */
export async function ensureFile(s: RepoSession, commit: string, file: RepoFile): Promise<string> {
  checkRelativePath(file.path);
  const pointer = join(snapshotDir(s.storage, commit), file.path);
  if (await exists(pointer)) return pointer;
  const etag = fileEtag(file);
  const blob = join(s.storage, "blobs", etag);
  if (!(await exists(blob))) await downloadBlob(s, commit, file, blob);
  await linkPointer(blob, pointer);
  return pointer;
}

/** Streams one file into `blobPath` via a temporary name, resuming with ranges after a cut, verifying size/hash. */
async function downloadBlob(s: RepoSession, commit: string, file: RepoFile, blobPath: string): Promise<void> {
  await Deno.mkdir(join(s.storage, "blobs"), { recursive: true });
  const tmp = `${blobPath}.${randomSuffix()}.incomplete`;
  const hasher = file.lfsSha256 ? createHash("sha256") : createHash("sha1");
  if (!file.lfsSha256) hasher.update(new TextEncoder().encode(`blob ${file.size}\0`));
  const ctx = { action: "download", repoId: s.repo.id, repoType: s.repo.type, revision: commit, path: file.path };
  const out = await Deno.open(tmp, { write: true, create: true, truncate: true });
  let written = 0;
  let done = false;
  const bar = s.opts.progress && file.size >= PROGRESS_MIN_BYTES ? progressBar(file.path, file.size) : undefined;
  s.opts.log(`downloading ${s.repo.id}/${file.path} (${formatBytes(file.size)})`);
  try {
    if (file.size > 0) {
      let blob: Blob | null;
      try {
        blob = await downloadFile({ ...credentials(s), repo: hubRepo(s), path: file.path, revision: commit });
      } catch (e) {
        throw hubError(e, ctx, s.opts);
      }
      if (!blob) {
        throw new MaxentError(
          `download: file "${file.path}" does not exist in ${s.repo.type} repo ${s.repo.id} at revision ${commit}`,
        );
      }
      const maxAttempts = 4;
      for (let attempt = 1; written < file.size; attempt++) {
        try {
          const reader = (written === 0 ? blob : blob.slice(written)).stream().getReader();
          while (true) {
            const { value, done: end } = await reader.read();
            if (end) break;
            if (written + value.length > file.size) {
              throw new MaxentError(`${file.path}: the Hub sent more than the ${file.size} bytes it announced`);
            }
            try {
              await writeAll(out, value);
            } catch (e) {
              throw new MaxentError(`cannot write ${tmp}: ${errText(e)} (check free disk space and permissions)`);
            }
            hasher.update(value);
            written += value.length;
            bar?.update(written);
          }
          if (written < file.size) throw new Error(`connection closed after ${written} of ${file.size} bytes`);
        } catch (e) {
          if (e instanceof MaxentError || attempt >= maxAttempts) throw hubError(e, ctx, s.opts);
          s.opts.log(`${file.path}: ${errText(e)} at byte ${written}; resuming (attempt ${attempt + 1})`);
          await new Promise((r) => setTimeout(r, 100 * attempt));
        }
      }
    }
    const digest = hasher.digest("hex");
    const expected = file.lfsSha256 ?? file.oid;
    if (expected && digest !== expected) {
      throw new MaxentError(
        `${s.repo.id}/${file.path}: downloaded bytes do not match the Hub's ${file.lfsSha256 ? "sha256" : "git oid"} ` +
          `(${digest} ≠ ${expected}); nothing was cached — run the command again`,
      );
    }
    out.close();
    await Deno.rename(tmp, blobPath);
    done = true;
  } finally {
    bar?.finish();
    if (!done) {
      try {
        out.close();
      } catch { /* already closed */ }
      await Deno.remove(tmp).catch(() => {});
    }
  }
}

async function writeAll(f: Deno.FsFile, bytes: Uint8Array): Promise<void> {
  let off = 0;
  while (off < bytes.length) off += await f.write(bytes.subarray(off));
}

function errText(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}

/** Human-readable byte count. */
export function formatBytes(n: number): string {
  if (n < 1024) return `${n} B`;
  const units = ["KiB", "MiB", "GiB", "TiB"];
  let v = n / 1024;
  let i = 0;
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024;
    i++;
  }
  return `${v.toFixed(1)} ${units[i]}`;
}

/** A one-line progress bar redrawn on stderr (only used when stderr is a terminal). */
function progressBar(label: string, total: number): { update(n: number): void; finish(): void } {
  const enc = new TextEncoder();
  let last = 0;
  const draw = (n: number) => {
    const frac = total ? n / total : 1;
    const width = 30;
    const fill = Math.round(frac * width);
    const line = `\r${label} [${"#".repeat(fill)}${" ".repeat(width - fill)}] ${(frac * 100).toFixed(0)}% ` +
      `${formatBytes(n)}/${formatBytes(total)}`;
    Deno.stderr.writeSync(enc.encode(line));
  };
  return {
    update(n) {
      const now = Date.now();
      if (now - last > 200) {
        last = now;
        draw(n);
      }
    },
    finish() {
      draw(total);
      Deno.stderr.writeSync(enc.encode("\n"));
    },
  };
}

/**
 * Downloads the files of a repo (all, or those matching `include` globs) at `revision` into the cache and returns
 * the snapshot directory `…/snapshots/<commit>`.
 *
 * @example
 * ```ts
 * const dir = await downloadRepo("org/tiny-model", { include: ["*.json"] });
 * ```
 */
export async function downloadRepo(
  repoId: string,
  opts: { repoType?: "model" | "dataset"; revision?: string; include?: string[] } & HubOptions = {},
): Promise<string> {
  const s = repoSession({ type: opts.repoType ?? "model", id: repoId }, opts);
  const revision = opts.revision ?? "main";
  const include = opts.include?.length ? opts.include : undefined;
  const { commit, online } = await resolveCommit(s, revision);
  const snap = snapshotDir(s.storage, commit);
  if (!online) {
    const cached = await listSnapshotFiles(snap);
    if (include && !cached.some((p) => matchesAny(p, include))) {
      throw new MaxentError(
        `the cached snapshot ${snap} of ${repoId} has no file matching ${include.join(", ")} and the Hub is not ` +
          `used (HF_HUB_OFFLINE or unreachable): download them once online`,
      );
    }
    return snap;
  }
  const files = (await listRepoFiles(s, commit)).filter((f) => !include || matchesAny(f.path, include));
  if (include && files.length === 0) {
    throw new MaxentError(
      `no file of ${s.repo.type} repo ${repoId}@${revision} matches --include ${include.join(" ")}`,
    );
  }
  for (const f of files) await ensureFile(s, commit, f);
  await Deno.mkdir(snap, { recursive: true });
  return snap;
}
