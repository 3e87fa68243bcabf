/**
 * The cpu backend's eager freeing (src/backend/eager_free.ts): a kernel's output buffer is released (detached) when
 * its last tensor is disposed; a caller's array given to `tf.tensor`, and arrays handed out by `dataSync()`, are never
 * touched; buffers shared by several tensors live until the last one goes; results of a model's forward/backward are
 * unchanged.
 */
import * as tf from "@tensorflow/tfjs";
import { assert, assertEquals } from "./assert.ts";
import { freeBuffersOnDispose } from "../src/backend/eager_free.ts";
import { MODEL_PRESETS, parseModelConfig } from "../src/model/config.ts";
import { CausalLM, randomWeights } from "../src/model/transformer.ts";

await tf.setBackend("cpu");
const backend = tf.findBackend("cpu");
// deno-lint-ignore no-explicit-any
const valuesOf = (t: tf.Tensor) => (backend as any).data.get(t.dataId).values as Float32Array;

/** Model log-probs and gradients on a tiny model (computed before and after installing: must be identical). */
function modelNumbers(): number[] {
  const config = parseModelConfig(MODEL_PRESETS.tiny(), "tiny");
  const m = CausalLM.fromTensors(config, randomWeights(config, 2), { trainable: true });
  const ids = tf.tensor2d([[1, 5, 9, 13, 2], [0, 0, 3, 4, 8]], undefined, "int32");
  const mask = tf.tensor2d([[1, 1, 1, 1, 1], [0, 0, 1, 1, 1]]);
  const { value, grads } = tf.variableGrads(() => tf.neg(tf.sum(m.tokenLogProbs(ids, mask))) as tf.Scalar);
  const out = [value.dataSync()[0], ...Object.values(grads).flatMap((g) => Array.from(g.dataSync().slice(0, 50)))];
  tf.dispose([value, ids, mask, ...Object.values(grads)]);
  m.dispose();
  return out;
}

const before = modelNumbers();
const freeing = freeBuffersOnDispose(backend);

Deno.test("eager free: a kernel's output buffer is released when its tensor is disposed", () => {
  const x = tf.tensor1d([1, 2, 3, 4]);
  const y = tf.mul(x, 2);
  const buf = valuesOf(y).buffer as ArrayBuffer;
  const n = freeing.freed();
  y.dispose();
  assert(buf.detached, "the output buffer should be detached (freed) at dispose");
  assertEquals(freeing.freed(), n + 1);
  x.dispose();
});

Deno.test("eager free: a caller's array and a dataSync() result stay usable after dispose", () => {
  const mine = new Float32Array([1, 2, 3]);
  const t = tf.tensor1d(mine);
  t.dispose();
  assertEquals(Array.from(mine), [1, 2, 3]);
  // the cpu backend's dataSync() returns its own array: it must survive the tensor
  const read = tf.tidy(() => tf.add(tf.tensor1d([1, 2]), 1).dataSync());
  assertEquals(Array.from(read), [2, 3]);
  const asyncRead = tf.tidy(() => tf.mul(tf.tensor1d([3]), 2));
  const p = asyncRead.data();
  asyncRead.dispose();
  return p.then((v) => assertEquals(Array.from(v), [6]));
});

Deno.test("eager free: a buffer shared by several tensors lives until the last one is disposed", () => {
  const y = tf.mul(tf.tensor2d([[1, 2], [3, 4]]), 1);
  const r = tf.reshape(y, [4]); // same data id
  const buf = valuesOf(y).buffer as ArrayBuffer;
  y.dispose();
  assert(!buf.detached);
  assertEquals(Array.from(r.dataSync()), [1, 2, 3, 4]);
  r.dispose();
  // (read through dataSync: escaped, so kept)
  assert(!buf.detached);
  const z = tf.mul(tf.tensor2d([[1, 2], [3, 4]]), 3);
  const s = tf.slice(z, [0, 0], [2, 2]); // may view z's buffer
  const zb = valuesOf(z).buffer as ArrayBuffer;
  z.dispose();
  assert(!zb.detached || valuesOf(s).buffer !== zb, "a slice viewing the buffer keeps it alive");
  assertEquals(Array.from(s.dataSync()), [3, 6, 9, 12]);
  s.dispose();
});

Deno.test("eager free: a model's forward and backward give the same numbers, with no tensor leak", () => {
  const n0 = tf.memory().numTensors;
  const after = modelNumbers();
  assertEquals(after, before);
  assertEquals(tf.memory().numTensors, n0);
  assert(freeing.freed() > 0);
});
