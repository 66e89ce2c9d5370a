// The outline vectors (SPEC M17): the browser's port draws every pressure stroke
// with the very same polygon as protocol/outline.py.
import assert from "node:assert/strict";
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { test } from "node:test";

import { maxRadius, outline, radius } from "../protocol/outline.js";
import { ROOT } from "./helpers.mjs";

const dir = join(ROOT, "protocol", "vectors", "outline");
const files = readdirSync(dir).filter((f) => f.endsWith(".json")).sort();

test("the outline vectors are there", () => {
  assert.ok(files.length >= 8, `too few outline vectors in ${dir}`);
});

for (const file of files) {
  const vec = JSON.parse(readFileSync(join(dir, file), "utf8"));
  test(`outline ${vec.name} (${vec.rule}): ${vec.description}`, () => {
    const got = outline(vec.pts, vec.pressure, vec.width, vec.origin[0], vec.origin[1]);
    assert.equal(got.length, vec.outline.length, "vertex count differs");
    for (let i = 0; i < got.length; i++) assert.equal(got[i], vec.outline[i], `coordinate ${i} differs`);
  });
}

test("M17: pressure 0.5 gives the base width, lighter is thinner, heavier is wider", () => {
  assert.equal(radius(4, 0.5), 2);
  assert.ok(radius(4, 0) < 2 && radius(4, 0) > 0);
  assert.ok(radius(4, 1) > 2);
  assert.equal(maxRadius(4, [0.1, 1, 0.3]), radius(4, 1));
});

test("M17: the outline of a stroke with rising pressure widens along it", () => {
  const pts = [];
  const pressure = [];
  for (let i = 0; i <= 40; i++) {
    pts.push(i * 5, 0);
    pressure.push(i / 40);
  }
  const o = outline(pts, pressure, 10);
  // The upper edge (first half of the polygon) is y > 0 for a line along +x in canvas space.
  const ys = [];
  for (let i = 1; i < o.length; i += 2) ys.push(Math.abs(o[i]));
  const near = (x) => Math.max(...ys.filter((_, k) => Math.abs(o[2 * k] - x) < 3));
  assert.ok(near(150) > near(50) * 1.5, `width at x=150 (${near(150)}) should exceed width at x=50 (${near(50)})`);
});
