// Others' gestures as shown (SPEC W11 `live`): restyle, scale about a point, move; a finished
// gesture lingers until its op lands, so the fragment never jumps back.
import assert from "node:assert/strict";
import { test } from "node:test";

import { applyGesture, Gestures } from "../app/gestures.js";

const rect = /** @type {any} */ ({ id: "r", kind: "shape", x: 10, y: 20, geom: { shape: "rect", w: 40, h: 30 }, style: { color: "#ffffff", width: 3 } });

test("a gesture restyles, scales about its anchor, then moves", () => {
  assert.deepEqual(applyGesture(rect, { ids: ["r"], dx: 5, dy: -5 }), { ...rect, x: 15, y: 15 });
  const big = applyGesture(rect, { ids: ["r"], ax: 10, ay: 20, sx: 2, sy: 3 });
  assert.deepEqual([big.x, big.y, big.geom.w, big.geom.h], [10, 20, 80, 90]);
  assert.deepEqual(applyGesture(rect, { ids: ["r"], style: { width: 9 } }).style, { color: "#ffffff", width: 9 });
  assert.equal(rect.x, 10, "the tapestry's fragment is untouched");
});

test("a finished gesture lingers until its op lands, and a peer that leaves takes its gesture along", () => {
  const g = new Gestures((id) => (id === "r" ? rect : null));
  assert.equal(g.update([{ sid: "s1", live: { ids: ["r", "gone"], dx: 100, dy: 0 } }]), true);
  assert.deepEqual([...g.shown().keys()], ["r"]);
  assert.equal(g.shown().get("r")?.x, 110);
  assert.equal(g.update([{ sid: "s1", live: { ids: ["r", "gone"], dx: 100, dy: 0 } }]), false, "nothing new");
  g.update([{ sid: "s1", live: null }]);
  assert.equal(g.shown().get("r")?.x, 110, "shown where it was dropped until the op arrives");
  g.landed(["r"]);
  assert.equal(g.shown().size, 0);
  g.update([{ sid: "s2", live: { ids: ["r"], dx: 1, dy: 1 } }]);
  assert.equal(g.update([]), true);
  assert.equal(g.shown().size, 0);
});

test("an op that lands before its gesture's presence ends is not moved a second time", () => {
  const moved = { ...rect, x: 110 };
  let current = rect;
  const g = new Gestures((id) => (id === "r" ? current : null));
  g.update([{ sid: "s1", live: { ids: ["r"], dx: 100, dy: 0 } }]);
  assert.equal(g.shown().get("r")?.x, 110);
  current = moved; // the op is broadcast at once...
  g.landed(["r"]);
  assert.equal(g.shown().size, 0, "its op is in: shown as the tapestry has it, not moved again");
  g.update([{ sid: "s1", live: null }]); // ...presence says the gesture ended a tick later
  assert.equal(g.shown().size, 0, "shown where its op put it, not moved again");
  g.update([{ sid: "s1", live: { ids: ["r"], dx: 5, dy: 0 } }]);
  g.update([{ sid: "s1", live: null }]);
  assert.equal(g.shown().get("r")?.x, 115, "a later gesture of the same fragment lingers as usual");
});
