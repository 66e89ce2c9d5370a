// Random cases computed by the Python implementation (pycases.py), replayed here.
// Any divergence between the two merge layers fails the build.
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { join } from "node:path";
import { test } from "node:test";

import { pack, toHex } from "../protocol/canon.js";
import { Clock } from "../protocol/stamps.js";
import { Tapestry } from "../protocol/tapestry.js";
import { inverse } from "../protocol/undo.js";
import { checkOp } from "../protocol/validate.js";
import { between } from "../protocol/zorder.js";
import { colourFor, PALETTE } from "../app/colours.js";
import { ROOT, python, replay } from "./helpers.mjs";
import { toWire } from "../protocol/ops.js";

const SEEDS = (process.env.DREAMLOOM_PARITY_SEEDS ?? "1,2,3,4").split(",").map(Number);
const COUNT = Number(process.env.DREAMLOOM_PARITY_COUNT ?? 60);

for (const seed of SEEDS) {
  const out = execFileSync(python(), [join(ROOT, "client/web/tests/pycases.py"), String(seed), String(COUNT)], {
    cwd: ROOT,
    maxBuffer: 1 << 28,
    encoding: "utf8",
  });
  const cases = JSON.parse(out);

  test(`seed ${seed}: merge cases converge to Python's bytes`, async () => {
    for (const vec of cases.merge) {
      for (const [i, order] of vec.orders.entries()) {
        const t = replay(vec.initial, order);
        assert.deepEqual(t.toData(), vec.expected, `${vec.name} order ${i}`);
        assert.equal(await t.digest(), vec.digest, `${vec.name} order ${i}`);
        assert.deepEqual({ ...t.liveCounts }, vec.live_counts, `${vec.name} order ${i}`);
      }
    }
  });

  test(`seed ${seed}: canonical msgpack bytes equal msgpack-python's`, () => {
    for (const { value, hex } of cases.pack) assert.equal(toHex(pack(value)), hex, JSON.stringify(value).slice(0, 80));
  });

  test(`seed ${seed}: z-order keys equal Python's`, () => {
    for (const c of cases.zorder) assert.equal(between(c.a, c.b, c.replica), c.key, JSON.stringify(c));
  });

  test(`seed ${seed}: undo inverses equal Python's`, () => {
    for (const c of cases.undo) {
      const t = new Tapestry();
      const changes = c.ops.map((/** @type {any} */ w) => t.apply(checkOp(structuredClone(w))));
      const target = checkOp(structuredClone(c.ops[c.target]));
      const change = changes[c.target];
      const inv = inverse(target, change ? change.before : {}, t, new Clock("undoer", t.maxCounter));
      assert.deepEqual(inv.map(toWire), c.inverse, JSON.stringify(c.ops[c.target]));
    }
  });

  test(`seed ${seed}: presence colours equal the server's (W11a)`, () => {
    for (const c of cases.colours) {
      assert.deepEqual([...PALETTE], c.palette, "the palette differs from server/identity.py");
      assert.equal(colourFor(c.key, c.taken), c.colour, JSON.stringify(c.key));
    }
  });
}
