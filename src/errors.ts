/**
 * Typed errors for maxent. Every error a user can hit says what is wrong (the file, field or flag at fault)
 * and what would fix it; the CLI maps them to exit codes (usage → 2, everything else → 1).
 */

/** A runtime failure the user can fix: bad recipe, bad model files, unreachable Hub, … (exit code 1). */
export class MaxentError extends Error {
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "MaxentError";
  }
}

/** Wrong command-line usage: unknown flag, missing argument, malformed value (exit code 2). */
export class UsageError extends MaxentError {
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "UsageError";
  }
}
