/**
 * `dataset_mixture`: several datasets blended into one, in the reference project's format (open-r1's
 * `DatasetMixtureConfig`, kept by maxent-grpo) and with its semantics:
 *
 * ```yaml
 * dataset_mixture:
 *   seed: 42                 # default 0
 *   test_split_size: 0.02    # optional, in (0, 1)
 *   datasets:
 *     - id: open-r1/OpenR1-Math-220k   # Hub id or local path
 *       config: default                # optional
 *       split: train                   # default train
 *       columns: [problem, answer]     # optional; must be the same set in every entry that sets it
 *       weight: 0.5                    # optional, in (0, 1]: the fraction of the split kept
 * ```
 *
 * Procedure (as `get_dataset` there): for each entry, load its split, keep `columns`, shuffle with `seed` and keep the
 * first ⌊n·weight⌋ rows; concatenate; shuffle with `seed`; with `test_split_size` t, shuffle the indices with `seed`
 * once more and take the first ⌈t·n⌉ as `test`, the rest as `train` (HF `train_test_split`). Shuffles are
 * `shuffled()` (Fisher–Yates + mulberry32), so counts match Python exactly but row order differs.
 */
import { z } from "zod";
import { MaxentError } from "../errors.ts";
import { loadExamples } from "./examples.ts";
import { shuffled } from "./shuffle.ts";
import type { Example, FileResolver } from "./types.ts";

/** One dataset of a validated mixture. */
export interface DatasetMixtureEntry {
  id: string;
  config?: string | null;
  split: string;
  columns?: string[] | null;
  weight?: number | null;
}

/** A validated mixture (defaults filled in). */
export interface DatasetMixture {
  datasets: DatasetMixtureEntry[];
  seed: number;
  test_split_size?: number | null;
}

/** One dataset of a mixture as written in a recipe (`split` may be left out). */
export type DatasetMixtureEntryInput = Omit<DatasetMixtureEntry, "split"> & { split?: string };

/** A mixture as written in a recipe (before defaults). */
export interface DatasetMixtureInput {
  datasets: DatasetMixtureEntryInput[];
  seed?: number;
  test_split_size?: number | null;
}

/** One dataset of a mixture. */
export const DatasetMixtureEntrySchema: z.ZodType<DatasetMixtureEntry, DatasetMixtureEntryInput> = z.strictObject({
  /** Hub dataset id or local path. */
  id: z.string().min(1),
  /** Hub config (subset). */
  config: z.string().nullish(),
  /** Split to load. */
  split: z.string().min(1).default("train"),
  /** Columns to keep. */
  columns: z.array(z.string().min(1)).min(1).nullish(),
  /** Fraction of the split kept, in (0, 1]; absent = all. */
  weight: z.number().gt(0).lte(1).nullish(),
});

/** `dataset_mixture` in a recipe (zod schema; the recipe schema embeds it). */
export const DatasetMixtureSchema: z.ZodType<DatasetMixture, DatasetMixtureInput> = z.strictObject({
  datasets: z.array(DatasetMixtureEntrySchema).min(1),
  seed: z.number().int().default(0),
  test_split_size: z.number().gt(0).lt(1).nullish(),
}).superRefine((m, ctx) => {
  const sets = m.datasets.filter((d) => d.columns).map((d) => [...new Set(d.columns!)].sort().join("\u0000"));
  if (sets.some((s) => s !== sets[0])) {
    ctx.addIssue({
      code: "custom",
      path: ["datasets"],
      message: `column names must be the same in every dataset of a mixture; found ${
        m.datasets.filter((d) => d.columns).map((d) => `[${d.columns!.join(", ")}]`).join(" vs ")
      }`,
    });
  }
});

/** Options for {@link loadMixture}. */
export interface MixtureOptions {
  /** Hub resolver for ids that are not local paths (`resolveDatasetFiles` from `src/hub/mod.ts`). */
  resolveFiles?: FileResolver;
  /** `dataset_prompt_column` (default `"prompt"`, open-r1's default). */
  promptColumn?: string;
  /** `dataset_solution_column`. */
  solutionColumn?: string;
}

/** Validates a mixture, turning zod issues into a MaxentError that names each bad field. */
export function parseDatasetMixture(value: unknown): DatasetMixture {
  const r = DatasetMixtureSchema.safeParse(value);
  if (r.success) return r.data;
  const lines = r.error.issues.map((i) => `dataset_mixture.${i.path.join(".")}: ${i.message}`);
  throw new MaxentError(`invalid dataset_mixture:\n  ${lines.join("\n  ")}`);
}

/** HF `train_test_split` sizes for a float test size t over n rows: test = ⌈t·n⌉, train = n − test. */
export function testSplitSizes(n: number, testSize: number): { train: number; test: number } {
  const test = Math.ceil(testSize * n);
  const train = n - test;
  if (test === 0 || train === 0) {
    throw new MaxentError(
      `dataset_mixture.test_split_size ${testSize} over ${n} rows leaves an empty ${test === 0 ? "test" : "train"} ` +
        `split; adjust test_split_size or the weights`,
    );
  }
  return { train, test };
}

/**
 * Loads a mixture (see the module header for the procedure). `test` is empty without `test_split_size`.
 *
 * @example
 * ```ts
 * const { train, test } = await loadMixture(
 *   { seed: 42, test_split_size: 0.1, datasets: [{ id: "a.jsonl", weight: 0.5 }, { id: "b.jsonl" }] },
 *   { promptColumn: "problem", solutionColumn: "answer" },
 * );
 * ```
 */
export async function loadMixture(
  mixture: DatasetMixtureInput,
  opts: MixtureOptions = {},
): Promise<{ train: Example[]; test: Example[] }> {
  const m = parseDatasetMixture(mixture);
  const promptColumn = opts.promptColumn ?? "prompt";
  const parts: Example[][] = [];
  for (const d of m.datasets) {
    const examples = await loadExamples({
      name: d.id,
      config: d.config ?? undefined,
      split: d.split,
      promptColumn,
      solutionColumn: opts.solutionColumn,
      columns: d.columns ?? undefined,
    }, { resolveFiles: opts.resolveFiles });
    // weight w keeps the first ⌊n·w⌋ rows of the seeded shuffle (Python's int() truncation).
    const keep = d.weight == null ? examples.length : Math.floor(examples.length * d.weight);
    parts.push(shuffled(examples, m.seed).slice(0, keep));
  }
  const combined = shuffled(parts.flat(), m.seed);
  if (m.test_split_size == null) return { train: combined, test: [] };
  const sizes = testSplitSizes(combined.length, m.test_split_size);
  const order = shuffled(combined.map((_, i) => i), m.seed);
  return {
    test: order.slice(0, sizes.test).map((i) => combined[i]),
    train: order.slice(sizes.test).map((i) => combined[i]),
  };
}
