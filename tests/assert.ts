/**
 * Test assertions (Deno std's assert lives on JSR, which is unreachable here): thin wrappers over node:assert with
 * the std names, plus a tolerance comparison for numbers and arrays.
 */
import nodeAssert from "node:assert/strict";

/** Asserts `cond` is truthy. */
export function assert(cond: unknown, msg?: string): asserts cond {
  nodeAssert.ok(cond, msg);
}

/** Deep strict equality. */
export function assertEquals<T>(actual: unknown, expected: T, msg?: string): asserts actual is T {
  nodeAssert.deepStrictEqual(actual, expected, msg);
}

/** Deep strict inequality. */
export function assertNotEquals(actual: unknown, expected: unknown, msg?: string): void {
  nodeAssert.notDeepStrictEqual(actual, expected, msg);
}

/** Asserts `actual` matches `re`. */
export function assertMatch(actual: string, re: RegExp, msg?: string): void {
  nodeAssert.match(actual, re, msg);
}

/** Asserts |actual − expected| ≤ tol (elementwise for arrays); NaN never passes. */
export function assertClose(
  actual: number | ArrayLike<number>,
  expected: number | ArrayLike<number>,
  tol = 1e-7,
  msg = "",
): void {
  const a = typeof actual === "number" ? [actual] : Array.from(actual);
  const e = typeof expected === "number" ? [expected] : Array.from(expected);
  if (a.length !== e.length) throw new Error(`${msg} length ${a.length} ≠ expected ${e.length}`);
  for (let i = 0; i < a.length; i++) {
    const d = Math.abs(a[i] - e[i]);
    if (!(d <= tol)) {
      throw new Error(`${msg} [${i}]: ${a[i]} vs expected ${e[i]} (|Δ| = ${d} > ${tol})`);
    }
  }
}

/** Asserts `fn` throws an error of class `cls` whose message includes every string in `includes`. */
export function assertThrows<E extends Error>(
  fn: () => unknown,
  cls: new (...args: never[]) => E,
  ...includes: string[]
): E {
  try {
    fn();
  } catch (e) {
    checkError(e, cls, includes);
    return e as E;
  }
  throw new Error(`expected ${cls.name} to be thrown`);
}

/** Async form of assertThrows. */
export async function assertRejects<E extends Error>(
  fn: () => Promise<unknown>,
  cls: new (...args: never[]) => E,
  ...includes: string[]
): Promise<E> {
  try {
    await fn();
  } catch (e) {
    checkError(e, cls, includes);
    return e as E;
  }
  throw new Error(`expected ${cls.name} to be rejected`);
}

function checkError(e: unknown, cls: new (...args: never[]) => Error, includes: string[]): void {
  if (!(e instanceof cls)) {
    throw new Error(`expected ${cls.name}, got ${e instanceof Error ? `${e.name}: ${e.message}` : String(e)}`);
  }
  for (const s of includes) {
    if (!e.message.includes(s)) throw new Error(`error message "${e.message}" does not include "${s}"`);
  }
}
