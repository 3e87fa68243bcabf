import { join } from "node:path";
import { assert, assertEquals } from "./assert.ts";
import { runCli } from "./cli_helpers.ts";
import { latestCheckpoint, listCheckpoints } from "../src/train/checkpoint.ts";
import { CausalLM } from "../src/model/transformer.ts";

const cli = new URL("../cli.ts", import.meta.url).pathname;

Deno.test({
  name: "a process killed while saving leaves the previous checkpoint complete and loadable; resume continues",
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    const root = await Deno.makeTempDir({ prefix: "maxent-kill-" });
    try {
      const model = join(root, "model");
      // big enough (≈ 3.5M parameters, 14 MB per save) that a save takes a while
      const init = await runCli([
        "init",
        model,
        "--layers",
        "2",
        "--hidden",
        "256",
        "--heads",
        "4",
        "--kv-heads",
        "2",
        "--intermediate",
        "1024",
        "--seed",
        "1",
      ]);
      assertEquals(init.code, 0, init.err);
      await Deno.writeTextFile(join(root, "train.jsonl"), '{"problem": "1+1=", "answer": "2"}\n'.repeat(8));
      const out = join(root, "out");
      const recipe = join(root, "recipe.yaml");
      await Deno.writeTextFile(
        recipe,
        [
          `model_name_or_path: ${model}`,
          `dataset_name: ${join(root, "train.jsonl")}`,
          "reward_funcs: [format]",
          "num_generations: 2",
          "per_device_train_batch_size: 1",
          "max_completion_length: 2",
          "max_steps: 200",
          "save_steps: 1",
          "backend: cpu",
          `output_dir: ${out}`,
        ].join("\n") + "\n",
      );
      const child = new Deno.Command(Deno.execPath(), {
        args: ["run", "--allow-all", cli, "train", recipe],
        stdout: "null",
        stderr: "null",
      }).spawn();
      // wait until a save is in flight (its temporary directory exists) after at least one complete checkpoint
      let killedDuringSave = false;
      const deadline = Date.now() + 60_000;
      while (Date.now() < deadline) {
        const names: string[] = [];
        try {
          for await (const e of Deno.readDir(out)) names.push(e.name);
        } catch { /* not created yet */ }
        if (names.some((n) => n.startsWith("checkpoint-")) && names.some((n) => /^\.checkpoint-\d+\.tmp-/.test(n))) {
          child.kill("SIGKILL");
          killedDuringSave = true;
          break;
        }
        await new Promise((r) => setTimeout(r, 1));
      }
      if (!killedDuringSave) child.kill("SIGKILL");
      await child.status;
      assert(killedDuringSave, "never caught the process during a save");
      const latest = await latestCheckpoint(out);
      assert(latest !== null);
      const state = JSON.parse(await Deno.readTextFile(join(latest.path, "trainer_state.json")));
      assertEquals(state.global_step, latest.step);
      (await CausalLM.load(latest.path, { trainable: false })).dispose();
      // resume picks up the last complete checkpoint and finishes two more steps
      const resumed = await runCli([
        "train",
        recipe,
        "--set",
        "resume_from_checkpoint=true",
        "--set",
        `max_steps=${latest.step + 2}`,
        "--set",
        "save_steps=100",
      ]);
      assertEquals(resumed.code, 0, resumed.err);
      assertEquals(JSON.parse(resumed.out).steps, latest.step + 2);
      assert((await listCheckpoints(out)).every((c) => c.step <= latest.step));
    } finally {
      await Deno.remove(root, { recursive: true });
    }
  },
});
