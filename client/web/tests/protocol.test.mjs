// Unit checks of the JS port that need no Python: known bytes, digest fallback, clocks.
import assert from "node:assert/strict";
import { test } from "node:test";

import { pack, toHex } from "../protocol/canon.js";
import { sha256Hex, sha256HexSync } from "../protocol/digest.js";
import { create, del, restore, setFields } from "../protocol/ops.js";
import { Clock } from "../protocol/stamps.js";
import { Tapestry } from "../protocol/tapestry.js";
import { checkOp, DecodeError } from "../protocol/validate.js";
import { afterLast, beforeFirst, between } from "../protocol/zorder.js";

test("M9: integers take the smallest msgpack form, other numbers float64", () => {
  const cases = [
    [0, "00"], [127, "7f"], [128, "cc80"], [256, "cd0100"], [65536, "ce00010000"],
    [2 ** 32, "cf0000000100000000"], [-1, "ff"], [-32, "e0"], [-33, "d0df"], [-129, "d1ff7f"],
    [-32769, "d2ffff7fff"], [-(2 ** 31) - 1, "d3ffffffff7fffffff"], [1.5, "cb3ff8000000000000"],
    [3.0, "03"], [-0, "00"], [2 ** 53, "cb4340000000000000"],
  ];
  for (const [v, hex] of cases) assert.equal(toHex(pack(v)), hex, String(v));
});

test("M9: maps are packed with sorted keys, strings as UTF-8", () => {
  assert.equal(toHex(pack({ b: 1, a: [true, null, "é"] })), "82a16193c3c0a2c3a9a16201");
  assert.equal(toHex(pack("x".repeat(32))).slice(0, 4), "d920");
});

test("the SHA-256 fallback equals WebCrypto", async () => {
  for (const n of [0, 1, 55, 56, 63, 64, 65, 1000, 100_000]) {
    const bytes = new Uint8Array(n).map((_, i) => (i * 31 + 7) & 0xff);
    assert.equal(sha256HexSync(bytes), await sha256Hex(bytes), `length ${n}`);
  }
  assert.equal(sha256HexSync(new Uint8Array()), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
});

test("M3/M5: a delete and a concurrent move commute, live counts follow", () => {
  const a = new Clock("a");
  const b = new Clock("b");
  const c1 = create("f1", a.tick(), { kind: "symbol", geom: { sym: "moon", size: 40 }, z: "V" });
  const move = setFields("f1", b.tick(), { x: 10 });
  const gone = del("f1", a.tick());
  const t1 = new Tapestry();
  t1.applyMany([c1, move, gone]);
  const t2 = new Tapestry();
  t2.applyMany([gone, move, c1, c1]);
  assert.equal(toHex(t1.encode()), toHex(t2.encode()));
  assert.deepEqual(t1.liveCounts, { organic: 0, ai: 0 });
  t1.apply(restore("f1", a.tick()));
  assert.deepEqual(t1.liveCounts, { organic: 1, ai: 0 });
  assert.equal(t1.get("f1")?.x, 10);
});

test("validation refuses what the Python validator refuses", () => {
  const bad = [
    null, {}, { t: "x", id: "a", s: [1, "r"] }, { t: "d", id: "a b", s: [1, "r"] },
    { t: "d", id: "a", s: [0, "r"] }, { t: "s", id: "a", s: [1, "r"], f: {} },
    { t: "s", id: "a", s: [1, "r"], f: { kind: "stroke" } },
    { t: "c", id: "a", s: [1, "r"], f: { kind: "stroke", geom: { sym: "moon", size: 3 }, z: "V" } },
    { t: "c", id: "a", s: [1, "r"], f: { kind: "stroke", geom: { pts: [1] }, z: "V" } },
    { t: "s", id: "a", s: [1, "r"], f: { style: { color: "red" } } },
    { t: "s", id: "a", s: [1, "r"], f: { x: Infinity } },
    { t: "d", id: "a", s: [1, "r"], f: {} },
    { t: "s", id: "a", s: [1, "r"], f: { z: "V0" } },
    { t: "s", id: "a", s: [1, "r"], f: { style: { dash: "wavy" } } },
    { t: "s", id: "a", s: [1, "r"], f: { geom: { text: "x", size: 9, align: "justify" } } },
    { t: "c", id: "a", s: [1, "r"], f: { kind: "shape", geom: { shape: "rect", w: 1, h: 1, align: "center" }, z: "V" } },
  ];
  for (const v of bad) assert.throws(() => checkOp(v), DecodeError, JSON.stringify(v));
  const ok = checkOp({ t: "c", id: "a", s: [1, "r"], f: { kind: "text", geom: { text: "hi", size: 12 }, z: "V" } });
  assert.equal(ok.f.origin, "organic");
  assert.equal(ok.f.deleted, false);
});

test("M7: z keys order as expected", () => {
  const mid = between(null, null);
  assert.ok(beforeFirst(mid, "r1") < mid && mid < afterLast(mid, "r1"));
  assert.notEqual(afterLast(mid, "a"), afterLast(mid, "b"));
});
