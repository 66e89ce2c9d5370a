// Shared by the node suites: run a replay of wire ops against the JS merge layer.
import { existsSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

import { Tapestry } from "../protocol/tapestry.js";
import { checkOp } from "../protocol/validate.js";

export const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), "../../..");

/** The project's Python: the virtual environment's when it exists. */
export function python() {
  const venv = join(ROOT, ".venv", "bin", "python");
  return existsSync(venv) ? venv : "python3";
}

/**
 * Apply one order of wire ops to a fresh copy of `initial`.
 * @param {any} initial @param {any[]} order
 */
export function replay(initial, order) {
  const t = Tapestry.fromData(initial);
  for (const wire of order) t.apply(checkOp(structuredClone(wire)));
  return t;
}
