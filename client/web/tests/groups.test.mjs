// Groups (SPEC M13) and attached arrows (SPEC M14) in the browser's replica and editing helpers.
import assert from "node:assert/strict";
import { test } from "node:test";

import { following, loosen, moveEnd, targetAt } from "../app/attach.js";
import { expand, newGroupId, regroup } from "../app/groups.js";
import { Replica } from "../app/replica.js";
import { checkOp } from "../protocol/validate.js";

let n = 0;
/** @param {string} id @param {Record<string, any>} f */
const make = (id, f) => checkOp({ t: "c", id, s: [++n, "r"], f: { kind: "shape", z: "V", ...f } });
const rect = (/** @type {string} */ id, /** @type {number} */ x, /** @type {number} */ y, extra = {}) =>
  make(id, { x, y, geom: { shape: "rect", w: 100, h: 100 }, ...extra });
const set = (/** @type {string} */ id, /** @type {Record<string, any>} */ f) => checkOp({ t: "s", id, s: [++n, "r"], f });

test("M13: a member's group expands to every live member, unless that group was entered", () => {
  const r = new Replica();
  r.apply([rect("a", 0, 0, { group: "g1" }), rect("b", 200, 0, { group: "g1" }), rect("c", 400, 0), rect("d", 600, 0, { group: "g2" })]);
  assert.deepEqual(expand(r, ["a"]).sort(), ["a", "b"]);
  assert.deepEqual(expand(r, ["c"]), ["c"]);
  assert.deepEqual(expand(r, ["a", "d"]).sort(), ["a", "b", "d"]);
  assert.deepEqual(expand(r, ["a"], "g1"), ["a"]);
  r.apply([checkOp({ t: "d", id: "b", s: [++n, "r"] })]);
  assert.deepEqual(expand(r, ["a"]), ["a"], "a deleted member is not selected");
  const ids = regroup(["g1", null, "g1", "g2"]);
  assert.equal(ids.size, 2);
  assert.notEqual(ids.get("g1"), ids.get("g2"));
  assert.match(newGroupId(), /^g[0-9a-z]{16}$/);
});

test("M14: the replica keeps a bound arrow drawn to its target as the target moves, and lets it be when it goes", () => {
  const r = new Replica();
  r.apply([rect("box", 0, 0), make("ar", { x: -200, y: 50, geom: { shape: "arrow", w: 150, h: 0 }, end: "box" })]);
  const end = () => {
    const f = /** @type {any} */ (r.get("ar"));
    return [f.x + f.geom.w, f.y + f.geom.h];
  };
  assert.deepEqual(end(), [-6, 50]);
  const seen = [];
  r.listeners.add((ids) => seen.push([...ids].sort()));
  r.apply([set("box", { x: 0, y: 300 })]);
  assert.deepEqual(seen.at(-1), ["ar", "box"], "the arrow bound to a changed fragment changes too");
  assert.ok(end()[1] > 250);
  r.apply([checkOp({ t: "d", id: "box", s: [++n, "r"] })]);
  assert.deepEqual(end(), [-50, 50], "the stored geometry, once the target is gone");
  r.apply([set("ar", { end: null })]);
  assert.equal(r.bound.size, 0);
});

test("M14: previews carry bound arrows along; editing a bound arrow alone lets go of its targets", () => {
  const r = new Replica();
  r.apply([rect("box", 0, 0), make("ar", { x: -200, y: 50, geom: { shape: "arrow", w: 150, h: 0 }, end: "box" })]);
  const entry = /** @type {any} */ (r.entries.get("ar"));
  const box = /** @type {any} */ (r.get("box"));
  assert.equal(following(r, entry, new Map(), new Map()), null);
  const moved = following(r, entry, new Map(), new Map([["box", { ...box, x: 500 }]]));
  assert.ok(moved && moved.x + moved.geom.w > 490, "a peer's preview of the target moves the arrow's end");
  const arrow = /** @type {any} */ (r.get("ar"));
  // Dragged alone, the arrow is shown loose (it lets go on release); dragged with its target, attached.
  const alone = /** @type {any} */ (following(r, entry, new Map([["ar", { ...arrow, y: arrow.y + 100 }]]), new Map()));
  assert.deepEqual([alone.y, alone.y + alone.geom.h, alone.end], [150, 150, null]);
  const both = /** @type {any} */ (
    following(r, entry, new Map([["ar", { ...arrow, y: arrow.y + 100 }], ["box", { ...box, y: box.y + 100 }]]), new Map())
  );
  assert.deepEqual([both.x + both.geom.w, both.y + both.geom.h, both.end], [-6, 150, "box"]);
  assert.deepEqual(loosen(arrow, new Set(["ar"])), { geom: arrow.geom, end: null });
  assert.deepEqual(loosen(arrow, new Set(["ar", "box"])), { geom: arrow.geom });
  assert.deepEqual(loosen(box, new Set(["box"])), {});
  assert.equal(targetAt(r, 50, 50)?.id, "box");
  assert.equal(targetAt(r, -150, 50), null, "lines and arrows are not targets");
  const { fields } = moveEnd(arrow, 1, 300, 300, null);
  assert.deepEqual([fields.x, fields.y, fields.geom.w, fields.geom.h, fields.end], [-200, 50, 500, 250, null]);
});
