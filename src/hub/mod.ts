/**
 * The Hugging Face Hub: resolving model and dataset ids to files in the shared HF cache, downloading snapshots,
 * uploading folders, model cards and the `hub_strategy` upload plan.
 *
 * @module
 */
export { hubCacheDir, type HubOptions, hubOptionsFromEnv } from "./options.ts";
export { isLocalPath, resolveDatasetFiles, resolveModel, selectDataFiles } from "./resolve.ts";
export { downloadRepo } from "./download.ts";
export { type HubStrategy, type HubUpload, hubUploadPlan, uploadFolder } from "./upload.ts";
export { modelCard, type ModelCardInfo } from "./model_card.ts";
