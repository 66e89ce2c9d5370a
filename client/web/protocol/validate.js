// @ts-check
/**
 * Validation of untrusted structures (ops and snapshots from the server, and
 * our own state restored from local storage), mirroring protocol/validate.py.
 * Every function returns the checked value or throws {@link DecodeError};
 * nothing else escapes.
 */

import { KINDS, ORIGINS, SETTABLE, SHAPES } from "./ops.js";
import { MAX_COUNTER } from "./stamps.js";

/** @typedef {import("./ops.js").Op} Op */

/**
 * The limits of protocol/limits.py (SPEC W4, W4a), the same figures under camelCase names; a test
 * compares the two tables. `maxMessageBytes` is what the server accepts from a client; what a
 * client accepts from the server is not bounded here (a welcome carries the whole tapestry).
 */
export const LIMITS = Object.freeze({
  maxMessageBytes: 262144,
  maxOpsPerBatch: 256,
  maxPointsPerStroke: 4096,
  maxIdLen: 64,
  maxNameLen: 64,
  maxTextLen: 2000,
  maxZLen: 128,
  maxInspiredBy: 16,
  maxSelection: 256,
  maxSymbolLen: 32,
  maxCoordinate: 1e9,
  maxTokenLen: 4096,
  maxPeers: 1024,
  maxPeersPage: 256,
});

const ID_RE = /^[A-Za-z0-9_.:-]+$/;
const Z_RE = /^[0-9A-Za-z]+$/;
const COLOR_RE = /^#[0-9a-fA-F]{6}(?:[0-9a-fA-F]{2})?$/;
const SYMBOL_RE = /^[a-z][a-z0-9_-]*$/;

const STYLE_KEYS = new Set(["color", "fill", "width", "opacity", "dash"]);
/** Line patterns a style may ask for (none: a solid line). */
export const DASHES = Object.freeze(["dashed", "dotted"]);
const GEOM_KEYS = new Set(["pts", "shape", "w", "h", "sym", "text", "size", "rot", "align"]);
// A stroke may carry one pressure a point, its width following it (SPEC M17).
GEOM_KEYS.add("pressure");
/** How a caption sits on its anchor (none: left, the baseline starts there). */
export const ALIGNS = Object.freeze(["left", "center", "right"]);
/** @type {Record<string, string[]>} */
const GEOM_REQUIRED = {
  stroke: ["pts"],
  shape: ["shape", "w", "h"],
  symbol: ["sym", "size"],
  text: ["text", "size"],
};

export class DecodeError extends Error {
  /** @param {string} reason @param {string} [code] */
  constructor(reason, code = "bad_message") {
    super(`${code}: ${reason}`);
    this.code = code;
    this.reason = reason;
  }
}

/** @param {string} reason @returns {never} */
export function fail(reason) {
  throw new DecodeError(reason);
}

/** @param {any} v */
const isMap = (v) => v !== null && typeof v === "object" && !Array.isArray(v);

/** @param {any} v @param {string} what @returns {Record<string, any>} */
export function checkDict(v, what) {
  if (!isMap(v)) fail(`${what} must be a map`);
  return v;
}

/** @param {Record<string, any>} d @param {Set<string>} allowed @param {string} what */
function checkKeys(d, allowed, what) {
  for (const k of Object.keys(d)) if (!allowed.has(k)) fail(`unknown field ${JSON.stringify(k)} in ${what}`);
}

/** @param {any} v @param {string} what @param {number} [lo] @param {number} [hi] @returns {number} */
export function checkInt(v, what, lo = 0, hi = MAX_COUNTER) {
  if (typeof v !== "number" || !Number.isInteger(v) || v < lo || v > hi) fail(`${what} must be an integer in [${lo}, ${hi}]`);
  return v;
}

/** @param {any} v @param {string} what @returns {boolean} */
function checkBool(v, what) {
  if (typeof v !== "boolean") fail(`${what} must be a boolean`);
  return v;
}

/** @param {any} v @param {string} what @param {number} limit @returns {number} */
export function checkNumber(v, what, limit) {
  if (typeof v !== "number") fail(`${what} must be a number`);
  if (!Number.isFinite(v)) fail(`${what} must be a finite number`);
  if (v < -limit || v > limit) fail(`${what} must be within ±${limit}`);
  return v;
}

/** @param {any} v @param {string} what @param {number} max @param {number} [min] @returns {string} */
export function checkStr(v, what, max, min = 0) {
  if (typeof v !== "string") fail(`${what} must be a string`);
  // Python measures code points; astral characters count once there.
  const n = [...v].length;
  if (n < min || n > max) fail(`${what} must be ${min}..${max} characters long`);
  return v;
}

/** @param {any} v @param {string} what @returns {string} */
export function checkId(v, what) {
  checkStr(v, what, LIMITS.maxIdLen, 1);
  if (!ID_RE.test(v)) fail(`${what} may contain only letters, digits and _ . : -`);
  return v;
}

/** @param {any} v @returns {import("./stamps.js").Stamp} */
export function checkStamp(v) {
  if (!Array.isArray(v) || v.length !== 2) fail("stamp must be [counter, replica]");
  return [checkInt(v[0], "stamp counter", 1), checkId(v[1], "stamp replica")];
}

/** @param {any} v @param {string} what @param {boolean} [allowNone] @returns {string} */
export function checkColor(v, what, allowNone = false) {
  if (allowNone && v === "none") return v;
  if (typeof v !== "string" || !COLOR_RE.test(v)) fail(`${what} must be a colour like #a1b2c3`);
  return v;
}

/** @param {any} v @param {string} what @param {number} [minPoints] @returns {number[]} */
export function checkPoints(v, what, minPoints = 1) {
  if (!Array.isArray(v)) fail(`${what} must be a flat list [x0, y0, x1, y1, ...]`);
  const n = v.length;
  if (n % 2 || n < minPoints * 2 || n > LIMITS.maxPointsPerStroke * 2)
    fail(`${what} must hold ${minPoints}..${LIMITS.maxPointsPerStroke} points as x, y pairs`);
  for (const c of v) checkNumber(c, `${what} coordinates`, LIMITS.maxCoordinate);
  return v;
}

/**
 * A stroke's pressure: one number in [0, 1] for each of its points (SPEC M17).
 * @param {any} v @param {any} pts @returns {number[]}
 */
export function checkPressure(v, pts) {
  if (!Array.isArray(v)) fail("geom.pressure must be a list of numbers in [0, 1], one a point");
  if (!Array.isArray(pts) || pts.length !== 2 * v.length) fail("geom.pressure must hold one value for each point of geom.pts");
  if (v.length > LIMITS.maxPointsPerStroke) fail(`geom.pressure may hold at most ${LIMITS.maxPointsPerStroke} values`);
  for (const p of v) {
    if (typeof p !== "number") fail("geom.pressure values must be numbers");
    if (!(p >= 0 && p <= 1)) fail("geom.pressure values must be finite numbers in [0, 1]");
  }
  return v;
}

/** @param {any} v @returns {Record<string, any>} */
export function checkStyle(v) {
  const d = checkDict(v, "style");
  checkKeys(d, STYLE_KEYS, "style");
  if ("color" in d) checkColor(d.color, "style.color");
  if ("fill" in d) checkColor(d.fill, "style.fill", true);
  if ("width" in d && checkNumber(d.width, "style.width", 200) < 0) fail("style.width must not be negative");
  if ("opacity" in d && checkNumber(d.opacity, "style.opacity", 1) < 0) fail("style.opacity must be within [0, 1]");
  if ("dash" in d && !DASHES.includes(d.dash)) fail("style.dash must be 'dashed' or 'dotted'");
  return d;
}

/** @param {any} v @param {string} [kind] @returns {Record<string, any>} */
export function checkGeom(v, kind) {
  const d = checkDict(v, "geom");
  checkKeys(d, GEOM_KEYS, "geom");
  for (const [key, val] of Object.entries(d)) {
    if (key === "pts") checkPoints(val, "geom.pts");
    else if (key === "pressure") checkPressure(val, d.pts);
    else if (key === "shape") {
      if (!SHAPES.includes(val)) fail(`geom.shape must be one of ${SHAPES.join(", ")}`);
    } else if (key === "sym") {
      checkStr(val, "geom.sym", LIMITS.maxSymbolLen, 1);
      if (!SYMBOL_RE.test(val)) fail("geom.sym must be a lowercase symbol name");
    } else if (key === "text") checkStr(val, "geom.text", LIMITS.maxTextLen);
    else if (key === "size") {
      if (checkNumber(val, "geom.size", LIMITS.maxCoordinate) <= 0) fail("geom.size must be positive");
    } else if (key === "align") {
      if (!ALIGNS.includes(val)) fail("geom.align must be left, center or right");
    } else checkNumber(val, `geom.${key}`, LIMITS.maxCoordinate);
  }
  if (kind !== undefined) checkGeomKind(d, kind);
  return d;
}

/** @param {Record<string, any>} geom @param {string} kind */
export function checkGeomKind(geom, kind) {
  const req = GEOM_REQUIRED[kind];
  for (const k of req) if (!(k in geom)) fail(`geom of a ${kind} needs ${k}`);
  for (const k of Object.keys(geom)) {
    if (k !== "rot" && !(k === "align" && kind === "text") && !(k === "pressure" && kind === "stroke") && !req.includes(k)) fail(`geom of a ${kind} may not have ${k}`);
  }
}

/** @param {any} v @returns {string[]} */
function checkInspiredBy(v) {
  if (!Array.isArray(v)) fail("inspired_by must be a list of fragment ids");
  if (v.length > LIMITS.maxInspiredBy) fail(`inspired_by may hold at most ${LIMITS.maxInspiredBy} ids`);
  for (const id of v) checkId(id, "inspired_by id");
  if (new Set(v).size !== v.length) fail("inspired_by ids must be unique");
  return v;
}

/** @param {any} v @returns {string} */
export function checkZ(v) {
  checkStr(v, "z", LIMITS.maxZLen, 1);
  // A key ending in 0 has no key between it and its prefix (SPEC M7).
  if (!Z_RE.test(v) || v.endsWith("0")) fail("z must be a base-62 fractional index key not ending in 0");
  return v;
}

/**
 * Check one register value by its field name.
 * @param {string} name @param {any} v
 */
export function checkField(name, v) {
  switch (name) {
    case "x":
    case "y":
      return checkNumber(v, name, LIMITS.maxCoordinate);
    case "geom":
      return checkGeom(v);
    case "style":
      return checkStyle(v);
    case "z":
      return checkZ(v);
    case "inspired_by":
      return checkInspiredBy(v);
    case "remixable":
    case "deleted":
      return checkBool(v, name);
    case "kind":
      if (!KINDS.includes(v)) fail(`kind must be one of ${KINDS.join(", ")}`);
      return v;
    case "origin":
      if (!ORIGINS.includes(v)) fail("origin must be 'organic' or 'ai'");
      return v;
    case "group":
    case "start":
    case "end":
      // null: no group, or a loose end (SPEC M13, M14).
      return v === null ? v : checkId(v, name);
    case "author":
      return v === "" ? v : checkId(v, "author");
    default:
      return fail(`unknown field ${JSON.stringify(name)}`);
  }
}

const OP_KEYS_FIELDS = new Set(["t", "id", "s", "f"]);
const OP_KEYS_BARE = new Set(["t", "id", "s"]);
/** @type {Record<string, any>} */
const CREATE_DEFAULTS = { author: "", origin: "organic", x: 0, y: 0, style: {}, inspired_by: [], remixable: false };

/**
 * Validate one wire op into an in-memory op.
 * @param {any} v
 * @returns {Op}
 */
export function checkOp(v) {
  const d = checkDict(v, "op");
  const t = d.t;
  if (t === "c" || t === "s") checkKeys(d, OP_KEYS_FIELDS, "op");
  else if (t === "d" || t === "r") checkKeys(d, OP_KEYS_BARE, "op");
  else fail("op t must be one of c, s, d, r");
  if (!("id" in d) || !("s" in d)) fail("op needs id and s");
  const id = checkId(d.id, "op id");
  const s = checkStamp(d.s);
  if (t === "d") return { t, id, s, f: { deleted: true } };
  if (t === "r") return { t, id, s, f: { deleted: false } };
  const fields = checkDict(d.f, "op f");
  if (t === "s") {
    const names = Object.keys(fields);
    if (!names.length) fail("a set op must write at least one field");
    for (const name of names) {
      if (!SETTABLE.has(name)) fail(`field ${JSON.stringify(name)} cannot be set`);
      checkField(name, fields[name]);
    }
    return { t, id, s, f: fields };
  }
  return { t, id, s, f: checkCreateFields(fields) };
}

/** @param {Record<string, any>} fields @returns {Record<string, any>} */
function checkCreateFields(fields) {
  for (const req of ["kind", "geom", "z"]) if (!(req in fields)) fail(`a create op needs ${req}`);
  if ((fields.deleted ?? false) !== false) fail("a create op writes deleted = false");
  /** @type {Record<string, any>} */
  const out = {};
  for (const [name, v] of Object.entries(fields)) out[name] = checkField(name, v);
  checkGeomKind(out.geom, out.kind);
  for (const [name, dflt] of Object.entries(CREATE_DEFAULTS)) {
    if (!(name in out)) out[name] = Array.isArray(dflt) ? [...dflt] : isMap(dflt) ? { ...dflt } : dflt;
  }
  out.deleted = false;
  return out;
}

/** @param {any} v @param {number} [max] @returns {Op[]} */
export function checkOps(v, max = LIMITS.maxOpsPerBatch) {
  if (!Array.isArray(v)) fail("ops must be a list");
  if (v.length > max) fail(`a batch holds at most ${max} ops`);
  return v.map(checkOp);
}
