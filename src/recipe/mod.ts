/**
 * Recipes: the typed configuration of a maxent run, loaded from YAML with defaults, environment overrides and
 * `--set` overrides.
 *
 * @module
 */
export {
  type Algorithm,
  ALGORITHMS,
  type Backend,
  BACKENDS,
  generationTemperature,
  generationTopP,
  grpoBeta,
  HUB_STRATEGIES,
  IGNORED_KEYS,
  LOSS_TYPES,
  LR_SCHEDULERS,
  MAXENT_DEFAULTS,
  maxentBeta,
  type Recipe,
  RECIPE_KEYS,
  type RecipeKeyRow,
  recipeKeyTable,
  RecipeSchema,
  samplerKind,
  SAVE_STRATEGIES,
  SCALE_REWARDS,
  TRL_DEFAULT_BETA,
} from "./schema.ts";
export {
  editDistance,
  type LoadedRecipe,
  loadRecipe,
  nearestKey,
  parseRecipe,
  RECIPE_ENV_VARS,
  type RecipeLoadOptions,
} from "./load.ts";
