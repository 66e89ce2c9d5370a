// @ts-check
/**
 * Undo as inverse writes (SPEC M10), a port of protocol/undo.py.
 *
 * Undoing an op writes, with new stamps, the values its registers held before
 * it, but only for registers the op still owns: a register someone overwrote
 * later keeps that later write. Redo is the undo of the undo.
 */

import { del, restore } from "./ops.js";
import { compareStamps } from "./stamps.js";

/** @typedef {import("./ops.js").Op} Op */
/** @typedef {import("./tapestry.js").Register} Register */

/**
 * The ops that undo `op`, given its registers `before` it and the state `now`.
 * @param {Op} op
 * @param {Record<string, Register | null>} before
 * @param {import("./tapestry.js").Tapestry} now
 * @param {import("./stamps.js").Clock} clock
 * @returns {Op[]}
 */
export function inverse(op, before, now, clock) {
  const regs = now.registers(op.id);
  /** @param {string} name */
  const owned = (name) => regs[name] !== undefined && compareStamps(regs[name][0], op.s) === 0;
  // A create is undone only while it owns `deleted`: a later delete or restore
  // by anyone took the fragment's life out of this create's hands.
  if (op.t === "c") return owned("deleted") ? [del(op.id, clock.tick())] : [];
  if (op.t === "d") return owned("deleted") ? [restore(op.id, clock.tick())] : [];
  if (op.t === "r") return owned("deleted") ? [del(op.id, clock.tick())] : [];
  /** @type {Record<string, any>} */
  const fields = {};
  let any = false;
  for (const name of Object.keys(op.f)) {
    const prev = before[name];
    if (prev && owned(name)) {
      fields[name] = prev[1];
      any = true;
    }
  }
  return any ? [{ t: "s", id: op.id, s: clock.tick(), f: fields }] : [];
}

