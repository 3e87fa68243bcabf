// temporary probe (deleted before report): kernel-time profile of one fwd+bwd of the bench model on wasm + BLAS
import * as tf from "@tensorflow/tfjs";
import { initBackend } from "../src/backend/mod.ts";
import { MODEL_PRESETS, parseModelConfig } from "../src/model/config.ts";
import { CausalLM } from "../src/model/transformer.ts";
await initBackend("wasm");
const config = parseModelConfig(MODEL_PRESETS.bench(), "bench");
const model = CausalLM.random(config, 0);
const ids = tf.tensor2d(Array.from({ length: 8 }, (_, b) => Array.from({ length: 128 }, (_, t) => (b * 7919 + t * 104729) % config.vocabSize)), [8, 128], "int32");
const mask = tf.ones([8, 128]) as tf.Tensor2D;
const step = () => { const { value, grads } = tf.variableGrads(() => tf.sum(model.tokenLogProbs(ids, mask)) as tf.Scalar); value.dataSync(); tf.dispose([value, ...Object.values(grads)]); };
step();
const t0 = performance.now();
const info = await tf.profile(step);
const total = performance.now() - t0;
const by = new Map<string, number>();
for (const k of info.kernels) by.set(k.name, (by.get(k.name) ?? 0) + (k.kernelTimeMs as number));
const rows = [...by].sort((a, b) => b[1] - a[1]).slice(0, 14);
console.log(`total ${total.toFixed(0)} ms wall; kernels:`, rows.map(([n, ms]) => `${n} ${ms.toFixed(0)}`).join(", "));
