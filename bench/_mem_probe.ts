// temporary probe (deleted before report): which kernels of the forward keep big tensors
import * as tf from "@tensorflow/tfjs";
import { initBackend } from "../src/backend/mod.ts";
import { MODEL_PRESETS, parseModelConfig } from "../src/model/config.ts";
import { CausalLM } from "../src/model/transformer.ts";
await initBackend("wasm");
const config = parseModelConfig(MODEL_PRESETS.bench(), "bench");
const model = CausalLM.random(config, 0);
const ids = tf.tensor2d(Array.from({ length: 8 }, (_, b) => Array.from({ length: 128 }, (_, t) => (b * 7919 + t * 104729) % config.vocabSize)), [8, 128], "int32");
const mask = tf.ones([8, 128]) as tf.Tensor2D;
let before = 0;
const info = await tf.profile(() => {
  const { value, grads } = tf.variableGrads(() => {
    before = tf.memory().numBytes;
    const l = tf.sum(model.tokenLogProbs(ids, mask)) as tf.Scalar;
    console.log("after forward +MB", (tf.memory().numBytes - before) / 2 ** 20);
    return l;
  });
  tf.dispose([value, ...Object.values(grads)]);
});
const big = info.kernels.filter((k) => (k.bytesAdded as number) > 2 ** 20 * 8);
for (const k of big.slice(0, 40)) console.log(k.name, (k.bytesAdded / 2 ** 20).toFixed(1), "MB", JSON.stringify(k.outputShapes), JSON.stringify(k.inputShapes));
console.log("peak MB", info.peakBytes / 2 ** 20, "kernels", info.kernels.length);
