/**
 * Multi-answer tasks (the paper's ModeBench): Countdown and graph 3-colouring completion — generators with exact
 * answer-mode enumeration, rewards, mode canonicalisers, and a JSONL writer for `maxent data`.
 *
 * @example
 * ```ts
 * import { countdownModes, generateTask, writeTaskSplits } from "./mod.ts";
 * countdownModes({ numbers: [2, 3, 4], target: 10 }); // ["2*3+4", "3*4-2"]
 * await writeTaskSplits("data/countdown", generateTask("countdown", { seed: 0, train: 256, eval: 64 }));
 * ```
 *
 * @module
 */
export type { SplitOptions, TaskRow, TaskSplits } from "./types.ts";
export {
  canonicalCountdown,
  countdownAnswerMode,
  type CountdownExpr,
  type CountdownItem,
  countdownModes,
  countdownPool,
  type CountdownProblem,
  countdownProblemOf,
  countdownPrompt,
  countdownReward,
  countdownValueModes,
  evaluateCountdown,
  formatCountdown,
  generateCountdown,
  parseCountdown,
  parseCountdownPrompt,
  scoreCountdown,
} from "./countdown.ts";
export {
  colouringAnswerMode,
  colouringModes,
  type ColouringProblem,
  colouringProblemOf,
  colouringPrompt,
  generateColouring,
  graphColouringReward,
  isProperColouring,
  parseColouringPrompt,
  scoreColouring,
} from "./graph_colouring.ts";
export {
  answerModeOf,
  generateTask,
  modesOf,
  TASK_NAMES,
  type TaskName,
  taskOfRow,
  taskRewards,
  writeTaskSplits,
} from "./dataset.ts";
