/**
 * The fused LM-head log-softmax of src/backend/lm_head.ts against a naive float64 reference (logits, logsumexp,
 * softmax gradient written out), with small blocks so several row blocks and vocabulary tiles (and a ragged last
 * tile) are exercised, and through the registered kernels on wasm and cpu without tensor leaks.
 */
import * as tf from "@tensorflow/tfjs";
import { assert, assertEquals, assertMatch } from "./assert.ts";
import { loadBlas } from "../src/backend/blas.ts";
import { initBackend } from "../src/backend/init.ts";
import { restoreStockKernels } from "../src/backend/registry.ts";
import {
  lmHeadGrad,
  lmHeadGradLoop,
  lmHeadLogProbs,
  lmHeadLogProbsLoop,
  WORKER_MIN_LOGITS,
} from "../src/backend/lm_head.ts";
import { jsRowKernels, simdRowKernels } from "../src/backend/simd_exp.ts";
import {
  IDLE_MS,
  lmHeadHelper,
  lmHeadWorkerDisabled,
  lmHeadWorkerJobs,
  stopLmHeadWorker,
  WorkerHelper,
} from "../src/backend/lm_head_worker.ts";

const opts = { sanitizeResources: false, sanitizeOps: false };

function rand(n: number, seed: number, scale = 1): Float32Array {
  const v = new Float32Array(n);
  let s = seed >>> 0 || 1;
  for (let i = 0; i < n; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    v[i] = scale * (2 * (s / 2 ** 32) - 1);
  }
  return v;
}

/** Naive reference in float64: logp, lse, dh = g·w, dw = gᵀ·h with g = dy·(onehot − softmax). */
function reference(h: Float32Array, w: Float32Array, t: Int32Array, dy: Float32Array, N: number, H: number, V: number) {
  const logp = new Float64Array(N), lse = new Float64Array(N);
  const dh = new Float64Array(N * H), dw = new Float64Array(V * H);
  for (let r = 0; r < N; r++) {
    const x = new Float64Array(V);
    for (let v = 0; v < V; v++) {
      let acc = 0;
      for (let k = 0; k < H; k++) acc += h[r * H + k] * w[v * H + k];
      x[v] = acc;
    }
    let m = -Infinity;
    for (let v = 0; v < V; v++) if (x[v] > m) m = x[v];
    const l = m + Math.log(x.reduce((a, b) => a + Math.exp(b - m), 0));
    lse[r] = l;
    logp[r] = x[t[r]] - l;
    for (let v = 0; v < V; v++) {
      const g = dy[r] * ((v === t[r] ? 1 : 0) - Math.exp(x[v] - l));
      for (let k = 0; k < H; k++) {
        dh[r * H + k] += g * w[v * H + k];
        dw[v * H + k] += g * h[r * H + k];
      }
    }
  }
  return { logp, lse, dh, dw };
}

function assertClose(actual: ArrayLike<number>, expected: ArrayLike<number>, tol: number, msg: string) {
  assertEquals(actual.length, expected.length, `${msg}: length`);
  for (let i = 0; i < expected.length; i++) {
    const d = Math.abs(actual[i] - expected[i]);
    if (!(d <= tol * Math.max(1, Math.abs(expected[i])))) {
      throw new Error(`${msg} [${i}]: ${actual[i]} vs ${expected[i]} (|Δ| = ${d})`);
    }
  }
}

function problem(N: number, H: number, V: number, seed: number) {
  const h = rand(N * H, seed, 2), w = rand(V * H, seed + 1, 2), dy = rand(N, seed + 2);
  const t = Int32Array.from({ length: N }, (_, r) => (r * 7919 + seed) % V);
  t[0] = V - 1; // a target in the last, ragged tile
  return { h, w, t, dy };
}

Deno.test("fused LM head loops match a float64 reference across row blocks and vocabulary tiles", () => {
  const { blas } = loadBlas();
  if (!blas) {
    console.error("skipped: no BLAS");
    return;
  }
  const [N, H, V] = [11, 8, 1003];
  const { h, w, t, dy } = problem(N, H, V, 5);
  const ref = reference(h, w, t, dy, N, H, V);
  const simd = simdRowKernels();
  assert(simd !== null, "WebAssembly SIMD is available in Deno");
  const tilings = [undefined, { tileElements: 400, maxRows: 4, minTile: 64 }, {
    tileElements: 1,
    maxRows: 1,
    minTile: 1000,
  }];
  for (const rows of [simd, jsRowKernels()]) {
    for (const tiles of tilings) {
      const label = `${rows.kind} ${JSON.stringify(tiles ?? "default")}`;
      const logp = new Float32Array(N), lse = new Float32Array(N);
      lmHeadLogProbsLoop(blas, h, w, t, N, H, V, logp, lse, tiles, rows);
      assertClose(logp, ref.logp, 1e-5, `logp ${label}`);
      assertClose(lse, ref.lse, 1e-5, `lse ${label}`);
      const dh = new Float32Array(N * H).fill(NaN), dw = new Float32Array(V * H).fill(NaN); // outputs start as garbage
      lmHeadGradLoop(blas, h, w, t, lse, dy, N, H, V, dh, dw, tiles, rows);
      assertClose(dh, ref.dh, 1e-5, `dh ${label}`);
      assertClose(dw, ref.dw, 1e-5, `dw ${label}`);
    }
  }
});

Deno.test("SIMD row kernels (max, Σ exp, scaled exp) match Math.exp to float32 precision, ragged tails included", () => {
  const simd = simdRowKernels()!;
  for (const n of [1, 3, 4, 7, 64, 1001]) {
    const x = simd.scratch(n + 5);
    const base = 5;
    const src = rand(n, n, 40); // x − s spans about [−80, 0] and below the −87 clamp
    x.set(src, base);
    const m = simd.rowMax(x, base, n);
    assertEquals(m, Math.max(...src), `max n=${n}`);
    // the kernels subtract in float32, as the stock tfjs ops do: compare against exp of the float32 difference
    const s = Math.fround(m + 10);
    const want = src.reduce((a, v) => a + Math.exp(Math.fround(v - s)), 0);
    const got = simd.sumExp(x, base, n, s);
    assert(Math.abs(got - want) <= 3e-6 * want, `sumExp n=${n}: ${got} vs ${want}`);
    simd.scaledExp(x, base, n, m, -0.5);
    for (let j = 0; j < n; j++) {
      const e = -0.5 * Math.exp(Math.fround(src[j] - m));
      // the exp's own error plus the float32 rounding of the difference (relative |x − l|·2^−24)
      const tol = (3e-7 + Math.abs(src[j] - m) * 6e-8) * Math.abs(e) + 1e-37;
      assert(
        Math.abs(x[base + j] - e) <= tol,
        `scaledExp n=${n} [${j}]: ${x[base + j]} vs ${e}`,
      );
    }
  }
});

for (const backend of ["wasm", "cpu"] as const) {
  Deno.test(
    `fused LM head kernels on ${backend}: values and gradients match the reference, no leaks`,
    opts,
    async () => {
      const info = await initBackend(backend);
      if (!info.blas) {
        assertEquals(lmHeadLogProbs(tf.zeros([1, 2]), tf.zeros([3, 2]), tf.tensor1d([0], "int32")), null);
        return;
      }
      const [N, H, V] = [6, 5, 301];
      const { h, w, t, dy } = problem(N, H, V, 9);
      const ref = reference(h, w, t, dy, N, H, V);
      const before = tf.memory().numTensors;
      const ht = tf.tensor2d(h, [N, H]), wt = tf.tensor2d(w, [V, H]), tt = tf.tensor1d(t, "int32");
      const dyt = tf.tensor1d(dy);
      const f = lmHeadLogProbs(ht, wt, tt);
      assert(f !== null, "kernel registered with BLAS");
      assertClose(f.logp.dataSync(), ref.logp, 1e-5, "logp");
      const g = lmHeadGrad(ht, wt, tt, f.lse, dyt)!;
      assertClose(g.dh.dataSync(), ref.dh, 1e-5, "dh");
      assertClose(g.dw.dataSync(), ref.dw, 1e-5, "dw");
      // a frozen head: dh alone, the same bits, and only its [N, H] output is allocated (no [V, H] buffer)
      const bytes0 = tf.memory().numBytes;
      const gFrozen = lmHeadGrad(ht, wt, tt, f.lse, dyt, { withDw: false })!;
      assertEquals(gFrozen.dw, null);
      assertEquals(tf.memory().numBytes - bytes0, N * H * 4, "bytes allocated without dW");
      const full = g.dh.dataSync(), frozen = gFrozen.dh.dataSync();
      assert(full.every((x, i) => Object.is(x, frozen[i])), "dh without dW differs from dh with it");
      tf.dispose([ht, wt, tt, dyt, f.logp, f.lse, g.dh, g.dw, gFrozen.dh]);
      assertEquals(tf.memory().numTensors, before, "tensors leaked");
      // restoring the stock kernels removes the fused ones (callers then take their tfjs-ops path)
      restoreStockKernels(backend);
      const x = tf.zeros([1, 2]) as tf.Tensor2D, y = tf.zeros([3, 2]) as tf.Tensor2D, z = tf.tensor1d([0], "int32");
      assertEquals(lmHeadLogProbs(x, y, z), null);
      tf.dispose([x, y, z]);
      await initBackend(backend);
      assert(tf.getKernel("MaxentLmHeadGrad", backend) !== undefined, "registered again by initBackend");
    },
  );
}

Deno.test(
  "LM head on two threads (worker runs the second vocabulary range): matches the reference, and bit for bit the one-thread loops",
  opts,
  () => {
    const { blas } = loadBlas();
    if (!blas) {
      console.error("skipped: no BLAS");
      return;
    }
    const helper = lmHeadHelper(blas, true);
    assert(helper !== null, `worker helper available (${lmHeadWorkerDisabled()})`);
    const [N, H, V] = [11, 8, 1003];
    const { h, w, t, dy } = problem(N, H, V, 7);
    const ref = reference(h, w, t, dy, N, H, V);
    const threads = blas.threads;
    const jobs0 = lmHeadWorkerJobs();
    try {
      // several row blocks (dW accumulated across them), ragged tiles, and one tile holding the whole vocabulary
      const tilings = [
        { tileElements: 400, maxRows: 4, minTile: 64 },
        { tileElements: 4096, maxRows: 64, minTile: 1 },
        {
          tileElements: 1 << 20,
          maxRows: 64,
          minTile: 1,
        },
      ];
      for (const tiles of tilings) {
        const label = JSON.stringify(tiles);
        const run = (withHelper: boolean) => {
          const logp = new Float32Array(N), lse = new Float32Array(N);
          const dh = new Float32Array(N * H).fill(NaN), dw = new Float32Array(V * H).fill(NaN);
          lmHeadLogProbsLoop(blas, h, w, t, N, H, V, logp, lse, tiles, undefined, withHelper ? helper : null);
          lmHeadGradLoop(blas, h, w, t, lse, dy, N, H, V, dh, dw, tiles, undefined, withHelper ? helper : null);
          return { logp, lse, dh, dw };
        };
        const two = run(true);
        assertEquals(blas.threads, threads, "OpenBLAS thread count restored");
        assertClose(two.logp, ref.logp, 1e-5, `logp ${label}`);
        assertClose(two.lse, ref.lse, 1e-5, `lse ${label}`);
        assertClose(two.dh, ref.dh, 1e-5, `dh ${label}`);
        assertClose(two.dw, ref.dw, 1e-5, `dw ${label}`);
        // the worker does the same arithmetic: with OpenBLAS at one thread here too, identical bits
        blas.setThreads(1);
        const one = run(false);
        blas.setThreads(threads);
        for (const k of ["logp", "lse", "dh", "dw"] as const) {
          assert(one[k].every((x, i) => Object.is(x, two[k][i])), `${k} ${label}: worker and one-thread loops differ`);
        }
        // a frozen head (dw null) on both threads: dh bit for bit the same as with dW
        const dhFrozen = new Float32Array(N * H).fill(NaN);
        lmHeadGradLoop(blas, h, w, t, two.lse, dy, N, H, V, dhFrozen, null, tiles, undefined, helper);
        assert(dhFrozen.every((x, i) => Object.is(x, two.dh[i])), `dh ${label}: without dW differs`);
      }
      // one job per row block and direction where the vocabulary is split: 3 row blocks, then 1, then one tile (none);
      // the frozen-head backward once more per row block
      assertEquals(lmHeadWorkerJobs() - jobs0, 3 * 3 + 1 * 3, "jobs the worker ran");
    } finally {
      blas.setThreads(threads);
      stopLmHeadWorker();
    }
  },
);

Deno.test("LM head worker closes itself when idle and is started again for the next job", opts, async () => {
  const { blas } = loadBlas();
  if (!blas) return;
  const helper = lmHeadHelper(blas, true)!;
  const [N, H, V] = [5, 4, 300];
  const { h, w, t } = problem(N, H, V, 3);
  const tiles = { tileElements: 100, maxRows: 8, minTile: 16 };
  const lse1 = new Float32Array(N), lse2 = new Float32Array(N), logp = new Float32Array(N);
  try {
    const jobs0 = lmHeadWorkerJobs();
    lmHeadLogProbsLoop(blas, h, w, t, N, H, V, logp, lse1, tiles, undefined, helper);
    await new Promise((r) => setTimeout(r, 3 * IDLE_MS));
    lmHeadLogProbsLoop(blas, h, w, t, N, H, V, logp, lse2, tiles, undefined, helper);
    assertEquals(lmHeadWorkerJobs() - jobs0, 2, "both calls ran their second range on a worker");
    assert(lse1.every((x, i) => Object.is(x, lse2[i])), "same results from the restarted worker");
    assertEquals(lmHeadWorkerDisabled(), null);
  } finally {
    stopLmHeadWorker();
  }
});

Deno.test("MAXENT_LM_HEAD_WORKER=0 turns the worker off; one thread of OpenBLAS never gets one", () => {
  const { blas } = loadBlas();
  if (!blas) return;
  const before = Deno.env.get("MAXENT_LM_HEAD_WORKER");
  Deno.env.set("MAXENT_LM_HEAD_WORKER", "0");
  try {
    assertEquals(lmHeadHelper(blas, true), null);
  } finally {
    if (before === undefined) Deno.env.delete("MAXENT_LM_HEAD_WORKER");
    else Deno.env.set("MAXENT_LM_HEAD_WORKER", before);
  }
  const threads = blas.threads;
  blas.setThreads(1);
  try {
    assertEquals(lmHeadHelper(blas), null, "OpenBLAS at 1 thread: no worker");
  } finally {
    blas.setThreads(threads);
  }
});

Deno.test("a NaN logit makes that row's log-prob NaN (the max ignores it, Σ exp does not)", () => {
  const { blas } = loadBlas();
  if (!blas) return;
  const [N, H, V] = [2, 2, 64];
  const { h, w, t } = problem(N, H, V, 11);
  w[2 * 17] = NaN; // word 17's logit is NaN in every row
  const logp = new Float32Array(N), lse = new Float32Array(N);
  lmHeadLogProbsLoop(blas, h, w, t, N, H, V, logp, lse, { tileElements: 64, maxRows: 2, minTile: 8 });
  assert(logp.every(Number.isNaN) && lse.every(Number.isNaN), `${logp} ${lse}`);
});

Deno.test("fused LM head kernels on wasm with a vocabulary big enough for the worker thread", opts, async () => {
  const info = await initBackend("wasm");
  const { blas } = loadBlas();
  if (!info.blas || !blas) return;
  const [N, H, V] = [16, 4, WORKER_MIN_LOGITS / 16];
  const { h, w, t, dy } = problem(N, H, V, 13);
  const ref = reference(h, w, t, dy, N, H, V);
  const jobs0 = lmHeadWorkerJobs();
  const ht = tf.tensor2d(h, [N, H]), wt = tf.tensor2d(w, [V, H]), tt = tf.tensor1d(t, "int32");
  const dyt = tf.tensor1d(dy);
  try {
    const f = lmHeadLogProbs(ht, wt, tt)!;
    assertClose(f.logp.dataSync(), ref.logp, 1e-5, "logp");
    const g = lmHeadGrad(ht, wt, tt, f.lse, dyt)!;
    assertClose(g.dh.dataSync(), ref.dh, 1e-5, "dh");
    assertClose(g.dw.dataSync(), ref.dw, 1e-5, "dw");
    tf.dispose([f.logp, f.lse, g.dh, g.dw]);
    // on a machine where OpenBLAS runs 2 threads the second range ran on the worker (one job per direction)
    if (lmHeadHelper(blas)) assertEquals(lmHeadWorkerJobs() - jobs0, 2, "worker jobs");
  } finally {
    tf.dispose([ht, wt, tt, dyt]);
    stopLmHeadWorker();
  }
});

Deno.test(
  "a worker that cannot open BLAS hands its range back: same results, and the helper turns itself off",
  opts,
  () => {
    const { blas } = loadBlas();
    if (!blas) return;
    const helper = new WorkerHelper("/nonexistent/libopenblas.so.0");
    const [N, H, V] = [6, 4, 500];
    const { h, w, t, dy } = problem(N, H, V, 17);
    const ref = reference(h, w, t, dy, N, H, V);
    const tiles = { tileElements: 600, maxRows: 8, minTile: 32 };
    const jobs0 = lmHeadWorkerJobs();
    try {
      const logp = new Float32Array(N), lse = new Float32Array(N);
      lmHeadLogProbsLoop(blas, h, w, t, N, H, V, logp, lse, tiles, undefined, helper);
      assertClose(logp, ref.logp, 1e-5, "logp");
      assertMatch(helper.disabled ?? "", /cannot run sgemm: .*nonexistent/);
      const dh = new Float32Array(N * H), dw = new Float32Array(V * H);
      lmHeadGradLoop(blas, h, w, t, lse, dy, N, H, V, dh, dw, tiles, undefined, helper);
      assertClose(dh, ref.dh, 1e-5, "dh");
      assertClose(dw, ref.dw, 1e-5, "dw");
      assertEquals(lmHeadWorkerJobs(), jobs0, "no job ran on a worker");
    } finally {
      helper.stop();
    }
  },
);
