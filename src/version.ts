/** maxent's version, read from deno.json at build time so the binary and the package agree. */
import denoJson from "../deno.json" with { type: "json" };

/** The maxent release version, e.g. "0.1.0". */
export const VERSION: string = denoJson.version;
