// The shared vectors: every order of every case must end in the expected state,
// the same bytes (digest) and the same live counts as the Python merge layer.
import assert from "node:assert/strict";
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { test } from "node:test";

import { ROOT, replay } from "./helpers.mjs";

const dir = join(ROOT, "protocol", "vectors");
const files = readdirSync(dir).filter((f) => f.endsWith(".json")).sort();

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
