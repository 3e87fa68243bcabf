/**
 * Keeps a remote sampler on-policy: when the server takes weights (`maxent serve --accept-weights`), the trainer
 * sends it the policy before each step's sampling — every weight for a full fine-tune; for LoRA only the weights the
 * adapters change, merged (W + (α/r)·B·A, modules to save as trained). Other servers get a warning instead.
 */
import type { CausalLM } from "../model/transformer.ts";
import type { LoraAdapters } from "../model/lora.ts";
import type { HostTensor } from "../model/safetensors.ts";
import { pushWeights, serverAcceptsWeights } from "../sampler/weight_sync.ts";

/** The policy's weights as the sampler must see them (Hugging Face names and layout), one at a time. */
export async function* samplerWeights(
  policy: CausalLM,
  adapters: LoraAdapters | null,
): AsyncGenerator<[string, HostTensor]> {
  for (const name of policy.weights.keys()) {
    if (!adapters) {
      yield [name, await policy.hostWeight(name)];
      continue;
    }
    const module = name.endsWith(".weight") ? name.slice(0, -".weight".length) : name;
    if (!adapters.a.has(module) && !adapters.saved.has(name)) continue;
    yield [name, await adapters.mergedHostTensor(name, await policy.hostWeight(name))];
  }
}

/**
 * For a remote sampler at `url`: a function that sends the policy to the server, or null (after a warning) when the
 * server does not take weights.
 */
export async function samplerSync(
  url: string,
  policy: CausalLM,
  adapters: LoraAdapters | null,
  log: (line: string) => void,
): Promise<(() => Promise<void>) | null> {
  if (!(await serverAcceptsWeights(url))) {
    // TRL pushes the new weights to vLLM after every step; other servers offer maxent no such channel.
    log(
      `warning: remote sampler: ${url} does not take weight updates (only \`maxent serve --accept-weights\` does), ` +
        `so after the first step its candidates come from the server's model, not the policy being trained; ` +
        "use sampler: local (or maxent serve --accept-weights) for on-policy training",
    );
    return null;
  }
  log(`remote sampler: ${url} takes weights; the policy is sent to it before each step's sampling`);
  return async () => {
    const t0 = performance.now();
    const sent = await pushWeights(url, samplerWeights(policy, adapters));
    log(
      `weight sync: ${sent.tensors} tensors (${(sent.bytes / 1e6).toFixed(1)} MB) in ` +
        `${((performance.now() - t0) / 1000).toFixed(2)} s`,
    );
  };
}
