// The replica's grid of world cells: what a frame finds in view is exactly what a walk over
// every fragment finds, in paint order, through moves, deletes, huge fragments and a
// tapestry that loads a slice at a time.
import assert from "node:assert/strict";
import { test } from "node:test";

import { intersects } from "../app/geometry.js";
import { Replica } from "../app/replica.js";
import { create, del, setFields } from "../protocol/ops.js";
import { Tapestry } from "../protocol/tapestry.js";
import { afterLast } from "../protocol/zorder.js";

/** A small deterministic generator (mulberry32). @param {number} seed */
function rng(seed) {
  let a = seed;
  return () => {
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** @param {Replica} r @param {import("../app/geometry.js").Box} view */
const walked = (r, view) => r.ordered().filter((e) => e.box && intersects(e.box, view)).map((e) => e.frag.id);
/** @param {Replica} r @param {import("../app/geometry.js").Box} view */
const found = (r, view) => r.inView(view).map((e) => e.frag.id);

/** @param {() => number} rand @param {number} n */
function fragments(rand, n) {
  const ops = [];
  let z = null;
  for (let i = 0; i < n; i++) {
    z = afterLast(z, "r1");
    const huge = i % 97 === 0; // wider than the grid keeps in cells
    const geom = huge ? { shape: "rect", w: 40000, h: 30 } : { sym: "moon", size: 20 + rand() * 40 };
    const kind = huge ? "shape" : "symbol";
    ops.push(create(`f${i}`, [i + 1, "r1"], { kind, geom, z, x: (rand() - 0.5) * 20000, y: (rand() - 0.5) * 20000 }));
  }
  return ops;
}

/** @param {() => number} rand */
function views(rand) {
  const out = [];
  for (let i = 0; i < 40; i++) {
    const w = rand() < 0.2 ? 30000 : 200 + rand() * 3000; // some over most of the tapestry
    const x0 = (rand() - 0.5) * 22000;
    const y0 = (rand() - 0.5) * 22000;
    out.push({ x0, y0, x1: x0 + w, y1: y0 + w * 0.6 });
  }
  return out;
}

test("fragments in view: the grid finds what a walk finds, in paint order, through edits", () => {
  const rand = rng(7);
  const r = new Replica();
  r.apply(fragments(rand, 3000));
  for (const v of views(rand)) assert.deepEqual(found(r, v), walked(r, v));
  // Move some far, delete some, bring some to the front.
  const edits = [];
  let top = r.zRange()[1];
  for (let i = 0; i < 600; i++) {
    const id = `f${Math.floor(rand() * 3000)}`;
    const s = [5000 + i, "r2"];
    const roll = rand();
    if (roll < 0.4) edits.push(setFields(id, s, { x: (rand() - 0.5) * 20000, y: (rand() - 0.5) * 20000 }));
    else if (roll < 0.6) edits.push(del(id, s));
    else edits.push(setFields(id, s, { z: (top = afterLast(top, "r2")) }));
  }
  r.apply(edits);
  for (const v of views(rand)) assert.deepEqual(found(r, v), walked(r, v));
  const v = { x0: -3000, y0: -3000, x1: 3000, y1: 3000 };
  assert.equal(r.countInView(v, () => true), walked(r, v).length);
  assert.equal(
    r.countInView(v, (f) => f.kind === "shape"),
    r.inView(v).filter((e) => e.frag.kind === "shape").length,
  );
  // Asked for by id, a fragment out of view comes along (one shown moved by a gesture).
  const far = r.ordered().find((e) => e.box && !intersects(e.box, v));
  assert.ok(far);
  assert.ok(r.inView(v, [far.frag.id]).includes(far));
});

test("a tapestry loaded a slice at a time ends in the paint order and grid of one loaded whole", () => {
  const rand = rng(11);
  const whole = new Tapestry();
  whole.applyMany(fragments(rand, 2500));
  const data = whole.toData();
  const sliced = new Tapestry();
  const r = new Replica();
  r.showLoading(sliced);
  let slices = 0;
  for (const ids of sliced.load(data, 400)) {
    r.grow(ids);
    slices++;
    assert.equal(r.entries.size, Math.min(2500, slices * 400));
    const v = { x0: -5000, y0: -5000, x1: 5000, y1: 5000 };
    assert.deepEqual(found(r, v), walked(r, v));
  }
  assert.equal(slices, 7);
  const reference = new Replica(Tapestry.fromData(data));
  assert.deepEqual(r.ordered().map((e) => e.frag.id), reference.ordered().map((e) => e.frag.id));
  assert.deepEqual(sliced.encode(), whole.encode());
  for (const v of views(rand)) assert.deepEqual(found(r, v), walked(reference, v));
});
