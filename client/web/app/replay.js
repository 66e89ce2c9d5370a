// @ts-check
/**
 * Replay: the sanctuary's op log fetched from the history endpoint and
 * applied to a scratch replica, so the timeline can show the tapestry as it
 * was after any op. Copies kept every few hundred ops make seeking back cheap.
 */

import { Tapestry } from "../protocol/tapestry.js";
import { checkOp } from "../protocol/validate.js";
import { authHeaders } from "../tokens.js";
import { Replica } from "./replica.js";

/** @typedef {{seq: number, op: import("../protocol/ops.js").Op, author: string, time: number}} Entry */

const KEEP_EVERY = 400;
const PAGE = 1000;

export class Replay {
  /** @param {string} sanctuary */
  constructor(sanctuary) {
    this.sanctuary = sanctuary;
    /** @type {Entry[]} */
    this.entries = [];
    this.base = new Tapestry();
    this.replica = new Replica();
    this.position = 0; // ops applied
    /** @type {Map<number, Tapestry>} position -> state */
    this.kept = new Map();
  }

  get api() {
    return `/api/sanctuaries/${encodeURIComponent(this.sanctuary)}`;
  }

  /** Fetch the whole log (paged). */
  async load() {
    /** @type {Entry[]} */
    const entries = [];
    let since = 0;
    for (let page = 0; page < 100000; page++) {
      const res = await fetch(`${this.api}/ops?since=${since}&limit=${PAGE}`, { headers: authHeaders(this.sanctuary) });
      if (!res.ok) throw new Error(`history unavailable (${res.status})`);
      const body = await res.json();
      for (const e of body.ops) entries.push({ seq: e.seq, op: checkOp(e.op), author: e.author, time: e.time });
      if (body.next === null || body.next === undefined || !body.ops.length) break;
      since = body.next;
    }
    this.entries = entries;
    if (entries.length && entries[0].seq > 1) {
      // The log was compacted: start from the state just before its first op.
      const res = await fetch(`${this.api}/tapestry.json?at=${entries[0].seq - 1}`, { headers: authHeaders(this.sanctuary) });
      if (res.ok) this.base = Tapestry.fromData((await res.json()).snapshot);
    }
    this.kept.clear();
    this.kept.set(0, this.base.copy());
    this.position = 0;
    this.replica.reset(this.base.copy());
    return entries.length;
  }

  /** Show the state after `n` ops. @param {number} n */
  seek(n) {
    n = Math.max(0, Math.min(this.entries.length, Math.round(n)));
    if (n === this.position) return;
    let start = -1;
    for (const k of this.kept.keys()) if (k <= n && k > start) start = k;
    let t = this.replica.tapestry;
    if (n < this.position || start > this.position) {
      t = /** @type {Tapestry} */ (this.kept.get(start)).copy();
      this.position = start;
    }
    for (let i = this.position; i < n; i++) {
      t.apply(this.entries[i].op);
      if ((i + 1) % KEEP_EVERY === 0 && !this.kept.has(i + 1)) this.kept.set(i + 1, t.copy());
    }
    this.position = n;
    this.replica.reset(t);
  }

  /** The seq shown (0 before the first op). */
  get seq() {
    return this.position ? this.entries[this.position - 1].seq : this.entries.length ? this.entries[0].seq - 1 : 0;
  }

  /** The position showing the state right after `seq`. @param {number} seq */
  positionOf(seq) {
    let n = 0;
    while (n < this.entries.length && this.entries[n].seq <= seq) n++;
    return n;
  }

  async checkpoints() {
    const res = await fetch(`${this.api}/checkpoints`, { headers: authHeaders(this.sanctuary) });
    return res.ok ? /** @type {Promise<{id: number, name: string, seq: number, time: number}[]>} */ (res.json()) : [];
  }

  /** @param {string} name @param {number | null} seq */
  async saveCheckpoint(name, seq) {
    const body = seq === null ? { name } : { name, seq };
    const res = await fetch(`${this.api}/checkpoints`, {
      method: "POST",
      headers: { "Content-Type": "application/json", ...authHeaders(this.sanctuary) },
      body: JSON.stringify(body),
    });
    if (!res.ok) throw new Error(`could not save (${res.status})`);
    return res.json();
  }
}
