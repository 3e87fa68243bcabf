/**
 * Option parsers shared by subcommands: they turn flag strings into typed values or throw a UsageError naming
 * the flag, so every command reports bad input the same way.
 */
import { UsageError } from "../errors.ts";

/** Parses a finite number for `flag`, e.g. `--tau 0.2`. */
export function parseNumber(flag: string): (value: string) => number {
  return (value) => {
    const n = Number(value);
    if (value.trim() === "" || !Number.isFinite(n)) {
      throw new UsageError(`${flag} expects a finite number, got "${value}"`);
    }
    return n;
  };
}

/** Parses a positive integer for `flag`, e.g. `-k 8`. */
export function parsePositiveInt(flag: string): (value: string) => number {
  return (value) => {
    const n = Number(value);
    if (!Number.isInteger(n) || n <= 0) throw new UsageError(`${flag} expects a positive integer, got "${value}"`);
    return n;
  };
}

/** Parses a comma-separated list of finite numbers for `flag`, e.g. `--utilities 1,0,0,1`. */
export function parseNumberList(flag: string): (value: string) => number[] {
  return (value) => {
    const parts = value.split(",").map((s) => s.trim());
    if (parts.length === 0 || parts.some((p) => p === "")) {
      throw new UsageError(`${flag} expects a comma-separated list of numbers, e.g. 1,0,0.5; got "${value}"`);
    }
    return parts.map((p, i) => {
      const n = Number(p);
      if (!Number.isFinite(n)) {
        throw new UsageError(`${flag}: entry ${i + 1} ("${p}") is not a finite number`);
      }
      return n;
    });
  };
}
