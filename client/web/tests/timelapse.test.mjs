// The timelapse walks the history evenly from the first op to the last.
import assert from "node:assert/strict";
import { test } from "node:test";

import { positionAt } from "../app/timelapse.js";

test("frames cover the history from nothing to everything, never backwards", () => {
  for (const [ops, frames] of [[1000, 300], [5, 300], [0, 30], [300, 300]]) {
    const at = Array.from({ length: frames }, (_, i) => positionAt(ops, frames, i));
    assert.equal(at[0], 0);
    assert.equal(at[frames - 1], ops);
    assert.ok(at.every((p, i) => i === 0 || p >= at[i - 1]), `${ops} ops in ${frames} frames`);
  }
  assert.equal(positionAt(10, 1, 0), 10);
});
