/** `maxent report OUTPUT_DIR`: (re)writes the self-contained HTML training report from metrics.jsonl. */
import { Command } from "@commander-js/extra-typings";
import type { CliContext } from "./context.ts";
import { writeTrainingReport } from "../report/training.ts";

/** Builds the `report` subcommand. */
export function reportCommand(ctx: CliContext) {
  return new Command("report")
    .description("write OUTPUT_DIR/report.html (SVG plots of reward, KL, entropy, ESS, length) from metrics.jsonl")
    .argument("<output_dir>", "a maxent training output directory")
    .action(async (outputDir) => {
      const path = await writeTrainingReport(outputDir, { output_dir: outputDir });
      ctx.out(path);
    });
}
