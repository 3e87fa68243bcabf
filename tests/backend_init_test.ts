/**
 * initBackend (src/backend/init.ts): auto picks a working backend and says which, a model too big for the wasm heap
 * goes to cpu, cpu and wasm get the BLAS matmul when OpenBLAS is there, a missing tfjs-node is a clear error with the
 * install hint, and training-style work leaks no tensors.
 */
import * as tf from "@tensorflow/tfjs";
import { assert, assertEquals, assertRejects } from "./assert.ts";
import { initBackend } from "../src/backend/mod.ts";
import { findTfjsNode, WASM_HEAP_LIMIT_BYTES } from "../src/backend/init.ts";
import { loadBlas } from "../src/backend/blas.ts";
import { blasMatMulStats } from "../src/backend/matmul.ts";
import { MaxentError } from "../src/errors.ts";

const opts = { sanitizeResources: false, sanitizeOps: false };

/** A tiny fwd+bwd+Adam step: y = relu(x W1) W2, loss = mean((y − t)²). Returns the losses of `steps` steps. */
function train(steps: number): number[] {
  // tidy disposes the initial values; the variables survive it.
  const w1 = tf.tidy(() => tf.variable(tf.randomNormal([6, 8], 0, 0.5, "float32", 1)));
  const w2 = tf.tidy(() => tf.variable(tf.randomNormal([8, 3], 0, 0.5, "float32", 2)));
  const x = tf.randomNormal([10, 6], 0, 1, "float32", 3), t = tf.randomNormal([10, 3], 0, 1, "float32", 4);
  const opt = tf.train.adam(0.05);
  const losses: number[] = [];
  for (let i = 0; i < steps; i++) {
    losses.push(tf.tidy(() => {
      const loss = opt.minimize(() => tf.relu(x.matMul(w1)).matMul(w2).sub(t).square().mean() as tf.Scalar, true);
      return loss!.dataSync()[0];
    }));
  }
  tf.dispose([w1, w2, x, t]);
  opt.dispose();
  return losses;
}

Deno.test(
  "initBackend('auto') returns a working backend, logs its choice, and trains without leaks",
  opts,
  async () => {
    const lines: string[] = [];
    const info = await initBackend("auto", { log: (l) => lines.push(l) });
    assertEquals(tf.getBackend(), info.name);
    assertEquals(lines.length, 1);
    assert(lines[0].startsWith(`backend: ${info.name}`), lines[0]);
    assertEquals(info.blas, loadBlas().blas !== null);
    if (findTfjsNode() === null) assert(["wasm", "webgpu"].includes(info.name), `auto picked ${info.name}`);
    const start = tf.memory().numTensors;
    const losses = train(30);
    assert(losses[29] < losses[0] * 0.8, `loss did not fall: ${losses[0]} → ${losses[29]}`);
    assertEquals(tf.memory().numTensors, start, "tensor leak");
  },
);

Deno.test("initBackend('auto') picks cpu when the model does not fit the wasm heap", opts, async () => {
  const lines: string[] = [];
  const info = await initBackend("auto", { log: (l) => lines.push(l), modelBytes: 2 * WASM_HEAP_LIMIT_BYTES });
  if (findTfjsNode() !== null || info.name === "webgpu") return; // a faster backend without the cap was chosen
  assertEquals(info.name, "cpu");
  assert(lines[0].includes("wasm heap"), lines[0]);
});

for (const name of ["cpu", "wasm"] as const) {
  Deno.test(`initBackend('${name}') routes matmuls through BLAS when OpenBLAS is installed`, opts, async () => {
    const info = await initBackend(name);
    assertEquals(info.name, name);
    assertEquals(tf.getBackend(), name);
    if (!info.blas) {
      console.log(`  note: no BLAS (${info.detail}); checking the plain backend only`);
      assert(/no BLAS/.test(info.detail), info.detail);
    }
    const calls = blasMatMulStats.calls;
    const c = tf.tidy(() => tf.matMul(tf.tensor2d([[1, 2], [3, 4]]), tf.tensor2d([[5, 6], [7, 8]]), false, true));
    assertEquals(Array.from(c.dataSync()), [17, 23, 39, 53]);
    c.dispose();
    assertEquals(blasMatMulStats.calls > calls, info.blas);
    const losses = train(5);
    assert(losses.every(Number.isFinite));
  });
}

Deno.test("MAXENT_BLAS=/nonexistent: initBackend falls back to the plain kernels and says so", opts, async () => {
  const { resetBlas } = await import("../src/backend/blas.ts");
  const before = Deno.env.get("MAXENT_BLAS");
  Deno.env.set("MAXENT_BLAS", "/nonexistent/libopenblas.so.0");
  resetBlas();
  try {
    const info = await initBackend("wasm");
    assertEquals(info.blas, false);
    // (Without --allow-ffi the missing permission is reported first.)
    assert(/\/nonexistent\/libopenblas\.so\.0|FFI permission/.test(info.detail), info.detail);
    const c = tf.tidy(() => tf.matMul(tf.tensor2d([[1, 2]]), tf.tensor2d([[3], [4]])));
    assertEquals(Array.from(c.dataSync()), [11]);
    c.dispose();
  } finally {
    if (before === undefined) Deno.env.delete("MAXENT_BLAS");
    else Deno.env.set("MAXENT_BLAS", before);
    resetBlas();
  }
});

Deno.test("initBackend('tensorflow') without tfjs-node is a MaxentError with the install hint", opts, async () => {
  if (findTfjsNode() !== null) {
    console.log("  note: tfjs-node is installed here; skipping the missing-package error check");
    return;
  }
  const err = await assertRejects(() => initBackend("tensorflow"), MaxentError);
  assert(/npm install @tensorflow\/tfjs-node/.test(err.message), err.message);
});

Deno.test("initBackend rejects an unknown choice", opts, async () => {
  await assertRejects(() => initBackend("tpu" as "cpu"), MaxentError);
  await initBackend("cpu");
});

Deno.test(
  "after initBackend, a [B,T,H]·[H,O] matmul has gradients of the input shapes (broadcast batch summed)",
  opts,
  async () => {
    await initBackend("wasm");
    const a = tf.tensor3d([1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12], [2, 3, 2]);
    const b = tf.tensor2d([1, -1, 2, 0.5, 0, 3], [2, 3]);
    // L = Σ A·B ⇒ dL/dB[p, j] = Σ_{batch, i} A[batch, i, p]; dL/dA[batch, i, p] = Σ_j B[p, j].
    const [ga, gb] = tf.grads((x: tf.Tensor, y: tf.Tensor) => tf.matMul(x, y).sum())([a, b]);
    assertEquals(gb.shape, [2, 3]);
    assertEquals(Array.from(gb.dataSync()), [36, 36, 36, 42, 42, 42]);
    assertEquals(ga.shape, [2, 3, 2]);
    assertEquals(Array.from(ga.dataSync()), [2, 3.5, 2, 3.5, 2, 3.5, 2, 3.5, 2, 3.5, 2, 3.5]);
    tf.dispose([a, b, ga, gb]);
    await initBackend("cpu");
  },
);
