/**
 * LoRA adapter math and files: a fresh adapter (B = 0) leaves the model unchanged; base + adapter equals the merged
 * weights W + (α/r)·B·A (merged here by a naive loop over PEFT-layout tensors); the reference view is the base model
 * and shares its weights; PEFT names, shapes and adapter_config.json fields; save/load round-trip; gradients reach
 * only adapter variables; seeded dropout only in training passes; modules_to_save; no tensor leak.
 */
import * as tf from "@tensorflow/tfjs";
import { join } from "node:path";
import { assert, assertClose, assertEquals, assertRejects, assertThrows } from "./assert.ts";
import { MODEL_PRESETS, parseModelConfig } from "../src/model/config.ts";
import { CausalLM, randomWeights } from "../src/model/transformer.ts";
import type { HostTensor } from "../src/model/safetensors.ts";
import { readSafetensorsDir } from "../src/model/safetensors.ts";
import {
  adapterFreeView,
  isTargeted,
  LoraAdapters,
  type LoraSettings,
  namedTrainableVariables,
  projectionModules,
} from "../src/model/lora.ts";

await tf.setBackend("cpu");

const config = parseModelConfig(MODEL_PRESETS.tiny(), "tiny");
const base = randomWeights(config, 3);
const settings: LoraSettings = {
  r: 4,
  alpha: 8,
  dropout: 0,
  targetModules: ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"],
  baseModel: "tiny-base",
};
const ids = tf.tensor2d([[0, 0, 5, 9, 17, 3, 44], [1, 2, 3, 4, 5, 6, 7]], undefined, "int32");
const mask = tf.tensor2d([[0, 0, 1, 1, 1, 1, 1], [1, 1, 1, 1, 1, 1, 1]]);

function frozen(weights: Map<string, HostTensor> = base): CausalLM {
  return CausalLM.fromTensors(config, weights, { trainable: false });
}

function logProbs(m: CausalLM): number[] {
  return tf.tidy(() => Array.from(m.tokenLogProbs(ids, mask).dataSync()));
}

/** Fills every lora_B (and A) with seeded non-zero values, as a trained adapter would have. */
function randomize(ad: LoraAdapters, seed: number): void {
  let s = seed >>> 0;
  const r = () => ((s = (Math.imul(s, 1664525) + 1013904223) >>> 0) / 4294967296 * 2 - 1) * 0.2;
  for (const v of [...ad.a.values(), ...ad.b.values()]) {
    tf.tidy(() => v.assign(tf.tensor(Float32Array.from({ length: v.size }, r), v.shape)));
  }
}

Deno.test("a fresh adapter (B = 0) leaves the log-probs exactly equal to the base model's", () => {
  const plain = frozen();
  const model = frozen();
  const ad = LoraAdapters.create(model, settings, 1).attach(model);
  assertEquals(logProbs(model), logProbs(plain));
  // PEFT's init: A ~ U(−1/√in, 1/√in) (kaiming-uniform, a = √5), B = 0
  for (const [mod, a] of ad.a) {
    const fin = a.shape[0];
    const vals = Array.from(a.dataSync());
    const bound = 1 / Math.sqrt(fin);
    assert(vals.every((x) => Math.abs(x) <= bound), `${mod}: A outside ±1/√in`);
    const sd = Math.sqrt(vals.reduce((acc, x) => acc + x * x, 0) / vals.length);
    assertClose(sd, bound / Math.sqrt(3), 0.25 * bound / Math.sqrt(3));
    assert(ad.b.get(mod)!.dataSync().every((x) => x === 0), `${mod}: B not zero`);
  }
  ad.dispose();
  model.dispose();
  plain.dispose();
});

Deno.test("base + adapter equals the merged weights W + (α/r)·B·A (naive merge) to 1e-5", async () => {
  const model = frozen();
  const ad = LoraAdapters.create(model, settings, 2).attach(model);
  randomize(ad, 11);
  const peft = await ad.hostTensors();
  const s = settings.alpha / settings.r;
  const merged = new Map<string, HostTensor>();
  for (const [name, t] of base) {
    const mod = name.replace(/\.weight$/, "");
    const A = peft.get(`base_model.model.${mod}.lora_A.weight`);
    const B = peft.get(`base_model.model.${mod}.lora_B.weight`);
    if (!A || !B) {
      merged.set(name, t);
      continue;
    }
    const [out, inn] = t.shape;
    const r = A.shape[0];
    const data = Float32Array.from(t.data);
    for (let o = 0; o < out; o++) {
      for (let i = 0; i < inn; i++) {
        let acc = 0;
        for (let k = 0; k < r; k++) acc += B.data[o * r + k] * A.data[k * inn + i];
        data[o * inn + i] += s * acc;
      }
    }
    merged.set(name, { shape: t.shape, data });
    // the library's merge gives the same tensor
    const lib = await ad.mergedHostTensor(name, t);
    for (let k = 0; k < data.length; k++) assertClose(lib.data[k], data[k], 1e-6);
  }
  const mergedModel = frozen(merged);
  const got = logProbs(model);
  const want = logProbs(mergedModel);
  assert(got.some((x, i) => Math.abs(x - logProbs(frozen())[i]) > 1e-3), "the adapter should change the model");
  for (let i = 0; i < got.length; i++) assertClose(got[i], want[i], 1e-5);
  ad.dispose();
  model.dispose();
  mergedModel.dispose();
});

Deno.test("the reference view runs the base model without adapters and shares every weight", () => {
  const plain = frozen();
  const model = frozen();
  const ad = LoraAdapters.create(model, settings, 4).attach(model);
  randomize(ad, 5);
  const before = tf.memory().numTensors;
  const ref = adapterFreeView(model);
  assertEquals(tf.memory().numTensors, before);
  assert(ref.weights === model.weights, "the view shares the weights map");
  assertEquals(logProbs(ref), logProbs(plain));
  assert(logProbs(model).some((x, i) => Math.abs(x - logProbs(plain)[i]) > 1e-3));
  assertEquals(ref.trainableVariables().length, 0);
  ref.dispose(); // frees nothing
  assertEquals(tf.memory().numTensors, before);
  assertEquals(logProbs(model).length, logProbs(plain).length);
  // switching the adapters off on the policy itself gives the base too
  ad.enabled = false;
  assertEquals(logProbs(model), logProbs(plain));
  ad.enabled = true;
  ad.dispose();
  model.dispose();
  plain.dispose();
});

Deno.test("PEFT names, shapes and adapter_config.json fields; files round-trip", async () => {
  const dir = await Deno.makeTempDir({ prefix: "maxent-lora-" });
  try {
    const model = frozen();
    const ad = LoraAdapters.create(model, { ...settings, dropout: 0.05, revision: "abc" }, 6).attach(model);
    randomize(ad, 7);
    await ad.save(dir);
    const files = await readSafetensorsDir(dir).catch(() => null);
    assertEquals(files, null); // not a model directory: only the adapter files
    const { readSafetensorsHeader } = await import("../src/model/safetensors.ts");
    const header = await readSafetensorsHeader(join(dir, "adapter_model.safetensors"));
    const H = config.hiddenSize, I = config.intermediateSize, d = config.headDim;
    const kv = config.numKeyValueHeads * d;
    const want = new Map<string, number[]>();
    for (let l = 0; l < config.numHiddenLayers; l++) {
      const p = `base_model.model.model.layers.${l}.`;
      const dims: Array<[string, number, number]> = [
        ["self_attn.q_proj", H, config.numAttentionHeads * d],
        ["self_attn.k_proj", H, kv],
        ["self_attn.v_proj", H, kv],
        ["self_attn.o_proj", config.numAttentionHeads * d, H],
        ["mlp.gate_proj", H, I],
        ["mlp.up_proj", H, I],
        ["mlp.down_proj", I, H],
      ];
      for (const [m, fin, fout] of dims) {
        want.set(`${p}${m}.lora_A.weight`, [4, fin]);
        want.set(`${p}${m}.lora_B.weight`, [fout, 4]);
      }
    }
    assertEquals([...header.tensors.keys()].sort(), [...want.keys()].sort());
    for (const [name, e] of header.tensors) {
      assertEquals(e.shape, want.get(name)!);
      assertEquals(e.dtype, "F32");
    }
    const cfg = JSON.parse(await Deno.readTextFile(join(dir, "adapter_config.json")));
    assertEquals(cfg.peft_type, "LORA");
    assertEquals(cfg.task_type, "CAUSAL_LM");
    assertEquals(cfg.r, 4);
    assertEquals(cfg.lora_alpha, 8);
    assertEquals(cfg.lora_dropout, 0.05);
    assertEquals(cfg.target_modules, ["down_proj", "gate_proj", "k_proj", "o_proj", "q_proj", "up_proj", "v_proj"]);
    assertEquals(cfg.base_model_name_or_path, "tiny-base");
    assertEquals(cfg.revision, "abc");
    assertEquals(cfg.bias, "none");
    assertEquals(cfg.fan_in_fan_out, false);
    assertEquals(cfg.inference_mode, true);
    assertEquals(cfg.init_lora_weights, true);
    assertEquals(cfg.use_rslora, false);
    assertEquals(cfg.use_dora, false);
    assertEquals(cfg.modules_to_save, null);

    // round trip: a second model loads the adapter and scores identically
    const other = frozen();
    const back = (await LoraAdapters.load(dir, other, 6)).attach(other);
    assertEquals(back.settings.r, 4);
    assertEquals(back.settings.dropout, 0.05);
    const h1 = await ad.hostTensors(), h2 = await back.hostTensors();
    for (const [name, t] of h1) assertEquals(Array.from(h2.get(name)!.data), Array.from(t.data));
    assertEquals(logProbs(other), logProbs(model));
    back.dispose();
    other.dispose();
    ad.dispose();
    model.dispose();

    // refusals name the field
    const cfgPath = join(dir, "adapter_config.json");
    await Deno.writeTextFile(cfgPath, JSON.stringify({ ...cfg, use_dora: true }));
    const m2 = frozen();
    await assertRejects(() => LoraAdapters.load(dir, m2), Error, "use_dora");
    await Deno.writeTextFile(cfgPath, JSON.stringify({ ...cfg, r: 8 }));
    await assertRejects(() => LoraAdapters.load(dir, m2), Error, "shape");
    m2.dispose();
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("target modules follow PEFT: list suffixes, a regex string, all-linear (no LM head)", () => {
  const mods = [...projectionModules(config).keys()];
  assertEquals(mods.length, config.numHiddenLayers * 7);
  assertEquals(mods.filter((m) => isTargeted(m, ["q_proj", "v_proj"])).length, 2 * config.numHiddenLayers);
  assertEquals(mods.filter((m) => isTargeted(m, "all-linear")).length, mods.length);
  assertEquals(mods.filter((m) => isTargeted(m, ["all-linear"])).length, mods.length);
  assertEquals(mods.filter((m) => isTargeted(m, ".*\\.1\\.self_attn\\.(q|k)_proj")), [
    "model.layers.1.self_attn.q_proj",
    "model.layers.1.self_attn.k_proj",
  ]);
  assert(!isTargeted("model.layers.0.self_attn.q_proj", ["proj"]));
  const model = frozen();
  assertThrows(() => LoraAdapters.create(model, { ...settings, targetModules: ["c_attn"] }, 1), Error, "match no");
  assertThrows(() => LoraAdapters.create(model, { ...settings, modulesToSave: ["lm_head"] }, 1), Error, "tied");
  model.dispose();
});

Deno.test("gradients reach only the adapter variables; B = 0 gives dA = 0 and dB ≠ 0", () => {
  const model = frozen();
  const ad = LoraAdapters.create(model, settings, 8).attach(model);
  const vars = model.trainableVariables();
  assertEquals(vars.length, 2 * 7 * config.numHiddenLayers);
  assert([...model.weights.values()].every((v) => !v.trainable), "base weights frozen");
  const named = namedTrainableVariables(model);
  assert([...named.keys()].every((n) => /^base_model\.model\..*\.lora_[AB]\.weight$/.test(n)));
  const { value, grads } = tf.variableGrads(() => tf.neg(tf.sum(model.tokenLogProbs(ids, mask))) as tf.Scalar, vars);
  const gotIds = new Set(Object.keys(grads));
  assertEquals(gotIds, new Set(vars.map((v) => v.name)));
  for (const [mod, a] of ad.a) {
    assert(grads[a.name].dataSync().every((x) => x === 0), `${mod}: dA should be 0 while B = 0`);
    assert(grads[ad.b.get(mod)!.name].dataSync().some((x) => x !== 0), `${mod}: dB should be non-zero`);
  }
  value.dispose();
  for (const g of Object.values(grads)) g.dispose();
  ad.dispose();
  model.dispose();
});

Deno.test("the adapter gradient matches a finite difference of the loss", () => {
  const model = frozen();
  const ad = LoraAdapters.create(model, settings, 9).attach(model);
  randomize(ad, 13);
  const b = ad.b.get("model.layers.1.mlp.down_proj")!;
  const loss = () => tf.tidy(() => -tf.sum(model.tokenLogProbs(ids, mask)).dataSync()[0]);
  const { grads, value } = tf.variableGrads(() => tf.neg(tf.sum(model.tokenLogProbs(ids, mask))) as tf.Scalar, [b]);
  const g = grads[b.name].dataSync();
  const idx = 5;
  const h = 1e-2;
  const orig = b.dataSync().slice();
  const at = (delta: number) => {
    const d = orig.slice();
    d[idx] += delta;
    tf.tidy(() => b.assign(tf.tensor(d, b.shape)));
    return loss();
  };
  const fd = (at(h) - at(-h)) / (2 * h);
  tf.tidy(() => b.assign(tf.tensor(orig, b.shape)));
  assertClose(g[idx], fd, 2e-2 * Math.max(1, Math.abs(fd)));
  value.dispose();
  grads[b.name].dispose();
  ad.dispose();
  model.dispose();
});

Deno.test("dropout: only while a gradient is recorded, seeded, and reproducible from dropoutCalls", () => {
  const model = frozen();
  const ad = LoraAdapters.create(model, { ...settings, dropout: 0.5 }, 10).attach(model);
  randomize(ad, 3);
  const vars = model.trainableVariables();
  const trainingLoss = () => {
    const { value, grads } = tf.variableGrads(() => tf.neg(tf.sum(model.tokenLogProbs(ids, mask))) as tf.Scalar, vars);
    for (const g of Object.values(grads)) g.dispose();
    const v = value.dataSync()[0];
    value.dispose();
    return v;
  };
  const evalLoss = () => tf.tidy(() => -tf.sum(model.tokenLogProbs(ids, mask)).dataSync()[0]);
  const e0 = evalLoss();
  assertEquals(ad.dropoutCalls, 0);
  assertEquals(evalLoss(), e0); // no dropout outside training passes
  const start = ad.dropoutCalls;
  const t1 = trainingLoss();
  assertEquals(ad.dropoutCalls - start, 7 * config.numHiddenLayers); // one mask per targeted module
  const t2 = trainingLoss();
  assert(t1 !== e0 && t2 !== t1, "training passes use fresh dropout masks");
  ad.dropoutCalls = start;
  assertEquals(trainingLoss(), t1); // same counter → same masks (exact resume)
  ad.training = false;
  assertClose(trainingLoss(), e0, 1e-4);
  ad.dispose();
  model.dispose();
});

Deno.test("modules_to_save: a trainable copy, used by the policy only, saved under its HF name", async () => {
  const dir = await Deno.makeTempDir({ prefix: "maxent-lora-mts-" });
  try {
    const plain = frozen();
    const model = frozen();
    const ad = LoraAdapters.create(model, { ...settings, modulesToSave: ["embed_tokens"] }, 12).attach(model);
    const emb = ad.saved.get("model.embed_tokens.weight")!;
    assert(emb.trainable && emb !== model.weights.get("model.embed_tokens.weight"));
    tf.tidy(() => emb.assign(tf.mul(emb, 1.5)));
    const ref = adapterFreeView(model);
    assertEquals(logProbs(ref), logProbs(plain));
    assert(logProbs(model).some((x, i) => Math.abs(x - logProbs(plain)[i]) > 1e-4));
    assert(namedTrainableVariables(model).has("base_model.model.model.embed_tokens.weight"));
    await ad.save(dir);
    const cfg = JSON.parse(await Deno.readTextFile(join(dir, "adapter_config.json")));
    assertEquals(cfg.modules_to_save, ["embed_tokens"]);
    const other = frozen();
    const back = (await LoraAdapters.load(dir, other)).attach(other);
    assertEquals(logProbs(other), logProbs(model));
    // merging replaces the saved module's weight
    const m = await back.mergedHostTensor("model.embed_tokens.weight", base.get("model.embed_tokens.weight")!);
    assertClose(m.data[7], base.get("model.embed_tokens.weight")!.data[7] * 1.5, 1e-6);
    back.dispose();
    other.dispose();
    ad.dispose();
    model.dispose();
    plain.dispose();
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("no tensor leak over repeated training and reference passes", () => {
  const model = frozen();
  const empty = tf.memory().numTensors;
  const ad = LoraAdapters.create(model, { ...settings, dropout: 0.1 }, 14).attach(model);
  const ref = adapterFreeView(model);
  const vars = model.trainableVariables();
  const once = () => {
    tf.tidy(() => {
      ref.tokenLogProbs(ids, mask);
    });
    const { value, grads } = tf.variableGrads(() => tf.neg(tf.sum(model.tokenLogProbs(ids, mask))) as tf.Scalar, vars);
    value.dispose();
    for (const g of Object.values(grads)) g.dispose();
  };
  once();
  const before = tf.memory().numTensors;
  for (let i = 0; i < 5; i++) once();
  assertEquals(tf.memory().numTensors, before);
  const n = tf.memory().numTensors;
  ad.dispose();
  assertEquals(tf.memory().numTensors, n - vars.length);
  assertEquals(tf.memory().numTensors, empty);
  model.dispose();
});
