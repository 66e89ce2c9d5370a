// @ts-check
/**
 * Every edit a participant makes goes through here: ops are stamped, applied
 * to the local replica at once, recorded for undo and queued for the server.
 *
 * Undo is per participant (SPEC M10, `protocol/undo.js`): an undo step holds
 * the changes of one action; undoing writes their inverses with new stamps,
 * only into registers our ops still hold, so another participant's later
 * edit is never undone, and each undo reaches our own edit before it. Redo is
 * the undo of the undo.
 */

import { create, del, restore, setFields } from "../protocol/ops.js";
import { canon } from "../protocol/canon.js";
import { History } from "../protocol/undo.js";
import { afterLast, beforeFirst, between } from "../protocol/zorder.js";
import { loosen } from "./attach.js";
import { regroup } from "./groups.js";

/** @typedef {import("../protocol/ops.js").Op} Op */
/** @typedef {import("../protocol/tapestry.js").Change} Change */
/** @typedef {import("../protocol/tapestry.js").Fragment} Fragment */
/** @typedef {import("./replica.js").Replica} Replica */
/** @typedef {import("./sync.js").Sync} Sync */

const MAX_STEPS = 500;

/** A fresh fragment id: unique without coordination. */
export function newId() {
  const bytes = crypto.getRandomValues(new Uint8Array(10));
  return "f" + [...bytes].map((b) => b.toString(36).padStart(2, "0")).join("").slice(0, 16);
}

export class Editor extends EventTarget {
  /** @param {Replica} replica @param {Sync} sync */
  constructor(replica, sync) {
    super();
    this.replica = replica;
    this.sync = sync;
    this.history = new History(MAX_STEPS);
    this.readOnly = false;
  }

  get undoStack() {
    return this.history.undoSteps;
  }

  get redoStack() {
    return this.history.redoSteps;
  }

  stamp() {
    return this.sync.tick();
  }

  /**
   * Apply, record and queue ops as one undo step.
   * @param {string} label @param {Op[]} ops @param {{record?: boolean}} [opts]
   */
  commit(label, ops, opts = {}) {
    if (!ops.length || this.readOnly) return [];
    const changes = this.replica.apply(ops);
    this.sync.submit(ops);
    if (opts.record !== false) this.history.record(label, changes);
    this.#emit();
    return changes;
  }

  undo() {
    return this.#reverse("undo");
  }

  redo() {
    return this.#reverse("redo");
  }

  /** @param {"undo" | "redo"} which */
  #reverse(which) {
    if (this.readOnly) return false;
    const clock = { tick: () => this.stamp() };
    /** @param {Op[]} ops */
    const apply = (ops) => {
      if (!ops.length) return [];
      const changes = this.replica.apply(ops);
      this.sync.submit(ops);
      return changes;
    };
    const step = this.history[which](this.replica.tapestry, clock, apply);
    this.#emit();
    return step !== null;
  }

  #emit() {
    this.dispatchEvent(new Event("change"));
  }

  // -- the edits ------------------------------------------------------------------
  /**
   * Create a fragment on top of the paint order.
   * @param {{kind: string, x: number, y: number, geom: Record<string, any>, style: Record<string, any>, inspired_by?: string[], start?: string, end?: string}} f
   */
  add(f) {
    const id = newId();
    const [, top] = this.replica.zRange();
    const op = create(id, this.stamp(), {
      ...f,
      x: round(f.x),
      y: round(f.y),
      z: afterLast(top, this.sync.replica),
      ...this.sync.provenance(),
    });
    this.commit(`add ${f.kind}`, [op]);
    return id;
  }

  /** @param {string[]} ids @param {number} dx @param {number} dy */
  move(ids, dx, dy) {
    const ops = [];
    for (const id of ids) {
      const f = this.replica.get(id);
      if (f) ops.push(setFields(id, this.stamp(), { x: round(f.x + dx), y: round(f.y + dy), ...roundDeep(loosen(f, new Set(ids))) }));
    }
    this.commit("move", ops);
  }

  /** Put fragments at absolute positions. @param {[string, number, number][]} targets */
  moveTo(targets) {
    const ops = [];
    const moving = new Set(targets.map((t) => t[0]));
    for (const [id, x, y] of targets) {
      const f = this.replica.get(id);
      // A bound arrow moved without its target lets go of it (M14).
      if (f) ops.push(setFields(id, this.stamp(), { x: round(x), y: round(y), ...roundDeep(loosen(f, moving)) }));
    }
    this.commit("move", ops);
  }

  /** Write whole new values of fragments (resize, text edit). @param {string} label @param {Fragment[]} frags */
  replace(label, frags) {
    const ops = [];
    const moving = new Set(frags.map((f) => f.id));
    for (const f of frags) {
      const cur = this.replica.get(f.id);
      if (!cur) continue;
      /** @type {Record<string, any>} */
      const fields = {};
      const { geom: _drawn, ...ends } = loosen(cur, moving);
      Object.assign(fields, ends);
      for (const name of ["x", "y", "geom", "style"]) {
        // @ts-ignore indexing a fragment view by field name
        const v = f[name];
        // @ts-ignore
        if (JSON.stringify(canon(v)) !== JSON.stringify(canon(cur[name]))) fields[name] = roundDeep(v);
      }
      if (Object.keys(fields).length) ops.push(setFields(f.id, this.stamp(), fields));
    }
    this.commit(label, ops);
  }

  /** @param {string[]} ids @param {Record<string, any>} style */
  restyle(ids, style) {
    const ops = [];
    for (const id of ids) {
      const f = this.replica.get(id);
      if (!f) continue;
      /** @type {Record<string, any>} */
      const next = { ...f.style, ...style };
      for (const k of Object.keys(next)) if (next[k] === null) delete next[k]; // null: back to the default
      if (JSON.stringify(canon(next)) !== JSON.stringify(canon(f.style))) ops.push(setFields(id, this.stamp(), { style: next }));
    }
    this.commit("restyle", ops);
  }

  /** @param {string[]} ids */
  remove(ids) {
    const gone = new Set(ids.filter((id) => this.replica.get(id)));
    const ops = [...gone].map((id) => del(id, this.stamp()));
    // An arrow bound to what goes keeps the geometry it is drawn with (M14); it stays bound, so undo reattaches it.
    for (const id of gone) {
      for (const line of this.replica.bound.get(id) ?? []) {
        const f = this.replica.get(line);
        if (f && !gone.has(line)) ops.push(setFields(line, this.stamp(), { x: round(f.x), y: round(f.y), geom: roundDeep(f.geom) }));
      }
    }
    this.commit("delete", ops);
  }

  /** @param {string[]} ids @param {number} [offset] @returns {string[]} */
  duplicate(ids, offset = 24) {
    const frags = this.#inPaintOrder(ids);
    let [, top] = this.replica.zRange();
    const out = [];
    const ops = [];
    // Copies of a group form a group of their own; copies of a bound arrow bind to the copies of its targets.
    const groups = regroup(frags.map((f) => f.group));
    const copies = new Map(frags.map((f) => [f.id, newId()]));
    for (const f of frags) {
      const id = /** @type {string} */ (copies.get(f.id));
      const z = afterLast(top, this.sync.replica);
      top = z;
      ops.push(
        create(id, this.stamp(), {
          kind: f.kind,
          x: f.x + offset,
          y: f.y + offset,
          geom: structuredClone(f.geom),
          style: structuredClone(f.style),
          z,
          inspired_by: [...f.inspired_by],
          remixable: f.remixable,
          group: f.group ? groups.get(f.group) : null,
          start: f.start ? copies.get(f.start) ?? null : null,
          end: f.end ? copies.get(f.end) ?? null : null,
          ...this.sync.provenance(),
        }),
      );
      out.push(id);
    }
    this.commit("duplicate", ops);
    return out;
  }

  /**
   * New fragments from the clipboard, on top, in their order, as one undo step.
   * @param {import("./clipboard.js").Piece[]} pieces @returns {string[]} their ids
   */
  paste(pieces) {
    let [, top] = this.replica.zRange();
    const ids = [];
    const ops = [];
    const groups = regroup(pieces.map((p) => p.group));
    for (const p of pieces) {
      const id = newId();
      top = afterLast(top, this.sync.replica);
      // Threads only to fragments that are here: a paste from another sanctuary drops the rest.
      const threads = p.inspired_by.filter((t) => this.replica.get(t));
      const group = p.group ? groups.get(p.group) : null;
      ops.push(create(id, this.stamp(), { ...p, x: round(p.x), y: round(p.y), z: top, inspired_by: threads, group, ...this.sync.provenance() }));
      ids.push(id);
    }
    this.commit("paste", ops);
    return ids;
  }

  /** Bring to front, keeping the selection's own order. @param {string[]} ids */
  toFront(ids) {
    const frags = this.#inPaintOrder(ids);
    let [, top] = this.replica.zRange();
    const ops = [];
    for (const f of frags) {
      top = afterLast(top, this.sync.replica);
      ops.push(setFields(f.id, this.stamp(), { z: top }));
    }
    this.commit("bring to front", ops);
  }

  /** @param {string[]} ids */
  toBack(ids) {
    const frags = this.#inPaintOrder(ids).reverse();
    let [bottom] = this.replica.zRange();
    const ops = [];
    for (const f of frags) {
      bottom = beforeFirst(bottom, this.sync.replica);
      ops.push(setFields(f.id, this.stamp(), { z: bottom }));
    }
    this.commit("send to back", ops);
  }

  /** @param {string[]} ids */
  #inPaintOrder(ids) {
    const want = new Set(ids);
    return this.replica
      .ordered()
      .filter((e) => want.has(e.frag.id))
      .map((e) => e.frag);
  }

  /**
   * Bring the tapestry back to an earlier state as new ops (nothing is erased,
   * and the restore is one undo step).
   * @param {import("../protocol/tapestry.js").Tapestry} old
   */
  restoreVersion(old) {
    const now = this.replica.tapestry;
    const ops = [];
    const ids = new Set([...now.frags.keys(), ...old.frags.keys()]);
    for (const id of ids) {
      const a = old.get(id);
      const b = now.get(id);
      if (!b) continue;
      const wasLive = a !== null && !a.deleted;
      if (!wasLive) {
        if (!b.deleted) ops.push(del(id, this.stamp()));
        continue;
      }
      if (b.deleted) ops.push(restore(id, this.stamp()));
      /** @type {Record<string, any>} */
      const fields = {};
      for (const name of ["x", "y", "geom", "style", "z", "inspired_by", "remixable", "group", "start", "end"]) {
        // @ts-ignore indexing views by field name
        if (JSON.stringify(canon(a[name])) !== JSON.stringify(canon(b[name]))) fields[name] = structuredClone(a[name]);
      }
      if (Object.keys(fields).length) ops.push(setFields(id, this.stamp(), fields));
    }
    this.commit("restore version", ops);
    return ops.length;
  }
}

/** Keep coordinates short on the wire: a hundredth of a unit is plenty. @param {number} v */
export const round = (v) => Math.round(v * 100) / 100;

/** @param {any} v @returns {any} */
function roundDeep(v) {
  if (typeof v === "number") return round(v);
  if (Array.isArray(v)) return v.map(roundDeep);
  if (v && typeof v === "object") return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, roundDeep(x)]));
  return v;
}

export { between };
