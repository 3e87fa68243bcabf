/**
 * The trainer's AdamW (fused kernel, clipping coefficient folded in, moments and — on wasm — parameters updated in
 * place) against a float64 transcription of torch.optim.AdamW + clip_grad_norm_, on the backends it runs on; state
 * round-trips; in-place updates never leak into tensors or arrays that share the data; the global norm does not
 * depend on the order of the gradient map (a resumed run lists its weights in another order).
 */
import * as tf from "@tensorflow/tfjs";
import { assert, assertClose, assertEquals } from "./assert.ts";
import { initBackend } from "../src/backend/mod.ts";
import { AdamW, clipCoefficient, globalNorm } from "../src/train/optimizer.ts";

const opts = { sanitizeResources: false, sanitizeOps: false };
const BACKENDS = ["cpu", "wasm"] as const;

/**
 * torch.optim.AdamW with clip_grad_norm_ written naively in float64 for named parameters: per step the gradients
 * are scaled by min(1, maxNorm / (‖g‖ + 1e-6)) over all of them, then each parameter is updated.
 */
function naiveAdamW(
  params: Record<string, number[]>,
  grads: Record<string, number[]>[],
  lrs: number[],
  cfg: { b1: number; b2: number; eps: number; wd: number; maxNorm: number },
  decays: (name: string) => boolean,
): Record<string, number[]> {
  const p = Object.fromEntries(Object.entries(params).map(([k, v]) => [k, [...v]]));
  const m = Object.fromEntries(Object.entries(params).map(([k, v]) => [k, v.map(() => 0)]));
  const v = Object.fromEntries(Object.entries(params).map(([k, x]) => [k, x.map(() => 0)]));
  grads.forEach((g, k) => {
    const t = k + 1, lr = lrs[k];
    const norm = Math.sqrt(Object.values(g).flat().reduce((a, x) => a + x * x, 0));
    const coef = cfg.maxNorm > 0 ? Math.min(1, cfg.maxNorm / (norm + 1e-6)) : 1;
    for (const name of Object.keys(p)) {
      const wd = decays(name) ? cfg.wd : 0;
      for (let i = 0; i < p[name].length; i++) {
        const gi = g[name][i] * coef;
        p[name][i] *= 1 - lr * wd;
        m[name][i] = cfg.b1 * m[name][i] + (1 - cfg.b1) * gi;
        v[name][i] = cfg.b2 * v[name][i] + (1 - cfg.b2) * gi * gi;
        const denom = Math.sqrt(v[name][i]) / Math.sqrt(1 - cfg.b2 ** t) + cfg.eps;
        p[name][i] -= (lr / (1 - cfg.b1 ** t)) * m[name][i] / denom;
      }
    }
  });
  return p;
}

/** Deterministic pseudo-random numbers in [lo, hi). */
function rand(n: number, seed: number, lo = -1, hi = 1): number[] {
  let s = seed >>> 0 || 1;
  return Array.from({ length: n }, () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return lo + (hi - lo) * (s / 2 ** 32);
  });
}

/**
 * Clips gradients to a global L2 norm of `maxNorm` (torch clip_grad_norm_): n = √(Σ_i ‖g_i‖²),
 * g ← g · min(1, maxNorm / (n + 1e-6)). Returns the norm before clipping and the (new) gradients; the caller
 * owns the returned tensors, and the inputs are disposed when they are replaced. The clipped-copy form of torch's
 * clip_grad_norm_, the reference for the coefficient that maxent folds into `AdamW.step`.
 */
async function clipByGlobalNorm(
  grads: Map<string, tf.Tensor>,
  maxNorm: number,
): Promise<{ norm: number; grads: Map<string, tf.Tensor> }> {
  const norm = await globalNorm(grads);
  const coef = clipCoefficient(norm, maxNorm);
  if (coef >= 1) return { norm, grads };
  const out = new Map<string, tf.Tensor>();
  for (const [name, g] of grads) {
    out.set(name, tf.tidy(() => g.mul(coef)));
    g.dispose();
  }
  return { norm, grads: out };
}

Deno.test(
  "AdamW with folded clipping matches a float64 transcription of torch's AdamW + clip_grad_norm_",
  opts,
  async () => {
    const shapes: Record<string, number[]> = {
      "layer.weight": [7, 5],
      "layer.bias": [5],
      "norm.weight": [5],
      "embed.weight": [11, 3],
    };
    const init = Object.fromEntries(Object.entries(shapes).map(([k, s], i) => [k, rand(s[0] * (s[1] ?? 1), 10 + i)]));
    // step 1 and 3 clip (large gradients), step 2 does not
    const grads = [3, 0.05, 2].map((scale, k) =>
      Object.fromEntries(
        Object.entries(shapes).map(([name, s], i) => [
          name,
          rand(s[0] * (s[1] ?? 1), 100 * k + i).map((x) => x * scale),
        ]),
      )
    );
    const lrs = [1e-2, 5e-3, 2e-2];
    const cfg = { b1: 0.9, b2: 0.99, eps: 1e-6, wd: 0.1, maxNorm: 1 };
    const want = naiveAdamW(init, grads, lrs, cfg, (n) => !/bias|norm/.test(n));
    for (const backend of BACKENDS) {
      await initBackend(backend);
      const start = tf.memory().numTensors;
      const vars = new Map(
        Object.entries(shapes).map(([k, s]) => [k, tf.tidy(() => tf.variable(tf.tensor(init[k], s)))]),
      );
      const opt = new AdamW(vars, { beta1: cfg.b1, beta2: cfg.b2, epsilon: cfg.eps, weightDecay: cfg.wd });
      for (let k = 0; k < grads.length; k++) {
        const g = new Map(Object.entries(shapes).map(([n, s]) => [n, tf.tensor(grads[k][n], s)]));
        const norm = await globalNorm(g);
        assertClose(norm, Math.sqrt(Object.values(grads[k]).flat().reduce((a, x) => a + x * x, 0)), 1e-6);
        opt.step(g, lrs[k], clipCoefficient(norm, cfg.maxNorm));
        // the gradients are read, not changed
        for (const [n, t] of g) assertEquals(Array.from(t.dataSync()), Array.from(Float32Array.from(grads[k][n])));
        g.forEach((t) => t.dispose());
      }
      for (const [name, v] of vars) assertClose(v.dataSync(), want[name], 2e-6, `${backend} ${name}`);
      opt.dispose();
      vars.forEach((v) => v.dispose());
      assertEquals(tf.memory().numTensors, start, `${backend}: tensor leak`);
    }
    await initBackend("cpu");
  },
);

Deno.test("folding the clip coefficient into AdamW equals clipping a copy first, bit for bit", opts, async () => {
  for (const backend of BACKENDS) {
    await initBackend(backend);
    const cfg = { beta1: 0.9, beta2: 0.999, epsilon: 1e-8, weightDecay: 0.01 };
    const make = () => new Map([["w", tf.variable(tf.tensor(rand(64, 3), [8, 8]))], ["b", tf.variable(tf.zeros([8]))]]);
    const a = make(), b = make();
    const optA = new AdamW(a, cfg), optB = new AdamW(b, cfg);
    for (let k = 0; k < 3; k++) {
      const grads = () => new Map([["w", tf.tensor(rand(64, 7 + k, -5, 5), [8, 8])], ["b", tf.tensor(rand(8, 9 + k))]]);
      const ga = grads();
      optA.step(ga, 1e-3, clipCoefficient(await globalNorm(ga), 0.5));
      ga.forEach((t) => t.dispose());
      const clipped = await clipByGlobalNorm(grads(), 0.5);
      optB.step(clipped.grads, 1e-3);
      clipped.grads.forEach((t) => t.dispose());
    }
    for (const name of ["w", "b"]) {
      assertEquals(Array.from(a.get(name)!.dataSync()), Array.from(b.get(name)!.dataSync()), `${backend} ${name}`);
    }
    for (const o of [optA, optB]) o.dispose();
    [...a.values(), ...b.values()].forEach((v) => v.dispose());
  }
  await initBackend("cpu");
});

Deno.test(
  "AdamW state round-trips: a restored optimiser continues identically; saved state stays put",
  opts,
  async () => {
    for (const backend of BACKENDS) {
      await initBackend(backend);
      const make = () => tf.variable(tf.tensor2d([[1, 2], [3, 4]]));
      const cfg = { beta1: 0.9, beta2: 0.999, epsilon: 1e-8, weightDecay: 0.01 };
      const g = new Map([["w", tf.tensor2d([[0.3, -0.1], [0.2, 0.4]])]]);
      const a = make(), optA = new AdamW(new Map([["w", a]]), cfg);
      optA.step(g, 0.1);
      const saved = await optA.stateTensors();
      const copy = new Map([...saved].map(([k, t]) => [k, Array.from(t.data)]));
      const b = tf.variable(a.clone()), optB = new AdamW(new Map([["w", b]]), cfg);
      optB.loadState(saved, optA.stepCount);
      optA.step(g, 0.05);
      optB.step(g, 0.05);
      assertEquals(Array.from(b.dataSync()), Array.from(a.dataSync()), backend);
      // the moments update in place, but not the arrays handed out for the checkpoint
      for (const [k, t] of saved) assertEquals(Array.from(t.data), copy.get(k)!, `${backend} ${k}`);
      [a, b, ...g.values()].forEach((t) => t.dispose());
      optA.dispose();
      optB.dispose();
    }
    await initBackend("cpu");
  },
);

Deno.test("in-place updates never show through a tensor or array sharing the parameter's data", opts, async () => {
  for (const backend of BACKENDS) {
    await initBackend(backend);
    const init = rand(12, 5);
    const host = Float32Array.from(init);
    // on cpu the variable uses `host` itself; a frozen copy (tf.clone) shares the buffer
    const p = tf.variable(tf.tensor(host, [3, 4]));
    const frozen = tf.clone(p);
    const opt = new AdamW(new Map([["w", p]]), { beta1: 0.9, beta2: 0.999, epsilon: 1e-8, weightDecay: 0 });
    for (let k = 0; k < 3; k++) {
      const g = new Map([["w", tf.tensor(rand(12, 20 + k), [3, 4])]]);
      opt.step(g, 0.1);
      g.forEach((t) => t.dispose());
    }
    assert(Math.abs(p.dataSync()[0] - init[0]) > 0.1, `${backend}: the parameter moved`);
    assertEquals(Array.from(frozen.dataSync()), Array.from(Float32Array.from(init)), `${backend}: frozen copy`);
    assertEquals(Array.from(host), Array.from(Float32Array.from(init)), `${backend}: the caller's array`);
    const before = p.dataSync().slice();
    const read = p.dataSync();
    const g = new Map([["w", tf.ones([3, 4])]]);
    opt.step(g, 0.1);
    assertEquals(Array.from(read), Array.from(before), `${backend}: an array read before the step`);
    [p, frozen, ...g.values()].forEach((t) => t.dispose());
    opt.dispose();
  }
  await initBackend("cpu");
});

Deno.test(
  "the global norm does not depend on the order of the gradient map (resume after a reload)",
  opts,
  async () => {
    for (const backend of BACKENDS) {
      await initBackend(backend);
      const start = tf.memory().numTensors;
      // ‖a‖² = 2^24, ‖b‖² = ‖c‖² = 1: in float32, (2^24 + 1) + 1 = 2^24 but (1 + 1) + 2^24 = 2^24 + 2
      const t = { a: tf.fill([4096], 64), b: tf.tensor1d([1]), c: tf.tensor1d([-1]) };
      const forward = new Map([["a", t.a], ["b", t.b], ["c", t.c]]);
      const reversed = new Map([["c", t.c], ["b", t.b], ["a", t.a]]);
      const n1 = await globalNorm(forward), n2 = await globalNorm(reversed);
      assertEquals(n1, n2, backend);
      assertClose(n1, Math.sqrt(2 ** 24 + 2), 1e-12);
      tf.dispose(Object.values(t));
      assertEquals(tf.memory().numTensors, start, `${backend}: tensor leak`);
    }
    await initBackend("cpu");
  },
);

Deno.test("global-norm clipping scales by max_norm / (norm + 1e-6) and leaves small gradients alone", async () => {
  const before = tf.memory().numTensors;
  const grads = new Map([["a", tf.tensor1d([3, 0])], ["b", tf.tensor1d([0, 4])]]);
  const { norm, grads: clipped } = await clipByGlobalNorm(grads, 1);
  assertClose(norm, 5, 1e-6);
  assertClose(clipped.get("a")!.dataSync(), [3 / (5 + 1e-6), 0], 1e-6);
  assertClose(clipped.get("b")!.dataSync(), [0, 4 / (5 + 1e-6)], 1e-6);
  const small = await clipByGlobalNorm(clipped, 10);
  assertClose(small.grads.get("a")!.dataSync(), clipped.get("a")!.dataSync(), 0);
  small.grads.forEach((t) => t.dispose());
  assertEquals(tf.memory().numTensors, before);
  assertEquals(clipCoefficient(5, 1), 1 / (5 + 1e-6));
  assertEquals(clipCoefficient(0.5, 1), 1);
  assertEquals(clipCoefficient(5, 0), 1);
});
