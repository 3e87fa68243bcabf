/**
 * The xDr.GRPO mode of `maxent weights` (`--algorithm xdr`): for one group's Dr.GRPO advantages and completion
 * lengths, prints the utilities U = A·T/T_max and the frozen weights K·softmax(U/τ) (optionally reference-tilted).
 * Kept apart from weights.ts so the MaxEnt inspector stays as it is; weights.ts calls {@linkcode xdrWeightsAction}.
 */
import { UsageError } from "../errors.ts";
import { referenceScores } from "../objective/maxent.ts";
import { xdrGroupWeights, xdrUtilities } from "../objective/xdr.ts";
import type { CliContext } from "./context.ts";

/** The flags of `maxent weights` the xDr mode reads. */
export interface XdrWeightsFlags {
  advantages?: number[];
  lengths?: number[];
  tMax?: number;
  /** τ; undefined: ∞ (Dr.GRPO). */
  tau?: number;
  refTilt?: number;
  refLogprobs?: number[];
  /** Divide --ref-logprobs by --lengths (default true, as maxent_length_normalize_ref). */
  lengthNormalizeRef?: boolean;
  json?: boolean;
}

/**
 * Parses τ for `--tau`: a number, or `inf` / `infinity` for τ = ∞.
 *
 * @example
 * ```ts
 * parseTau("--tau")("inf"); // Infinity
 * ```
 */
export function parseTau(flag: string): (value: string) => number {
  return (value) => {
    if (/^\+?inf(inity)?$/i.test(value.trim())) return Infinity;
    const n = Number(value);
    if (value.trim() === "" || !Number.isFinite(n)) {
      throw new UsageError(`${flag} expects a number or inf, got "${value}"`);
    }
    return n;
  };
}

/** Runs `maxent weights --algorithm xdr`: validates the flags, computes U and w, prints a table or JSON. */
export function xdrWeightsAction(ctx: CliContext, f: XdrWeightsFlags): void {
  const a = f.advantages;
  if (a === undefined) throw new UsageError("--algorithm xdr needs --advantages (one Dr.GRPO advantage per candidate)");
  const k = a.length;
  if (f.lengths === undefined) throw new UsageError("--algorithm xdr needs --lengths (completion token counts)");
  if (f.lengths.length !== k) {
    throw new UsageError(`--lengths has ${f.lengths.length} entries but --advantages has ${k}; give one per candidate`);
  }
  f.lengths.forEach((n, i) => {
    if (!Number.isInteger(n) || n < 0) {
      throw new UsageError(`--lengths: entry ${i + 1} (${n}) is not a token count (an integer ≥ 0)`);
    }
  });
  if (f.tMax === undefined || !(f.tMax > 0)) {
    throw new UsageError(`--algorithm xdr needs --t-max > 0 (max_completion_length), got ${f.tMax}`);
  }
  const tau = f.tau ?? Infinity;
  if (!(tau >= 0)) throw new UsageError(`--tau must be ≥ 0 or inf, got ${tau}`);
  const lambda = f.refTilt ?? 0;
  if (!(lambda >= 0) || !Number.isFinite(lambda)) throw new UsageError(`--ref-tilt must be ≥ 0, got ${lambda}`);
  if (lambda > 0 && f.refLogprobs === undefined) {
    throw new UsageError("--ref-tilt > 0 needs --ref-logprobs (reference log-prob sums of the candidates)");
  }
  if (f.refLogprobs !== undefined && f.refLogprobs.length !== k) {
    throw new UsageError(
      `--ref-logprobs has ${f.refLogprobs.length} entries but --advantages has ${k}; give one per candidate`,
    );
  }
  const normalize = f.lengthNormalizeRef ?? true;
  const s = f.refLogprobs === undefined ? undefined : referenceScores(f.refLogprobs, f.lengths, normalize);
  const utilities = xdrUtilities(a, f.lengths, f.tMax);
  const weights = xdrGroupWeights(utilities, { tau, refTilt: lambda, refScores: s });
  // H and ESS of the normalised weights p = w / Σw
  const total = weights.reduce((x, y) => x + y, 0);
  const p = weights.map((w) => w / total);
  const entropy = -p.reduce((acc, v) => acc + (v > 0 ? v * Math.log(v) : 0), 0);
  const ess = 1 / p.reduce((acc, v) => acc + v * v, 0);
  if (f.json) {
    ctx.out(JSON.stringify({ utilities, ref_scores: s ?? null, weights, entropy, ess }));
    return;
  }
  ctx.out(`xDr.GRPO weights for K = ${k} candidates`);
  ctx.out(
    `  τ = ${tau}${tau === Infinity ? " (Dr.GRPO)" : ""}, λ = ${lambda}, T_max = ${f.tMax}; ` +
      `w = K·softmax(U/(τ+λ) + λ/(τ+λ)·s), U = A·T/T_max`,
  );
  const header = ["i", "advantage", "length", "U", ...(s ? ["ref score"] : []), "w"];
  const rows = a.map((adv, i) => [
    String(i + 1),
    String(adv),
    String(f.lengths![i]),
    utilities[i].toFixed(6),
    ...(s ? [s[i].toFixed(6)] : []),
    weights[i].toFixed(6),
  ]);
  const widths = header.map((h, c) => Math.max(h.length, ...rows.map((r) => r[c].length)));
  const line = (cells: string[]) => "  " + cells.map((x, c) => x.padStart(widths[c])).join("  ");
  for (const l of [line(header), ...rows.map(line)]) ctx.out(l);
  ctx.out(
    `Σw = ${total.toFixed(6)}; entropy of w/Σw = ${entropy.toFixed(6)} nats; ESS = ${ess.toFixed(6)} of K = ${k}`,
  );
}
