/**
 * `readFloat32Into` (src/backend/access.ts): a tensor's float32 values copied synchronously into a caller's buffer on
 * cpu and wasm — the same bits as `data()`, slices (views of another array on cpu) included — and a refusal that
 * writes nothing where it cannot (another dtype, a short buffer, a disposed tensor).
 */
import * as tf from "@tensorflow/tfjs";
import { assert, assertEquals } from "./assert.ts";
import { initBackend } from "../src/backend/init.ts";
import { readFloat32Into } from "../src/backend/access.ts";

const opts = { sanitizeResources: false, sanitizeOps: false };

for (const backend of ["cpu", "wasm"] as const) {
  Deno.test(`readFloat32Into on ${backend}: the same bits as data(), no tensor made`, opts, async () => {
    await initBackend(backend);
    const start = tf.memory().numTensors;
    const x = tf.tidy(() => tf.div(tf.range(0, 48, 1, "float32"), 7).reshape([6, 8]));
    // a contiguous row slice (on cpu a view of x's array under its own data id) and a computed buffer
    const rows = tf.slice(x, [2, 0], [3, 8]);
    const y = tf.exp(x);
    for (const t of [x, rows, y]) {
      const out = new Float32Array(t.size + 3).fill(NaN);
      const before = tf.memory().numTensors;
      assert(readFloat32Into(t, out), `${backend}: copied`);
      assertEquals(tf.memory().numTensors, before, "no tensor made");
      const want = (await t.data()) as Float32Array;
      assertEquals(Array.from(out.subarray(0, t.size)), Array.from(want));
      assert(out.subarray(t.size).every(Number.isNaN), "nothing written past t.size");
    }
    // refused, nothing written: int32, a buffer too short, a disposed tensor
    const ids = tf.tensor1d([1, 2, 3], "int32");
    const small = new Float32Array(3).fill(NaN);
    assert(!readFloat32Into(ids, small) && !readFloat32Into(x, small), "refused");
    const gone = tf.clone(y);
    gone.dispose();
    assert(!readFloat32Into(gone, new Float32Array(48)), "disposed tensor refused");
    assert(small.every(Number.isNaN), "nothing written when refused");
    tf.dispose([x, rows, y, ids]);
    assertEquals(tf.memory().numTensors, start, "tensor leak");
  });
}
