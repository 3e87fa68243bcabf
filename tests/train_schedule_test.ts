import { assertClose, assertEquals } from "./assert.ts";
import { learningRateAt, type ScheduleSpec, warmupStepsFor } from "../src/train/schedule.ts";

Deno.test("warm-up steps follow HF: explicit steps win, else ceil(ratio · total)", () => {
  assertEquals(warmupStepsFor(100, 0, 0.2), 20);
  assertEquals(warmupStepsFor(7, 0, 0.2), 2); // ceil(1.4)
  assertEquals(warmupStepsFor(100, 5, 0.2), 5);
});

Deno.test("linear schedule with warm-up: 0 at step 0, peak at W, 0 at T (hand values)", () => {
  const spec: ScheduleSpec = { type: "linear", baseLr: 1e-3, totalSteps: 10, warmupSteps: 2 };
  const lrs = Array.from({ length: 11 }, (_, s) => learningRateAt(spec, s));
  assertClose(lrs, [0, 0.5e-3, 1e-3, 0.875e-3, 0.75e-3, 0.625e-3, 0.5e-3, 0.375e-3, 0.25e-3, 0.125e-3, 0], 1e-15);
});

Deno.test("cosine schedule: half-cosine decay after warm-up (hand values)", () => {
  const spec: ScheduleSpec = { type: "cosine", baseLr: 2, totalSteps: 6, warmupSteps: 2 };
  // after warm-up, progress p = (s−2)/4; λ = ½(1 + cos πp)
  const expected = [0, 1, 2, 2 * 0.5 * (1 + Math.cos(Math.PI / 4)), 1, 2 * 0.5 * (1 + Math.cos(3 * Math.PI / 4)), 0];
  assertClose(Array.from({ length: 7 }, (_, s) => learningRateAt(spec, s)), expected, 1e-12);
});

Deno.test("constant ignores warm-up; constant_with_warmup ramps then holds", () => {
  const c: ScheduleSpec = { type: "constant", baseLr: 3, totalSteps: 10, warmupSteps: 4 };
  assertEquals([0, 1, 9].map((s) => learningRateAt(c, s)), [3, 3, 3]);
  const cw: ScheduleSpec = { ...c, type: "constant_with_warmup" };
  assertEquals([0, 2, 4, 9].map((s) => learningRateAt(cw, s)), [0, 1.5, 3, 3]);
});
