import { assertEquals } from "./assert.ts";
import { packBatch } from "../src/train/batch.ts";

Deno.test("packBatch left-pads rows and masks exactly the completion log-prob positions", () => {
  const b = packBatch([[1, 2, 3], [4]], [[5, 6], [7, 8, 9]], 0);
  // T = max(3+2, 1+3) = 5
  assertEquals(b.ids.arraySync(), [[1, 2, 3, 5, 6], [0, 4, 7, 8, 9]]);
  assertEquals(b.attention.arraySync(), [[1, 1, 1, 1, 1], [0, 1, 1, 1, 1]]);
  // column t scores token t+1: row 0 completion tokens are at 3,4 → columns 2,3; row 1 at 2,3,4 → columns 1,2,3
  assertEquals(b.completionMask.arraySync(), [[0, 0, 1, 1], [0, 1, 1, 1]]);
  assertEquals(b.lengths, [2, 3]);
  b.dispose();
});
