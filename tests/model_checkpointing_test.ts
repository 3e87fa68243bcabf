/**
 * Gradient checkpointing (src/model/checkpointing.ts, `CausalLM.gradientCheckpointing`): gradients and loss equal
 * those of the plain backward (full fine-tuning; LoRA; LoRA with dropout under a fixed seed, where the recomputation
 * must replay the same masks); only trainable variables get gradients; no tensor leak; the live tensor buffers at the
 * end of a training forward shrink to ≈ layers × rows × hidden floats plus what the head keeps; the recipe keys and
 * `maxent sft --gradient-checkpointing` turn it on.
 */
import { trackBuffers } from "../bench/buffers.ts";
import { trainedLora } from "./lora_helpers.ts";
import * as tf from "@tensorflow/tfjs";
import { assert, assertEquals, assertThrows } from "./assert.ts";
import { MODEL_PRESETS, parseModelConfig } from "../src/model/config.ts";
import { CausalLM, randomWeights } from "../src/model/transformer.ts";
import { type LoraAdapters, namedTrainableVariables } from "../src/model/lora.ts";
import { checkpoint, isRecordingForBackward } from "../src/model/checkpointing.ts";
import { parseRecipe } from "../src/recipe/load.ts";
import { MaxentError } from "../src/errors.ts";
import { trainSupervised } from "../src/train/sft.ts";

await tf.setBackend("cpu");

const LAYERS = 4;
const config = parseModelConfig({ ...MODEL_PRESETS.tiny(), num_hidden_layers: LAYERS }, "tiny-4");
const base = randomWeights(config, 11);
const B = 3, T = 12;
const ids = tf.tensor2d(
  Array.from({ length: B }, (_, b) => Array.from({ length: T }, (_, t) => (b * 37 + t * 101) % config.vocabSize)),
  undefined,
  "int32",
);
// left padding on the first row
const mask = tf.tensor2d(
  Array.from({ length: B }, (_, b) => Array.from({ length: T }, (_, t) => (b === 0 && t < 3 ? 0 : 1))),
);

function lora(model: CausalLM, dropout: number, seed = 5): LoraAdapters {
  return trainedLora(model, { dropout, seed, bSeed: 99, baseModel: "tiny-4" });
}

/** Loss Σ w_t·log p_t (fixed non-uniform weights) and its gradients by name, as host arrays. */
function lossAndGrads(model: CausalLM): { loss: number; grads: Map<string, Float32Array> } {
  const names = new Map<string, string>();
  const named = namedTrainableVariables(model);
  for (const [n, v] of named) names.set(v.name, n);
  const { value, grads } = tf.variableGrads(() => {
    const lp = model.tokenLogProbs(ids, mask);
    const w = tf.tensor2d(
      Array.from({ length: B }, (_, b) => Array.from({ length: T - 1 }, (_, t) => 1 + ((b + t) % 3))),
    );
    return tf.neg(tf.sum(tf.mul(lp, w))) as tf.Scalar;
  }, [...named.values()]);
  const out = new Map<string, Float32Array>();
  for (const [k, g] of Object.entries(grads)) out.set(names.get(k) ?? k, g.dataSync() as Float32Array);
  const loss = value.dataSync()[0];
  value.dispose();
  for (const g of Object.values(grads)) g.dispose();
  return { loss, grads: out };
}

/** max |a − b| / max(max |b|, tiny) over every gradient: relative error. */
function assertSameGrads(a: Map<string, Float32Array>, b: Map<string, Float32Array>, tol = 1e-5): void {
  assertEquals([...a.keys()].sort(), [...b.keys()].sort());
  for (const [name, ga] of a) {
    const gb = b.get(name)!;
    let diff = 0, scale = 0;
    for (let i = 0; i < ga.length; i++) {
      diff = Math.max(diff, Math.abs(ga[i] - gb[i]));
      scale = Math.max(scale, Math.abs(gb[i]));
    }
    assert(scale > 0, `${name}: zero gradient, the comparison would be vacuous`);
    assert(diff <= tol * scale, `${name}: max |Δ| ${diff} > ${tol} × ${scale}`);
  }
}

function compare(build: () => CausalLM, teardown: (m: CausalLM) => void): void {
  const run = (ckpt: boolean) => {
    const m = build();
    m.gradientCheckpointing = ckpt;
    const r = lossAndGrads(m);
    const calls = m.adapter?.dropoutCalls;
    teardown(m);
    return { ...r, calls };
  };
  const plain = run(false);
  const ckpt = run(true);
  assert(Math.abs(plain.loss - ckpt.loss) <= 1e-6 * Math.abs(plain.loss), `loss ${ckpt.loss} vs ${plain.loss}`);
  assertSameGrads(ckpt.grads, plain.grads);
  // the recomputation rewinds and restores the mask counter: the run continues with the same masks either way
  assertEquals(ckpt.calls, plain.calls);
}

Deno.test("checkpointing: full fine-tuning gradients equal the plain backward's", () => {
  compare(() => CausalLM.fromTensors(config, base, { trainable: true }), (m) => m.dispose());
});

Deno.test("checkpointing: LoRA gradients equal the plain backward's and reach only the adapters", () => {
  let keys: string[] = [];
  compare(() => {
    const m = CausalLM.fromTensors(config, base, { trainable: false });
    lora(m, 0);
    return m;
  }, (m) => {
    keys = [...namedTrainableVariables(m).keys()];
    (m.adapter as LoraAdapters).dispose();
    m.dispose();
  });
  assert(keys.length === LAYERS * 7 * 2 && keys.every((k) => /lora_[AB]\.weight$/.test(k)), keys.join());
});

Deno.test("checkpointing: LoRA with dropout replays the same masks (gradients equal under a fixed seed)", () => {
  compare(() => {
    const m = CausalLM.fromTensors(config, base, { trainable: false });
    lora(m, 0.3, 17);
    return m;
  }, (m) => {
    (m.adapter as LoraAdapters).dispose();
    m.dispose();
  });
  // and the masks matter: another seed changes the gradients (so equal gradients above are not vacuous)
  const g = (seed: number) => {
    const m = CausalLM.fromTensors(config, base, { trainable: false });
    const ad = lora(m, 0.3, seed);
    m.gradientCheckpointing = true;
    const r = lossAndGrads(m);
    ad.dispose();
    m.dispose();
    return r.loss;
  };
  assert(g(17) !== g(18), "dropout seed has no effect");
});

Deno.test("checkpointing: frozen base weights stay out of the gradient computation (full model frozen, no variables)", () => {
  // a checkpointed block with no trainable variable still passes dx through (here to the input)
  const w = tf.variable(tf.randomNormal([5, 5], 0, 1, "float32", 3), false);
  const x = tf.randomNormal([4, 5], 0, 1, "float32", 4);
  const f = (xi: tf.Tensor) => tf.tanh(tf.matMul(xi as tf.Tensor2D, w as unknown as tf.Tensor2D));
  const dPlain = tf.grad((xi: tf.Tensor) => tf.sum(f(xi)))(x);
  const dCkpt = tf.grad((xi: tf.Tensor) => tf.sum(checkpoint((a) => f(a), xi, [], [])))(x);
  assertSameGrads(
    new Map([["x", dCkpt.dataSync() as Float32Array]]),
    new Map([["x", dPlain.dataSync() as Float32Array]]),
  );
  assertEquals(isRecordingForBackward(), false);
  tf.dispose([w, x, dPlain, dCkpt]);
});

Deno.test("checkpointing: no tensor leak, and outside a gradient tape it is the plain forward", () => {
  const m = CausalLM.fromTensors(config, base, { trainable: false });
  const ad = lora(m, 0.1);
  m.gradientCheckpointing = true;
  lossAndGrads(m); // warm up (kernels' one-time tensors)
  const before = tf.memory().numTensors;
  for (let i = 0; i < 2; i++) lossAndGrads(m);
  assertEquals(tf.memory().numTensors, before);
  // inference (no tape): identical log-probs with the flag on or off, and no dropout drawn
  const calls = ad.dropoutCalls;
  const on = tf.tidy(() => Array.from(m.tokenLogProbs(ids, mask).dataSync()));
  m.gradientCheckpointing = false;
  const off = tf.tidy(() => Array.from(m.tokenLogProbs(ids, mask).dataSync()));
  assertEquals(on, off);
  assertEquals(ad.dropoutCalls, calls);
  ad.dispose();
  m.dispose();
});

Deno.test("checkpointing: a training forward keeps ≈ layers × rows × hidden floats instead of every activation", () => {
  const m = CausalLM.fromTensors(config, base, { trainable: false });
  const ad = lora(m, 0.1);
  const kept = (ckpt: boolean) => {
    m.gradientCheckpointing = ckpt;
    const bytes = trackBuffers();
    let atEnd = 0;
    try {
      const { value, grads } = tf.variableGrads(() => {
        const lp = m.tokenLogProbs(ids, mask);
        atEnd = bytes.live();
        return tf.neg(tf.sum(lp)) as tf.Scalar;
      }, [...namedTrainableVariables(m).values()]);
      tf.dispose([value, ...Object.values(grads)]);
    } finally {
      bytes.stop();
    }
    return atEnd;
  };
  const plain = kept(false);
  const ckpt = kept(true);
  const H = config.hiddenSize;
  const inputs = LAYERS * B * T * H * 4; // one saved [B, T, H] input per layer
  // what is not per layer: embedding output, final norm, the head's log-probs and saved rows, masks, RoPE/bias tables
  const perLayerPlain = (plain - ckpt) / LAYERS;
  assert(ckpt >= inputs, `checkpointed forward keeps ${ckpt} B < the ${inputs} B of layer inputs`);
  // the checkpointed forward keeps the layer inputs plus at most one layer's worth of everything else
  assert(ckpt <= inputs + perLayerPlain, `checkpointed ${ckpt} B > ${inputs} + one layer ${perLayerPlain}`);
  assert(plain > 3 * ckpt, `plain forward keeps ${plain} B, checkpointed ${ckpt} B: expected a large saving`);
  ad.dispose();
  m.dispose();
});

Deno.test("checkpointing: recipe keys gradient_checkpointing / _kwargs and sft's option turn it on", async () => {
  const min = "model_name_or_path: m\ndataset_name: d\n";
  const env = { env: {} };
  const on = parseRecipe(
    min + "gradient_checkpointing: true\ngradient_checkpointing_kwargs:\n  use_reentrant: false\n",
    "r.yaml",
    env,
  );
  assertEquals(on.recipe.gradient_checkpointing, true);
  assertEquals(on.recipe.gradient_checkpointing_kwargs, { use_reentrant: false });
  assertEquals(on.warnings.length, 0);
  assertEquals(parseRecipe(min, "r.yaml", env).recipe.gradient_checkpointing, false);
  assertThrows(
    () => parseRecipe(min + "gradient_checkpointing_kwargs:\n  preserve_rng: true\n", "r.yaml", env),
    MaxentError,
    "gradient_checkpointing_kwargs",
  );
  // the SFT loop sets the model's flag (and trains with it: loss finite)
  const m = CausalLM.fromTensors(config, base, { trainable: true });
  const r = await trainSupervised(m, 0, [{ prompt: [1, 2, 3], completion: [4, 5] }], {
    epochs: 1,
    batchSize: 1,
    gradientCheckpointing: true,
    log: () => {},
  });
  assertEquals(m.gradientCheckpointing, true);
  assert(Number.isFinite(r.losses[0]));
  m.dispose();
});

Deno.test("a forward without a gradient tape holds one layer's intermediates at a time, whatever the depth", () => {
  const peakOf = (layers: number) => {
    const cfg = parseModelConfig({ ...MODEL_PRESETS.tiny(), num_hidden_layers: layers }, `tiny-${layers}`);
    const m = CausalLM.fromTensors(cfg, randomWeights(cfg, 4), { trainable: false });
    const bytes = trackBuffers();
    let peak = 0;
    const start = bytes.live();
    try {
      tf.tidy(() => m.tokenLogProbs(ids, mask)).dispose();
      peak = bytes.peak() - start;
    } finally {
      bytes.stop();
      m.dispose();
    }
    return peak;
  };
  const two = peakOf(2), eight = peakOf(8);
  // one layer's hidden output ([B, T, H] floats) is all that may grow with depth; intermediates must not pile up
  const perLayerOut = B * T * config.hiddenSize * 4;
  assert(eight - two <= 6 * perLayerOut, `8 layers peak ${eight} B vs 2 layers ${two} B: intermediates pile up`);
});
