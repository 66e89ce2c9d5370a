// The shared vectors: every order of every case must end in the expected state,
// the same bytes (digest) and the same live counts as the Python merge layer.
import assert from "node:assert/strict";
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { test } from "node:test";

import { toWire } from "../protocol/ops.js";
import { expandEntry, Tapestry } from "../protocol/tapestry.js";
import { Clock } from "../protocol/stamps.js";
import { History } from "../protocol/undo.js";
import { checkOp } from "../protocol/validate.js";
import { between } from "../protocol/zorder.js";
import { ROOT, replay } from "./helpers.mjs";

const dir = join(ROOT, "protocol", "vectors");
const files = readdirSync(dir).filter((f) => f.endsWith(".json")).sort(); // undo/ is a folder: below

test("the shared vector directory holds vectors", () => {
  assert.ok(files.length > 0, `no vectors in ${dir}`);
});

for (const file of files) {
  const doc = JSON.parse(readFileSync(join(dir, file), "utf8"));
  const cases = Array.isArray(doc) ? doc : doc.cases ?? [doc];
  for (const vec of cases) {
    test(`${file}: ${vec.name} (${vec.rule})`, async () => {
      assert.ok(vec.orders.length > 0, "a vector needs at least one order");
      for (const [i, order] of vec.orders.entries()) {
        const t = replay(vec.initial, order);
        assert.deepEqual(t.toData(), vec.expected, `order ${i}: state differs`);
        assert.equal(await t.digest(), vec.digest, `order ${i}: digest differs`);
        assert.deepEqual({ ...t.liveCounts }, { organic: 0, ai: 0, ...vec.live_counts }, `order ${i}: live counts differ`);
      }
    });
  }
}

// The undo vectors (SPEC M10): one user's edits, others' writes, undos and redos;
// every undo and redo must write exactly the ops Python's History wrote.
const undoDir = join(dir, "undo");
const undoFiles = readdirSync(undoDir).filter((f) => f.endsWith(".json")).sort();

test("the shared undo vectors are there", () => {
  assert.ok(undoFiles.length >= 8, `too few undo vectors in ${undoDir}`);
});

for (const file of undoFiles) {
  const vec = JSON.parse(readFileSync(join(undoDir, file), "utf8"));
  test(`undo/${file}: ${vec.name} (${vec.rule})`, async () => {
    const t = replay(vec.initial, []);
    const history = new History();
    /** @param {any[]} ops */
    const apply = (ops) => ops.map((op) => t.apply(op)).filter((c) => c !== null);
    for (const [i, step] of vec.steps.entries()) {
      if (step.do === "edit" || step.do === "remote") {
        const changes = apply(step.ops.map((/** @type {any} */ w) => checkOp(structuredClone(w))));
        if (step.do === "edit") history.record(step.label, changes);
        continue;
      }
      const done = history[step.do === "undo" ? "undo" : "redo"](t, new Clock(vec.replica, t.maxCounter), apply);
      const written = done ? done.changes.map((c) => toWire(c.op)) : [];
      assert.deepEqual(written, step.ops, `step ${i} (${step.do})`);
    }
    assert.deepEqual(t.toData(), vec.expected);
    assert.equal(await t.digest(), vec.digest);
    assert.deepEqual({ ...t.liveCounts }, { organic: 0, ai: 0, ...vec.live_counts });
  });
}

// The z-key vectors (SPEC M7): every call must return Python's key, byte for byte.
const zorderDir = join(dir, "zorder");
const zorderFiles = readdirSync(zorderDir).filter((f) => f.endsWith(".json")).sort();

test("the shared z-key vectors are there", () => {
  assert.ok(zorderFiles.length >= 2, `too few z-key vectors in ${zorderDir}`);
});

for (const file of zorderFiles) {
  const vec = JSON.parse(readFileSync(join(zorderDir, file), "utf8"));
  test(`zorder/${file}: ${vec.name} (${vec.rule})`, () => {
    assert.ok(vec.calls.length > 0);
    for (const c of vec.calls) assert.equal(between(c.a, c.b, c.replica), c.key, JSON.stringify(c));
  });
}

// The compact-form vectors (SPEC M15, M16): a compact snapshot loads the state Python loads,
// that state writes the same compact items, and expanding them gives the canonical form.
const compactDir = join(dir, "compact");
const compactFiles = readdirSync(compactDir).filter((f) => f.endsWith(".json") && f !== "invalid.json").sort();

test("the shared compact vectors are there (M15)", () => {
  assert.ok(compactFiles.length >= 20, `too few compact vectors in ${compactDir}`);
});

for (const file of compactFiles) {
  const vec = JSON.parse(readFileSync(join(compactDir, file), "utf8"));
  test(`compact/${file}: ${vec.name} (M15, M16)`, async () => {
    const t = Tapestry.fromCompact(structuredClone(vec.compact));
    assert.deepEqual(t.toData(), vec.canonical);
    assert.equal(await t.digest(), vec.digest);
    assert.deepEqual({ ...t.liveCounts }, { organic: 0, ai: 0, ...vec.live_counts });
    assert.deepEqual(t.toCompact(), vec.compact);
    assert.deepEqual(Tapestry.fromData(vec.canonical).toCompact(), vec.compact);
    assert.deepEqual(vec.compact.map(expandEntry), vec.canonical);
    // Sliced, as the app loads a large welcome: the same state.
    const sliced = new Tapestry();
    for (const _ of sliced.loadSnapshot(structuredClone(vec.compact), "compact", 2));
    assert.equal(await sliced.digest(), vec.digest);
  });
}

const invalid = JSON.parse(readFileSync(join(compactDir, "invalid.json"), "utf8")).invalid;
for (const c of invalid) {
  test(`compact/invalid.json: ${c.why} is refused (M15)`, () => {
    assert.throws(() => Tapestry.fromCompact(structuredClone(c.compact)));
  });
}
