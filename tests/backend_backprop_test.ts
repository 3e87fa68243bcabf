/**
 * The freeing backward pass (src/backend/backprop.ts) against tfjs's own `Engine.gradients`, run back to back in one
 * process: bit-identical gradients and values (a tiny tied-embedding transformer, full fine-tuning, LoRA with
 * dropout, gradient checkpointing; tf.grads with dy, tf.valueAndGrads, tf.customGrad, a customGrad passing its dy
 * through, second-order tf.grad of tf.grad, a nested tf.grads inside a gradient function); the same error messages;
 * no tensor leak; and a lower peak of live buffers on a chain whose difference is known by hand.
 */
import { trackBuffers } from "../bench/buffers.ts";
import { trainedLora } from "./lora_helpers.ts";
import * as tf from "@tensorflow/tfjs";
import { assert, assertEquals } from "./assert.ts";
import { MODEL_PRESETS, parseModelConfig } from "../src/model/config.ts";
import { CausalLM, randomWeights } from "../src/model/transformer.ts";
import { type LoraAdapters, namedTrainableVariables } from "../src/model/lora.ts";
import { eagerBackpropInstalled, installEagerBackprop } from "../src/backend/backprop.ts";
import { initBackend } from "../src/backend/init.ts";

await tf.setBackend("cpu");

/** fn with tfjs's own backward, then with the freeing one (left installed, as initBackend does). */
function both<T>(fn: () => T): { stock: T; eager: T } {
  installEagerBackprop(false);
  assert(!eagerBackpropInstalled());
  let stock: T;
  try {
    stock = fn();
  } finally {
    installEagerBackprop(true);
  }
  assert(eagerBackpropInstalled());
  return { stock, eager: fn() };
}

function assertBitEqual(a: ArrayLike<number>, b: ArrayLike<number>, what: string): void {
  assertEquals(a.length, b.length, `${what}: length`);
  for (let i = 0; i < a.length; i++) {
    if (!Object.is(a[i], b[i])) throw new Error(`${what}[${i}]: ${a[i]} (stock) vs ${b[i]} (freeing)`);
  }
}

function host(ts: Array<tf.Tensor | undefined>): Array<number[] | null> {
  const out = ts.map((t) => (t ? Array.from(t.dataSync()) : null));
  tf.dispose(ts.filter((t): t is tf.Tensor => t !== undefined));
  return out;
}

function assertSameHost(a: Array<number[] | null>, b: Array<number[] | null>, what: string): void {
  assertEquals(a.length, b.length);
  for (let i = 0; i < a.length; i++) {
    assertEquals(a[i] === null, b[i] === null, `${what} ${i}: null in one only`);
    if (a[i] && b[i]) assertBitEqual(a[i]!, b[i]!, `${what} ${i}`);
  }
}

// ---- a tiny transformer: tied embedding (the tiny preset), 3 layers ----
const config = parseModelConfig({ ...MODEL_PRESETS.tiny(), num_hidden_layers: 3 }, "tiny-3");
assert(config.tieWordEmbeddings, "the tiny preset should tie the embedding");
const base = randomWeights(config, 7);
const B = 2, T = 10;
const ids = tf.tensor2d(
  Array.from({ length: B }, (_, b) => Array.from({ length: T }, (_, t) => (b * 53 + t * 97) % config.vocabSize)),
  undefined,
  "int32",
);
const mask = tf.tensor2d(
  Array.from({ length: B }, (_, b) => Array.from({ length: T }, (_, t) => (b && t < 2 ? 0 : 1))),
);

function lossAndGrads(model: CausalLM): { loss: number; grads: Map<string, Float32Array> } {
  const names = new Map<string, string>();
  const named = namedTrainableVariables(model);
  for (const [n, v] of named) names.set(v.name, n);
  const { value, grads } = tf.variableGrads(() => {
    const lp = model.tokenLogProbs(ids, mask);
    const w = tf.tensor2d(
      Array.from({ length: B }, (_, b) => Array.from({ length: T - 1 }, (_, t) => 1 + (b + t) % 4)),
    );
    return tf.neg(tf.sum(tf.mul(lp, w))) as tf.Scalar;
  }, [...named.values()]);
  const out = new Map<string, Float32Array>();
  for (const [k, g] of Object.entries(grads)) out.set(names.get(k) ?? k, g.dataSync() as Float32Array);
  const loss = value.dataSync()[0];
  tf.dispose([value, ...Object.values(grads)]);
  return { loss, grads: out };
}

function compareModel(build: () => CausalLM, teardown: (m: CausalLM) => void, checkpointing = false): void {
  const { stock, eager } = both(() => {
    const m = build();
    m.gradientCheckpointing = checkpointing;
    const r = lossAndGrads(m);
    teardown(m);
    return r;
  });
  assert(Object.is(stock.loss, eager.loss), `loss ${stock.loss} vs ${eager.loss}`);
  assertEquals([...eager.grads.keys()].sort(), [...stock.grads.keys()].sort());
  assert(stock.grads.size > 0);
  for (const [name, g] of stock.grads) {
    assert(g.some((v) => v !== 0), `${name}: zero gradient, the comparison would be vacuous`);
    assertBitEqual(g, eager.grads.get(name)!, name);
  }
}

function withLora(dropout: number): () => CausalLM {
  return () => {
    const m = CausalLM.fromTensors(config, base, { trainable: false });
    trainedLora(m, { dropout, seed: 3, bSeed: 41, baseModel: "tiny-3" });
    return m;
  };
}

const dropLora = (m: CausalLM) => {
  (m.adapter as LoraAdapters).dispose();
  m.dispose();
};

Deno.test("backprop: full fine-tuning of a tied-embedding transformer, gradients bit-identical to tfjs's", () => {
  compareModel(() => CausalLM.fromTensors(config, base, { trainable: true }), (m) => m.dispose());
});

Deno.test("backprop: LoRA with dropout, gradients bit-identical to tfjs's", () => {
  compareModel(withLora(0.2), dropLora);
});

Deno.test("backprop: with gradient checkpointing (a backward inside a gradient function), bit-identical", () => {
  compareModel(() => CausalLM.fromTensors(config, base, { trainable: true }), (m) => m.dispose(), true);
  compareModel(withLora(0.2), dropLora, true);
});

Deno.test("backprop: tf.grads with dy, valueAndGrads, customGrad, second order and nested tf.grads: identical", () => {
  const a = tf.tensor2d([[0.3, -1.2, 2.0], [0.7, 0.1, -0.4]]);
  const b = tf.tensor2d([[1.5, -0.2], [0.4, 0.9], [-1.1, 0.6]]);
  const dy = tf.tensor2d([[1, -2], [0.5, 3]]);
  const before = tf.memory().numTensors;
  // shared subexpressions (a used three times), several outputs' gradients accumulated
  const f = (x: tf.Tensor, w: tf.Tensor) => {
    const h = tf.tanh(tf.matMul(x as tf.Tensor2D, w as tf.Tensor2D));
    return tf.add(tf.mul(h, tf.sum(tf.square(x))), tf.matMul(tf.sigmoid(x) as tf.Tensor2D, w as tf.Tensor2D));
  };
  const r1 = both(() => host(tf.grads(f)([a, b], dy)));
  assertSameHost(r1.stock, r1.eager, "tf.grads");
  const r2 = both(() => {
    const { value, grads } = tf.valueAndGrads((x: tf.Tensor) => tf.sum(f(x, b)))([a]);
    return host([value, ...grads]);
  });
  assertSameHost(r2.stock, r2.eager, "valueAndGrads");
  // customGrad whose gradient hands dy on unchanged (straight-through), and one that computes
  const ste = tf.customGrad(((x: tf.Tensor) => ({ value: tf.round(x), gradFunc: (g: tf.Tensor) => g })) as never) as (
    x: tf.Tensor,
  ) => tf.Tensor;
  const cube = tf.customGrad(
    ((x: tf.Tensor, save: tf.GradSaveFunc) => {
      save([x]);
      return {
        value: tf.pow(x, 3),
        gradFunc: (g: tf.Tensor, [xs]: tf.Tensor[]) => tf.mul(g, tf.mul(3, tf.square(xs))),
      };
    }) as never,
  ) as (x: tf.Tensor) => tf.Tensor;
  const r3 = both(() => host(tf.grads((x: tf.Tensor) => tf.sum(tf.mul(cube(ste(tf.mul(x, 2))), ste(x))))([a])));
  assertSameHost(r3.stock, r3.eager, "customGrad");
  // second order: d²/dx² Σ x³·sin(x) (the inner backward is recorded on the outer tape)
  const g2 = (x: tf.Tensor) => tf.sum(tf.mul(tf.pow(x, 3), tf.sin(x)));
  const r4 = both(() => host([tf.grad((x: tf.Tensor) => tf.sum(tf.grad(g2)(x)))(a)]));
  assertSameHost(r4.stock, r4.eager, "second order");
  assert(r4.eager[0]!.some((v) => v !== 0));
  // tf.grads inside a customGrad's gradient function (as a recomputing checkpoint does with tfjs's API)
  const recompute = tf.customGrad(
    ((x: tf.Tensor, save: tf.GradSaveFunc) => {
      save([x]);
      return {
        value: tf.tidy(() => tf.exp(tf.sin(x))),
        gradFunc: (g: tf.Tensor, [xs]: tf.Tensor[]) => tf.grads((u: tf.Tensor) => tf.exp(tf.sin(u)))([xs], g)[0],
      };
    }) as never,
  ) as (x: tf.Tensor) => tf.Tensor;
  // (tfjs's own backward fails here: the inner call replaces and then nulls the engine's tape, and the outer one's
  // clean-up reads `activeTape.forEach` of null; the freeing one keeps its tape aside) — same values as the plain chain
  const r5 = host(tf.grads((x: tf.Tensor) => tf.sum(tf.mul(recompute(tf.square(x)), x)))([a]));
  const r5ref = host(tf.grads((x: tf.Tensor) => tf.sum(tf.mul(tf.exp(tf.sin(tf.square(x))), x)))([a]));
  assertSameHost(r5ref, r5, "nested tf.grads vs the plain chain");
  // allowNoGradients: a variable f does not use gets none, both ways
  const [v1, v2] = tf.tidy(() => [tf.variable(tf.scalar(2)), tf.variable(tf.scalar(5))]);
  const r6 = both(() => {
    const { value, grads } = tf.variableGrads(() => tf.mul(v1, v1) as tf.Scalar, [v1, v2]);
    return [Object.keys(grads).length, ...host([value, grads[v1.name]])];
  });
  assertEquals(r6.eager, r6.stock);
  assertEquals(r6.eager[0], 1);
  tf.dispose([v1, v2]);
  assertEquals(tf.memory().numTensors, before, "tensors leaked");
  tf.dispose([a, b, dy]);
});

/** Message of what fn throws ("" if nothing). */
function thrown(fn: () => unknown): string {
  try {
    fn();
  } catch (e) {
    return (e as Error).message;
  }
  return "";
}

Deno.test("backprop: the same errors as tfjs's", () => {
  const x = tf.tensor1d([1, 2, 3]);
  const other = tf.tensor1d([4, 5, 6]);
  const engine = () =>
    tf.engine() as unknown as { gradients(f: () => unknown, xs: tf.Tensor[], dy?: tf.Tensor): never };
  const wrongShape = tf.customGrad(
    ((u: tf.Tensor) => ({ value: tf.neg(u), gradFunc: () => tf.zeros([2]) })) as never,
  ) as (
    u: tf.Tensor,
  ) => tf.Tensor;
  const wrongDtype = tf.customGrad(
    ((u: tf.Tensor) => ({
      value: tf.neg(u),
      gradFunc: () => tf.zeros([3], "int32"),
    })) as never,
  ) as (u: tf.Tensor) => tf.Tensor;
  const cases: Array<[string, () => unknown]> = [
    ["empty xs", () => engine().gradients(() => tf.sum(x), [])],
    ["int dy", () => tf.grads((u: tf.Tensor) => tf.neg(u))([x], tf.tensor1d([1, 1, 1], "int32"))],
    ["y not a tensor", () => engine().gradients(() => 3, [x])],
    ["y independent of x", () => tf.grads(() => tf.sum(other))([x])],
    ["an op without a gradient", () => tf.grads((u: tf.Tensor) => tf.sum(tf.topk(u, 2).values))([x])],
    ["gradient of the wrong shape", () => tf.grads((u: tf.Tensor) => tf.sum(wrongShape(u)))([x])],
    ["gradient of the wrong dtype", () => tf.grads((u: tf.Tensor) => tf.sum(wrongDtype(u)))([x])],
  ];
  for (const [what, fn] of cases) {
    const { stock, eager } = both(() => thrown(fn));
    assert(stock !== "", `${what}: tfjs threw nothing`);
    assertEquals(eager, stock, what);
  }
  // (a failed backward leaves its tape to the next one, in tfjs too)
  tf.dispose([x, other]);
});

/**
 * dx of Σ op^K(x) by tf.grads (each intermediate disposed in the forward as soon as the next is made) and the peak of
 * live buffer bytes during it.
 */
function chainGradPeak(op: (t: tf.Tensor) => tf.Tensor, K: number, x: tf.Tensor): { peak: number; v: number[] } {
  const f = (u: tf.Tensor) => {
    let h = u;
    for (let k = 0; k < K; k++) {
      const next = op(h);
      if (h !== u) h.dispose();
      h = next;
    }
    return tf.sum(h);
  };
  const t = trackBuffers();
  const [g] = tf.grads(f)([x]);
  const peak = t.peak();
  t.stop();
  const v = Array.from(g.dataSync());
  g.dispose();
  return { peak, v };
}

Deno.test("backprop: a chain's backward holds two gradients, not one per op (peak live bytes by hand)", () => {
  const N = 1 << 14, K = 12, bytes = 4 * N;
  const x = tf.randomUniform([N], -1, 1, "float32", 1);
  // y = Σ (−1)^K x through K negations, each intermediate disposed in the forward as soon as it is used (Neg keeps
  // nothing for its gradient), so only the gradients are left to differ
  const peakOf = () => chainGradPeak(tf.neg, K, x);
  peakOf(); // warm-up
  const before = tf.memory().numTensors;
  const { stock, eager } = both(peakOf);
  assertBitEqual(stock.v, eager.v, "dx");
  assertEquals(tf.memory().numTensors, before, "tensors leaked");
  // tfjs: Sum's [N] gradient and K negated copies, all live at the end (K + 1 buffers), plus the saved input of Sum.
  // Freeing: a gradient is gone once the next one is made: at most 2 at a time, plus Sum's broadcast temporaries
  // (a ones [N]) and the saved input.
  assert(stock.peak >= (K + 1) * bytes, `stock peak ${stock.peak} < ${(K + 1) * bytes}`);
  assert(eager.peak <= 4 * bytes, `freeing peak ${eager.peak} > ${4 * bytes}`);
  assert(stock.peak - eager.peak >= (K - 3) * bytes, `saved only ${stock.peak - eager.peak} bytes`);
  x.dispose();
});

Deno.test("backprop: saved activations are freed as the backward passes them (a chain of tanh)", () => {
  // Tanh keeps its output for its gradient: K [N] activations live at the start of the backward. tfjs frees them
  // all at the end; the freeing pass frees each after its node's gradient, so the live bytes fall as it goes.
  const N = 1 << 14, K = 10, bytes = 4 * N;
  const x = tf.randomUniform([N], -1, 1, "float32", 2);
  const run = () => chainGradPeak(tf.tanh, K, x);
  run();
  const before = tf.memory().numTensors;
  const { stock, eager } = both(run);
  assertBitEqual(stock.v, eager.v, "dx");
  assertEquals(tf.memory().numTensors, before, "tensors leaked");
  // Both peak-count K activations, Sum's gradient and the ones [N] its gradient function makes eagerly (held to the
  // end by both). tfjs then holds each tanh's dx too, and makes its dx from 2 [N] temporaries (1 − y², then the
  // product): K + 2 + K + 2 at the last node. Freeing: the first tanh's gradient (dy, 2 temporaries, dx) is the peak,
  // K + 2 + 3, and each later node has freed an activation and a gradient before it allocates.
  assert(stock.peak >= (2 * K + 4) * bytes, `stock peak ${stock.peak} < ${(2 * K + 4) * bytes}`);
  assert(eager.peak <= (K + 5) * bytes + 64, `freeing peak ${eager.peak} > ${(K + 5) * bytes}`);
  x.dispose();
});

Deno.test("backprop: initBackend installs it (MAXENT_EAGER_BACKPROP=0 does not); on wasm + BLAS bit-identical too", async () => {
  const prev = Deno.env.get("MAXENT_EAGER_BACKPROP");
  try {
    Deno.env.set("MAXENT_EAGER_BACKPROP", "0");
    await initBackend("cpu");
    assert(!eagerBackpropInstalled(), "MAXENT_EAGER_BACKPROP=0 should keep tfjs's backward");
    Deno.env.delete("MAXENT_EAGER_BACKPROP");
    await initBackend("wasm"); // the bench's backend, with its BLAS matmuls, fused LM head and in-place kernels
    assert(eagerBackpropInstalled());
    compareModel(() => CausalLM.fromTensors(config, base, { trainable: true }), (m) => m.dispose());
    compareModel(withLora(0.2), dropLora);
  } finally {
    if (prev === undefined) Deno.env.delete("MAXENT_EAGER_BACKPROP");
    else Deno.env.set("MAXENT_EAGER_BACKPROP", prev);
    await initBackend("cpu");
  }
});
