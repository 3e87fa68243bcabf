/**
 * Pushing a local folder (a checkpoint, a trained model) to a Hub repo in one commit with `@huggingface/hub`:
 * the repo and the branch are created when missing, large and binary files go through the library's LFS path.
 * Also the `hub_strategy` plan (what to push where on each save and at the end), as in transformers.
 */
import { commit, createBranch, createRepo, HubApiError } from "@huggingface/hub";
import { basename, join, resolve as resolvePath } from "node:path";
import { pathToFileURL } from "node:url";
import { MaxentError } from "../errors.ts";
import { validateRepoId } from "./download.ts";
import { matchesAny } from "./glob.ts";
import { hubError, type HubOptions, resolveHubOptions } from "./options.ts";
import { MODEL_FILE_GLOBS } from "./resolve.ts";

/** Paths never uploaded: git metadata, the Hub cache's scratch files, maxent's and Python's temporary files. */
const ALWAYS_SKIP = [".git/**", ".cache/huggingface/**", "**/*.incomplete", "**/*.tmp", "**/*.tmp-*", "**/.DS_Store"];

async function walkFiles(dir: string): Promise<string[]> {
  const out: string[] = [];
  async function walk(sub: string): Promise<void> {
    for await (const e of Deno.readDir(join(dir, sub))) {
      const rel = sub ? `${sub}/${e.name}` : e.name;
      if (e.isDirectory) await walk(rel);
      else if (e.isFile || e.isSymlink) {
        const st = await Deno.stat(join(dir, rel)).catch(() => undefined);
        if (st?.isFile) out.push(rel);
        else if (st?.isDirectory) await walk(rel);
      }
    }
  }
  await walk("");
  return out.sort();
}

/**
 * Uploads the files of `dir` to `repoId` in one commit; creates the repo (private if asked) and the branch
 * `revision` when missing. `pathInRepo` puts the files under a folder of the repo; `include`/`exclude` are globs
 * over the paths relative to `dir`. Returns the new commit sha and the repo's URL.
 *
 * @example
 * ```ts
 * const { commit, url } = await uploadFolder("out/checkpoint-100", "me/my-model", { private: true });
 * ```
 */
export async function uploadFolder(
  dir: string,
  repoId: string,
  opts: {
    private?: boolean;
    revision?: string;
    message?: string;
    repoType?: "model" | "dataset";
    pathInRepo?: string;
    include?: string[];
    exclude?: string[];
  } & HubOptions = {},
): Promise<{ commit: string; url: string }> {
  validateRepoId(repoId);
  if (!repoId.includes("/")) {
    throw new MaxentError(`upload: "${repoId}" is not a full repo id; give it as namespace/name, e.g. me/${repoId}`);
  }
  const o = resolveHubOptions(opts);
  const type = opts.repoType ?? "model";
  const branch = opts.revision ?? "main";
  const ctx = { action: "upload", repoId, repoType: type, revision: branch, write: true } as const;
  if (o.offline) {
    throw new MaxentError(`cannot upload to ${repoId}: HF_HUB_OFFLINE is set (unset it to push to the Hub)`);
  }
  if (!o.token) {
    throw new MaxentError(
      `uploading to ${repoId} needs a Hugging Face token with write access: set HF_TOKEN or pass --token`,
    );
  }
  const abs = resolvePath(dir);
  const st = await Deno.stat(abs).catch(() => undefined);
  if (!st?.isDirectory) throw new MaxentError(`upload: ${dir} is not a directory`);
  const rel = (await walkFiles(abs)).filter((p) =>
    !matchesAny(p, ALWAYS_SKIP) && (!opts.include?.length || matchesAny(p, opts.include)) &&
    !(opts.exclude?.length && matchesAny(p, opts.exclude))
  );
  if (rel.length === 0) throw new MaxentError(`upload: no files to upload in ${dir}`);
  const prefix = (opts.pathInRepo ?? "").replace(/^\/+|\/+$/g, "");
  const creds = { hubUrl: o.endpoint, fetch: o.fetch, accessToken: o.token };
  const repo = { type, name: repoId } as const;
  try {
    await createRepo({ ...creds, repo, private: opts.private ?? false });
    o.log(`created ${opts.private ? "private " : ""}${type} repo ${repoId}`);
  } catch (e) {
    if (!(e instanceof HubApiError && e.statusCode === 409)) throw hubError(e, ctx, o);
  }
  if (branch !== "main") {
    try {
      await createBranch({ ...creds, repo, branch });
      o.log(`created branch ${branch} of ${repoId}`);
    } catch (e) {
      if (!(e instanceof HubApiError && e.statusCode === 409)) throw hubError(e, ctx, o);
    }
  }
  o.log(`uploading ${rel.length} files from ${dir} to ${repoId}${branch === "main" ? "" : `@${branch}`}`);
  let out;
  try {
    out = await commit({
      ...creds,
      repo,
      branch,
      title: opts.message ?? `Upload ${rel.length} files with maxent`,
      operations: rel.map((p) => ({
        operation: "addOrUpdate" as const,
        path: prefix ? `${prefix}/${p}` : p,
        content: pathToFileURL(join(abs, p)),
      })),
      useWebWorkers: false,
    });
  } catch (e) {
    throw hubError(e, ctx, o);
  }
  if (!out?.commit?.oid) throw new MaxentError(`upload to ${repoId}: the Hub answered without a commit id`);
  const repoUrl = `${o.endpoint}/${type === "dataset" ? "datasets/" : ""}${repoId}`;
  return { commit: out.commit.oid, url: branch === "main" ? repoUrl : `${repoUrl}/tree/${encodeURIComponent(branch)}` };
}

/** transformers' `hub_strategy`. */
export type HubStrategy = "end" | "every_save" | "checkpoint" | "all_checkpoints";

/** One upload the trainer should make: the files of `localDir` (filtered) under `pathInRepo`. */
export interface HubUpload {
  localDir: string;
  /** "" for the repo root. */
  pathInRepo: string;
  include?: string[];
  exclude?: string[];
}

/**
 * What to push, and where, when a checkpoint is saved (`event: "save"`, `checkpointDir` = the new
 * `checkpoint-N` folder) or training ends (`event: "end"`), following transformers' `hub_strategy`:
 * - `end`: nothing on save; the output dir (without `checkpoint-*`) at the end.
 * - `every_save`: the model files of each checkpoint to the repo root; the output dir at the end.
 * - `checkpoint`: as every_save, plus the whole checkpoint to `last-checkpoint/` (for resuming).
 * - `all_checkpoints`: as every_save, plus each checkpoint to its own `checkpoint-N/`; at the end, the output
 *   dir with its checkpoint folders.
 *
 * @example
 * ```ts
 * for (const u of hubUploadPlan("checkpoint", "save", "out/checkpoint-50", "out")) {
 *   await uploadFolder(u.localDir, repoId, { pathInRepo: u.pathInRepo, include: u.include, exclude: u.exclude });
 * }
 * ```
 */
export function hubUploadPlan(
  strategy: HubStrategy,
  event: "save" | "end",
  checkpointDir: string,
  outputDir: string,
): HubUpload[] {
  if (!["end", "every_save", "checkpoint", "all_checkpoints"].includes(strategy)) {
    throw new MaxentError(
      `hub_strategy must be one of end, every_save, checkpoint, all_checkpoints; got "${strategy}"`,
    );
  }
  if (event === "end") {
    return [{
      localDir: outputDir,
      pathInRepo: "",
      exclude: strategy === "all_checkpoints" ? ["_*", "_*/**"] : ["_*", "_*/**", "checkpoint-*/**"],
    }];
  }
  if (strategy === "end") return [];
  const plan: HubUpload[] = [{ localDir: checkpointDir, pathInRepo: "", include: [...MODEL_FILE_GLOBS, "README.md"] }];
  if (strategy === "checkpoint") plan.push({ localDir: checkpointDir, pathInRepo: "last-checkpoint" });
  if (strategy === "all_checkpoints") {
    plan.push({ localDir: checkpointDir, pathInRepo: basename(resolvePath(checkpointDir)) });
  }
  return plan;
}
