/** `maxent serve`: an OpenAI-compatible completions endpoint over a local model (what `vllm_url` can point at). */
import { Command, Option } from "@commander-js/extra-typings";
import { type BackendChoice, initBackend } from "../backend/mod.ts";
import { serveCompletions } from "../sampler/server.ts";
import type { CliContext } from "./context.ts";
import { loadSourceModel, loadSourceTokenizer, resolveModelSource, sourceWeightBytes } from "./model_source.ts";
import { hubOptionsFromEnv } from "../hub/mod.ts";
import { readEnv } from "../env.ts";
import { parseNumber } from "./parse.ts";

/** Builds the `serve` subcommand. */
export function serveCommand(ctx: CliContext) {
  return new Command("serve")
    .description("serve a local model as an OpenAI-compatible /v1/completions endpoint (vLLM's API)")
    .requiredOption(
      "--model <dir>",
      "model: local folder, Hub id, or LoRA adapter folder (merged into its base on load)",
    )
    .option("--host <host>", "address to listen on", "127.0.0.1")
    .option("--port <port>", "port (0 = any free port)", parseNumber("--port"), 8000)
    .option(
      "--accept-weights",
      "let `maxent train` (sampler: remote) send the policy's weights after every step (PUT /maxent/weights/…); " +
        "anyone who can reach the port can then replace the model",
    )
    .addOption(
      new Option("--backend <name>", "tfjs backend").choices(["auto", "tensorflow", "webgpu", "wasm", "cpu"])
        .default("auto"),
    )
    .action(async (opts) => {
      const log = (l: string) => ctx.err(l);
      const source = await resolveModelSource(opts.model, hubOptionsFromEnv(readEnv(), { log }));
      await initBackend(opts.backend as BackendChoice, { log, modelBytes: sourceWeightBytes(source) * 1.25 });
      const tokenizer = await loadSourceTokenizer(source);
      const model = await loadSourceModel(source);
      const server = serveCompletions(model, tokenizer, {
        hostname: opts.host,
        port: opts.port,
        modelName: opts.model,
        log: (l) => ctx.err(l),
        acceptWeights: opts.acceptWeights ? (name, t) => model.assignHostWeight(name, t, "weight sync") : undefined,
      });
      ctx.err(`maxent serve: ${server.url}/v1/completions (Ctrl-C to stop)`);
      await new Promise<void>((resolve) => {
        Deno.addSignalListener("SIGINT", () => resolve());
        Deno.addSignalListener("SIGTERM", () => resolve());
      });
      await server.shutdown();
      model.dispose();
    });
}
