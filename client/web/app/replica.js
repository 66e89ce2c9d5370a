// @ts-check
/**
 * The local replica: a Tapestry plus what the screen needs from it — a
 * paint-ordered list of live fragments, their bounds, and change events —
 * kept up to date incrementally as ops apply.
 *
 * A bound line or arrow (SPEC M14) is kept as it is drawn: its entry's
 * fragment goes through its attached ends, and a change to a target
 * refreshes the lines bound to it.
 */

import { compareBytes, pack } from "../protocol/canon.js";
import { isBound, resolve } from "../protocol/bindings.js";
import { compareStamps } from "../protocol/stamps.js";
import { Tapestry } from "../protocol/tapestry.js";
import { worldBox } from "./geometry.js";

/** @typedef {import("../protocol/tapestry.js").Fragment} Fragment */
/** @typedef {import("../protocol/tapestry.js").Change} Change */
/** @typedef {import("../protocol/ops.js").Op} Op */
/** @typedef {import("./geometry.js").Box} Box */
/** @typedef {{frag: Fragment, box: Box | null, path?: Path2D | null, pathKey?: string}} Entry */

export class Replica {
  /** @param {Tapestry} [tapestry] */
  constructor(tapestry = new Tapestry()) {
    this.tapestry = tapestry;
    /** @type {Map<string, Entry>} live fragments */
    this.entries = new Map();
    /** @type {Entry[]} */
    this.order = [];
    this.orderDirty = true;
    this.version = 0;
    /** @type {Set<(ids: Set<string>) => void>} */
    this.listeners = new Set();
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
    this.bound.clear();
    this.boundEnds.clear();
    for (const f of this.tapestry.fragments()) {
      this.#index(f.id, f);
      const shown = this.#shown(f);
      this.entries.set(f.id, { frag: shown, box: worldBox(shown) });
    }
    this.orderDirty = true;
    this.version++;
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
  #index(id, f) {
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
      this.#index(id, raw);
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

  /** Bring one entry in step with its fragment. @param {string} id @param {Fragment | null} raw */
  #update(id, raw) {
    const old = this.entries.get(id);
    if (!raw || raw.deleted) {
      if (old) {
        this.entries.delete(id);
        this.orderDirty = true;
      }
      return;
    }
    const f = this.#shown(raw);
    if (!old) {
      this.entries.set(id, { frag: f, box: worldBox(f) });
      this.orderDirty = true;
      return;
    }
    // Update in place: the paint-order array holds these same objects.
    if (old.frag.z !== f.z) this.orderDirty = true;
    old.frag = f;
    old.box = worldBox(f);
    old.path = undefined;
  }

  /** @param {Set<string>} ids */
  #emit(ids) {
    for (const fn of this.listeners) fn(ids);
  }

  /** Live fragments bottom to top, by (z, id). */
  ordered() {
    if (this.orderDirty) {
      this.order = [...this.entries.values()].sort((a, b) => {
        const za = a.frag.z;
        const zb = b.frag.z;
        if (za !== zb) return za < zb ? -1 : 1;
        return a.frag.id < b.frag.id ? -1 : a.frag.id > b.frag.id ? 1 : 0;
      });
      this.orderDirty = false;
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
