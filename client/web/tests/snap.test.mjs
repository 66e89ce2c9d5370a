// Snapping while moving: edges and centres line up within the tolerance, each axis on its own.
import assert from "node:assert/strict";
import { test } from "node:test";

import { snapBox } from "../app/snap.js";

const box = (/** @type {number} */ x0, /** @type {number} */ y0, /** @type {number} */ w, /** @type {number} */ h) => ({ x0, y0, x1: x0 + w, y1: y0 + h });

test("a left edge 3 units off snaps onto the other's left edge, with a guide there", () => {
  const s = snapBox(box(103, 300, 50, 50), [box(100, 0, 80, 40)], 6);
  assert.equal(s.dx, -3);
  assert.equal(s.dy, 0);
  assert.deepEqual(s.xs, [100]);
  assert.deepEqual(s.ys, []);
});

test("centres line up too, and the nearest line wins on each axis", () => {
  const s = snapBox(box(0, 0, 20, 20), [box(-6, 200, 36, 10), box(500, 7, 10, 10)], 6);
  assert.equal(s.dx, 2, "centre 10 onto centre 12");
  assert.equal(s.dy, 2, "centre 10 onto the other box's centre 12");
  assert.ok(s.xs.includes(12) && s.ys.includes(12));
});

test("nothing within the tolerance: no snap, no guides", () => {
  assert.deepEqual(snapBox(box(0, 0, 10, 10), [box(100, 100, 10, 10)], 6), { dx: 0, dy: 0, xs: [], ys: [] });
  assert.deepEqual(snapBox(box(0, 0, 10, 10), [], 6), { dx: 0, dy: 0, xs: [], ys: [] });
});
