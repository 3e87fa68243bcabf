/**
 * The README.md (model card) pushed with a trained model: YAML front matter the Hub indexes (base_model, datasets,
 * tags, library_name: maxent) and a short body saying how the model was trained and how it scored.
 */
import { stringify } from "yaml";

/** What the card says about a training run. */
export interface ModelCardInfo {
  baseModel: string;
  datasets?: string[];
  /** e.g. "maxent-grpo" or "grpo". */
  algorithm: string;
  /** The algorithm's knobs (tau, beta, num_generations, learning_rate, …) as they were set. */
  knobs: Record<string, unknown>;
  /** Final metrics, e.g. { "eval/accuracy": 0.41 }. */
  metrics?: Record<string, number>;
}

function cell(v: unknown): string {
  const s = typeof v === "string" ? v : JSON.stringify(v);
  return (s ?? "").replaceAll("|", "\\|").replaceAll("\n", " ");
}

/**
 * Renders the model card for a trained model.
 *
 * @example
 * ```ts
 * const readme = modelCard({ baseModel: "Qwen/Qwen2.5-1.5B-Instruct", algorithm: "maxent-grpo", knobs: { tau: 0.2 } });
 * ```
 */
export function modelCard(info: ModelCardInfo): string {
  const tags = ["maxent", info.algorithm];
  const meta: Record<string, unknown> = {
    base_model: info.baseModel,
    ...(info.datasets?.length ? { datasets: info.datasets } : {}),
    library_name: "maxent",
    pipeline_tag: "text-generation",
    tags: [...new Set(tags)],
  };
  const lines = [
    "---",
    stringify(meta).trimEnd(),
    "---",
    "",
    `# ${info.baseModel.split("/").pop()} fine-tuned with ${info.algorithm}`,
    "",
    `This model is [${info.baseModel}](https://huggingface.co/${info.baseModel}) ` +
    `fine-tuned with **${info.algorithm}**` +
    (info.datasets?.length
      ? ` on ${info.datasets.map((d) => `[${d}](https://huggingface.co/datasets/${d})`).join(", ")}`
      : "") +
    " using maxent (TensorFlow.js on Deno). It loads with `transformers` like its base model.",
    "",
    "## Training settings",
    "",
    "| knob | value |",
    "| --- | --- |",
    ...Object.entries(info.knobs).map(([k, v]) => `| ${cell(k)} | ${cell(v)} |`),
  ];
  if (info.metrics && Object.keys(info.metrics).length) {
    lines.push("", "## Final metrics", "", "| metric | value |", "| --- | --- |");
    for (const [k, v] of Object.entries(info.metrics)) {
      lines.push(`| ${cell(k)} | ${Number.isInteger(v) ? v : v.toPrecision(6)} |`);
    }
  }
  lines.push("");
  return lines.join("\n");
}
