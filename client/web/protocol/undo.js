// @ts-check
/**
 * Undo as inverse writes (SPEC M10), a port of protocol/undo.py.
 *
 * 1. Undo is per user: it writes, with new stamps, the values an op's
 *    registers held before it, and only for the registers the op still
 *    holds. A register someone overwrote later keeps that later write.
 * 2. An op holds a register while the register's stamp is the op's own stamp,
 *    or the stamp of an undo or redo write that put back the value this op
 *    wrote (its holder, followed transitively). Undoing a nudge writes the
 *    drag's position back under a new stamp; that write now holds the field
 *    for the drag, so the next undo reaches the drag.
 * 3. Redo is the undo of the undo, through the same holders. An optional
 *    register (group, start, end) a create left out held null: undo of a set
 *    that wrote it first writes null back.
 * 4. `History` keeps one user's undo and redo steps and their holders.
 */

import { compareBytes, pack } from "./canon.js";
import { del, OPTIONAL, restore } from "./ops.js";
import { compareStamps } from "./stamps.js";

/** @typedef {import("./ops.js").Op} Op */
/** @typedef {import("./stamps.js").Stamp} Stamp */
/** @typedef {import("./tapestry.js").Register} Register */
/** @typedef {import("./tapestry.js").Change} Change */
/** @typedef {import("./tapestry.js").Tapestry} Tapestry */
/** @typedef {{tick: () => Stamp}} Ticker */
/** @typedef {(ops: Op[]) => Change[]} Apply */
/** @typedef {{label: string, changes: {op: Op, before: Record<string, Register | null>}[]}} Step */

/** @param {string} id @param {string} name @param {Stamp} s */
const key = (id, name, s) => `${id}\u0000${name}\u0000${s[0]}\u0000${s[1]}`;

/** Which write now holds the value an earlier write put into a register (M10 rule 2). */
export class Holders {
  constructor() {
    /** @type {Map<string, Stamp>} */
    this.next = new Map();
  }

  /** The stamp that holds, in register `name`, the value written under `stamp`. @param {string} id @param {string} name @param {Stamp} stamp */
  holder(id, name, stamp) {
    let seen = stamp;
    for (let nxt = this.next.get(key(id, name, seen)); nxt; nxt = this.next.get(key(id, name, seen))) seen = nxt;
    return seen;
  }

  /** The write `now` put back the value written under `old`: it holds it now. @param {string} id @param {string} name @param {Stamp} old @param {Stamp} now */
  hand(id, name, old, now) {
    this.next.set(key(id, name, old), now);
  }

  get size() {
    return this.next.size;
  }
}

/**
 * The ops that undo `op`, given its registers `before` it and the state `now`.
 * With `holders`, an op also holds what undo and redo writes put back for it,
 * and the returned ops are recorded there as the new holders: apply them.
 * @param {Op} op
 * @param {Record<string, Register | null>} before
 * @param {Tapestry} now
 * @param {Ticker} clock
 * @param {Holders} [holders]
 * @returns {Op[]}
 */
export function inverse(op, before, now, clock, holders) {
  const regs = now.registers(op.id);
  /** @param {string} name */
  const holds = (name) => {
    const mine = holders ? holders.holder(op.id, name, op.s) : op.s;
    return regs[name] !== undefined && compareStamps(regs[name][0], mine) === 0;
  };
  /** @type {Op | null} */
  let out = null;
  // A create is undone only while it holds `deleted`: a later delete or
  // restore by anyone took the fragment's life out of this op's hands.
  if (op.t === "c" || op.t === "r") out = holds("deleted") ? del(op.id, clock.tick()) : null;
  else if (op.t === "d") out = holds("deleted") ? restore(op.id, clock.tick()) : null;
  else {
    /** @type {Record<string, any>} */
    const fields = {};
    let any = false;
    for (const name of Object.keys(op.f)) {
      const prev = before[name];
      if (!holds(name)) continue;
      if (prev) fields[name] = prev[1];
      else if (OPTIONAL.includes(name) && now.has(op.id)) fields[name] = null; // M13: absent read as null
      else continue;
      any = true;
    }
    out = any ? { t: "s", id: op.id, s: clock.tick(), f: fields } : null;
  }
  if (!out) return [];
  if (holders) {
    for (const [name, value] of Object.entries(out.f)) {
      const prev = before[name];
      if (prev && compareBytes(pack(prev[1]), pack(value)) === 0) holders.hand(op.id, name, prev[0], out.s);
    }
  }
  return [out];
}

/**
 * One user's undo and redo steps (SPEC M10). `record` after each local
 * action; `undo` and `redo` compute inverse writes, apply them through the
 * given function and move the step to the other stack. A step with nothing
 * left to undo (others overwrote all of it) is dropped, and the one before it
 * is undone instead.
 */
export class History {
  constructor(limit = 500) {
    this.limit = limit;
    /** @type {Step[]} */
    this.undoSteps = [];
    /** @type {Step[]} */
    this.redoSteps = [];
    this.holders = new Holders();
  }

  /** @param {string} label @param {Change[]} changes */
  record(label, changes) {
    if (!changes.length) return;
    this.undoSteps.push({ label, changes: changes.map((c) => ({ op: c.op, before: c.before })) });
    if (this.undoSteps.length > this.limit) this.undoSteps.splice(0, this.undoSteps.length - this.limit);
    this.redoSteps.length = 0;
  }

  /** @param {Tapestry} now @param {Ticker} clock @param {Apply} apply @returns {Step | null} */
  undo(now, clock, apply) {
    return this.#reverse(this.undoSteps, this.redoSteps, now, clock, apply);
  }

  /** @param {Tapestry} now @param {Ticker} clock @param {Apply} apply @returns {Step | null} */
  redo(now, clock, apply) {
    return this.#reverse(this.redoSteps, this.undoSteps, now, clock, apply);
  }

  /** @param {Step[]} src @param {Step[]} dst @param {Tapestry} now @param {Ticker} clock @param {Apply} apply */
  #reverse(src, dst, now, clock, apply) {
    while (src.length) {
      const step = /** @type {Step} */ (src.pop());
      /** @type {Step} */
      const written = { label: step.label, changes: [] };
      // Latest change first, each applied before the next is computed: an
      // earlier change of the same register holds it only once the later one
      // is undone.
      for (const c of [...step.changes].reverse()) {
        for (const ch of apply(inverse(c.op, c.before, now, clock, this.holders))) {
          written.changes.push({ op: ch.op, before: ch.before });
        }
      }
      if (written.changes.length) {
        dst.push(written);
        return written;
      }
    }
    return null;
  }
}
