/**
 * Sampling throughput (issue 4): generated tokens/s of the local sampler at K = 1, 8 and 16 candidates for one
 * 64-token prompt and 128 new tokens, on the bench model (Qwen2, 4 layers, hidden 256, vocab 151,936), per backend
 * (cpu and wasm, each with OpenBLAS kernels where present; or those in `MAXENT_BENCH_BACKENDS`, e.g. `webgpu`, which
 * skips a software adapter unless `MAXENT_BENCH_WEBGPU_SOFTWARE=1`). Temperature 1, top-p 0.9; no end token, so every
 * candidate generates exactly 128 tokens.
 *
 * Usage: `deno task bench sampling`.
 */
import { type BackendChoice, initBackend } from "../src/backend/mod.ts";
import { MODEL_PRESETS, parseModelConfig } from "../src/model/config.ts";
import { CausalLM } from "../src/model/transformer.ts";
import { sampleLocal } from "../src/sampler/local.ts";
import { benchBackends, type Report, skipSoftwareWebgpu } from "./report.ts";

const PROMPT = 64;
const NEW = 128;

/** Runs the sampling suite. */
export async function run(
  report: Report,
  backends: BackendChoice[] = benchBackends<BackendChoice>(["cpu", "wasm"]),
): Promise<void> {
  const config = parseModelConfig(MODEL_PRESETS.bench(), "bench preset");
  const prompt = Array.from({ length: PROMPT }, (_, t) => (t * 104729) % config.vocabSize);
  const tokenizer = { eosTokenIds: [-1], padTokenId: 0, decode: (ids: number[]) => ids.join(" ") };
  for (const choice of backends) {
    let detail: string;
    try {
      const info = await initBackend(choice);
      if (skipSoftwareWebgpu(info)) {
        console.error(`sampling bench: skipping ${choice} on a software adapter (${info.detail})`);
        continue;
      }
      detail = info.detail;
    } catch (e) {
      console.error(`sampling bench: skipping ${choice}: ${(e as Error).message}`);
      continue;
    }
    const model = CausalLM.random(config, 0, { trainable: false });
    const params = { temperature: 1, topP: 0.9, topK: 0, minP: 0, repetitionPenalty: 1, maxTokens: NEW, seed: 1 };
    await sampleLocal(model, tokenizer, { promptIds: [prompt], k: 1, params: { ...params, maxTokens: 4 } }); // warm-up
    for (const k of [1, 8, 16]) {
      const t0 = performance.now();
      const groups = await sampleLocal(model, tokenizer, { promptIds: [prompt], k, params });
      const seconds = (performance.now() - t0) / 1000;
      const generated = groups[0].reduce((n, c) => n + c.ids!.length, 0);
      report({
        name: `sampling K=${k}, ${PROMPT} prompt + ${NEW} new tokens, V${config.vocabSize}`,
        value: generated / seconds,
        unit: "tok/s",
        detail: `${choice}: ${detail}; ${seconds.toFixed(2)} s`,
      });
    }
    model.dispose();
  }
}

if (import.meta.main) {
  const { machineLine } = await import("./report.ts");
  console.log(machineLine());
  await run((r) => console.log(`${r.name}: ${r.value.toFixed(1)} ${r.unit} (${r.detail})`));
}
