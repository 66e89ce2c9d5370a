// The avatar stack in the top bar: a few faces, then "+N" for everyone else.
import assert from "node:assert/strict";
import { test } from "node:test";

import { stackOf } from "../app/people.js";

test("the avatar stack shows every face that fits, else one fewer and +N", () => {
  assert.deepEqual(stackOf(0, 4), { faces: 0, more: 0 });
  assert.deepEqual(stackOf(4, 4), { faces: 4, more: 0 });
  assert.deepEqual(stackOf(5, 4), { faces: 3, more: 2 });
  assert.deepEqual(stackOf(50, 4), { faces: 3, more: 47 });
  assert.deepEqual(stackOf(50, 1), { faces: 0, more: 50 });
});
