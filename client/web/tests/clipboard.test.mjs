// Copy and paste: Dreamloom JSON out, checked fragments in, placed around a point.
import assert from "node:assert/strict";
import { test } from "node:test";

import { decodePieces, encodePieces, MAX_PIECES, placePieces } from "../app/clipboard.js";

const frag = (/** @type {any} */ over) => ({
  id: "f1", kind: "shape", x: 10, y: 20, geom: { shape: "rect", w: 40, h: 20 }, style: { color: "#ff7a90" },
  z: "V", author: "someone", origin: "ai", inspired_by: ["f0"], remixable: true, deleted: false, ...over,
});

test("fragments go out as Dreamloom JSON without ids, authors or provenance, and come back", () => {
  const text = encodePieces([frag({}), frag({ id: "f2", kind: "text", geom: { text: "夢", size: 16 }, style: {} })]);
  const doc = JSON.parse(text);
  assert.equal(doc.format, "dreamloom/fragments");
  assert.ok(!text.includes("someone") && !text.includes('"ai"') && !text.includes('"f1"'));
  const back = decodePieces(text);
  assert.equal(back?.length, 2);
  assert.deepEqual(back?.[0], { kind: "shape", x: 10, y: 20, geom: { h: 20, shape: "rect", w: 40 }, style: { color: "#ff7a90" }, inspired_by: ["f0"], remixable: true });
});

test("anything else is not Dreamloom's; bad pieces are dropped, good ones kept", () => {
  assert.equal(decodePieces("hello"), null);
  assert.equal(decodePieces('{"format": "other"}'), null);
  const text = JSON.stringify({ format: "dreamloom/fragments", v: 1, fragments: [
    { kind: "shape", geom: { shape: "rect", w: 1, h: 1 } },
    { kind: "shape", geom: { sym: "moon", size: 3 } },
    { kind: "stroke", geom: { pts: [] } },
    { kind: "text", geom: { text: "x", size: 10 }, style: { color: "red" } },
    null,
  ] });
  const back = decodePieces(text);
  assert.equal(back?.length, 1);
  assert.deepEqual([back?.[0].x, back?.[0].y], [0, 0]);
  const many = encodePieces(Array.from({ length: MAX_PIECES + 5 }, (_, i) => frag({ id: `f${i}` })));
  assert.equal(decodePieces(many)?.length, MAX_PIECES);
});

test("pasted pieces are centred on the point", () => {
  const pieces = /** @type {any} */ (decodePieces(encodePieces([frag({}), frag({ x: 110, y: 20 })])));
  const placed = placePieces(pieces, 0, 0);
  assert.deepEqual(placed.map((p) => [p.x, p.y]), [[-70, -10], [30, -10]]); // bounds include the stroke width
});

test("M13: a copied group travels with its group id, so the paste can make it a group of its own", () => {
  const back = decodePieces(encodePieces([frag({ group: "g1" }), frag({ id: "f2", group: "g1" }), frag({ id: "f3" })]));
  assert.deepEqual(back?.map((p) => p.group), ["g1", "g1", undefined]);
  const bad = JSON.stringify({ format: "dreamloom/fragments", v: 1, fragments: [{ kind: "shape", geom: { shape: "rect", w: 1, h: 1 }, group: "not an id" }] });
  assert.equal(decodePieces(bad)?.length, 0, "a piece with a malformed group is dropped");
});
