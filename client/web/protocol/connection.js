// @ts-check
/**
 * The client half of the session rules (SPEC W5, W5a, W14): a port of
 * `protocol/connection.py`'s `ClientConnection` and `close_action`, checked by
 * the same vectors (`protocol/vectors/connection/`). No socket, no timer, no
 * storage: the page's sync code pumps messages through it and acts on events.
 *
 * Events (arrays, as in the vectors):
 *   ["welcomed", resumed, welcome]      the welcome: go live (a welcome in parts: its parts come next)
 *   ["part", part, last, message]        a part of the welcome's snapshot (W36); `last` ends it
 *   ["cannot_resume", asked, since]     reconnect asking for a snapshot (seq null)
 *   ["broadcast", firstSeq, ops]        apply these ops; op i has seq firstSeq + i
 *   ["gap", expected, received]         reconnect with the last applied seq
 *   ["received", message]               acks, rejects, peers, policy, errors, pings
 *   ["violation", type, state]          the server broke the session rules here
 */

/** Close codes the protocol says to reconnect after (SPEC W14). */
export const RECONNECTABLE = new Set([1001, 1011, 4008, 4009, 4010, 4011]);
/** Closes no server sends but that a lost or failing connection reports. */
export const TRANSIENT_CLOSES = new Set([1006, 1011, 1012, 1013, 1014]);

const LIVE = new Set(["ops", "ack", "reject", "join", "leave", "roster", "peers", "presence", "policy", "error", "ping", "pong"]);
/** @type {Record<string, Set<string>>} */
export const CLIENT_TRANSITIONS = {
  idle: new Set(),
  awaiting_welcome: new Set(["welcome", "error", "ping", "pong"]),
  awaiting_parts: new Set(["snapshot", "error", "ping", "pong"]),
  live: LIVE,
  closed: new Set(),
};

/**
 * What a client does after its connection closed: "reconnect", "new_replica",
 * "new_guest" or "stop".
 * @param {number} code @param {string | null} error the last error code before the close
 * @param {boolean} sentGuestToken whether the hello carried a guest token the client kept
 * @returns {"reconnect" | "new_replica" | "new_guest" | "stop"}
 */
export function closeAction(code, error, sentGuestToken) {
  if (code === 4000 && error === "replica_in_use") return "new_replica";
  if (code === 4001 && (error === "unauthorized" || error === "token_expired") && sentGuestToken) return "new_guest";
  if (RECONNECTABLE.has(code) || TRANSIENT_CLOSES.has(code)) return "reconnect";
  return "stop";
}

export class ClientConnection {
  /**
   * @param {{replica: string, name: string, client?: "person" | "weaver", seq?: number | null, epoch?: string | null, features?: string[]}} opts
   */
  constructor({ replica, name, client = "person", seq = null, epoch = null, features = [] }) {
    this.replica = replica;
    this.name = name;
    this.client = client;
    /** what the client handles beyond the base protocol, sent in the hello (W36 "parts", W37 "compact") */
    this.features = features;
    /** @type {number | null} the last seq applied */
    this.seq = seq;
    /** @type {string | null} the run of the sanctuary `seq` was counted in (F5) */
    this.epoch = epoch;
    /** @type {"idle" | "awaiting_welcome" | "awaiting_parts" | "live" | "closed"} */
    this.state = "idle";
    /** the snapshot part expected next, and how many there are, while awaiting parts (W36) */
    this.nextPart = 0;
    this.parts = 0;
    /** @type {string | null} */
    this.lastError = null;
    this.sentGuestToken = false;
    /** @type {number | null} */
    this.asked = null;
  }

  /**
   * The hello to send first.
   * @param {string | null} token @param {{guest?: boolean}} [opts] guest: the token is a kept guest token
   */
  hello(token, { guest = false } = {}) {
    if (this.state !== "idle") throw new Error(`hello is sent once, first (the connection is ${this.state})`);
    this.state = "awaiting_welcome";
    this.asked = this.seq;
    this.sentGuestToken = guest && Boolean(token);
    this.lastError = null;
    const epoch = this.seq !== null && this.epoch ? { epoch: this.epoch } : {};
    const features = this.features.length ? { features: [...this.features] } : {};
    return { type: "hello", v: 1, name: this.name, replica: this.replica, seq: this.seq, ...(token ? { token } : {}), client: this.client, ...epoch, ...features };
  }

  /** The events one decoded server message means. @param {any} msg @returns {any[][]} */
  receive(msg) {
    if (!CLIENT_TRANSITIONS[this.state].has(msg.type)) return [["violation", msg.type, this.state]];
    if (msg.type === "error") this.lastError = msg.code;
    if (msg.type === "welcome") return this.#welcome(msg);
    if (msg.type === "ops") return this.#ops(msg);
    if (msg.type === "snapshot") return this.#part(msg);
    return [["received", msg]];
  }

  /** The connection closed with `code`: what to do next. @param {number} code */
  close(code) {
    this.state = "closed";
    return closeAction(code, this.lastError, this.sentGuestToken);
  }

  /** @param {any} w */
  #welcome(w) {
    if ((w.snapshot === null || w.snapshot === undefined) && w.since !== (this.asked ?? 0)) {
      this.state = "closed";
      this.seq = null;
      return [["cannot_resume", this.asked, w.since]];
    }
    this.state = "live";
    if (typeof w.parts === "number") {
      this.state = "awaiting_parts";
      this.nextPart = 1;
      this.parts = w.parts;
    }
    this.seq = w.seq;
    this.epoch = w.epoch ?? null;
    return [["welcomed", w.snapshot === null || w.snapshot === undefined, w]];
  }

  /** @param {any} p */
  #part(p) {
    // The parts come in order, right after their welcome and nothing between (W36).
    if (p.seq !== this.seq || p.part !== this.nextPart || p.parts !== this.parts) return [["violation", p.type, this.state]];
    this.nextPart += 1;
    const last = this.nextPart === this.parts;
    if (last) this.state = "live";
    return [["part", p.part, last, p]];
  }

  /** @param {any} msg */
  #ops(msg) {
    const first = msg.seq ?? 0;
    const applied = this.seq ?? 0;
    if (first > applied + 1) {
      this.state = "closed";
      return [["gap", applied + 1, first]];
    }
    const skip = applied + 1 - first; // a broadcast that overlaps what the welcome brought
    const fresh = skip > 0 ? msg.ops.slice(skip) : msg.ops;
    if (!fresh.length) return [];
    this.seq = first + msg.ops.length - 1;
    return [["broadcast", first + Math.max(skip, 0), fresh]];
  }
}
