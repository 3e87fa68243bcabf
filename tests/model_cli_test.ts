/**
 * `maxent init` and `maxent score` in-process: the Hugging Face layout init writes, its errors, and scoring ids or a
 * completion after a chat-templated or raw prompt.
 */
import { assert, assertClose, assertEquals, assertMatch } from "./assert.ts";
import { runCli } from "./cli_helpers.ts";
import { loadModelConfig } from "../src/model/config.ts";
import { readSafetensorsHeader } from "../src/model/safetensors.ts";
import { Tokenizer } from "../src/tokenizer/mod.ts";

async function withDir(fn: (dir: string) => Promise<void>): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "maxent_cli_model_" });
  try {
    await fn(dir);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

Deno.test("maxent init writes a Hugging Face model directory whose vocabulary covers the tokenizer", async () => {
  await withDir(async (dir) => {
    const r = await runCli(["init", `${dir}/tiny`, "--seed", "1"]);
    assertEquals(r.code, 0, r.err);
    assertMatch(r.out, /Qwen2ForCausalLM/);
    const names = [...Deno.readDirSync(`${dir}/tiny`)].map((e) => e.name).sort();
    for (const f of ["config.json", "generation_config.json", "model.safetensors", "tokenizer.json"]) {
      assert(names.includes(f), `missing ${f}`);
    }
    const cfg = await loadModelConfig(`${dir}/tiny`);
    const tok = await Tokenizer.load(`${dir}/tiny`);
    assert(cfg.vocabSize >= tok.vocabSize);
    assertEquals(cfg.eosTokenIds, tok.eosTokenIds);
    const gen = JSON.parse(await Deno.readTextFile(`${dir}/tiny/generation_config.json`));
    assertEquals(gen.pad_token_id, tok.padTokenId);
    // same seed → same weights; other seed → different
    await runCli(["init", `${dir}/tiny2`, "--seed", "1"]);
    await runCli(["init", `${dir}/tiny3`, "--seed", "2"]);
    const a = await Deno.readFile(`${dir}/tiny/model.safetensors`);
    assertEquals(await Deno.readFile(`${dir}/tiny2/model.safetensors`), a);
    assert(!(await Deno.readFile(`${dir}/tiny3/model.safetensors`)).every((b, i) => b === a[i]));
    // custom llama shape in bf16, tokenizer copied from another model directory
    const l = await runCli([
      "init",
      `${dir}/llama`,
      "--arch",
      "llama",
      "--layers",
      "1",
      "--hidden",
      "16",
      "--heads",
      "2",
      "--kv-heads",
      "1",
      "--intermediate",
      "32",
      "--dtype",
      "bf16",
      "--tokenizer",
      `${dir}/tiny`,
    ]);
    assertEquals(l.code, 0, l.err);
    const lc = await loadModelConfig(`${dir}/llama`);
    assertEquals([lc.architecture, lc.numHiddenLayers, lc.hiddenSize, lc.numKeyValueHeads], [
      "LlamaForCausalLM",
      1,
      16,
      1,
    ]);
    const h = await readSafetensorsHeader(`${dir}/llama/model.safetensors`);
    assertEquals(h.tensors.get("model.embed_tokens.weight")!.dtype, "BF16");
    assertEquals(
      await Deno.readTextFile(`${dir}/llama/tokenizer.json`),
      await Deno.readTextFile(`${dir}/tiny/tokenizer.json`),
    );
  });
});

Deno.test("maxent init errors: non-empty directory, vocabulary too small, bad shape, unknown preset", async () => {
  await withDir(async (dir) => {
    await Deno.writeTextFile(`${dir}/x`, "");
    const a = await runCli(["init", dir]);
    assertEquals(a.code, 1);
    assertMatch(a.err, /not empty.*--force/);
    const b = await runCli(["init", `${dir}/v`, "--vocab", "10"]);
    assertEquals(b.code, 2);
    assertMatch(b.err, /vocab size 10 is smaller than the tokenizer's/);
    const c = await runCli(["init", `${dir}/h`, "--hidden", "30", "--heads", "4"]);
    assertEquals(c.code, 2);
    assertMatch(c.err, /--hidden 30 must be a multiple of --heads 4/);
    const d = await runCli(["init", `${dir}/p`, "--preset", "gpt5"]);
    assertEquals(d.code, 2);
  });
});

Deno.test("maxent score: --ids JSON, and --prompt/--completion equals scoring the templated ids", async () => {
  await withDir(async (dir) => {
    const m = `${dir}/m`;
    assertEquals((await runCli(["init", m, "--seed", "3"])).code, 0);
    const r = await runCli(["score", "--model", m, "--ids", "1,5,7,9", "--json", "--backend", "cpu"]);
    assertEquals(r.code, 0, r.err);
    const lp = JSON.parse(r.out).logprobs as number[];
    assertEquals(lp.length, 3);
    assert(lp.every((v) => v < 0 && Number.isFinite(v)));
    const tok = await Tokenizer.load(m);
    const prompt = tok.encode(
      tok.applyChatTemplate([{ role: "user", content: "2+2?" }], { addGenerationPrompt: true }),
    );
    const completion = tok.encode("4<|im_end|>");
    const all = [...prompt, ...completion];
    const full = await runCli(["score", "--model", m, "--ids", all.join(","), "--json", "--backend", "cpu"]);
    const want = (JSON.parse(full.out).logprobs as number[]).slice(prompt.length - 1);
    const p = await runCli([
      "score",
      "--model",
      m,
      "--prompt",
      "2+2?",
      "--completion",
      "4<|im_end|>",
      "--json",
      "--backend",
      "cpu",
    ]);
    assertEquals(p.code, 0, p.err);
    const got = JSON.parse(p.out);
    assertEquals(got.ids, completion);
    assertClose(got.logprobs, want, 1e-6);
    // --raw skips the template
    const raw = await runCli(["score", "--model", m, "--prompt", "2+2?", "--completion", "4", "--raw", "--json"]);
    assertEquals(raw.code, 0, raw.err);
    const rawIds = [...tok.encode("2+2?"), ...tok.encode("4")];
    const rf = await runCli(["score", "--model", m, "--ids", rawIds.join(","), "--json"]);
    assertClose(JSON.parse(raw.out).logprobs, JSON.parse(rf.out).logprobs.slice(-1), 1e-6);
    // text output: one line per token plus the sum
    const t = await runCli(["score", "--model", m, "--ids", "1,5,7", "--backend", "cpu"]);
    assertEquals(t.out.split("\n").length, 3);
    assertMatch(t.out, /^sum\t/m);
  });
});

Deno.test("maxent score usage errors", async () => {
  await withDir(async (dir) => {
    const m = `${dir}/m`;
    await runCli(["init", m]);
    const none = await runCli(["score", "--model", m]);
    assertEquals(none.code, 2);
    const bad = await runCli(["score", "--model", m, "--ids", "1,x"]);
    assertEquals(bad.code, 2);
    assertMatch(bad.err, /--ids: entry 2/);
    const big = await runCli(["score", "--model", m, "--ids", "1,100000", "--backend", "cpu"]);
    assertEquals(big.code, 2);
    assertMatch(big.err, /outside the model's vocabulary/);
    const missing = await runCli(["score", "--model", `${dir}/nope`, "--ids", "1,2", "--backend", "cpu"]);
    assertEquals(missing.code, 1);
    assertMatch(missing.err, /nope does not exist/);
  });
});
