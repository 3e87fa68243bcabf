import { assert, assertEquals, assertRejects } from "./assert.ts";
import { join } from "node:path";
import { latestCheckpoint, listCheckpoints, saveCheckpoint, TRAINER_STATE } from "../src/train/checkpoint.ts";

async function writeState(dir: string, step: number) {
  await Deno.writeTextFile(join(dir, "weights.bin"), `w${step}`);
  await Deno.writeTextFile(join(dir, TRAINER_STATE), JSON.stringify({ global_step: step }));
}

Deno.test("checkpoints are listed in step order and rotated to save_total_limit", async () => {
  const out = await Deno.makeTempDir();
  try {
    for (const step of [10, 2, 30]) await saveCheckpoint(out, step, (d) => writeState(d, step));
    assertEquals((await listCheckpoints(out)).map((c) => c.step), [2, 10, 30]);
    await saveCheckpoint(out, 40, (d) => writeState(d, 40), { totalLimit: 2 });
    assertEquals((await listCheckpoints(out)).map((c) => c.step), [30, 40]);
    assertEquals((await latestCheckpoint(out))?.step, 40);
  } finally {
    await Deno.remove(out, { recursive: true });
  }
});

Deno.test("a save that fails midway leaves the previous checkpoint as the latest and no debris", async () => {
  const out = await Deno.makeTempDir();
  try {
    await saveCheckpoint(out, 5, (d) => writeState(d, 5));
    await assertRejects(
      () =>
        saveCheckpoint(out, 6, async (d) => {
          await Deno.writeTextFile(join(d, "weights.bin"), "partial");
          throw new Error("killed while writing");
        }),
      Error,
      "killed",
    );
    const latest = await latestCheckpoint(out);
    assertEquals(latest?.step, 5);
    assertEquals(await Deno.readTextFile(join(latest!.path, "weights.bin")), "w5");
    const names = [];
    for await (const e of Deno.readDir(out)) names.push(e.name);
    assertEquals(names, ["checkpoint-5"]);
  } finally {
    await Deno.remove(out, { recursive: true });
  }
});

Deno.test("a directory left by a killed process (no trainer_state.json) is not taken as complete", async () => {
  const out = await Deno.makeTempDir();
  try {
    await saveCheckpoint(out, 1, (d) => writeState(d, 1));
    await Deno.mkdir(join(out, "checkpoint-2"));
    await Deno.writeTextFile(join(out, "checkpoint-2", "weights.bin"), "half");
    assertEquals((await latestCheckpoint(out))?.step, 1);
    // saving step 2 again replaces the debris
    await saveCheckpoint(out, 2, (d) => writeState(d, 2));
    assertEquals(await Deno.readTextFile(join(out, "checkpoint-2", "weights.bin")), "w2");
    assert((await listCheckpoints(out)).length === 2);
  } finally {
    await Deno.remove(out, { recursive: true });
  }
});
