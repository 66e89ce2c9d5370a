// @ts-check
/**
 * The local replica: a Tapestry plus what the screen needs from it — a
 * paint-ordered list of live fragments, their bounds in a grid of world cells
 * (so a frame finds the fragments in view without looking at the others), and
 * change events — kept up to date incrementally as ops apply.
 *
 * A bound line or arrow (SPEC M14) is kept as it is drawn: its entry's
 * fragment goes through its attached ends, and a change to a target
 * refreshes the lines bound to it.
 */

import { compareBytes, pack } from "../protocol/canon.js";
import { isBound, resolve } from "../protocol/bindings.js";
import { compareStamps } from "../protocol/stamps.js";
import { Tapestry } from "../protocol/tapestry.js";
import { intersects, worldBox } from "./geometry.js";

/** @typedef {import("../protocol/tapestry.js").Fragment} Fragment */
/** @typedef {import("../protocol/tapestry.js").Change} Change */
/** @typedef {import("../protocol/ops.js").Op} Op */
/** @typedef {import("./geometry.js").Box} Box */
/** @typedef {{frag: Fragment, box: Box | null, path?: Path2D | null, pathKey?: string, rank?: number, cells?: number[] | null, seen?: number}} Entry */

/** World units per side of a grid cell. */
const CELL = 512;
/** A fragment over more cells than this (per axis) is kept in one list instead, checked every time. */
const SPAN = 16;
/** Grid coordinates stay below this (in absolute value) to make exact numeric keys. */
const REACH = 1 << 20;

export class Replica {
  /** @param {Tapestry} [tapestry] */
  constructor(tapestry = new Tapestry()) {
    this.tapestry = tapestry;
    /** @type {Map<string, Entry>} live fragments */
    this.entries = new Map();
    /** @type {Entry[]} */
    this.order = [];
    this.orderDirty = true;
    this.rankDirty = false;
    this.version = 0;
    /** @type {Set<(ids: Set<string>) => void>} */
    this.listeners = new Set();
    /** @type {Map<number, Set<Entry>>} grid cell -> the fragments whose box meets it */
    this.grid = new Map();
    /** @type {Set<Entry>} fragments too large (or too far out) for the grid */
    this.wide = new Set();
    this.queries = 0;
    /** @type {Map<string, Set<string>>} target id -> the lines and arrows bound to it */
    this.bound = new Map();
    /** @type {Map<string, string[]>} line id -> the targets it is indexed under */
    this.boundEnds = new Map();
    this.rebuild();
  }

  /** Replace the whole state (a welcome snapshot, a replay position). @param {Tapestry} t */
  reset(t) {
    this.tapestry = t;
    this.rebuild();
    this.#emit(new Set(["*"]));
  }

  rebuild() {
    this.entries.clear();
    this.grid.clear();
    this.wide.clear();
    this.bound.clear();
    this.boundEnds.clear();
    for (const f of this.tapestry.fragments()) {
      this.#bind(f.id, f);
      this.#add(f);
    }
    this.orderDirty = true;
    this.version++;
  }

  /**
   * Show a tapestry that is still loading (a large welcome, decoded a slice at a time):
   * start empty, then `grow` with each slice's ids. @param {Tapestry} t
   */
  showLoading(t) {
    this.tapestry = t;
    this.rebuild();
    this.#emit(new Set(["*"]));
  }

  /**
   * Become `other` (a replica loaded aside): its tapestry, fragments, grid and order.
   * @param {Replica} other
   */
  takeOver(other) {
    this.tapestry = other.tapestry;
    this.entries = other.entries;
    this.grid = other.grid;
    this.wide = other.wide;
    this.bound = other.bound;
    this.boundEnds = other.boundEnds;
    this.order = other.order;
    this.orderDirty = other.orderDirty;
    this.rankDirty = true;
    this.version++;
    this.#emit(new Set(["*"]));
  }

  /**
   * Fragments a loading tapestry just gained (see `showLoading`): merged into the paint
   * order, not re-sorted with it. @param {string[]} ids
   */
  grow(ids) {
    /** @type {Entry[]} */
    const added = [];
    /** @type {Set<string>} */
    const lines = new Set();
    for (const id of ids) {
      const f = this.tapestry.get(id);
      if (!f || f.deleted || this.entries.has(id)) continue;
      this.#bind(id, f);
      added.push(this.#add(f));
      // A line that came in an earlier slice than its target is drawn through it from now on.
      for (const line of this.bound.get(id) ?? []) if (this.entries.has(line)) lines.add(line);
    }
    if (!added.length) return;
    for (const line of lines) this.#update(line, this.tapestry.get(line));
    if (!this.orderDirty) {
      this.order = mergeOrdered(this.order, added.sort(paintOrder));
      this.rankDirty = true;
    }
    this.version++;
    this.#emit(new Set([...ids, ...lines]));
  }

  /** @param {Fragment} f */
  #add(f) {
    const shown = this.#shown(f);
    /** @type {Entry} */
    const e = { frag: shown, box: worldBox(shown) };
    this.entries.set(f.id, e);
    this.#index(e);
    return e;
  }

  /** @param {Entry} e */
  #index(e) {
    const b = e.box;
    e.cells = null;
    if (!b) return;
    const [cx0, cy0, cx1, cy1] = cellRange(b);
    if (cx1 - cx0 >= SPAN || cy1 - cy0 >= SPAN || Math.max(-cx0, -cy0, cx1, cy1) >= REACH) {
      this.wide.add(e);
      return;
    }
    e.cells = [];
    for (let cx = cx0; cx <= cx1; cx++) {
      for (let cy = cy0; cy <= cy1; cy++) {
        const key = cellKey(cx, cy);
        let set = this.grid.get(key);
        if (!set) this.grid.set(key, (set = new Set()));
        set.add(e);
        e.cells.push(key);
      }
    }
  }

  /** @param {Entry} e */
  #unindex(e) {
    this.wide.delete(e);
    for (const key of e.cells ?? []) {
      const set = this.grid.get(key);
      if (!set) continue;
      set.delete(e);
      if (!set.size) this.grid.delete(key);
    }
    e.cells = null;
  }

  /**
   * Live fragments whose box meets `view`, bottom to top: only the grid cells under the
   * view are looked at (a view over most of the tapestry walks the paint order instead).
   * @param {Box} view @param {Iterable<string>} [also] ids to include wherever they are (shown moved)
   * @returns {Entry[]}
   */
  inView(view, also = []) {
    const order = this.ordered();
    const [cx0, cy0, cx1, cy1] = cellRange(view);
    if (this.#wideView(cx0, cy0, cx1, cy1)) {
      const out = order.filter((e) => e.box && intersects(e.box, view));
      /** @type {Entry[]} */
      const extra = [];
      for (const id of also) {
        const e = this.entries.get(id);
        if (e && !out.includes(e)) extra.push(e);
      }
      return extra.length ? out.concat(extra).sort(byRank) : out;
    }
    const stamp = ++this.queries;
    /** @type {Entry[]} */
    const out = [];
    /** @param {Entry} e */
    const take = (e) => {
      if (e.seen === stamp) return;
      e.seen = stamp;
      if (e.box && intersects(e.box, view)) out.push(e);
    };
    for (let cx = cx0; cx <= cx1; cx++) {
      for (let cy = cy0; cy <= cy1; cy++) {
        const set = this.grid.get(cellKey(cx, cy));
        if (set) for (const e of set) take(e);
      }
    }
    for (const e of this.wide) take(e);
    for (const id of also) {
      const e = this.entries.get(id);
      if (e && !out.includes(e)) out.push(e); // seen may mean looked at and out of view
    }
    return out.sort(byRank);
  }

  /**
   * How many live fragments meet `view` and pass `keep` (no paint order needed).
   * @param {Box} view @param {(f: Fragment) => boolean} keep
   */
  countInView(view, keep) {
    const [cx0, cy0, cx1, cy1] = cellRange(view);
    let n = 0;
    if (this.#wideView(cx0, cy0, cx1, cy1)) {
      for (const e of this.ordered()) if (e.box && intersects(e.box, view) && keep(e.frag)) n++;
      return n;
    }
    const stamp = ++this.queries;
    /** @param {Entry} e */
    const take = (e) => {
      if (e.seen === stamp) return;
      e.seen = stamp;
      if (e.box && intersects(e.box, view) && keep(e.frag)) n++;
    };
    for (let cx = cx0; cx <= cx1; cx++) {
      for (let cy = cy0; cy <= cy1; cy++) {
        const set = this.grid.get(cellKey(cx, cy));
        if (set) for (const e of set) take(e);
      }
    }
    for (const e of this.wide) take(e);
    return n;
  }

  /**
   * Whether a view over these cells is better served by walking every fragment: it covers
   * a good part of the grid (then the grid saves little and sorting what it finds costs).
   * @param {number} cx0 @param {number} cy0 @param {number} cx1 @param {number} cy1
   */
  #wideView(cx0, cy0, cx1, cy1) {
    if (Math.max(-cx0, -cy0, cx1, cy1) >= REACH) return true;
    return (cx1 - cx0 + 1) * (cy1 - cy0 + 1) * 4 >= this.grid.size;
  }

  /**
   * Apply ops; returns the changes that won something.
   * @param {Op[]} ops
   * @returns {Change[]}
   */
  apply(ops) {
    const changes = [];
    const touched = new Set();
    for (const op of ops) {
      const c = this.tapestry.apply(op);
      if (!c) continue;
      changes.push(c);
      touched.add(op.id);
    }
    if (touched.size) this.#refresh(touched);
    return changes;
  }

  /**
   * The server is the authority on what an op of ours says (it stamps author
   * and origin on creates). When its copy differs from the one we applied
   * under the same stamp, take its values.
   * @param {Op} op
   */
  adopt(op) {
    const regs = this.tapestry.frags.get(op.id);
    if (!regs) return;
    let differs = false;
    for (const [name, value] of Object.entries(op.f)) {
      const reg = regs[name];
      if (reg && compareStamps(reg[0], op.s) === 0 && compareBytes(pack(reg[1]), pack(value)) !== 0) differs = true;
    }
    if (!differs) return;
    const t = this.tapestry;
    const was = t.get(op.id);
    for (const [name, value] of Object.entries(op.f)) {
      const reg = regs[name];
      if (reg && compareStamps(reg[0], op.s) === 0) regs[name] = [op.s, value];
    }
    const now = t.get(op.id);
    /** @param {Fragment | null} f */
    const live = (f) => (f && !f.deleted ? /** @type {"organic" | "ai"} */ (f.origin) : null);
    const a = live(was);
    const b = live(now);
    if (a !== b) {
      if (a) t.liveCounts[a]--;
      if (b) t.liveCounts[b]++;
    }
    this.#refresh(new Set([op.id]));
  }

  /** A fragment as drawn: a bound line or arrow through its attached ends. @param {Fragment} f */
  #shown(f) {
    return isBound(f) ? resolve(f, (id) => this.tapestry.get(id)) : f;
  }

  /** Keep `bound` in step with a line's current ends. @param {string} id @param {Fragment | null} f */
  #bind(id, f) {
    const was = this.boundEnds.get(id);
    if (!was && !(f && isBound(f))) return; // the common case: nothing bound before or now
    for (const t of was ?? []) {
      const set = this.bound.get(t);
      set?.delete(id);
      if (set && !set.size) this.bound.delete(t);
    }
    this.boundEnds.delete(id);
    if (!f || f.deleted || !isBound(f)) return;
    const ends = /** @type {string[]} */ ([f.start, f.end].filter((t) => t));
    this.boundEnds.set(id, ends);
    for (const t of ends) {
      let set = this.bound.get(t);
      if (!set) this.bound.set(t, (set = new Set()));
      set.add(id);
    }
  }

  /** @param {Set<string>} ids */
  #refresh(ids) {
    /** @type {string[]} */
    const lines = [];
    for (const id of ids) {
      const raw = this.tapestry.get(id);
      this.#bind(id, raw);
      this.#update(id, raw);
      // A line bound to a changed fragment is redrawn too.
      const bound = this.bound.size ? this.bound.get(id) : undefined;
      if (bound) for (const line of bound) if (!ids.has(line)) lines.push(line);
    }
    for (const line of lines) {
      ids.add(line);
      this.#update(line, this.tapestry.get(line));
    }
    this.version++;
    this.#emit(ids);
  }

  /** Bring one entry, and its place in the grid, in step with its fragment. @param {string} id @param {Fragment | null} raw */
  #update(id, raw) {
    const old = this.entries.get(id);
    if (!raw || raw.deleted) {
      if (old) {
        this.entries.delete(id);
        this.#unindex(old);
        this.orderDirty = true;
      }
      return;
    }
    if (!old) {
      this.#add(raw);
      this.orderDirty = true;
      return;
    }
    const f = this.#shown(raw);
    // Update in place: the paint-order array holds these same objects.
    if (old.frag.z !== f.z) this.orderDirty = true;
    old.frag = f;
    this.#unindex(old);
    old.box = worldBox(f);
    this.#index(old);
    old.path = undefined;
  }

  /** @param {Set<string>} ids */
  #emit(ids) {
    for (const fn of this.listeners) fn(ids);
  }

  /** Live fragments bottom to top, by (z, id). */
  ordered() {
    if (this.orderDirty) {
      this.order = [...this.entries.values()].sort(paintOrder);
      this.orderDirty = false;
      this.rankDirty = true;
    }
    if (this.rankDirty) {
      this.order.forEach((e, i) => (e.rank = i));
      this.rankDirty = false;
    }
    return this.order;
  }

  /** @param {string} id */
  get(id) {
    return this.entries.get(id)?.frag ?? null;
  }

  /** The z keys at the bottom and the top of the paint order. */
  zRange() {
    const o = this.ordered();
    return o.length ? [o[0].frag.z, o[o.length - 1].frag.z] : [null, null];
  }
}

/** Paint order: by (z, id). @param {Entry} a @param {Entry} b */
function paintOrder(a, b) {
  const za = a.frag.z;
  const zb = b.frag.z;
  if (za !== zb) return za < zb ? -1 : 1;
  return a.frag.id < b.frag.id ? -1 : a.frag.id > b.frag.id ? 1 : 0;
}

/** @param {Entry} a @param {Entry} b */
const byRank = (a, b) => (a.rank ?? 0) - (b.rank ?? 0);

/**
 * Two paint-ordered lists as one. @param {Entry[]} a @param {Entry[]} b @returns {Entry[]}
 */
function mergeOrdered(a, b) {
  const out = new Array(a.length + b.length);
  let i = 0;
  let j = 0;
  let k = 0;
  while (i < a.length && j < b.length) out[k++] = paintOrder(a[i], b[j]) <= 0 ? a[i++] : b[j++];
  while (i < a.length) out[k++] = a[i++];
  while (j < b.length) out[k++] = b[j++];
  return out;
}

/** The grid cells a box covers: [cx0, cy0, cx1, cy1]. @param {Box} b */
function cellRange(b) {
  return [Math.floor(b.x0 / CELL), Math.floor(b.y0 / CELL), Math.floor(b.x1 / CELL), Math.floor(b.y1 / CELL)];
}

/** @param {number} cx @param {number} cy */
const cellKey = (cx, cy) => (cx + REACH) * 2 * REACH + (cy + REACH);
