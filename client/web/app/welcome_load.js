// @ts-check
/**
 * The load of a welcome's snapshot a slice at a time, whole or in parts (SPEC W36), in the form
 * the welcome names (W37: the parts carry their fragments in it too).
 *
 * A welcome in parts carries the first fragments; `snapshot` messages bring the rest, in
 * order, and nothing else comes between them. The page loads each part as it arrives (and
 * paints what it has), so a big tapestry shows after its first part, not after all of it.
 * No socket and no timer here: the page's sync code hands over the messages that came
 * (`take`) and asks for slices (`next`) between frames.
 */

import { DecodeError } from "../protocol/validate.js";

/** @typedef {import("../protocol/connection.js").ClientConnection} ClientConnection */
/** @typedef {import("../protocol/tapestry.js").Tapestry} Tapestry */

export class WelcomeLoad {
  /**
   * @param {ClientConnection} conn the session rules of the socket (they check the parts' order)
   * @param {any} welcome the welcome, its snapshot the whole list or the first part
   * @param {Tapestry} tapestry the empty tapestry to load into
   * @param {number} slice fragments validated and added per step
   */
  constructor(conn, welcome, tapestry, slice) {
    this.conn = conn;
    this.tapestry = tapestry;
    this.slice = slice;
    /** @type {string | undefined} the snapshot's form, the parts' too (W37) */
    this.form = welcome.form;
    /** @type {any[][]} fragment lists received and not loaded yet, in order */
    this.chunks = [welcome.snapshot];
    /** whether parts are still to come */
    this.waiting = typeof welcome.parts === "number";
    /** @type {Generator<string[], void, void> | null} the list being loaded */
    this.slices = null;
    /** fragments loaded so far */
    this.loaded = 0;
  }

  /** Every part received and loaded. */
  get done() {
    return !this.waiting && !this.slices && !this.chunks.length;
  }

  /**
   * Take the parts at the head of `backlog` (messages in arrival order), while parts are to come.
   * Returns the other messages the session rules let in meanwhile (pings, errors) for the caller to
   * handle; a message that may not come before the last part throws a DecodeError.
   * @param {any[]} backlog @returns {any[]}
   */
  take(backlog) {
    /** @type {any[]} */
    const others = [];
    while (this.waiting && backlog.length) {
      const msg = backlog.shift();
      for (const event of this.conn.receive(msg)) {
        if (event[0] === "part") {
          this.chunks.push(event[3].fragments);
          if (event[2]) this.waiting = false;
        } else if (event[0] === "received") {
          others.push(msg);
        } else {
          throw new DecodeError(`${String(msg?.type).slice(0, 30)} before the last part of the welcome`);
        }
      }
    }
    return others;
  }

  /**
   * Load the next slice: the ids it added, or null when there is nothing to load until the next part comes
   * (or when all is loaded). A bad fragment throws.
   * @returns {string[] | null}
   */
  next() {
    for (;;) {
      if (!this.slices) {
        const chunk = this.chunks.shift();
        if (chunk === undefined) return null;
        this.slices = this.tapestry.loadSnapshot(chunk, this.form, this.slice);
      }
      const step = this.slices.next();
      if (!step.done) {
        this.loaded += step.value.length;
        return step.value;
      }
      this.slices = null;
    }
  }
}
