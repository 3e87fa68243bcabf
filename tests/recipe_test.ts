import { assert, assertClose, assertEquals, assertMatch, assertRejects, assertThrows } from "./assert.ts";
import { MaxentError, UsageError } from "../src/errors.ts";
import {
  editDistance,
  generationTemperature,
  grpoBeta,
  IGNORED_KEYS,
  loadRecipe,
  MAXENT_DEFAULTS,
  maxentBeta,
  nearestKey,
  parseRecipe,
  RECIPE_KEYS,
  recipeKeyTable,
  samplerKind,
  TRL_DEFAULT_BETA,
} from "../src/recipe/mod.ts";

const SHARED = new URL("../../shared/reference/recipes/", import.meta.url);
const REPO = new URL("../recipes/Qwen2.5-1.5B-Instruct/", import.meta.url);
const GRPO_FILES = [
  new URL("Qwen2.5-1.5B-Instruct-grpo-config_math.yaml", SHARED).pathname,
  new URL("grpo/config_math.yaml", REPO).pathname,
];
const MAXENT_FILES = [
  new URL("Qwen2.5-1.5B-Instruct-maxent-grpo-config_math.yaml", SHARED).pathname,
  new URL("maxent-grpo/config_math.yaml", REPO).pathname,
];
const NO_ENV = { env: {} };
const MIN = "model_name_or_path: m\ndataset_name: d\n";

async function exists(path: string): Promise<boolean> {
  try {
    await Deno.stat(path);
    return true;
  } catch {
    return false;
  }
}

Deno.test("the repo's recipes are unchanged copies of the reference recipes", async () => {
  if (!(await exists(GRPO_FILES[0]))) return; // the shared folder only exists on the development machines
  assertEquals(await Deno.readTextFile(GRPO_FILES[1]), await Deno.readTextFile(GRPO_FILES[0]));
  assertEquals(await Deno.readTextFile(MAXENT_FILES[1]), await Deno.readTextFile(MAXENT_FILES[0]));
});

Deno.test("the GRPO reference recipe loads with its values and one warning listing the seed-only keys", async () => {
  for (const file of GRPO_FILES) {
    if (!(await exists(file))) continue;
    const { recipe, warnings } = await loadRecipe(file, NO_ENV);
    assertEquals(recipe.model_name_or_path, "Qwen/Qwen2.5-1.5B-Instruct");
    assertEquals(recipe.dataset_name, "open-r1/OpenR1-Math-220k");
    assertEquals(recipe.dataset_prompt_column, "problem");
    assertClose(recipe.learning_rate, 5e-6, 1e-15);
    assertClose(recipe.adam_epsilon, 1e-6, 1e-15);
    assertEquals(recipe.adam_beta2, 0.99);
    assertEquals(recipe.lr_scheduler_type, "cosine");
    assertEquals(recipe.gradient_accumulation_steps, 64);
    assertEquals(recipe.num_generations, 4);
    assertEquals(recipe.max_completion_length, 750);
    assertEquals(recipe.max_steps, -1);
    assertEquals(recipe.resume_from_checkpoint, true);
    assertEquals(recipe.reward_funcs, ["pure_accuracy_math"]);
    assertEquals(recipe.reward_weights, [1]);
    assertEquals(recipe.hub_strategy, "every_save");
    assertEquals(recipe.save_total_limit, 1000);
    assertEquals(recipe.max_grad_norm, 0.15);
    assertEquals(recipe.init_kl_coeff, 3);
    assertEquals(recipe.system_prompt?.includes("<answer>"), true);
    // Defaults fill what the recipe leaves out.
    assertEquals(recipe.algorithm, "maxent-grpo");
    assertEquals(recipe.maxent_tau, MAXENT_DEFAULTS.maxent_tau);
    assertEquals(recipe.beta, undefined);
    assertEquals(grpoBeta(recipe), TRL_DEFAULT_BETA);
    assertEquals(maxentBeta(recipe), 3);
    assertEquals(warnings.length, 1, warnings.join("\n"));
    for (const key of ["kl_target", "vf_coef", "clip_range", "torch_dtype", "report_to", "evaluation_strategy"]) {
      assert(warnings[0].includes(key), `warning should list ${key}: ${warnings[0]}`);
    }
    assert(warnings[0].includes(file));
    assert(!warnings[0].includes("learning_rate"));
  }
});

Deno.test("the MaxEnt reference recipe loads with its MaxEnt knobs", async () => {
  for (const file of MAXENT_FILES) {
    if (!(await exists(file))) continue;
    const { recipe, warnings } = await loadRecipe(file, NO_ENV);
    assertEquals(recipe.maxent_tau, 0.2);
    assertEquals(recipe.maxent_q_temperature, 1.0);
    assertClose(recipe.maxent_q_epsilon, 1e-6, 1e-15);
    assertEquals(recipe.maxent_length_normalize_ref, true);
    assertEquals(recipe.gen_temperature, 0.8);
    assertEquals(generationTemperature(recipe), 0.8);
    assertEquals(recipe.gen_top_p, 0.9);
    assertEquals(recipe.vllm_url, "http://localhost:8000/generate");
    assertEquals(recipe.use_vllm, true);
    assertEquals(samplerKind(recipe), "remote");
    assertEquals(maxentBeta(recipe), 3);
    assertEquals(recipe.seed, 42);
    assertEquals(warnings.length, 1);
    assertMatch(warnings[0], /ignoring 7 keys .*torch_dtype/);
    // gradient_checkpointing is a real key now (not in the warning)
    assert(!/gradient_checkpointing/.test(warnings[0]), warnings[0]);
    assertEquals(recipe.gradient_checkpointing, true);
    assertEquals(recipe.gradient_checkpointing_kwargs, { use_reentrant: false });
  }
});

Deno.test("an unknown key is an error naming it and the nearest valid key", () => {
  const e = assertThrows(
    () => parseRecipe(MIN + "learning_rat: 1e-5\n", "my.yaml", NO_ENV),
    MaxentError,
    "my.yaml",
    "`learning_rat`",
    "did you mean `learning_rate`",
  );
  assert(!(e instanceof UsageError));
  assertThrows(() => parseRecipe(MIN + "maxent_tua: 0.1\n", "r.yaml", NO_ENV), MaxentError, "`maxent_tau`");
  assertThrows(() => parseRecipe(MIN + "Num_Generation: 4\n", "r.yaml", NO_ENV), MaxentError, "`num_generations`");
  assertEquals(editDistance("kitten", "sitting"), 3);
  assertEquals(editDistance("", "abc"), 3);
  assertEquals(nearestKey("init_kl_coef"), "init_kl_coeff");
});

Deno.test("a wrong type names the key, the expected type and the file", () => {
  assertThrows(
    () => parseRecipe(MIN + "learning_rate: fast\n", "recipes/x.yaml", NO_ENV),
    MaxentError,
    "recipes/x.yaml",
    "`learning_rate` expects number > 0",
    'got string "fast"',
  );
  assertThrows(
    () => parseRecipe(MIN + "num_generations: 2.5\n", "x.yaml", NO_ENV),
    MaxentError,
    "`num_generations` expects integer > 0",
    "got number 2.5",
  );
  assertThrows(
    () => parseRecipe(MIN + "loss_type: ppo\n", "x.yaml", NO_ENV),
    MaxentError,
    '`loss_type` expects "grpo" | "bnpo" | "dr_grpo"',
  );
  assertThrows(
    () => parseRecipe(MIN + "reward_funcs: accuracy\n", "x.yaml", NO_ENV),
    MaxentError,
    "`reward_funcs` expects string[]",
  );
  assertThrows(
    () => parseRecipe("dataset_name: d\n", "x.yaml", NO_ENV),
    MaxentError,
    "`model_name_or_path` is required",
  );
  assertThrows(() => parseRecipe("model_name_or_path: m\n", "x.yaml", NO_ENV), MaxentError, "`dataset_mixture`");
  assertThrows(
    () => parseRecipe(MIN + "reward_funcs: [a, b]\nreward_weights: [1]\n", "x.yaml", NO_ENV),
    MaxentError,
    "`reward_weights` has 1 entries but reward_funcs has 2",
  );
  assertThrows(
    () => parseRecipe(MIN + "num_generations: 4\nmaxent_q_epsilon: 0.3\n", "x.yaml", NO_ENV),
    MaxentError,
    "`maxent_q_epsilon` must be below 1 / num_generations",
  );
  assertThrows(
    () => parseRecipe(MIN + "temperature: 0.7\ngen_temperature: 0.8\n", "x.yaml", NO_ENV),
    MaxentError,
    "set only one",
  );
});

Deno.test("invalid YAML, an empty file, duplicate keys and a non-mapping are clear errors", () => {
  assertThrows(() => parseRecipe("a: [1, 2\n", "bad.yaml", NO_ENV), MaxentError, "bad.yaml is not valid YAML", "line");
  assertThrows(() => parseRecipe("", "empty.yaml", NO_ENV), MaxentError, "empty.yaml is empty");
  assertThrows(() => parseRecipe(MIN + "seed: 1\nseed: 2\n", "dup.yaml", NO_ENV), MaxentError, "dup.yaml");
  assertThrows(() => parseRecipe("- 1\n- 2\n", "list.yaml", NO_ENV), MaxentError, "must be a mapping");
});

Deno.test("a missing recipe file is a MaxentError naming the path", async () => {
  await assertRejects(() => loadRecipe("/nonexistent/recipe.yaml", NO_ENV), MaxentError, "/nonexistent/recipe.yaml");
});

Deno.test("loadRecipe reads a file from disk and applies --set", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const file = `${dir}/r.yaml`;
    await Deno.writeTextFile(file, MIN + "maxent_tau: 0.3\n");
    const r = await loadRecipe(file, { env: {}, overrides: ["maxent_tau=0.05"] });
    assertEquals(r.file, file);
    assertEquals(r.recipe.maxent_tau, 0.05);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("precedence: --set > recipe > environment > default", () => {
  const env = { MAXENT_TAU: "0.5", MAXENT_Q_TEMPERATURE: "2", MAXENT_Q_EPS: "1e-3", MAXENT_LENGTH_NORM_REF: "0" };
  // Environment fills what the recipe leaves unset.
  const fromEnv = parseRecipe(MIN, "x.yaml", { env }).recipe;
  assertEquals(fromEnv.maxent_tau, 0.5);
  assertEquals(fromEnv.maxent_q_temperature, 2);
  assertEquals(fromEnv.maxent_q_epsilon, 1e-3);
  assertEquals(fromEnv.maxent_length_normalize_ref, false);
  // The recipe wins over the environment, and the user is told.
  const r = parseRecipe(MIN + "maxent_tau: 0.2\n", "x.yaml", { env: { MAXENT_TAU: "0.5" } });
  assertEquals(r.recipe.maxent_tau, 0.2);
  assertEquals(r.warnings.length, 1);
  assertMatch(r.warnings[0], /MAXENT_TAU=0\.5 is ignored.*maxent_tau/);
  // --set wins over both.
  const s = parseRecipe(MIN + "maxent_tau: 0.2\n", "x.yaml", {
    env: { MAXENT_TAU: "0.5" },
    overrides: ["maxent_tau=0.1"],
  });
  assertEquals(s.recipe.maxent_tau, 0.1);
  // Defaults when nothing is set; an empty variable counts as unset.
  const d = parseRecipe(MIN, "x.yaml", { env: { MAXENT_TAU: "" } }).recipe;
  assertEquals(d.maxent_tau, MAXENT_DEFAULTS.maxent_tau);
  assertEquals(d.maxent_length_normalize_ref, true);
  assertEquals(
    parseRecipe(MIN, "x.yaml", { env: { MAXENT_LENGTH_NORM_REF: "1" } }).recipe.maxent_length_normalize_ref,
    true,
  );
});

Deno.test("a bad MAXENT_* variable is an error naming the variable", () => {
  assertThrows(() => parseRecipe(MIN, "x.yaml", { env: { MAXENT_TAU: "abc" } }), MaxentError, "MAXENT_TAU", "abc");
  assertThrows(() => parseRecipe(MIN, "x.yaml", { env: { MAXENT_Q_EPS: "1e-3x" } }), MaxentError, "MAXENT_Q_EPS");
  assertThrows(
    () => parseRecipe(MIN, "x.yaml", { env: { MAXENT_LENGTH_NORM_REF: "yes" } }),
    MaxentError,
    "MAXENT_LENGTH_NORM_REF",
    '"1" or "0"',
  );
  // A value of the right kind but out of range is caught by the schema, naming the key.
  assertThrows(
    () => parseRecipe(MIN, "x.yaml", { env: { MAXENT_Q_TEMPERATURE: "0" } }),
    MaxentError,
    "maxent_q_temperature",
  );
});

Deno.test("--set parses YAML values, restores defaults with key= and rejects bad items", () => {
  const r = parseRecipe(MIN + "seed: 7\n", "x.yaml", {
    env: {},
    overrides: ["reward_funcs=[a, b]", "use_vllm=true", "seed=", "hub_model_id=me/model", "learning_rate=3e-6"],
  }).recipe;
  assertEquals(r.reward_funcs, ["a", "b"]);
  assertEquals(r.use_vllm, true);
  assertEquals(r.seed, 42);
  assertEquals(r.hub_model_id, "me/model");
  assertEquals(r.learning_rate, 3e-6);
  assertThrows(
    () => parseRecipe(MIN, "x.yaml", { env: {}, overrides: ["learnig_rate=1"] }),
    UsageError,
    "--set",
    "`learning_rate`",
  );
  assertThrows(() => parseRecipe(MIN, "x.yaml", { env: {}, overrides: ["no-equals"] }), UsageError, "key=value");
  assertThrows(
    () => parseRecipe(MIN, "x.yaml", { env: {}, overrides: ["bf16=true"] }),
    UsageError,
    "not used by maxent",
  );
  assertThrows(
    () => parseRecipe(MIN, "x.yaml", { env: {}, overrides: ["seed=abc"] }),
    MaxentError,
    "`seed` expects integer",
  );
});

Deno.test("β rule: init_kl_coeff, else an explicit beta, else 0 (TRL's default never leaks in)", () => {
  const p = (extra: string) => parseRecipe(MIN + extra, "x.yaml", NO_ENV).recipe;
  assertEquals(maxentBeta(p("init_kl_coeff: 3\nbeta: 0.5\n")), 3);
  assertEquals(maxentBeta(p("beta: 0.5\n")), 0.5);
  assertEquals(maxentBeta(p("beta: 0\n")), 0);
  assertEquals(maxentBeta(p("")), 0);
  assertEquals(grpoBeta(p("")), TRL_DEFAULT_BETA);
  assertEquals(grpoBeta(p("beta: 0\n")), 0);
});

Deno.test("TRL's boolean scale_rewards map to group/none; quoted numbers and YAML 1.1 booleans are read as PyYAML does", () => {
  const p = (extra: string) => parseRecipe(MIN + extra, "x.yaml", NO_ENV).recipe;
  assertEquals(p("scale_rewards: true\n").scale_rewards, "group");
  assertEquals(p("scale_rewards: false\n").scale_rewards, "none");
  assertEquals(p("scale_rewards: batch\n").scale_rewards, "batch");
  assertEquals(p("").scale_rewards, "group");
  assertEquals(p('learning_rate: "5e-6"\n').learning_rate, 5e-6);
  assertEquals(p("learning_rate: 5e-6\n").learning_rate, 5e-6);
  assertEquals(p("reward_funcs: [a]\nreward_weights: ['2']\n").reward_weights, [2]);
  assertEquals(p("use_vllm: yes\n").use_vllm, true);
  assertEquals(p("resume_from_checkpoint: out/checkpoint-50\n").resume_from_checkpoint, "out/checkpoint-50");
  assertEquals(p("algorithm: grpo\n").algorithm, "grpo");
});

Deno.test("dataset_mixture follows open-r1's format; its unknown keys are errors", () => {
  const r = parseRecipe(
    "model_name_or_path: m\ndataset_mixture:\n  datasets:\n    - id: a/b\n      columns: [problem, answer]\n" +
      "      weight: 0.5\n    - id: c/d\n      config: default\n      split: test\n  seed: 3\n  test_split_size: 0.1\n",
    "mix.yaml",
    NO_ENV,
  ).recipe;
  assertEquals(r.dataset_mixture?.datasets.length, 2);
  assertEquals(r.dataset_mixture?.datasets[0].split, "train");
  assertEquals(r.dataset_mixture?.datasets[1].config, "default");
  assertEquals(r.dataset_mixture?.seed, 3);
  assertThrows(
    () => parseRecipe("model_name_or_path: m\ndataset_mixture: {datasets: [{id: a, wieght: 1}]}\n", "m.yaml", NO_ENV),
    MaxentError,
    "m.yaml",
    "dataset_mixture.datasets[0].wieght",
  );
});

Deno.test("recipeKeyTable documents every key with a type, default and description", () => {
  const rows = recipeKeyTable();
  assertEquals(rows.map((r) => r.key), [...RECIPE_KEYS]);
  for (const row of rows) {
    assert(row.description.length > 10, `${row.key} has no description`);
    assert(row.type.length > 0 && row.default.length > 0, row.key);
    assert(!IGNORED_KEYS.has(row.key), `${row.key} is both used and ignored`);
  }
  const byKey = Object.fromEntries(rows.map((r) => [r.key, r]));
  assertEquals(byKey.maxent_tau.default, "0.2");
  assertEquals(byKey.beta.default, "unset");
  assertEquals(byKey.model_name_or_path.default, "required");
  assertEquals(byKey.algorithm.type, '"maxent-grpo" | "grpo" | "xdr-grpo"');
  assertEquals(byKey.num_generations.type, "integer > 0");
  for (
    const key of ["algorithm", "backend", "loss_type", "scale_rewards", "hub_strategy", "use_peft", "lora_r", "sampler"]
  ) assert(key in byKey, key);
});

Deno.test("maxent recipe check prints resolved values and warnings; errors exit 1 (runtime) or 2 (usage)", async () => {
  const { runCli } = await import("./cli_helpers.ts");
  const dir = await Deno.makeTempDir();
  try {
    const file = `${dir}/r.yaml`;
    await Deno.writeTextFile(file, MIN + "init_kl_coeff: 2\nbf16: true\n");
    const ok = await runCli(["recipe", "check", file, "--set", "maxent_tau=0.3", "--json"]);
    assertEquals(ok.code, 0, ok.err);
    const j = JSON.parse(ok.out);
    assertEquals(j.recipe.maxent_tau, 0.3);
    assertEquals(j.recipe.learning_rate, 1e-6);
    assertEquals(j.derived.beta, 2);
    assertEquals(j.warnings.length, 1);
    assertMatch(j.warnings[0], /bf16/);
    const text = await runCli(["recipe", "check", file]);
    assertEquals(text.code, 0);
    assertMatch(text.out, /^maxent_tau: 0\.2$/m);
    assertMatch(text.err, /warning: .*bf16/);
    const usage = await runCli(["recipe", "check", file, "--set", "nope"]);
    assertEquals(usage.code, 2);
    assertMatch(usage.err, /--set expects key=value/);
    await Deno.writeTextFile(file, MIN + "learning_rat: 1\n");
    const bad = await runCli(["recipe", "check", file]);
    assertEquals(bad.code, 1);
    assertMatch(bad.err, /unknown key `learning_rat` \(did you mean `learning_rate`\?\)/);
    assertEquals((await runCli(["recipe", "check"])).code, 2);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
