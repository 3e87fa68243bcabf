import { assert, assertEquals } from "./assert.ts";
import { runCli } from "./cli_helpers.ts";
import { loadExamples } from "../src/data/examples.ts";
import { loadRecipe } from "../src/recipe/mod.ts";
import { answerModeOf } from "../src/tasks/dataset.ts";
import type { TaskRow } from "../src/tasks/types.ts";

async function readJsonl(path: string): Promise<TaskRow[]> {
  return (await Deno.readTextFile(path)).trim().split("\n").map((l) => JSON.parse(l));
}

Deno.test("maxent data countdown / graph-colouring: train.jsonl + test.jsonl, deterministic, disjoint, readable", async () => {
  const dir = await Deno.makeTempDir();
  try {
    for (const task of ["countdown", "graph-colouring"]) {
      const out = `${dir}/${task}`;
      const args = ["data", task, "--out", out, "--train", "12", "--eval", "5", "--seed", "7"];
      const r = await runCli(args);
      assertEquals(r.code, 0, r.err);
      assert(r.out.includes("12 train prompts") && r.out.includes("5 test prompts"), r.out);
      const train = await readJsonl(`${out}/train.jsonl`);
      const test = await readJsonl(`${out}/test.jsonl`);
      assertEquals([train.length, test.length], [12, 5]);
      for (const row of [...train, ...test]) {
        for (const col of ["prompt", "answer", "modes", "num_modes", "id"]) assert(col in row, `${task}: ${col}`);
        assertEquals(answerModeOf(row.answer, row) !== null, true, `${row.id}: its answer is correct`);
      }
      const testIds = new Set(test.map((r) => r.id));
      assert(train.every((r) => !testIds.has(r.id)), "train and test share no problem");
      // same seed → byte-identical files; no temporary files left behind
      const first = await Deno.readTextFile(`${out}/train.jsonl`);
      assertEquals((await runCli(args)).code, 0);
      assertEquals(await Deno.readTextFile(`${out}/train.jsonl`), first);
      assertEquals([...Deno.readDirSync(out)].map((e) => e.name).sort(), ["test.jsonl", "train.jsonl"]);
      // the dataset reader picks the splits by file name
      const examples = await loadExamples({
        name: out,
        split: "test",
        promptColumn: "prompt",
        solutionColumn: "answer",
        columns: ["modes", "num_modes"],
      });
      assertEquals(examples.map((e) => e.prompt), test.map((r) => r.prompt));
      assertEquals(examples[0].row.num_modes, test[0].num_modes);
      // prompts fit the character-level tokenizer (printable ASCII)
      assert([...train, ...test].every((r) => /^[\x20-\x7e]+$/.test(r.prompt)));
    }
    const single = await runCli([
      "data",
      "graph-coloring",
      "--out",
      `${dir}/s`,
      "--train",
      "4",
      "--eval",
      "2",
      "--single-answer",
    ]);
    assertEquals(single.code, 0, single.err);
    assert((await readJsonl(`${dir}/s/test.jsonl`)).every((r) => r.num_modes === 1));
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("maxent data: bad task or counts are usage errors (exit 2); an impossible size is exit 1", async () => {
  const dir = await Deno.makeTempDir();
  try {
    for (
      const [args, flag] of [
        [["data", "sudoku", "--out", dir], "sudoku"],
        [["data", "countdown", "--out", dir, "--train", "-1"], "--train"],
        [["data", "countdown", "--out", dir, "--eval", "x"], "--eval"],
        [["data", "countdown"], "--out"],
      ] as const
    ) {
      const r = await runCli([...args]);
      assertEquals(r.code, 2, `${args.join(" ")}: ${r.err}`);
      assert(r.err.includes(flag), r.err);
    }
    const big = await runCli(["data", "countdown", "--out", dir, "--train", "100000"]);
    assertEquals(big.code, 1);
    assert(big.err.includes("ask for fewer"), big.err);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("recipes/experiments: the task recipes load and name the task rewards on a Dr.GRPO backbone", async () => {
  for (const [file, reward] of [["countdown", "countdown"], ["graph_colouring", "graph_colouring"]]) {
    const { recipe } = await loadRecipe(new URL(`../recipes/experiments/${file}.yaml`, import.meta.url).pathname);
    assertEquals(recipe.reward_funcs, [reward]);
    assertEquals([recipe.loss_type, recipe.scale_rewards, recipe.beta], ["dr_grpo", "none", 0]);
    assertEquals([recipe.dataset_prompt_column, recipe.num_generations, recipe.temperature], ["prompt", 8, 1]);
  }
});
