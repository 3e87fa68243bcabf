/**
 * Datasets: Parquet / JSON Lines / JSON rows from local paths or the Hub, split and column mapping,
 * `dataset_mixture`, seeded shuffling and chat-template prompt building.
 *
 * @example
 * ```ts
 * import { buildPrompt, loadExamples } from "./mod.ts";
 * const examples = await loadExamples({ name: "data/", split: "train", promptColumn: "problem" });
 * ```
 *
 * @module
 */
export type { ChatMessage, DatasetSpec, Example, FileResolver, Row } from "./types.ts";
export { isDataFile, listDataFiles, localSplitFiles, readRows } from "./files.ts";
export { type ParquetRowsOptions, readParquetRows } from "./parquet.ts";
export { readJsonlRows, readJsonRows } from "./json.ts";
export { datasetFiles, loadExamples, rowToExample } from "./examples.ts";
export {
  type DatasetMixture,
  type DatasetMixtureEntry,
  type DatasetMixtureEntryInput,
  DatasetMixtureEntrySchema,
  type DatasetMixtureInput,
  DatasetMixtureSchema,
  loadMixture,
  type MixtureOptions,
  parseDatasetMixture,
  testSplitSizes,
} from "./mixture.ts";
export { mulberry32, shuffled } from "./shuffle.ts";
export {
  buildPrompt,
  buildPrompts,
  type BuiltPrompt,
  type ChatTokenizer,
  promptMessages,
  type PromptOptions,
} from "./prompt.ts";
