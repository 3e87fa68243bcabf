/**
 * The fast kernels of src/backend/fast_kernels.ts and the wasm UnsortedSegmentSum against the stock tfjs kernels on
 * random inputs (broadcasting, odd and empty sizes, every axis pattern), to 1e-5 relative, without tensor leaks.
 */
import * as tf from "@tensorflow/tfjs";
import "@tensorflow/tfjs-backend-wasm";
import { assert, assertEquals } from "./assert.ts";
import { fastKernelNames, registerFastKernels } from "../src/backend/fast_kernels.ts";
import { registerWasmUnsortedSegmentSum } from "../src/backend/segment_sum.ts";

const opts = { sanitizeResources: false, sanitizeOps: false };

function rand(shape: number[], seed: number, lo = -1, hi = 1): tf.Tensor {
  const n = shape.reduce((a, b) => a * b, 1);
  const v = new Float32Array(n);
  let s = seed >>> 0 || 1;
  for (let i = 0; i < n; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    v[i] = lo + (hi - lo) * (s / 2 ** 32);
  }
  return tf.tensor(v, shape);
}

function assertRelClose(actual: ArrayLike<number>, expected: ArrayLike<number>, tol: number, msg: string) {
  assertEquals(actual.length, expected.length, `${msg}: length`);
  for (let i = 0; i < expected.length; i++) {
    const d = Math.abs(actual[i] - expected[i]);
    if (!(d <= tol * Math.max(1, Math.abs(expected[i])))) {
      throw new Error(`${msg} [${i}]: ${actual[i]} vs ${expected[i]} (|Δ| = ${d})`);
    }
  }
}

/** Named computations covering each replaced kernel; each returns one tensor. */
function cases(): [string, () => tf.Tensor][] {
  const out: [string, () => tf.Tensor][] = [];
  let seed = 100;
  const r = (shape: number[], lo = -1, hi = 1) => rand(shape, seed++, lo, hi);
  // Sum: contiguous axis blocks, keepDims, non-contiguous axes (stock fallback), empty dims.
  for (
    const [shape, axis, keep] of [
      [[37, 19], 0, false],
      [[37, 19], 1, false],
      [[37, 19], [0, 1], true],
      [[2, 3, 4, 5], [1, 2], false],
      [[2, 3, 4, 5], 3, true],
      [[2, 3, 4, 5], [0, 2], false],
      [[2, 3, 4, 5], -1, false],
      [[7], 0, false],
      [[0, 3], 0, false],
      [[4, 1, 3], 1, false],
    ] as [number[], number | number[], boolean][]
  ) out.push([`sum ${shape} axis ${axis} keep ${keep}`, () => tf.sum(r(shape), axis, keep)]);
  out.push(["sum int32", () => tf.sum(tf.tensor([[1, 2], [3, 4]], [2, 2], "int32"), 0)]);
  // Broadcasting binary ops.
  const pairs: [number[], number[]][] = [
    [[3, 4], [3, 4]],
    [[3, 4], [4]],
    [[4], [3, 4]],
    [[3, 4], [3, 1]],
    [[2, 1, 4], [3, 1]],
    [[3, 4], []],
    [[], [3, 4]],
    [[1], [5]],
    [[2, 3, 4], [2, 1, 4]],
    [[2, 3, 1, 5], [1, 3, 4, 1]],
    [[0, 3], [3]],
    [[8, 4, 16, 16], [16, 16]],
  ];
  for (const op of ["add", "sub", "mul", "div"] as const) {
    for (const [a, b] of pairs) {
      out.push([`${op} ${JSON.stringify(a)} ${JSON.stringify(b)}`, () => tf[op](r(a), r(b, 0.5, 2))]);
    }
  }
  out.push(["add int32", () => tf.add(tf.tensor([1, 2], [2], "int32"), tf.tensor([3], [1], "int32"))]);
  // Unary ops.
  out.push(["sigmoid", () => tf.sigmoid(r([5, 33], -8, 8))]);
  out.push(["sqrt", () => tf.sqrt(r([5, 33], 0, 4))]);
  out.push(["rsqrt", () => tf.rsqrt(r([5, 33], 0.1, 4))]);
  out.push(["exp", () => tf.exp(r([5, 33], -5, 5))]);
  out.push(["square", () => tf.square(r([5, 33]))]);
  out.push(["neg", () => tf.neg(r([5, 33]))]);
  out.push(["exp int32", () => tf.exp(tf.tensor([1, 2], [2], "int32"))]);
  // Softmax over the last axis, incl. large logits and a width-1 axis.
  out.push(["softmax [5,17]", () => tf.softmax(r([5, 17], -3, 3))]);
  out.push(["softmax [2,3,1]", () => tf.softmax(r([2, 3, 1]))]);
  out.push(["softmax [4,1000] ×30", () => tf.softmax(r([4, 1000], -30, 30))]);
  // Transpose with every permutation of rank 3 and some of rank 4.
  for (const perm of [[0, 1, 2], [0, 2, 1], [1, 0, 2], [1, 2, 0], [2, 0, 1], [2, 1, 0]]) {
    out.push([`transpose [2,3,4] ${perm}`, () => tf.transpose(r([2, 3, 4]), perm)]);
  }
  out.push(["transpose [2,3,4,5] 0213", () => tf.transpose(r([2, 3, 4, 5]), [0, 2, 1, 3])]);
  out.push(["transpose [2,3,4,5] 3120", () => tf.transpose(r([2, 3, 4, 5]), [3, 1, 2, 0])]);
  out.push(["transpose [1,7]", () => tf.transpose(r([1, 7]))]);
  // Identity / Cast.
  out.push(["clone", () => tf.clone(r([3, 5]))]);
  out.push(["cast f32→f32", () => tf.cast(r([3, 5]), "float32")]);
  out.push(["cast f32→i32", () => tf.cast(r([3, 5], -9, 9), "int32")]);
  out.push(["cast i32→f32", () => tf.cast(tf.tensor([1, -2, 3], [3], "int32"), "float32")]);
  return out;
}

function runAll(): { shape: number[]; dtype: string; values: number[] }[] {
  return cases().map(([, f]) =>
    tf.tidy(() => {
      const t = f();
      return { shape: t.shape, dtype: t.dtype, values: Array.from(t.dataSync() as ArrayLike<number>) };
    })
  );
}

for (const backend of ["wasm", "cpu"] as const) {
  Deno.test(
    `${backend}: fast kernels (${fastKernelNames(backend).join(", ")}) match the stock kernels`,
    opts,
    async () => {
      if (backend === "wasm") registerWasmUnsortedSegmentSum();
      await tf.setBackend(backend);
      const stock = runAll();
      const before = fastKernelNames(backend).map((k) => tf.getKernel(k, backend)?.kernelFunc);
      const swaps = registerFastKernels(backend);
      try {
        fastKernelNames(backend).forEach((k, i) =>
          assert(tf.getKernel(k, backend)?.kernelFunc !== before[i], `${k} not replaced`)
        );
        const start = tf.memory().numTensors;
        const fast = runAll();
        assertEquals(tf.memory().numTensors, start, "tensor leak");
        const names = cases().map(([n]) => n);
        fast.forEach((f, i) => {
          assertEquals(f.shape, stock[i].shape, `${names[i]}: shape`);
          assertEquals(f.dtype, stock[i].dtype, `${names[i]}: dtype`);
          assertRelClose(f.values, stock[i].values, 1e-5, `${backend} ${names[i]}`);
        });
        // Shared data (Identity/Cast) stays valid after the sharing tensor is disposed, and vice versa.
        const x = tf.tensor([1, 2, 3]);
        const y = tf.clone(x);
        const z = tf.cast(x, "float32");
        y.dispose();
        assertEquals(Array.from(x.dataSync()), [1, 2, 3]);
        x.dispose();
        assertEquals(Array.from(z.dataSync()), [1, 2, 3]);
        z.dispose();
        assertEquals(tf.memory().numTensors, start, "tensor leak after sharing");
      } finally {
        for (const s of swaps) s.restore();
      }
    },
  );
}

Deno.test("wasm: UnsortedSegmentSum (the embedding gradient) matches the cpu kernel", opts, async () => {
  const ids = [3, 0, 3, 5, -1, 1, 0, 3];
  const compute = () =>
    tf.tidy(() => {
      const x = rand([8, 6], 7);
      const a = tf.unsortedSegmentSum(x, tf.tensor1d(ids, "int32"), 6).arraySync();
      // The gradient of gather: rows of dL/dE add up per token id.
      const table = rand([6, 4], 8);
      const g = tf.grad((e: tf.Tensor) => tf.gather(e, tf.tensor1d([1, 4, 1, 0], "int32")).mul(rand([4, 4], 9)).sum())(
        table,
      );
      return [a, g.arraySync()];
    });
  await tf.setBackend("cpu");
  const want = compute();
  registerWasmUnsortedSegmentSum();
  await tf.setBackend("wasm");
  const start = tf.memory().numTensors;
  const got = compute();
  assertEquals(tf.memory().numTensors, start, "tensor leak");
  assertRelClose((got[0] as number[][]).flat(), (want[0] as number[][]).flat(), 1e-6, "segment sum");
  assertRelClose((got[1] as number[][]).flat(), (want[1] as number[][]).flat(), 1e-6, "gather gradient");
  assert((want[1] as number[][])[2].every((v) => v === 0), "rows of unused ids get zero gradient");
  await tf.setBackend("cpu");
});

Deno.test("fused AdamW (MaxentAdamW) matches the op-by-op formula on wasm and cpu", opts, async () => {
  const { adamWUpdate, registerAdamW, ADAMW_KERNEL } = await import("../src/backend/adamw.ts");
  const s = {
    beta1: 0.9,
    beta2: 0.95,
    epsilon: 1e-8,
    stepSize: 0.01 / (1 - 0.9 ** 3),
    bc2Sqrt: Math.sqrt(1 - 0.95 ** 3),
  };
  for (const backend of ["wasm", "cpu"] as const) {
    await tf.setBackend(backend);
    registerAdamW(backend);
    assert(tf.getKernel(ADAMW_KERNEL, backend) !== undefined);
    for (const [shape, decay] of [[[37, 5], 0.999], [[1], 1], [[0, 3], 1]] as [number[], number][]) {
      const start = tf.memory().numTensors;
      const [p, g, m] = [1, 2, 3].map((k) => rand(shape, k * 17 + shape.length));
      const v = tf.tidy(() => rand(shape, 99, 0, 0.1));
      const step = { ...s, decay };
      const fused = adamWUpdate(p, g, m, v, step);
      // m' = β1·m + (1 − β1)·g;  v' = β2·v + (1 − β2)·g²;  p' = p·decay − stepSize · m' / (√v' / bc2Sqrt + ε)
      const want = tf.tidy(() => {
        const m1 = m.mul(s.beta1).add(g.mul(1 - s.beta1));
        const v1 = v.mul(s.beta2).add(g.square().mul(1 - s.beta2));
        const p1 = p.mul(decay).sub(m1.div(v1.sqrt().div(s.bc2Sqrt).add(s.epsilon)).mul(s.stepSize));
        return [p1, m1, v1];
      });
      fused.forEach((t, i) => {
        assertEquals(t.shape, shape);
        assertRelClose(t.dataSync(), want[i].dataSync(), 1e-5, `${backend} AdamW ${shape} output ${i}`);
      });
      tf.dispose([...fused, ...want, p, g, m, v]);
      assertEquals(tf.memory().numTensors, start, "tensor leak");
    }
  }
  await tf.setBackend("cpu");
});
