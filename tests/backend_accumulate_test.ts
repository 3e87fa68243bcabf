/**
 * Accumulation into a given-up buffer (src/backend/accumulate.ts) and the tied embedding's single gradient buffer
 * (src/model/logprobs.ts): the same bits as the tfjs ops they replace (Add; ScatterNd then Add), the result written in
 * place only when nothing else references the buffer, no tensor leak, and — for a tied embedding — one [V, H] gradient
 * buffer during the backward pass instead of three.
 */
import * as tf from "@tensorflow/tfjs";
import { assert, assertEquals } from "./assert.ts";
import { initBackend } from "../src/backend/mod.ts";
import { accumulateInto, scatterAddRowsInto } from "../src/backend/accumulate.ts";
import { embeddingLookup, targetLogProbs, TiedEmbeddingGrad } from "../src/model/logprobs.ts";

const opts = { sanitizeResources: false, sanitizeOps: false };
/** "cpu-stock": the cpu backend without maxent's kernels (the tfjs-ops fallbacks). */
const SETUPS = ["cpu", "wasm", "cpu-stock"] as const;

async function setup(name: (typeof SETUPS)[number]): Promise<void> {
  if (name === "cpu-stock") {
    await initBackend("cpu");
    const { restoreStockKernels } = await import("../src/backend/registry.ts");
    restoreStockKernels("cpu");
    // restoreStockKernels drops the BLAS, fast and LM-head kernels; the accumulate kernels are registered directly
    for (const k of ["MaxentAccumulate", "MaxentScatterAddRows"]) {
      if (tf.getKernel(k, "cpu")) tf.unregisterKernel(k, "cpu");
    }
  } else await initBackend(name);
}

function rand(shape: number[], seed: number): tf.Tensor {
  const n = shape.reduce((a, b) => a * b, 1);
  const v = new Float32Array(n);
  let s = seed >>> 0 || 1;
  for (let i = 0; i < n; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    v[i] = (s / 2 ** 32) * 2 - 1;
  }
  return tf.tensor(v, shape);
}

/** The values of a tensor computed by `fn`, disposing everything it made. */
function values(fn: () => tf.Tensor): number[] {
  const t = tf.tidy(fn);
  const out = Array.from(t.dataSync());
  t.dispose();
  return out;
}

Deno.test(
  "accumulateInto and scatterAddRowsInto equal Add and ScatterNd + Add bit for bit, in place only when unshared",
  opts,
  async () => {
    for (const name of SETUPS) {
      await setup(name);
      const start = tf.memory().numTensors;
      // sum + x
      const x = rand([5, 7], 2);
      for (const shared of [false, true]) {
        const sum = tf.tidy(() => tf.mul(rand([5, 7], 1), 3)); // a computed buffer, as gradients are
        const want = values(() => tf.add(sum, x));
        const before = Array.from(sum.dataSync());
        const other = shared ? tf.clone(sum) : null; // shares sum's buffer
        const out = accumulateInto(sum, x);
        assert(sum.isDisposed, `${name}: sum is consumed`);
        assertEquals(Array.from(out.dataSync()), want, `${name} accumulate`);
        if (other) assertEquals(Array.from(other.dataSync()), before, `${name}: a tensor sharing the sum is unchanged`);
        tf.dispose([out, other ?? []].flat());
      }
      x.dispose();
      // base + scatter(rows, index), duplicates included
      const V = 9, H = 4;
      const rows = rand([6, H], 3) as tf.Tensor2D;
      const index = tf.tensor1d([4, 0, 4, 8, 4, 0], "int32");
      for (const shared of [false, true]) {
        const base = tf.tidy(() => tf.mul(rand([V, H], 4), 2)) as tf.Tensor2D;
        const want = values(() => tf.add(base, tf.scatterND(tf.reshape(index, [-1, 1]), rows, [V, H])));
        const before = Array.from(base.dataSync());
        const other = shared ? tf.clone(base) : null;
        const out = scatterAddRowsInto(base, rows, index as tf.Tensor1D);
        assert(base.isDisposed, `${name}: base is consumed`);
        assertEquals(Array.from(out.dataSync()), want, `${name} scatter-add`);
        if (other) {
          assertEquals(
            Array.from(other.dataSync()),
            before,
            `${name}: a tensor sharing the base is unchanged`,
          );
        }
        tf.dispose([out, other ?? []].flat());
      }
      tf.dispose([rows, index]);
      assertEquals(tf.memory().numTensors, start, `${name}: tensor leak`);
    }
    await initBackend("cpu");
  },
);

/**
 * Σ log p of a toy tied model: x = E[ids], h = tanh(x·A), log-softmax over h·Eᵀ at `targets`; with `tie` the
 * lookup and head share one gradient buffer. Returns dE and the most [V, H] buffers live at once during the backward.
 */
function tiedGrad(
  mode: "separate" | "tied" | "frozen" | "frozen-dropped",
  V: number,
  H: number,
): { dE: number[]; dA: number[]; maxVH: number; liveAfterHead: number } {
  const frozen = mode.startsWith("frozen");
  const E = tf.tidy(() => tf.variable(rand([V, H], 11), !frozen)) as tf.Variable<tf.Rank.R2>;
  const A = tf.tidy(() => tf.variable(rand([H, H], 12), true));
  const ids = tf.tensor1d([3, 17, 3, 40, 0, V - 1, 17, 5], "int32");
  const targets = tf.tensor1d([17, 3, 40, 0, V - 1, 17, 5, 3], "int32");
  // count live buffers of shape [V, H] (the engine's per-buffer table, as bench/peer.ts does)
  // deno-lint-ignore no-explicit-any
  const table = (tf.engine() as any).state.tensorInfo as WeakMap<object, { shape: number[] }>;
  const live = new Set<object>();
  let maxVH = 0, liveAfterHead = -1;
  const set = table.set.bind(table), del = table.delete.bind(table);
  table.set = (k, v) => {
    if (!table.has(k) && v.shape.length === 2 && v.shape[0] === V && v.shape[1] === H) {
      live.add(k);
      maxVH = Math.max(maxVH, live.size);
    }
    return set(k, v);
  };
  table.delete = (k) => (live.delete(k), del(k));
  // an identity whose backward (right after the head's) notes the [V, H] buffers then alive
  const probe = tf.customGrad(
    ((x: tf.Tensor, save: tf.GradSaveFunc) => {
      save([]);
      return {
        value: tf.clone(x),
        gradFunc: (dy: tf.Tensor) => {
          liveAfterHead = live.size;
          return [tf.clone(dy)];
        },
      };
      // deno-lint-ignore no-explicit-any
    }) as any,
  );
  try {
    const { value, grads } = tf.variableGrads(() =>
      tf.tidy(() => {
        const tied = mode === "tied" ? new TiedEmbeddingGrad() : undefined;
        const x = embeddingLookup(E, ids, tied);
        const h = probe(tf.tanh(tf.matMul(x, A))) as tf.Tensor2D;
        const headGrad = mode === "frozen-dropped" ? "none" : tied;
        return tf.sum(targetLogProbs(h, E, targets, 1 << 24, headGrad)) as tf.Scalar;
      }), frozen ? [A] : [E, A]);
    const dE = frozen ? [] : Array.from(grads[E.name].dataSync());
    const dA = Array.from(grads[A.name].dataSync());
    tf.dispose([value, ...Object.values(grads).filter((g) => g !== null)]);
    return { dE, dA, maxVH, liveAfterHead };
  } finally {
    delete (table as { set?: unknown }).set;
    delete (table as { delete?: unknown }).delete;
    tf.dispose([E, A, ids, targets]);
  }
}

Deno.test("a tied embedding's gradient is one [V, H] buffer, equal to head dW + lookup scatter", opts, async () => {
  for (const name of SETUPS) {
    await setup(name);
    const start = tf.memory().numTensors;
    const V = 97, H = 6;
    const separate = tiedGrad("separate", V, H);
    const tied = tiedGrad("tied", V, H);
    assertEquals(tied.dE, separate.dE, `${name}: same gradient bits`);
    assertEquals(tied.dA, separate.dA, `${name}: same gradient bits (A)`);
    assert(tied.dE.some((g) => g !== 0));
    // new [V, H] buffers live at once: the gradient alone (without the tie: head dW, scatter and their sum)
    // (the tfjs-ops fallback of the head, without maxent's kernels, makes its own [V, H] temporaries)
    if (name !== "cpu-stock") assertEquals(tied.maxVH, 1, `${name}: [V, H] buffers live at once`);
    assert(separate.maxVH >= 3, `${name}: the untied count ${separate.maxVH} shows what the test measures`);
    assertEquals(tf.memory().numTensors, start, `${name}: tensor leak`);
  }
  await initBackend("cpu");
});

Deno.test('a frozen head weight\'s dW is never made ("none"), not held through the backward pass', opts, async () => {
  for (const name of SETUPS) {
    await setup(name);
    const start = tf.memory().numTensors;
    const kept = tiedGrad("frozen", 97, 6), dropped = tiedGrad("frozen-dropped", 97, 6);
    assertEquals(dropped.dA, kept.dA, `${name}: same gradient bits`);
    assert(dropped.dA.some((g) => g !== 0));
    assert(kept.liveAfterHead >= 1, `${name}: tfjs holds the frozen weight's dW (${kept.liveAfterHead})`);
    assertEquals(dropped.liveAfterHead, 0, `${name}: dropped`);
    // not computed at all: no [V, H] buffer is allocated during the whole backward pass (fused and tfjs-ops paths)
    assertEquals(dropped.maxVH, 0, `${name}: [V, H] buffers allocated with a frozen head`);
    assert(kept.maxVH >= 1, `${name}: the kept count ${kept.maxVH} shows what the test measures`);
    assertEquals(tf.memory().numTensors, start, `${name}: tensor leak`);
  }
  await initBackend("cpu");
});
