/**
 * Model configs and checkpoint loading: config.json validation for each family (defaults, errors naming the field),
 * presets, sharded vs single-file loads, shape mismatches and missing tensors named in errors, save → load round
 * trip with config.json unchanged.
 */
import * as tf from "@tensorflow/tfjs";
import { assert, assertClose, assertEquals, assertRejects, assertThrows } from "./assert.ts";
import { MaxentError } from "../src/errors.ts";
import { loadModelConfig, MODEL_PRESETS, parseModelConfig } from "../src/model/config.ts";
import { readSafetensorsDir, writeSafetensorsDir } from "../src/model/safetensors.ts";
import { CausalLM, expectedTensorShapes, randomWeights } from "../src/model/transformer.ts";

await tf.setBackend("cpu");

const QWEN2 = {
  architectures: ["Qwen2ForCausalLM"],
  model_type: "qwen2",
  hidden_size: 16,
  intermediate_size: 24,
  num_hidden_layers: 2,
  num_attention_heads: 4,
  num_key_value_heads: 2,
  vocab_size: 40,
  rms_norm_eps: 1e-6,
  rope_theta: 10000.0,
  tie_word_embeddings: false,
  some_unknown_field: { kept: true },
};

Deno.test("config: Qwen2 defaults, qkv bias, raw kept", () => {
  const c = parseModelConfig(QWEN2, "x/config.json");
  assertEquals(c.modelType, "qwen2");
  assertEquals(c.headDim, 4);
  assertEquals(c.qkvBias, true);
  assertEquals(c.oBias, false);
  assertEquals(c.qkNorm, false);
  assertEquals(c.tieWordEmbeddings, false);
  assertEquals(c.raw.some_unknown_field, { kept: true });
});

Deno.test("config: Qwen3 explicit head_dim and attention_bias; Llama 3 rope scaling", () => {
  const q3 = parseModelConfig(
    { ...QWEN2, architectures: ["Qwen3ForCausalLM"], model_type: "qwen3", head_dim: 8, attention_bias: false },
    "q3",
  );
  assertEquals([q3.headDim, q3.qkvBias, q3.oBias, q3.qkNorm], [8, false, false, true]);
  const q3b = parseModelConfig({ ...QWEN2, architectures: ["Qwen3ForCausalLM"], attention_bias: true }, "q3b");
  assertEquals([q3b.qkvBias, q3b.oBias], [true, true]);
  const ll = parseModelConfig({
    ...QWEN2,
    architectures: ["LlamaForCausalLM"],
    eos_token_id: [128001, 128008, 128009],
    rope_scaling: {
      factor: 32.0,
      high_freq_factor: 4.0,
      low_freq_factor: 1.0,
      original_max_position_embeddings: 8192,
      rope_type: "llama3",
    },
  }, "ll");
  assertEquals(ll.qkvBias, false);
  assertEquals(ll.eosTokenIds, [128001, 128008, 128009]);
  assertEquals(ll.ropeScaling?.factor, 32);
});

Deno.test("config: transformers 5 `rope_parameters` (theta and llama3 scaling) take precedence", () => {
  const c = parseModelConfig({
    ...QWEN2,
    architectures: ["LlamaForCausalLM"],
    rope_theta: undefined,
    rope_parameters: {
      factor: 8.0,
      high_freq_factor: 4.0,
      low_freq_factor: 1.0,
      original_max_position_embeddings: 64,
      rope_theta: 500000.0,
      rope_type: "llama3",
    },
  }, "v5");
  assertEquals([c.ropeTheta, c.ropeScaling?.factor], [500000, 8]);
  const d = parseModelConfig({ ...QWEN2, rope_parameters: { rope_theta: 1e6, rope_type: "default" } }, "v5d");
  assertEquals([d.ropeTheta, d.ropeScaling], [1e6, null]);
  assertThrows(
    () => parseModelConfig({ ...QWEN2, rope_parameters: { rope_theta: 1e6, rope_type: "yarn" } }, "f"),
    MaxentError,
    "rope_parameters.rope_type",
  );
});

Deno.test("config: unsupported architecture, rope_scaling type or field → MaxentError naming file and field", () => {
  assertThrows(
    () => parseModelConfig({ ...QWEN2, architectures: ["MistralForCausalLM"] }, "m/config.json"),
    MaxentError,
    "m/config.json",
    "architectures",
    "MistralForCausalLM",
  );
  assertThrows(
    () => parseModelConfig({ ...QWEN2, rope_scaling: { rope_type: "yarn", factor: 4 } }, "f"),
    MaxentError,
    "rope_scaling",
    "yarn",
  );
  assertThrows(() => parseModelConfig({ ...QWEN2, hidden_act: "gelu" }, "f"), MaxentError, "hidden_act");
  assertThrows(() => parseModelConfig({ ...QWEN2, use_sliding_window: true }, "f"), MaxentError, "use_sliding_window");
  assertThrows(() => parseModelConfig({ ...QWEN2, hidden_size: "16" }, "f"), MaxentError, `"hidden_size"`);
  assertThrows(() => parseModelConfig({ ...QWEN2, num_key_value_heads: 3 }, "f"), MaxentError, "num_key_value_heads");
  assertThrows(() => parseModelConfig({ ...QWEN2, rope_scaling: { rope_type: "llama3" } }, "f"), MaxentError, "factor");
});

Deno.test("presets: bench is the ~42M Qwen2 with the real vocabulary; Qwen2.5 presets parse", () => {
  const bench = parseModelConfig(MODEL_PRESETS.bench(), "bench");
  let n = 0;
  for (const s of expectedTensorShapes(bench).values()) n += s.reduce((a, b) => a * b, 1);
  assertEquals([bench.numHiddenLayers, bench.hiddenSize, bench.numKeyValueHeads, bench.vocabSize], [4, 256, 2, 151936]);
  assert(n > 41e6 && n < 43e6, `bench has ${n} parameters`);
  const q05 = parseModelConfig(MODEL_PRESETS["qwen2.5-0.5b"](), "q05");
  let m = 0;
  for (const s of expectedTensorShapes(q05).values()) m += s.reduce((a, b) => a * b, 1);
  assertEquals(m, 494032768); // Qwen2.5-0.5B's published parameter count
  parseModelConfig(MODEL_PRESETS["qwen2.5-1.5b"](), "q15");
});

async function withDir(fn: (dir: string) => Promise<void>): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "maxent_load_" });
  try {
    await fn(dir);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

function logProbs(model: CausalLM, ids: number[]): number[] {
  return tf.tidy(() =>
    Array.from(model.tokenLogProbs(tf.tensor2d([ids], undefined, "int32"), tf.ones([1, ids.length])).dataSync())
  );
}

Deno.test("sharded and single-file checkpoints load identically; save keeps config.json fields", async () => {
  await withDir(async (dir) => {
    const cfg = parseModelConfig(QWEN2, "q");
    const model = CausalLM.random(cfg, 42);
    await model.save(`${dir}/single`);
    await model.save(`${dir}/sharded`, { maxShardBytes: 4000 });
    const shards = [...Deno.readDirSync(`${dir}/sharded`)].filter((e) => e.name.startsWith("model-")).length;
    assert(shards > 2, `expected several shards, got ${shards}`);
    const a = await CausalLM.load(`${dir}/single`);
    const b = await CausalLM.load(`${dir}/sharded`);
    const ids = [1, 7, 3, 39, 0, 12];
    const want = logProbs(model, ids);
    assertEquals(logProbs(a, ids), want);
    assertEquals(logProbs(b, ids), want);
    assertEquals(JSON.parse(await Deno.readTextFile(`${dir}/single/config.json`)), QWEN2);
    assertEquals((await loadModelConfig(`${dir}/sharded`)).raw, QWEN2);
    // the HF layout on disk: q_proj is [out, in]
    const w = await readSafetensorsDir(`${dir}/single`);
    assertEquals(w.get("model.layers.0.self_attn.q_proj.weight")!.shape, [16, 16]);
    assertEquals(w.get("model.layers.0.mlp.down_proj.weight")!.shape, [16, 24]);
    assertEquals(w.get("lm_head.weight")!.shape, [40, 16]);
    // BF16 save loads back within bf16 precision
    await model.save(`${dir}/bf16`, { dtype: "BF16" });
    const c = await CausalLM.load(`${dir}/bf16`);
    assertClose(logProbs(c, ids), want, 0.05);
    for (const m of [model, a, b, c]) m.dispose();
  });
});

Deno.test("checkpoint/config mismatches: shape, missing and unexpected tensors are named", async () => {
  await withDir(async (dir) => {
    const cfg = parseModelConfig(QWEN2, "q");
    await Deno.writeTextFile(`${dir}/config.json`, JSON.stringify(QWEN2));
    const w = randomWeights(cfg, 1);
    w.set("model.layers.1.mlp.up_proj.weight", { shape: [24, 15], data: new Float32Array(24 * 15) });
    await writeSafetensorsDir(dir, w, { dtype: "F32" });
    await assertRejects(
      () => CausalLM.load(dir),
      MaxentError,
      `"model.layers.1.mlp.up_proj.weight"`,
      "[24,15]",
      "[24,16]",
    );
    const w2 = randomWeights(cfg, 1);
    w2.delete("model.layers.0.self_attn.k_proj.bias");
    await writeSafetensorsDir(dir, w2, { dtype: "F32" });
    await assertRejects(() => CausalLM.load(dir), MaxentError, `lacks tensor "model.layers.0.self_attn.k_proj.bias"`);
    const w3 = randomWeights(cfg, 1);
    w3.set("model.layers.2.input_layernorm.weight", { shape: [16], data: new Float32Array(16) });
    await writeSafetensorsDir(dir, w3, { dtype: "F32" });
    await assertRejects(() => CausalLM.load(dir), MaxentError, `unexpected tensor "model.layers.2.input_layernorm`);
    // a tied model ignores a stored lm_head.weight (some checkpoints carry it)
    const tied = { ...QWEN2, tie_word_embeddings: true };
    await Deno.writeTextFile(`${dir}/config.json`, JSON.stringify(tied));
    await writeSafetensorsDir(dir, randomWeights(cfg, 1), { dtype: "F32" });
    const m = await CausalLM.load(dir);
    assertEquals(m.weights.has("lm_head.weight"), false);
    m.dispose();
    await Deno.writeTextFile(`${dir}/config.json`, "{ not json");
    await assertRejects(() => CausalLM.load(dir), MaxentError, "config.json", "invalid JSON");
  });
});
