// @ts-check
/**
 * Ops: one change to one fragment (SPEC M3-M6), mirroring protocol/ops.py.
 *
 * On the wire an op is `{t, id, s: [counter, replica], f?}`; in memory delete
 * and restore carry `f = {deleted: true|false}` so every op is a list of
 * register writes under one stamp.
 */

/** @typedef {import("./stamps.js").Stamp} Stamp */
/** @typedef {"c" | "s" | "d" | "r"} OpType */
/** @typedef {{t: OpType, id: string, s: Stamp, f: Record<string, any>}} Op */

export const KINDS = Object.freeze(["stroke", "shape", "symbol", "text"]);
export const ORIGINS = Object.freeze(["organic", "ai"]);
export const SHAPES = Object.freeze(["rect", "ellipse", "line", "arrow"]);

/** Every register of a fragment, in canonical order. */
export const FIELDS = Object.freeze([
  "author",
  "deleted",
  "end",
  "geom",
  "group",
  "inspired_by",
  "kind",
  "origin",
  "remixable",
  "start",
  "style",
  "x",
  "y",
  "z",
]);

/** Registers a set op may write: kind, author and origin are fixed at create. */
export const SETTABLE = Object.freeze(new Set(["x", "y", "geom", "style", "z", "inspired_by", "remixable", "group", "start", "end"]));

/** Registers a create need not write (SPEC M13, M14): absent, they read as null. */
export const OPTIONAL = Object.freeze(["end", "group", "start"]);

/**
 * A create op writing every register of a new fragment.
 * @param {string} id
 * @param {Stamp} stamp
 * @param {{kind: string, geom: Record<string, any>, z: string, x?: number, y?: number,
 *   style?: Record<string, any>, author?: string, origin?: string, inspired_by?: string[],
 *   remixable?: boolean, group?: string | null, start?: string | null, end?: string | null}} f
 * @returns {Op}
 */
export function create(id, stamp, f) {
  /** @type {Op} */
  const op = {
    t: "c",
    id,
    s: stamp,
    f: {
      author: f.author ?? "",
      deleted: false,
      geom: { ...f.geom },
      inspired_by: [...(f.inspired_by ?? [])],
      kind: f.kind,
      origin: f.origin ?? "organic",
      remixable: f.remixable ?? false,
      style: { ...(f.style ?? {}) },
      x: f.x ?? 0,
      y: f.y ?? 0,
      z: f.z,
    },
  };
  // The optional registers are written only when given (M13, M14).
  for (const name of OPTIONAL) {
    const v = /** @type {Record<string, any>} */ (f)[name];
    if (v !== undefined && v !== null) op.f[name] = v;
  }
  return op;
}

/**
 * A set op writing some settable registers.
 * @param {string} id @param {Stamp} stamp @param {Record<string, any>} fields
 * @returns {Op}
 */
export function setFields(id, stamp, fields) {
  return { t: "s", id, s: stamp, f: { ...fields } };
}

/** @param {string} id @param {Stamp} stamp @returns {Op} */
export function del(id, stamp) {
  return { t: "d", id, s: stamp, f: { deleted: true } };
}

/** @param {string} id @param {Stamp} stamp @returns {Op} */
export function restore(id, stamp) {
  return { t: "r", id, s: stamp, f: { deleted: false } };
}

/**
 * The op as the plain map the codec sends.
 * @param {Op} op
 * @returns {Record<string, any>}
 */
export function toWire(op) {
  /** @type {Record<string, any>} */
  const wire = { t: op.t, id: op.id, s: [op.s[0], op.s[1]] };
  if (op.t === "c" || op.t === "s") wire.f = { ...op.f };
  return wire;
}
