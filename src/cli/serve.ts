/** `maxent serve`: an OpenAI-compatible completions endpoint over a local model (what `vllm_url` can point at). */
import { Command, Option } from "@commander-js/extra-typings";
import { type BackendChoice, initBackend } from "../backend/mod.ts";
import { CausalLM } from "../model/transformer.ts";
import { Tokenizer } from "../tokenizer/mod.ts";
import { serveCompletions } from "../sampler/server.ts";
import type { CliContext } from "./context.ts";
import { parseNumber } from "./parse.ts";

/** Builds the `serve` subcommand. */
export function serveCommand(ctx: CliContext) {
  return new Command("serve")
    .description("serve a local model as an OpenAI-compatible /v1/completions endpoint (vLLM's API)")
    .requiredOption("--model <dir>", "model directory")
    .option("--host <host>", "address to listen on", "127.0.0.1")
    .option("--port <port>", "port (0 = any free port)", parseNumber("--port"), 8000)
    .addOption(
      new Option("--backend <name>", "tfjs backend").choices(["auto", "tensorflow", "webgpu", "wasm", "cpu"])
        .default("auto"),
    )
    .action(async (opts) => {
      await initBackend(opts.backend as BackendChoice, { log: (l) => ctx.err(l) });
      const tokenizer = await Tokenizer.load(opts.model);
      const model = await CausalLM.load(opts.model, { trainable: false });
      const server = serveCompletions(model, tokenizer, {
        hostname: opts.host,
        port: opts.port,
        modelName: opts.model,
        log: (l) => ctx.err(l),
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
