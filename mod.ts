/**
 * maxent's public library API: recipes, the MaxEnt-GRPO / GRPO objective math, models, sampling, rewards and
 * training, for programs that embed maxent rather than run its CLI.
 *
 * @example
 * ```ts
 * import { VERSION } from "./mod.ts";
 * console.log(VERSION);
 * ```
 *
 * @module
 */
export { VERSION } from "./src/version.ts";
export { MaxentError, UsageError } from "./src/errors.ts";
export { charTokenizerFiles, Tokenizer } from "./src/tokenizer/mod.ts";
export type { ChatMessage } from "./src/tokenizer/mod.ts";
export { builtinRewards, completionText, remoteReward, resolveRewards, RewardSampleError } from "./src/rewards/mod.ts";
export type {
  RemoteRewardOptions,
  ResolveRewardsOptions,
  RewardContext,
  RewardFunction,
  RewardInput,
  RewardScores,
  RewardSet,
  RewardValue,
} from "./src/rewards/mod.ts";
export {
  buildPrompt,
  buildPrompts,
  DatasetMixtureSchema,
  loadExamples,
  loadMixture,
  parseDatasetMixture,
  readRows,
  shuffled,
} from "./src/data/mod.ts";
export type {
  BuiltPrompt,
  ChatTokenizer,
  DatasetMixture,
  DatasetSpec,
  Example,
  FileResolver,
  PromptOptions,
  Row,
} from "./src/data/mod.ts";
export {
  ALGORITHMS,
  generationTemperature,
  generationTopP,
  grpoBeta,
  loadRecipe,
  MAXENT_DEFAULTS,
  maxentBeta,
  parseRecipe,
  RECIPE_ENV_VARS,
  RECIPE_KEYS,
  recipeKeyTable,
  RecipeSchema,
  samplerKind,
  TRL_DEFAULT_BETA,
} from "./src/recipe/mod.ts";
export type { Algorithm, LoadedRecipe, Recipe, RecipeKeyRow, RecipeLoadOptions } from "./src/recipe/mod.ts";
export {
  effectiveSampleSize,
  groupAdvantages,
  grpoTokenLoss,
  listwiseTarget,
  maxentGroup,
  maxentWeights,
  referenceDistribution,
  referenceScores,
  weightedNllLoss,
  weightEntropy,
} from "./src/objective/mod.ts";
export type {
  GrpoLossInputs,
  GrpoLossMetrics,
  GrpoLossType,
  MaxentGroupOptions,
  MaxentGroupResult,
  ScaleRewards,
} from "./src/objective/mod.ts";
export {
  downloadRepo,
  hubOptionsFromEnv,
  hubUploadPlan,
  isLocalPath,
  modelCard,
  resolveDatasetFiles,
  resolveModel,
  uploadFolder,
} from "./src/hub/mod.ts";
export type { HubOptions, HubStrategy, HubUpload, ModelCardInfo } from "./src/hub/mod.ts";
export {
  CausalLM,
  expectedTensorShapes,
  KVCache,
  loadModelConfig,
  LoraAdapters,
  MODEL_PRESETS,
  parseModelConfig,
  readSafetensorsDir,
  readSafetensorsHeader,
  targetLogProbs,
  writeSafetensorsDir,
} from "./src/model/mod.ts";
export type { CausalLMOptions, HostTensor, LoraSettings, ModelConfig } from "./src/model/mod.ts";
export { adamWUpdate, initBackend, loadBlas } from "./src/backend/mod.ts";
export type { AdamWStep, BackendChoice, BackendInfo, Blas, InitBackendOptions } from "./src/backend/mod.ts";
export { completionNll, sftPairs, supervisedFineTune, trainSupervised } from "./src/train/sft.ts";
export type { SftLoopOptions, SftOptions, SftPair, SftResult } from "./src/train/sft.ts";
export { defaultModeOf, evalMetricsRow, evalSummary, evaluateModel, loadEvalExamples } from "./src/eval/evaluate.ts";
export type { EvalOptions, EvalReport, PromptOutcome } from "./src/eval/evaluate.ts";
export {
  evaluateArm,
  markdownTable,
  parseArm,
  parseArms,
  parseSweep,
  runCompare,
  summarizeArms,
} from "./src/experiment/mod.ts";
export type {
  ArmResult,
  ArmSpec,
  CompareOptions,
  CompareResult,
  ExperimentResults,
  RunResult,
  SweepSpec,
} from "./src/experiment/mod.ts";
