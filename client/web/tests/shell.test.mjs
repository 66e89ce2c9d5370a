// The offline shell (sw.js) lists every module the sanctuary page loads, so a
// reload without network finds each of them.
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { dirname, join, relative, resolve } from "node:path";
import { test } from "node:test";

import { ROOT } from "./helpers.mjs";

const WEB = join(ROOT, "client", "web");

/** @param {string} file @param {Set<string>} seen */
function imports(file, seen = new Set()) {
  if (seen.has(file)) return seen;
  seen.add(file);
  const text = readFileSync(file, "utf8");
  for (const m of text.matchAll(/(?:from|import)\s*\(?\s*"(\.{1,2}\/[^"]+)"/g)) imports(resolve(dirname(file), m[1]), seen);
  return seen;
}

test("every module of the sanctuary page is in the offline shell", () => {
  const sw = readFileSync(join(WEB, "sw.js"), "utf8");
  const shell = new Set([...sw.slice(sw.indexOf("const SHELL"), sw.indexOf("];")).matchAll(/"([^"]+)"/g)].map((m) => m[1]));
  const modules = [...imports(join(WEB, "app", "main.js"))].map((f) => "/static/" + relative(WEB, f).split("\\").join("/"));
  assert.ok(modules.length > 10);
  const missing = modules.filter((m) => !shell.has(m));
  assert.deepEqual(missing, [], "add these to SHELL in sw.js");
});
