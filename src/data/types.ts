/**
 * The shared vocabulary of the data layer: a dataset row, the examples built from rows, and how a dataset is named
 * (local path or Hub id, config, split, column mapping).
 */

/** One dataset row: column name → value, exactly as the file holds it (parquet INT64 arrives as `bigint`). */
export type Row = Record<string, unknown>;

/** A chat message as chat templates see it. */
export interface ChatMessage {
  role: string;
  content: string;
}

/** Which dataset, which split and which columns (the recipe's `dataset_*` fields). */
export interface DatasetSpec {
  /** `dataset_name`: a local file or directory, or a Hub dataset id (`open-r1/OpenR1-Math-220k`). */
  name: string;
  /** `dataset_config`: the Hub config (subset); for a local directory, a sub-folder of that name if one exists. */
  config?: string;
  /** Hub revision (branch, tag or commit). */
  revision?: string;
  /** `dataset_train_split` / `dataset_test_split`. */
  split: string;
  /** `dataset_prompt_column`: the user text, or a ready message list. */
  promptColumn: string;
  /** `dataset_solution_column`: the reference answer handed to reward functions. */
  solutionColumn?: string;
  /** Extra columns to keep in `Example.row` (by default only the prompt and solution columns are read). */
  columns?: string[];
}

/**
 * Turns a Hub dataset id into the local data files of one config and split (downloading them if needed).
 * The trainer passes `resolveDatasetFiles` from `src/hub/mod.ts`.
 */
export type FileResolver = (
  id: string,
  opts: { config?: string; split: string; revision?: string },
) => Promise<string[]>;

/** One training/evaluation example. */
export interface Example {
  /** The raw user text from the prompt column (for a message-list column: the last user message's content). */
  prompt: string;
  /** The solution column's value as a string, if a solution column is set and the value is not null. */
  solution?: string;
  /** The prompt column's message list, when the column holds one (used as-is by `buildPrompt`). */
  messages?: ChatMessage[];
  /** The row's read columns (prompt, solution and `DatasetSpec.columns`). */
  row: Row;
  /** Where the row came from: `file#index` (index = 0-based row number within the file). */
  source: string;
}
