// @ts-check
/**
 * The live connection of one tab to one sanctuary.
 *
 * States: offline -> connecting -> live -> (closed) offline -> connecting ...
 *
 * Rules:
 * 1. Local ops apply to the replica at once (the caller does that), join the
 *    pending queue and persist; the queue is sent in stamp order once live.
 * 2. One batch is in flight at a time, so a refusal for rate pauses the
 *    whole queue and ops reach the server in stamp order.
 * 3. `ack` removes ops from the queue: an ack means applied (W9). A `reject`
 *    for rate is resent after a pause with its own stamp (the server applies a
 *    stamp it has not applied, and acks one it has with its original seq);
 *    any other reject drops the op and resynchronises from a snapshot (the op
 *    was already applied locally and must be taken back).
 * 4. Reconnect resumes from the last seq seen; the server answers with the
 *    missed ops or a snapshot. Every pending op is resent (idempotent).
 * 5. Broadcast ops arrive in seq order; a gap means we lost something, and we
 *    reconnect to resume.
 * 6. Identity (W5): the hello carries a token given by a link, else the guest
 *    token the server issued this browser (`welcome.token`, kept per origin).
 *    A refused guest token (4001) is set aside for one hello without a token:
 *    a welcome there replaces it, a refusal there is final. A given token is
 *    never set aside: its refusal is shown.
 * 7. A replica id belongs to the identity that first used it: after
 *    `replica_in_use` (then 4000) the tab takes a new replica id, re-stamps its
 *    queue in order and connects again at once. Nothing queued is lost.
 * 8. The hello asks for a welcome in parts (W36): a big tapestry's parts are
 *    loaded as they arrive, and the page paints after the first. Messages after
 *    the last part wait until it is loaded, then apply as usual. A socket lost
 *    before then is like one lost before the welcome: the next hello starts over.
 */

import { ClientConnection } from "../protocol/connection.js";
import { toWire } from "../protocol/ops.js";
import { Clock } from "../protocol/stamps.js";
import { Tapestry } from "../protocol/tapestry.js";
import { checkOp, checkOps, DecodeError } from "../protocol/validate.js";
import { Replica } from "./replica.js";
import { loadQueue, newReplicaId, saveCache, saveQueue } from "./storage.js";
import { WelcomeLoad } from "./welcome_load.js";
import { forgetGuestToken, givenTokenFor, guestToken, keepGuestToken } from "../tokens.js";

/** @typedef {import("../protocol/ops.js").Op} Op */
/** @typedef {{sid: string, name: string, role: string, origin: string, color: string,
 *   cursor: number[] | null, sel: string[], preview: any, view: number[] | null, live?: any}} Peer */

const SUBPROTOCOL = "dreamloom.v1.json";
/** What the hello says the page handles (`hello.features`): a welcome in parts (W36), snapshots in the compact form (W37). */
const FEATURES = ["parts", "compact"];
const MAX_BATCH = 256;
/** A welcome snapshot with more fragments than this is decoded a slice of this many at a time. */
const LOAD_SLICE = 1000;
/** How long one task of that decoding may run before the page gets to draw and handle input (ms). */
const LOAD_SLICE_MS = 25;
/** New replica ids in a row (replica_in_use without a welcome between) before giving up. */
const MAX_RENEWALS = 3;
/** Close codes after which reconnecting would only repeat the refusal. */
/** Server messages the page understands (others are a decode error). */
const CLIENT_TYPES = new Set(["welcome", "snapshot", "ops", "ack", "reject", "presence", "join", "leave", "roster", "peers", "policy", "ping", "pong", "error"]);
const CLOSE_REASONS = /** @type {Record<number, string>} */ ({
  4001: "not authorised to join",
  4002: "this page is too old for the server: reload",
  4003: "not allowed here",
  4004: "you were banned from this sanctuary",
  4006: "you were removed by the steward",
  4007: "your access was revoked",
});

export class Sync extends EventTarget {
  /**
   * @param {{sanctuary: string, name: string, replica: string, replicaState: Replica,
   *   seq: number | null, epoch?: string | null, wsUrl?: string, renewReplica?: () => string}} opts
   */
  constructor(opts) {
    super();
    this.sanctuary = opts.sanctuary;
    this.name = opts.name;
    this.replica = opts.replica;
    this.renewReplica = opts.renewReplica ?? newReplicaId;
    this.local = opts.replicaState;
    /** @type {number | null} last server seq folded into the replica */
    this.seq = opts.seq;
    /** @type {string | null} the welcome's epoch: seq resumes only within it (SPEC F5) */
    this.epoch = opts.epoch ?? null;
    /** @type {ClientConnection | null} the session rules of the current socket */
    this.conn = null;
    this.url = opts.wsUrl ?? `${location.protocol === "https:" ? "wss" : "ws"}://${location.host}/ws/${encodeURIComponent(this.sanctuary)}`;
    /** @type {"offline" | "connecting" | "live" | "closed"} */
    this.status = "offline";
    this.statusDetail = "";
    /** @type {WebSocket | null} */
    this.ws = null;
    /** @type {Op[]} */
    this.pending = [];
    /** @type {Set<number>} counters of the batch in flight */
    this.inflight = new Set();
    /** @type {Map<string, Peer>} */
    this.peers = new Map();
    /** other connections in the sanctuary: `peers` may list only some of a crowded room (W23) */
    this.peerCount = 0;
    /** whether requestPeers() is reading pages */
    this.pagingPeers = false;
    /** @type {{id: string, name: string, role: string, origin: string} | null} */
    this.identity = null;
    this.sid = "";
    /** @type {Record<string, any>} */
    this.policy = {};
    this.retry = 0;
    /** @type {any[] | null} messages that came while a large welcome snapshot loads */
    this.backlog = null;
    /** @type {(() => void) | null} wakes the load of a welcome in parts waiting for its next part */
    this.wakeLoad = null;
    /** @type {ReturnType<typeof setTimeout> | null} */
    this.timer = null;
    /** @type {any} */
    this.presenceState = null;
    this.presenceTimer = /** @type {ReturnType<typeof setTimeout> | null} */ (null);
    this.lastPresence = 0;
    this.cacheTimer = /** @type {ReturnType<typeof setTimeout> | null} */ (null);
    this.stopped = false;
    /** @type {string | null} the code of the last `error` on this connection */
    this.lastError = null;
    /** whether the last hello carried the stored guest token */
    this.sentGuest = false;
    /** whether the last hello carried a token given by a link */
    this.sentGiven = false;
    /** the next hello goes without the guest token (the server refused it) */
    this.skipGuest = false;
    this.renewals = 0;
    this.clock = new Clock(this.replica);
    this.#loadQueue();
    addEventListener("online", () => this.connectSoon(0));
    // Without network a socket can take a long time to notice it is dead: drop it now.
    addEventListener("offline", () => this.#lose(this.ws, "offline"));
    addEventListener("pagehide", () => this.#saveCache(true));
  }

  // -- the queue ------------------------------------------------------------
  #loadQueue() {
    const q = loadQueue(this.sanctuary, this.replica);
    if (!q) return;
    this.clock.observeCounter(Number(q.counter) || 0);
    if (q.identity) this.identity = q.identity;
    for (const wire of q.ops ?? []) {
      try {
        this.pending.push(checkOp(wire));
      } catch {
        // a corrupted entry cannot be sent anyway
      }
    }
    this.pending.sort((a, b) => a.s[0] - b.s[0]);
    // They were applied in the replica's last life; apply them to this one.
    if (this.pending.length) this.local.apply(this.pending);
  }

  #persist() {
    saveQueue(this.sanctuary, this.replica, {
      ops: this.pending.map(toWire),
      counter: this.clock.counter,
      identity: this.identity,
    });
  }

  /**
   * Stamp from now on with a new replica id, and re-stamp the queue with it,
   * in order: the server binds a replica id to the identity that first used it.
   */
  #switchReplica() {
    const old = this.replica;
    const counter = this.clock.counter;
    this.replica = this.renewReplica();
    this.clock = new Clock(this.replica);
    this.clock.observeCounter(counter);
    this.pending = this.pending.map((op) => ({ ...op, s: this.tick() }));
    // The new stamps are above every one seen, so the re-stamped ops win locally as before.
    if (this.pending.length) this.local.apply(this.pending);
    saveQueue(this.sanctuary, old, null);
    this.#persist();
  }

  /** A new stamp for a local write. */
  tick() {
    this.clock.observeCounter(this.local.tapestry.maxCounter);
    const s = this.clock.tick();
    return s;
  }

  /** Author and origin for a create (the server stamps them; we match so nothing flips). */
  provenance() {
    return { author: this.identity?.id ?? "", origin: this.identity?.origin ?? "organic" };
  }

  /**
   * Queue local ops that are already applied to the replica.
   * @param {Op[]} ops
   */
  submit(ops) {
    if (!ops.length) return;
    this.pending.push(...ops);
    this.#persist();
    this.#emit("pending");
    queueMicrotask(() => this.#flush());
  }

  #flush() {
    if (this.status !== "live" || this.inflight.size || !this.ws) return;
    const batch = this.pending.slice(0, MAX_BATCH);
    if (!batch.length) {
      this.#scheduleCache();
      return;
    }
    for (const op of batch) this.inflight.add(op.s[0]);
    this.#send({ type: "ops", ops: batch.map(toWire) });
  }

  /** @param {number} counter @returns {Op | undefined} */
  #take(counter) {
    const i = this.pending.findIndex((op) => op.s[0] === counter);
    if (i < 0) return undefined;
    return this.pending.splice(i, 1)[0];
  }

  // -- the connection ---------------------------------------------------------
  start() {
    this.stopped = false;
    this.connectSoon(0);
  }

  stop() {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    this.ws?.close(1000, "bye");
  }

  /** @param {number} delay */
  connectSoon(delay) {
    if (this.stopped || this.ws) return;
    if (this.timer) clearTimeout(this.timer);
    this.timer = setTimeout(() => {
      this.timer = null;
      this.#connect();
    }, delay);
  }

  #connect() {
    if (this.stopped || this.ws) return;
    if (navigator.onLine === false) {
      this.#setStatus("offline", "no network: edits are kept and will sync");
      return; // the online event brings us back
    }
    this.#setStatus("connecting", this.retry ? `reconnecting (attempt ${this.retry + 1})` : "connecting");
    let ws;
    try {
      ws = new WebSocket(this.url, SUBPROTOCOL);
    } catch (err) {
      this.#setStatus("closed", String(err));
      return;
    }
    this.ws = ws;
    ws.onopen = () => {
      const token = this.#helloToken();
      this.lastError = null;
      // The session rules (protocol/connection.js): resume, gaps and the close policy, as every client.
      this.conn = new ClientConnection({ replica: this.replica, name: this.name, client: "person", seq: this.seq, epoch: this.epoch, features: FEATURES });
      this.#send(this.conn.hello(token, { guest: this.sentGuest }));
    };
    ws.onmessage = (ev) => {
      if (typeof ev.data !== "string") return;
      let msg;
      try {
        msg = JSON.parse(ev.data);
      } catch (err) {
        console.error("bad message from server", err, ev.data?.slice?.(0, 200));
        return;
      }
      if (this.backlog) {
        this.backlog.push(msg);
        if (this.wakeLoad) this.wakeLoad();
      } else this.#handle(ws, msg);
    };
    ws.onclose = (ev) => this.#drop(ws, this.conn ? this.conn.close(ev.code) : "reconnect", ev.code, ev.reason);
  }

  /** @param {WebSocket} ws @param {any} msg */
  #handle(ws, msg) {
    try {
      this.#receive(msg);
    } catch (err) {
      console.error("bad message from server", err, JSON.stringify(msg)?.slice(0, 200));
      if (err instanceof DecodeError) this.#lose(ws, "invalid message");
    }
  }

  #helloToken() {
    const given = givenTokenFor(this.sanctuary);
    const guest = given || this.skipGuest ? null : guestToken();
    this.sentGiven = !!given;
    this.sentGuest = !!guest;
    return given ?? guest;
  }

  /**
   * After a refusal that a new identity or a new replica id answers: whether one was taken.
   * @param {"new_replica" | "new_guest"} action
   */
  #renewed(action) {
    if (++this.renewals > MAX_RENEWALS) return false;
    if (action === "new_guest") this.skipGuest = true;
    // A new identity may not write with a replica id bound to the old one: both take a new id.
    this.#switchReplica();
    this.#emit("pending");
    this.connectSoon(0);
    return true;
  }

  /**
   * This side gives a socket up (a gap, a resync, an invalid message, no network): reconnect.
   * @param {WebSocket | null} ws @param {string} reason
   */
  #lose(ws, reason) {
    this.#drop(ws, "reconnect", 1000, reason);
  }

  /**
   * Forget a socket and do what the close policy says (SPEC W14, protocol/connection.js).
   * @param {WebSocket | null} ws @param {"reconnect" | "new_replica" | "new_guest" | "stop"} action
   * @param {number} code @param {string} reason
   */
  #drop(ws, action, code, reason) {
    if (!ws || this.ws !== ws) return;
    this.backlog = null;
    this.wakeLoad = null;
    this.#saveCache(true); // while still live: the last state known to equal the server's
    ws.onclose = null;
    ws.onmessage = null;
    ws.onopen = null;
    if (ws.readyState === WebSocket.OPEN || ws.readyState === WebSocket.CONNECTING) ws.close(1000, "bye");
    this.ws = null;
    this.inflight.clear();
    this.peers.clear();
    this.#emit("peers");
    if ((action === "new_replica" || action === "new_guest") && this.#renewed(action)) return;
    if (action !== "reconnect") {
      this.stopped = true;
      // 4012: another tab took this replica id over: it owns the queue now.
      const why = code === 4012 ? "this sanctuary was opened in another tab" : CLOSE_REASONS[code];
      this.#setStatus("closed", why ?? (reason || "closed"));
      return;
    }
    this.retry++;
    const wait = Math.min(10000, 300 * 2 ** Math.min(this.retry, 6)) * (0.7 + Math.random() * 0.6);
    this.#setStatus("offline", navigator.onLine === false ? "no network: edits are kept and will sync" : "reconnecting…");
    this.connectSoon(this.retry === 1 ? 100 : wait);
  }

  /** @param {any} msg */
  #send(msg) {
    if (this.ws && this.ws.readyState === WebSocket.OPEN) this.ws.send(JSON.stringify(msg));
  }

  /** @param {"offline" | "connecting" | "live" | "closed"} status @param {string} detail */
  #setStatus(status, detail) {
    this.status = status;
    this.statusDetail = detail;
    this.#emit("status");
  }

  /** @param {string} type @param {any} [detail] */
  #emit(type, detail) {
    this.dispatchEvent(new CustomEvent(type, { detail }));
  }

  /** @param {any} msg */
  #receive(msg) {
    if (!this.conn) return;
    if (!CLIENT_TYPES.has(msg?.type)) throw new DecodeError(`unknown message type ${String(msg?.type).slice(0, 30)}`);
    for (const event of this.conn.receive(msg)) {
      switch (event[0]) {
        case "welcomed":
          this.#onWelcome(msg);
          break;
        case "cannot_resume":
          // The server cannot give what we missed op by op: ask for a snapshot.
          this.seq = null;
          this.epoch = null;
          this.#lose(this.ws, "cannot resume");
          return;
        case "broadcast":
          this.#onOps(event[1], checkOps(event[2], Infinity));
          break;
        case "gap":
          // We missed ops: resume from what we have.
          this.#lose(this.ws, "gap in seq");
          return;
        case "received":
          this.#onMessage(msg);
          break;
        default:
          console.error("the server broke the session rules", event);
      }
    }
  }

  /** @param {any} msg */
  #onMessage(msg) {
    switch (msg?.type) {
      case "ack":
        return this.#onAck(msg);
      case "reject":
        return this.#onReject(msg);
      case "presence":
        for (const p of msg.peers ?? []) {
          const peer = this.peers.get(p.sid);
          if (peer) Object.assign(peer, pickPresence(p));
        }
        return this.#emit("presence");
      case "join":
        this.#peerJoined(msg.peer);
        this.peerCount = Math.max(this.peerCount, this.peers.size);
        return this.#emit("peers");
      case "leave":
        this.peers.delete(msg.sid);
        this.peerCount = Math.max(0, this.peerCount - 1);
        return this.#emit("peers");
      case "roster":
        // Joins and leaves since the server's last tick: leaves first, then joins (W24).
        for (const sid of msg.left ?? []) this.peers.delete(sid);
        for (const peer of msg.joined ?? []) this.#peerJoined(peer);
        this.peerCount = Math.max(0, (msg.count ?? 1) - 1);
        return this.#emit("peers");
      case "peers":
        // A page of a crowded room's peers (W23), asked by requestPeers().
        for (const p of msg.peers ?? []) if (p.sid !== this.sid) this.peers.set(p.sid, { cursor: null, sel: [], preview: null, view: null, ...p });
        this.peerCount = Math.max(0, (msg.count ?? 1) - 1);
        if (msg.next != null && this.pagingPeers) this.#send({ type: "peers", after: msg.next });
        else this.pagingPeers = false;
        return this.#emit("peers");
      case "policy":
        this.policy = msg.policy ?? {};
        return this.#emit("policy");
      case "ping":
        return this.#send({ type: "pong", t: msg.t });
      case "pong":
        return;
      case "error":
        this.lastError = msg.code;
        this.#emit("server-error", msg);
        // Answered by a new replica id or a new guest when the connection closes.
        if (msg.code === "replica_in_use" || (this.sentGuest && (msg.code === "unauthorized" || msg.code === "token_expired"))) return;
        this.#emit("toast", `Server: ${msg.reason}`);
        return;
      default:
        throw new DecodeError(`unknown message type ${String(msg?.type).slice(0, 30)}`);
    }
  }

  /** Ask the server for every peer of a crowded room, page by page (W23). */
  requestPeers() {
    this.pagingPeers = true;
    this.#send({ type: "peers", after: null });
  }

  /** @param {any} peer */
  #peerJoined(peer) {
    if (peer.sid === this.sid) return;
    // A peer listed by the welcome may be announced again by a roster: keep its presence.
    const known = this.peers.get(peer.sid);
    this.peers.set(peer.sid, { cursor: null, sel: [], preview: null, view: null, ...known, ...peer });
  }

  /** @param {any} msg */
  #onWelcome(msg) {
    this.renewals = 0;
    if (!this.sentGiven) {
      if (this.skipGuest) forgetGuestToken(); // refused, and this welcome proves it is not needed
      this.skipGuest = false;
      if (typeof msg.token === "string") keepGuestToken(msg.token);
    }
    this.sid = msg.sid;
    this.identity = msg.identity;
    this.policy = msg.policy ?? {};
    this.#persist();
    if (msg.snapshot !== null && msg.snapshot !== undefined) {
      if (Array.isArray(msg.snapshot) && (msg.snapshot.length > LOAD_SLICE || typeof msg.parts === "number")) {
        this.#loadSnapshot(msg);
        return;
      }
      const t = Tapestry.fromSnapshot(msg.snapshot, msg.form);
      t.applyMany(this.pending);
      this.local.reset(t);
    } else {
      const ops = checkOps(msg.ops, Infinity);
      this.#applyRemote(ops);
    }
    this.#welcomed(msg);
  }

  /**
   * A large welcome snapshot, decoded a slice at a time between frames: the page stays
   * responsive, and an empty screen shows fragments as they arrive (a screen that shows
   * an older state keeps it until the new one is whole). A welcome in parts (W36) is loaded
   * part by part as they come, so the first part paints before the others are in. Messages
   * that come meanwhile wait in `backlog`, in order; the parts are taken from its head.
   * @param {any} msg
   */
  #loadSnapshot(msg) {
    const ws = this.ws;
    const conn = this.conn;
    if (!ws || !conn) return;
    const t = new Tapestry();
    const load = new WelcomeLoad(conn, msg, t, LOAD_SLICE);
    const shown = this.local.entries.size === 0 ? this.local : new Replica();
    shown.showLoading(t);
    this.backlog = [];
    this.#setStatus("connecting", "loading the tapestry");
    let scheduled = false;
    const schedule = () => {
      if (scheduled) return;
      scheduled = true;
      setTimeout(step, 0);
    };
    const step = () => {
      scheduled = false;
      if (this.ws !== ws || !this.backlog) {
        this.backlog = null; // the socket went away: the next welcome starts over
        return;
      }
      const until = performance.now() + LOAD_SLICE_MS;
      /** @type {string[]} */
      const ids = [];
      try {
        for (;;) {
          for (const other of load.take(this.backlog)) this.#onMessage(other);
          const slice = load.next();
          if (slice === null) break;
          for (const id of slice) ids.push(id);
          if (performance.now() > until) {
            shown.grow(ids); // one merge into the paint order per task
            schedule();
            return;
          }
        }
        shown.grow(ids);
      } catch (err) {
        this.backlog = null;
        this.wakeLoad = null;
        console.error("bad welcome snapshot", err);
        this.#lose(ws, "invalid message");
        return;
      }
      if (!load.done) {
        this.wakeLoad = schedule; // the next part wakes the load
        return;
      }
      this.wakeLoad = null;
      if (shown !== this.local) this.local.takeOver(shown);
      this.local.apply(this.pending);
      /** @type {any[]} */
      const backlog = this.backlog ?? [];
      this.backlog = null;
      this.#welcomed(msg);
      for (const later of backlog) {
        if (this.ws !== ws) return;
        this.#handle(ws, later);
      }
    };
    schedule();
  }

  /** The rest of a welcome, once its tapestry is in place. @param {any} msg */
  #welcomed(msg) {
    // Seq and epoch together, once the tapestry is whole: a socket lost while a snapshot loads
    // (its parts, W36) resumes as if that welcome never came, never with the old seq in the new epoch.
    this.seq = msg.seq;
    this.epoch = typeof msg.epoch === "string" ? msg.epoch : null;
    this.peers.clear();
    for (const p of msg.peers ?? []) this.peers.set(p.sid, { cursor: null, sel: [], preview: null, view: null, ...p });
    this.peerCount = typeof msg.peer_count === "number" ? msg.peer_count : this.peers.size;
    this.pagingPeers = false;
    this.retry = 0;
    this.#setStatus("live", "live");
    this.#emit("peers");
    this.#emit("synced");
    if (this.presenceState) this.setPresence(this.presenceState);
    this.#flush();
  }

  /** @param {Op[]} ops */
  #applyRemote(ops) {
    const changes = this.local.apply(ops);
    for (const op of ops) if (op.s[1] === this.replica && op.t === "c") this.local.adopt(op);
    if (changes.length) this.#emit("remote", changes);
  }

  /** Ops the session rules passed on: op i has seq first + i. @param {number} first @param {Op[]} ops */
  #onOps(first, ops) {
    this.#applyRemote(ops);
    this.seq = first + ops.length - 1;
    this.#emit("seq");
  }

  /** @param {any} msg */
  #onAck(msg) {
    let changed = false;
    for (const [counter] of msg.acks ?? []) {
      this.inflight.delete(counter);
      if (this.#take(counter)) changed = true;
    }
    if (changed) {
      this.#persist();
      this.#emit("pending");
    }
    this.#flush();
  }

  /** @param {any} msg */
  #onReject(msg) {
    const counter = msg.s?.[0];
    this.inflight.delete(counter);
    if (msg.code === "rate_limited") {
      // Keep the op, pause, and resend the whole queue from the start (rule 2).
      this.inflight.clear();
      this.inflight.add(-1);
      // Never sooner than the server said (W9a), and not faster than once a second anyway.
      const wait = Math.max(1000, typeof msg.retry_after === "number" ? msg.retry_after * 1000 : 0);
      setTimeout(() => {
        this.inflight.delete(-1);
        this.#flush();
      }, wait);
      return;
    }
    this.#take(counter);
    this.#persist();
    this.#emit("pending");
    this.#emit("rejected", msg);
    this.#emit("toast", rejectText(msg));
    if (!this.inflight.size) {
      // Our replica applied an op the sanctuary refused: take a fresh snapshot.
      this.seq = null;
      this.#lose(this.ws, "resync");
    }
  }

  // -- presence -----------------------------------------------------------------
  /** @param {{cursor: number[] | null, sel: string[], preview: any, view: number[] | null, color?: string, live?: any}} state */
  setPresence(state) {
    this.presenceState = state;
    if (this.status !== "live" || this.presenceTimer) return;
    const wait = Math.max(0, 50 - (performance.now() - this.lastPresence));
    this.presenceTimer = setTimeout(() => {
      this.presenceTimer = null;
      this.lastPresence = performance.now();
      this.#send({ type: "presence", ...this.presenceState });
    }, wait);
  }

  // -- cache --------------------------------------------------------------------
  #scheduleCache() {
    if (this.cacheTimer) return;
    this.cacheTimer = setTimeout(() => {
      this.cacheTimer = null;
      this.#saveCache(false);
    }, 3000);
  }

  /** @param {boolean} now */
  #saveCache(now) {
    // Only a state with nothing pending equals the server's at this seq.
    if (this.pending.length || this.seq === null || this.status !== "live") return;
    // Large tapestries are saved only when the page goes away (encoding them takes a while).
    const size = this.local.tapestry.frags.size;
    if ((!now && size > 3000) || size > 8000) return; // past that it would not fit local storage either
    saveCache(this.sanctuary, { seq: this.seq, epoch: this.epoch, data: this.local.tapestry.toData() });
  }
}

/** @param {any} p */
function pickPresence(p) {
  const picked = { cursor: p.cursor ?? null, sel: p.sel ?? [], preview: p.preview ?? null, view: p.view ?? null };
  // A colour the peer chose is its colour from now on (SPEC W11a); `live` is a gesture in progress.
  return { ...picked, live: p.live ?? null, ...(typeof p.color === "string" ? { color: p.color } : {}) };
}

/** @param {any} msg */
function rejectText(msg) {
  const texts = /** @type {Record<string, string>} */ ({
    canvas_locked: "The steward locked the canvas",
    muted: "You are muted in this sanctuary",
    consent_required: "That fragment's author has not allowed remixes",
    too_many_fragments: "This sanctuary is full of fragments",
    over_budget: "This sanctuary holds all the drawing it may",
    unknown_fragment: "That fragment no longer exists here",
    forbidden: "You may not do that here",
  });
  return `${texts[msg.code] ?? "Edit refused"}: ${msg.reason ?? msg.code}`;
}
