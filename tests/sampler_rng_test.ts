import { assert, assertEquals } from "./assert.ts";
import { philox4x32, uniform } from "../src/sampler/rng.ts";

const hex = (ws: number[]) => ws.map((w) => w.toString(16).padStart(8, "0"));

Deno.test("philox4x32-10 matches the Random123 known-answer vectors", () => {
  assertEquals(hex(philox4x32([0, 0, 0, 0], [0, 0])), ["6627e8d5", "e169c58d", "bc57ac4c", "9b00dbd8"]);
  assertEquals(
    hex(philox4x32([0xffffffff, 0xffffffff, 0xffffffff, 0xffffffff], [0xffffffff, 0xffffffff])),
    ["408f276d", "41c83b0e", "a20bc7c6", "6d5451fd"],
  );
  assertEquals(
    hex(philox4x32([0x243f6a88, 0x85a308d3, 0x13198a2e, 0x03707344], [0xa4093822, 0x299f31d0])),
    ["d16cfe09", "94fdcceb", "5001e420", "24126ea1"],
  );
});

Deno.test("uniform is a pure function of its coordinates and differs across each of them", () => {
  const base = uniform(42, 7, 3, 11);
  assertEquals(uniform(42, 7, 3, 11), base);
  const others = [
    uniform(43, 7, 3, 11),
    uniform(42, 8, 3, 11),
    uniform(42, 7, 4, 11),
    uniform(42, 7, 3, 12),
    uniform(42, 7, 3, 11, 1),
    uniform(42, 2 ** 40 + 7, 3, 11),
    uniform(2 ** 40 + 42, 7, 3, 11),
  ];
  for (const o of others) assert(o !== base, `collision ${o}`);
});

Deno.test("uniform draws are in [0, 1) with the moments of U(0,1)", () => {
  const n = 200_000;
  let sum = 0, sumSq = 0;
  const bins = new Array(10).fill(0);
  for (let i = 0; i < n; i++) {
    const u = uniform(1, i >> 8, i & 3, i);
    assert(u >= 0 && u < 1);
    sum += u;
    sumSq += u * u;
    bins[Math.floor(u * 10)]++;
  }
  const mean = sum / n, variance = sumSq / n - mean * mean;
  assert(Math.abs(mean - 0.5) < 0.005, `mean ${mean}`);
  assert(Math.abs(variance - 1 / 12) < 0.002, `variance ${variance}`);
  // chi-square with 9 degrees of freedom; 27.9 is the 0.999 quantile
  const chi2 = bins.reduce((acc, b) => acc + (b - n / 10) ** 2 / (n / 10), 0);
  assert(chi2 < 27.9, `chi2 ${chi2}`);
});
