/**
 * Checkpoint directories (`output_dir/checkpoint-<step>/`) written atomically: the contents go into a hidden
 * temporary directory that is renamed into place only when complete, so a kill at any moment leaves the previous
 * checkpoint intact and never a half-written one that looks complete. Rotation (`save_total_limit`) removes the
 * oldest only after the new one is in place.
 */
import { join } from "node:path";

const CHECKPOINT = /^checkpoint-(\d+)$/;

/** The file written last inside every checkpoint; its presence is what "complete" means for older layouts. */
export const TRAINER_STATE = "trainer_state.json";

/** Complete checkpoints in `outputDir`, oldest first. */
export async function listCheckpoints(outputDir: string): Promise<Array<{ step: number; path: string }>> {
  const found: Array<{ step: number; path: string }> = [];
  try {
    for await (const e of Deno.readDir(outputDir)) {
      const m = CHECKPOINT.exec(e.name);
      if (!m || !e.isDirectory) continue;
      const path = join(outputDir, e.name);
      try {
        await Deno.stat(join(path, TRAINER_STATE));
        found.push({ step: Number(m[1]), path });
      } catch { /* incomplete: ignored */ }
    }
  } catch (e) {
    if (!(e instanceof Deno.errors.NotFound)) throw e;
  }
  return found.sort((a, b) => a.step - b.step);
}

/** The newest complete checkpoint, or null. */
export async function latestCheckpoint(outputDir: string): Promise<{ step: number; path: string } | null> {
  const all = await listCheckpoints(outputDir);
  return all.length ? all[all.length - 1] : null;
}

/**
 * Writes `checkpoint-<step>` atomically: `write(tmpDir)` fills a temporary directory (it must write
 * trainer_state.json), which is then renamed into place. Returns the final path.
 */
export async function saveCheckpoint(
  outputDir: string,
  step: number,
  write: (dir: string) => Promise<void>,
  opts: { totalLimit?: number } = {},
): Promise<string> {
  await Deno.mkdir(outputDir, { recursive: true });
  const finalPath = join(outputDir, `checkpoint-${step}`);
  const tmp = await Deno.makeTempDir({ dir: outputDir, prefix: `.checkpoint-${step}.tmp-` });
  try {
    await write(tmp);
    await Deno.stat(join(tmp, TRAINER_STATE));
    let old: string | null = null;
    try {
      await Deno.stat(finalPath);
      old = `${tmp}.replaced`;
      await Deno.rename(finalPath, old);
    } catch (e) {
      if (!(e instanceof Deno.errors.NotFound)) throw e;
    }
    await Deno.rename(tmp, finalPath);
    if (old) await Deno.remove(old, { recursive: true });
  } catch (e) {
    await Deno.remove(tmp, { recursive: true }).catch(() => {});
    throw e;
  }
  if (opts.totalLimit && opts.totalLimit > 0) await rotateCheckpoints(outputDir, opts.totalLimit);
  return finalPath;
}

/** Removes the oldest complete checkpoints beyond `limit`, and leftovers of interrupted saves. */
export async function rotateCheckpoints(outputDir: string, limit: number): Promise<void> {
  const all = await listCheckpoints(outputDir);
  for (const c of all.slice(0, Math.max(0, all.length - limit))) await Deno.remove(c.path, { recursive: true });
  for await (const e of Deno.readDir(outputDir)) {
    if (/^\.checkpoint-\d+\.tmp-/.test(e.name)) await Deno.remove(join(outputDir, e.name), { recursive: true });
  }
}

/** Writes a file atomically: a temporary name in the same directory, then rename. */
export async function writeFileAtomic(path: string, data: string | Uint8Array): Promise<void> {
  const tmp = `${path}.tmp-${crypto.randomUUID().slice(0, 8)}`;
  try {
    if (typeof data === "string") await Deno.writeTextFile(tmp, data);
    else await Deno.writeFile(tmp, data);
    await Deno.rename(tmp, path);
  } catch (e) {
    await Deno.remove(tmp).catch(() => {});
    throw e;
  }
}
