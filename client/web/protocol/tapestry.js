// @ts-check
/**
 * The merge layer (SPEC M1-M10), a faithful port of protocol/tapestry.py.
 *
 * 1. A fragment is a set of registers, one per field: `[stamp, value]`.
 * 2. A write wins iff its stamp is greater (M3). Equal stamps with different
 *    values are settled by comparing canonical bytes (M4).
 * 3. Applying an op applies each write independently: commutative,
 *    associative, idempotent (M5).
 * 4. A fragment exists once its `kind` register is written; writes that
 *    arrive before the create are kept (M6).
 * 5. Live counts by origin are kept incrementally.
 * 6. The canonical encoding lists fragments by id and registers by field
 *    name (M9): same state, same bytes, on every replica.
 */

import { canon, compareBytes, pack } from "./canon.js";
import { sha256Hex } from "./digest.js";
import { FIELDS } from "./ops.js";
import { compareStamps } from "./stamps.js";
import { checkDict, checkField, checkId, checkInt, fail } from "./validate.js";

/** @typedef {import("./stamps.js").Stamp} Stamp */
/** @typedef {import("./ops.js").Op} Op */
/** @typedef {[Stamp, any]} Register */
/** @typedef {Record<string, Register>} Registers */
/**
 * What applying one op changed: the fields it won and their registers before.
 * @typedef {{op: Op, id: string, fields: string[], before: Record<string, Register | null>, created: boolean}} Change
 */
/**
 * A read-only view of a fragment's current values.
 * @typedef {{id: string, kind: string, x: number, y: number, geom: Record<string, any>,
 *   style: Record<string, any>, z: string, author: string, origin: string,
 *   inspired_by: string[], remixable: boolean, deleted: boolean,
 *   group?: string | null, start?: string | null, end?: string | null}} Fragment
 */

/** @param {any} a @param {any} b */
function tieWins(a, b) {
  return compareBytes(pack(a), pack(b)) > 0;
}

/** @param {Registers} regs @returns {string | null} */
function liveOrigin(regs) {
  if (!regs.kind) return null;
  if (regs.deleted && regs.deleted[1]) return null;
  return regs.origin ? regs.origin[1] : null;
}

/** @param {string} a @param {string} b */
const cmpStr = (a, b) => (a < b ? -1 : a > b ? 1 : 0);

export class Tapestry {
  constructor() {
    /** @type {Map<string, Registers>} */
    this.frags = new Map();
    /** @type {{organic: number, ai: number}} */
    this.liveCounts = { organic: 0, ai: 0 };
    this.maxCounter = 0;
  }

  /**
   * Apply `op`; return what changed, or null if it changed nothing.
   * @param {Op} op
   * @returns {Change | null}
   */
  apply(op) {
    const stamp = op.s;
    if (stamp[0] > this.maxCounter) this.maxCounter = stamp[0];
    const names = Object.keys(op.f);
    if (!names.length) return null;
    let regs = this.frags.get(op.id);
    /** @type {Record<string, Register | null>} */
    const before = {};
    if (regs === undefined) {
      regs = Object.create(null);
      this.frags.set(op.id, /** @type {Registers} */ (regs));
      for (const name of names) {
        /** @type {Registers} */ (regs)[name] = [stamp, op.f[name]];
        before[name] = null;
      }
      if (op.t !== "s") this.#count(null, liveOrigin(/** @type {Registers} */ (regs)));
      return { op, id: op.id, fields: names, before, created: "kind" in before };
    }
    const counted = op.t !== "s";
    const was = counted ? liveOrigin(regs) : null;
    const won = [];
    for (const name of names) {
      const cur = regs[name];
      const value = op.f[name];
      if (cur === undefined) {
        before[name] = null;
      } else {
        const c = compareStamps(stamp, cur[0]);
        if (c < 0 || (c === 0 && !tieWins(value, cur[1]))) continue;
        before[name] = cur;
      }
      regs[name] = [stamp, value];
      won.push(name);
    }
    if (!won.length) return null;
    if (counted) this.#count(was, liveOrigin(regs));
    return { op, id: op.id, fields: won, before, created: "kind" in before && before.kind === null };
  }

  /** @param {string | null} was @param {string | null} now */
  #count(was, now) {
    if (was === now) return;
    if (was !== null) this.liveCounts[/** @type {"organic" | "ai"} */ (was)] -= 1;
    if (now !== null) this.liveCounts[/** @type {"organic" | "ai"} */ (now)] += 1;
  }

  /** @param {Iterable<Op>} ops @returns {Change[]} */
  applyMany(ops) {
    const out = [];
    for (const op of ops) {
      const c = this.apply(op);
      if (c) out.push(c);
    }
    return out;
  }

  /** @param {string} id */
  has(id) {
    const regs = this.frags.get(id);
    return regs !== undefined && "kind" in regs;
  }

  /** Number of fragments that exist, deleted ones included. */
  get size() {
    let n = 0;
    for (const regs of this.frags.values()) if ("kind" in regs) n++;
    return n;
  }

  /** @param {string} id @returns {Registers} */
  registers(id) {
    return this.frags.get(id) ?? Object.create(null);
  }

  /** @param {string} id @returns {Fragment | null} */
  get(id) {
    const regs = this.frags.get(id);
    if (regs === undefined || !("kind" in regs)) return null;
    return view(id, regs);
  }

  /** @param {boolean} [includeDeleted] @returns {Fragment[]} */
  fragments(includeDeleted = false) {
    const out = [];
    for (const [id, regs] of this.frags) {
      if (!("kind" in regs)) continue;
      const f = view(id, regs);
      if (includeDeleted || !f.deleted) out.push(f);
    }
    return out;
  }

  /** Live fragments bottom to top, by (z, id) (SPEC M7). @returns {Fragment[]} */
  ordered() {
    return this.fragments().sort((a, b) => cmpStr(a.z, b.z) || cmpStr(a.id, b.id));
  }

  /** An independent copy (registers are never mutated in place). */
  copy() {
    const t = new Tapestry();
    for (const [id, regs] of this.frags) t.frags.set(id, Object.assign(Object.create(null), regs));
    t.liveCounts = { ...this.liveCounts };
    t.maxCounter = this.maxCounter;
    return t;
  }

  /** The canonical structure `[[id, {field: [counter, replica, value]}], ...]`. */
  toData() {
    const ids = [...this.frags.keys()].sort(cmpStr);
    return ids.map((id) => {
      const regs = /** @type {Registers} */ (this.frags.get(id));
      /** @type {Record<string, any>} */
      const out = {};
      for (const f of Object.keys(regs).sort(cmpStr)) out[f] = [regs[f][0][0], regs[f][0][1], canon(regs[f][1])];
      return [id, out];
    });
  }

  /**
   * The compact structure (SPEC M15): each fragment's shared stamp written once,
   * `[[id, counter, replica, {field: value}, {field: [counter, replica, value]}], ...]`.
   */
  toCompact() {
    return this.toData().map((entry) => compactEntry(/** @type {string} */ (entry[0]), /** @type {Record<string, any[]>} */ (entry[1])));
  }

  /** Canonical bytes: equal on every replica holding the same state. */
  encode() {
    return pack(this.toData());
  }

  /** SHA-256 (hex) of the canonical bytes. */
  digest() {
    return sha256Hex(this.encode());
  }

  /**
   * Load (and validate) a canonical structure, e.g. a welcome snapshot.
   * @param {any} data
   */
  static fromData(data) {
    const t = new Tapestry();
    for (const _ of t.load(data, Infinity));
    return t;
  }

  /**
   * Load (and validate) a compact structure (SPEC M15), e.g. a welcome snapshot with `form: "compact"`.
   * @param {any} data
   */
  static fromCompact(data) {
    const t = new Tapestry();
    for (const _ of t.loadCompact(data, Infinity));
    return t;
  }

  /**
   * Load a welcome's snapshot in the form it names (W37): `"compact"`, or the canonical one.
   * @param {any} data @param {string | undefined} form
   */
  static fromSnapshot(data, form) {
    return form === "compact" ? Tapestry.fromCompact(data) : Tapestry.fromData(data);
  }

  /**
   * `load` or `loadCompact`, as a welcome's `form` says (W37).
   * @param {any} data @param {string | undefined} form @param {number} slice
   */
  loadSnapshot(data, form, slice) {
    return form === "compact" ? this.loadCompact(data, slice) : this.load(data, slice);
  }

  /**
   * Load a compact snapshot (SPEC M15) into this empty tapestry a slice at a time, validated
   * as `load` validates: straight into registers, the item's stamp shared by its `values`.
   * @param {any} data @param {number} slice
   * @returns {Generator<string[], void, void>}
   */
  *loadCompact(data, slice) {
    if (!Array.isArray(data)) fail("snapshot must be a list of [id, counter, replica, values, others]");
    yield* this.#loadSliced(data, slice, (item) => {
      if (!Array.isArray(item) || item.length !== 5) fail("compact snapshot entry must be [id, counter, replica, values, others]");
      const id = checkId(item[0], "fragment id");
      const counter = checkInt(item[1], "register counter", 1);
      /** @type {Stamp} */
      const base = [counter, checkId(item[2], "register replica")];
      let top = counter;
      /** @type {Registers} */
      const regs = Object.create(null);
      for (const [name, value] of Object.entries(checkDict(item[3], "values"))) {
        if (!FIELDS.includes(name)) fail(`unknown register ${JSON.stringify(name)}`);
        regs[name] = [base, checkField(name, value)];
      }
      if (Object.keys(regs).length === 0) fail(`fragment ${JSON.stringify(id)}: no register holds its shared stamp`);
      for (const [name, reg] of Object.entries(checkDict(item[4], "others"))) {
        if (!FIELDS.includes(name)) fail(`unknown register ${JSON.stringify(name)}`);
        if (name in regs) fail(`fragment ${JSON.stringify(id)}: ${JSON.stringify(name)} is both in values and in others`);
        if (!Array.isArray(reg) || reg.length !== 3) fail("register must be [counter, replica, value]");
        /** @type {Stamp} */
        const stamp = [checkInt(reg[0], "register counter", 1), checkId(reg[1], "register replica")];
        if (stamp[0] === base[0] && stamp[1] === base[1]) fail(`fragment ${JSON.stringify(id)}: ${JSON.stringify(name)} holds the shared stamp but is in others`);
        regs[name] = [stamp, checkField(name, reg[2])];
        if (stamp[0] > top) top = stamp[0];
      }
      return { id, regs, top };
    });
  }

  /**
   * Load a snapshot into this empty tapestry a slice at a time (a large welcome, without
   * one long task): each step validates and adds up to `slice` entries and yields their
   * ids. A bad entry throws at the step that reaches it.
   * @param {any} data @param {number} slice
   * @returns {Generator<string[], void, void>}
   */
  *load(data, slice) {
    if (!Array.isArray(data)) fail("snapshot must be a list of [id, registers]");
    yield* this.#loadSliced(data, slice, (entry) => {
      if (!Array.isArray(entry) || entry.length !== 2) fail("snapshot entry must be [id, registers]");
      const id = checkId(entry[0], "fragment id");
      let top = 0;
      /** @type {Registers} */
      const regs = Object.create(null);
      for (const [name, reg] of Object.entries(checkDict(entry[1], "registers"))) {
        if (!FIELDS.includes(name)) fail(`unknown register ${JSON.stringify(name)}`);
        if (!Array.isArray(reg) || reg.length !== 3) fail("register must be [counter, replica, value]");
        const counter = checkInt(reg[0], "register counter", 1);
        const replica = checkId(reg[1], "register replica");
        regs[name] = [[counter, replica], checkField(name, reg[2])];
        if (counter > top) top = counter;
      }
      return { id, regs, top };
    });
  }

  /**
   * What both loads share: each entry read (and validated) by `read`, added and counted, and
   * the ids yielded `slice` at a time.
   * @param {any[]} data @param {number} slice
   * @param {(entry: any) => {id: string, regs: Registers, top: number}} read
   * @returns {Generator<string[], void, void>}
   */
  *#loadSliced(data, slice, read) {
    /** @type {string[]} */
    let ids = [];
    for (const entry of data) {
      const { id, regs, top } = read(entry);
      if (this.frags.has(id)) fail(`fragment ${JSON.stringify(id)} listed twice`);
      if (top > this.maxCounter) this.maxCounter = top;
      this.frags.set(id, regs);
      this.#count(null, liveOrigin(regs));
      ids.push(id);
      if (ids.length >= slice) {
        yield ids;
        ids = [];
      }
    }
    if (ids.length) yield ids;
  }
}

/**
 * The stamp held by the most registers of a canonical item; ties go to the greatest (M15).
 * @param {Record<string, any[]>} regs @returns {[number, string]}
 */
export function sharedStamp(regs) {
  /** @type {Map<string, {stamp: [number, string], n: number}>} */
  const counts = new Map();
  for (const reg of Object.values(regs)) {
    const key = `${reg[0]}\u0000${reg[1]}`;
    const seen = counts.get(key);
    if (seen) seen.n += 1;
    else counts.set(key, { stamp: [reg[0], reg[1]], n: 1 });
  }
  /** @type {{stamp: [number, string], n: number} | null} */
  let best = null;
  for (const c of counts.values()) {
    if (best === null || c.n > best.n || (c.n === best.n && compareStamps(c.stamp, best.stamp) > 0)) best = c;
  }
  if (best === null) throw new Error("a fragment has at least one register");
  return best.stamp;
}

/**
 * One canonical item `[id, {field: [counter, replica, value]}]` in the compact form (M15).
 * @param {string} id @param {Record<string, any[]>} regs @returns {any[]}
 */
export function compactEntry(id, regs) {
  const [counter, replica] = sharedStamp(regs);
  /** @type {Record<string, any>} */
  const values = {};
  /** @type {Record<string, any[]>} */
  const others = {};
  for (const name of Object.keys(regs).sort(cmpStr)) {
    const reg = regs[name];
    if (reg[0] === counter && reg[1] === replica) values[name] = reg[2];
    else others[name] = reg;
  }
  return [id, counter, replica, values, others];
}

/**
 * A compact item back in the canonical form (M16): its registers merged and sorted by field.
 * @param {any[]} item @returns {any[]}
 */
export function expandEntry(item) {
  const [id, counter, replica, values, others] = item;
  /** @type {Record<string, any[]>} */
  const regs = {};
  for (const [name, value] of Object.entries(values)) regs[name] = [counter, replica, value];
  for (const [name, reg] of Object.entries(others)) regs[name] = reg;
  /** @type {Record<string, any[]>} */
  const sorted = {};
  for (const name of Object.keys(regs).sort(cmpStr)) sorted[name] = regs[name];
  return [id, sorted];
}

/** @param {string} id @param {Registers} regs @returns {Fragment} */
function view(id, regs) {
  /** @param {string} name @param {any} dflt */
  const val = (name, dflt) => (regs[name] === undefined ? dflt : regs[name][1]);
  return {
    id,
    kind: regs.kind[1],
    x: val("x", 0),
    y: val("y", 0),
    geom: val("geom", {}),
    style: val("style", {}),
    z: val("z", ""),
    author: val("author", ""),
    origin: val("origin", "organic"),
    inspired_by: val("inspired_by", []),
    remixable: val("remixable", false),
    deleted: val("deleted", false),
    group: val("group", null),
    start: val("start", null),
    end: val("end", null),
  };
}
