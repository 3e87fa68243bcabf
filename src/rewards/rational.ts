/**
 * Exact rational numbers over BigInt, so that answer equivalence (`0.5` ≡ `\frac{1}{2}` ≡ `50\%` of 1) never
 * depends on floating-point rounding.
 */

/** num/den in lowest terms with den > 0. */
export interface Rational {
  num: bigint;
  den: bigint;
}

function gcd(a: bigint, b: bigint): bigint {
  if (a < 0n) a = -a;
  if (b < 0n) b = -b;
  while (b !== 0n) [a, b] = [b, a % b];
  return a;
}

/** Builds num/den reduced to lowest terms; throws on a zero denominator. */
export function rational(num: bigint, den: bigint = 1n): Rational {
  if (den === 0n) throw new RangeError("division by zero");
  if (den < 0n) [num, den] = [-num, -den];
  const g = gcd(num, den);
  return g > 1n ? { num: num / g, den: den / g } : { num, den };
}

/** a + b = (a.n·b.d + b.n·a.d) / (a.d·b.d) */
export function add(a: Rational, b: Rational): Rational {
  return rational(a.num * b.den + b.num * a.den, a.den * b.den);
}

/** a − b */
export function sub(a: Rational, b: Rational): Rational {
  return rational(a.num * b.den - b.num * a.den, a.den * b.den);
}

/** a · b */
export function mul(a: Rational, b: Rational): Rational {
  return rational(a.num * b.num, a.den * b.den);
}

/** a / b (throws when b = 0) */
export function div(a: Rational, b: Rational): Rational {
  return rational(a.num * b.den, a.den * b.num);
}

/** Results of {@linkcode pow} are kept under this many bits, so hostile input like `((9^{64})^{64})^{64}` fails fast. */
const MAX_POW_BITS = 4096;

/** a^k for an integer k (|k| ≤ 64, result under 4096 bits; throws for 0^negative). */
export function pow(a: Rational, k: bigint): Rational {
  if (k > 64n || k < -64n) throw new RangeError("exponent too large");
  const bits = Math.max(a.num < 0n ? (-a.num).toString(2).length : a.num.toString(2).length, a.den.toString(2).length);
  if (bits * Math.abs(Number(k)) > MAX_POW_BITS) throw new RangeError("power too large");
  if (k < 0n) return div(rational(1n), pow(a, -k));
  return rational(a.num ** k, a.den ** k);
}

/** a = b (both are in lowest terms, so componentwise). */
export function eq(a: Rational, b: Rational): boolean {
  return a.num === b.num && a.den === b.den;
}

/**
 * Parses a plain decimal literal: optional sign, digits, optional fraction, optional exponent (`-12.50`, `.5`,
 * `3e-2`); null when `s` is not one.
 *
 * @example
 * ```ts
 * import { parseDecimal } from "./rational.ts";
 * parseDecimal("-0.25"); // { num: -1n, den: 4n }
 * ```
 */
export function parseDecimal(s: string): Rational | null {
  const m = /^([+-]?)(\d*)(?:\.(\d*))?(?:[eE]([+-]?\d{1,4}))?$/.exec(s);
  if (!m || (m[2] === "" && (m[3] ?? "") === "")) return null;
  const frac = m[3] ?? "";
  let r = rational(BigInt((m[2] || "0") + frac), 10n ** BigInt(frac.length));
  if (m[4] !== undefined) r = mul(r, pow(rational(10n), BigInt(m[4])));
  return m[1] === "-" ? rational(-r.num, r.den) : r;
}

/** Text form: `n` or `n/d`. */
export function toString(r: Rational): string {
  return r.den === 1n ? r.num.toString() : `${r.num}/${r.den}`;
}
