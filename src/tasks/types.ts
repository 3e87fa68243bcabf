/**
 * What the multi-answer tasks share: the dataset row they write (one JSON object per line) and the split sizes a
 * generator takes.
 */

/** One prompt of a multi-answer task, as written to `train.jsonl` / `test.jsonl`. */
export interface TaskRow {
  /** Problem identity, e.g. `countdown-2-3-4-10`; unique within a generated dataset (train ∪ test). */
  id: string;
  /** Task name: `countdown` or `graph_colouring` (also the reward's registry name). */
  task: string;
  /** The prompt text (printable ASCII, fits the character-level demo tokenizer). */
  prompt: string;
  /** One valid completion, `\boxed{…}` around one mode: a supervised warm-start target. */
  answer: string;
  /** Every valid answer, in canonical form (the reward's mode canonicaliser maps a correct answer to one of them). */
  modes: string[];
  /** `modes.length`. */
  num_modes: number;
  /** Task-specific problem columns (numbers/target, or vertices/edges/partial). */
  [column: string]: unknown;
}

/** Split sizes and seed of a generator run. */
export interface SplitOptions {
  /** Seed of the generator: the same seed gives the same rows. */
  seed: number;
  /** Number of training prompts. */
  train: number;
  /** Number of evaluation prompts (disjoint from training by problem identity). */
  eval: number;
  /** Only prompts with exactly one valid answer (a single-answer control split); default false. */
  singleAnswer?: boolean;
  /** Fewest valid answers a prompt may have (default 2; 1 with `singleAnswer`). */
  minModes?: number;
  /** Most valid answers a prompt may have (default 8; 1 with `singleAnswer`). */
  maxModes?: number;
}

/** A generated dataset: training and evaluation rows, disjoint by `id`. */
export interface TaskSplits {
  train: TaskRow[];
  test: TaskRow[];
}

/** The mode-count bounds of `opts`: [2, 8] by default, [1, 1] for a single-answer split. */
export function modeBounds(opts: SplitOptions): [number, number] {
  if (opts.singleAnswer) return [1, 1];
  return [opts.minModes ?? 2, opts.maxModes ?? 8];
}
