// Pressure strokes in the browser app (SPEC W38): pressure from a pen or from the speed, which
// fragments are drawn with it, what presence carries, and the wire checks of validate.js.
import assert from "node:assert/strict";
import { test } from "node:test";

import { PressureTrace, previewOf, strokeHalf, strokePressure } from "../app/pressure.js";
import { radius } from "../protocol/outline.js";
import { checkOp } from "../protocol/validate.js";

/** A stroke drawn along x: `step` pixels every `ms` milliseconds. */
function trace(pointerType, step, ms, pressures) {
  const t = new PressureTrace({ pointerType, pressure: pressures[0], timeStamp: 1000 }, 0, 0);
  for (let i = 1; i < pressures.length; i++) t.add({ pressure: pressures[i], timeStamp: 1000 + i * ms }, i * step, 0);
  return t;
}

test("W38: a pen's pressure is taken as it is reported", () => {
  const t = trace("pen", 5, 16, [0.1, 0.3, 0.6, 0.9]);
  assert.equal(t.real, true);
  assert.deepEqual(t.values(), [0.1, 0.3, 0.6, 0.9]);
});

test("W38: a mouse's constant 0.5 is not pressure: the speed makes it, faster is lighter", () => {
  const slow = trace("mouse", 2, 40, Array(30).fill(0.5));
  const fast = trace("mouse", 40, 4, Array(30).fill(0.5));
  assert.equal(slow.real, false);
  const mean = (a) => a.reduce((s, v) => s + v, 0) / a.length;
  assert.ok(mean(slow.values().slice(10)) > mean(fast.values().slice(10)) + 0.4);
  for (const v of [...slow.values(), ...fast.values()]) assert.ok(v >= 0 && v <= 1);
});

test("W38: a touch screen that reports varying force is believed; a lift's 0 keeps the last pressure", () => {
  const t = trace("touch", 5, 16, [0.2, 0.4, 0.8, 0]);
  assert.equal(t.real, true);
  assert.deepEqual(t.values(), [0.2, 0.4, 0.8, 0.8]);
  const flat = trace("touch", 5, 16, [1, 1, 1, 1]);
  assert.equal(flat.real, false);
});

test("W38: a long stroke continued as a new fragment keeps the pressure of its last point", () => {
  const t = trace("pen", 5, 16, [0.1, 0.3, 0.6, 0.9]);
  t.keepLast(1);
  assert.deepEqual(t.values(), [0.9]);
});

test("M17: only valid, undashed strokes are drawn with their pressure; bounds grow by the widest", () => {
  const f = { kind: "stroke", x: 0, y: 0, geom: { pts: [0, 0, 5, 5], pressure: [0.2, 1] }, style: { width: 4 } };
  assert.deepEqual(strokePressure(f), [0.2, 1]);
  assert.equal(strokeHalf(f, 4), radius(4, 1));
  assert.equal(strokePressure({ ...f, style: { dash: "dashed" } }), null);
  assert.equal(strokePressure({ ...f, geom: { pts: [0, 0, 5, 5], pressure: [0.2] } }), null);
  assert.equal(strokePressure({ ...f, kind: "shape" }), null);
  assert.equal(strokeHalf({ ...f, geom: { pts: [0, 0] } }, 4), 2);
});

test("W11, W38: presence carries the last 4,096 points of a preview and their pressure", () => {
  const pts = Array.from({ length: 2 * 5000 }, (_, i) => i);
  const pressure = Array.from({ length: 5000 }, (_, i) => (i % 10) / 10);
  const out = previewOf({ pts, style: { width: 3 }, pressure });
  assert.equal(out.pts.length, 8192);
  assert.equal(out.pressure?.length, 4096);
  assert.equal(out.pressure?.[0], pressure[5000 - 4096]);
  assert.equal(previewOf({ pts: [0, 0, 1, 1], style: {} }).pressure, undefined);
});

test("W38: the browser's validation matches the spec", () => {
  const create = (geom, kind = "stroke") => ({ t: "c", id: "f", s: [1, "r"], f: { kind, geom, z: "V" } });
  checkOp(create({ pts: [0, 0, 1, 1], pressure: [0, 1] }));
  for (const geom of [
    { pts: [0, 0, 1, 1], pressure: [0.5] },
    { pts: [0, 0], pressure: [1.5] },
    { pts: [0, 0], pressure: [-0.1] },
    { pts: [0, 0], pressure: ["0.5"] },
    { pts: [0, 0], pressure: [NaN] },
    { pts: [0, 0], pressure: 0.5 },
  ])
    assert.throws(() => checkOp(create(geom)), /pressure/, JSON.stringify(geom));
  assert.throws(() => checkOp(create({ shape: "rect", w: 1, h: 1, pressure: [] }, "shape")), /pressure/);
  assert.throws(() => checkOp({ t: "s", id: "f", s: [2, "r"], f: { geom: { pressure: [0.5] } } }), /pressure/);
});

test("M17: the eraser and selection hit a pressure stroke where its outline is wide", async () => {
  const { hitTest, localBox } = await import("../app/geometry.js");
  const plain = { kind: "stroke", x: 0, y: 0, geom: { pts: [0, 0, 100, 0] }, style: { width: 10 } };
  const heavy = { ...plain, geom: { pts: [0, 0, 100, 0], pressure: [1, 1] } };
  // 7 units off the line: outside a constant width of 10, inside a full pressure's 17.
  assert.equal(hitTest(plain, 50, 7, 0.5), false);
  assert.equal(hitTest(heavy, 50, 7, 0.5), true);
  assert.equal(localBox(heavy)?.y1, radius(10, 1));
  assert.equal(localBox(plain)?.y1, 5);
});
