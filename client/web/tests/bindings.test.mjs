// Bound ends (SPEC M14): the browser's port draws every line's and arrow's ends
// where the Python renderer does, for every shared binding vector.
import assert from "node:assert/strict";
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { test } from "node:test";

import { ends, isBound, isConnector, resolve } from "../protocol/bindings.js";
import { Tapestry } from "../protocol/tapestry.js";
import { checkOp } from "../protocol/validate.js";
import { ROOT } from "./helpers.mjs";

const dir = join(ROOT, "protocol", "vectors", "bindings");
const files = readdirSync(dir).filter((f) => f.endsWith(".json")).sort();

test("M14: the binding vectors are there", () => {
  assert.ok(files.length >= 7, `too few binding vectors in ${dir}`);
});

for (const file of files) {
  const vec = JSON.parse(readFileSync(join(dir, file), "utf8"));
  test(`M14 bindings/${file}: ${vec.name}`, () => {
    const t = Tapestry.fromData(vec.initial);
    const lookup = (/** @type {string} */ id) => t.get(id);
    const got = Object.fromEntries(t.fragments().filter(isConnector).map((f) => [f.id, ends(f, lookup)]));
    assert.deepEqual(Object.keys(got).sort(), Object.keys(vec.ends).sort());
    for (const [id, want] of Object.entries(vec.ends)) {
      for (let i = 0; i < 2; i++) {
        for (let k = 0; k < 2; k++) assert.ok(Math.abs(got[id][i][k] - want[i][k]) <= 1e-9, `${id} end ${i}: ${got[id][i]} vs ${want[i]}`);
      }
    }
  });
}

test("M14: resolve draws a bound arrow through its ends and leaves others alone", () => {
  const t = new Tapestry();
  const c = (/** @type {any} */ w) => t.apply(checkOp(w));
  c({ t: "c", id: "box", s: [1, "r"], f: { kind: "shape", geom: { shape: "rect", w: 100, h: 100 }, z: "V" } });
  c({ t: "c", id: "ar", s: [2, "r"], f: { kind: "shape", x: -200, y: 50, geom: { shape: "arrow", w: 150, h: 0, rot: 0.2 }, z: "W", end: "box" } });
  const box = /** @type {any} */ (t.get("box"));
  const ar = /** @type {any} */ (t.get("ar"));
  assert.equal(resolve(box, (id) => t.get(id)), box);
  assert.ok(isBound(ar));
  const drawn = resolve(ar, (id) => t.get(id));
  assert.equal(drawn.geom.rot, undefined);
  assert.deepEqual([drawn.x, drawn.y], [-200, 50]);
  c({ t: "d", id: "box", s: [3, "r"] });
  const loose = resolve(/** @type {any} */ (t.get("ar")), (id) => t.get(id));
  // The target is gone: the arrow is drawn where its geometry stores it.
  assert.ok(Math.abs(loose.x + loose.geom.w - (-200 + 150 * Math.cos(0.2))) < 1e-9);
});

test("M13: a create carries group only when given; null is a valid value of a set", () => {
  const base = { t: "c", id: "f", s: [1, "r"], f: { kind: "symbol", geom: { sym: "eye", size: 9 }, z: "V" } };
  assert.equal("group" in checkOp(structuredClone(base)).f, false);
  assert.equal(checkOp({ ...base, f: { ...base.f, group: "g1" } }).f.group, "g1");
  assert.equal(checkOp({ t: "s", id: "f", s: [2, "r"], f: { group: null } }).f.group, null);
  assert.throws(() => checkOp({ t: "s", id: "f", s: [2, "r"], f: { group: "" } }));
  assert.throws(() => checkOp({ t: "s", id: "f", s: [2, "r"], f: { start: 4 } }));
  const t = new Tapestry();
  t.apply(checkOp(structuredClone(base)));
  const f = /** @type {any} */ (t.get("f"));
  assert.deepEqual([f.group, f.start, f.end], [null, null, null]);
});
