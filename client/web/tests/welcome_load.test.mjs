// The load of a welcome in parts (SPEC W36): parts are taken in order from the messages that came,
// loaded a slice at a time, and the result is the tapestry a whole welcome gives.
import assert from "node:assert/strict";
import { test } from "node:test";

import { WelcomeLoad } from "../app/welcome_load.js";
import { ClientConnection } from "../protocol/connection.js";
import { Tapestry } from "../protocol/tapestry.js";

/** @param {number} i */
const fragment = (i) => [`f${String(i).padStart(4, "0")}`, { kind: [i + 1, "r", "symbol"], geom: [i + 1, "r", { sym: "moon", size: 4 }], z: [i + 1, "r", "V"] }];
const ALL = Array.from({ length: 25 }, (_, i) => fragment(i));
const IDENTITY = { id: "u", name: "Ana", role: "dreamer", origin: "organic" };

/**
 * A welcome in `k` parts of the fragments in `ALL` cut at `cuts`, after a hello asking for parts
 * (and, with `compact`, for the compact form too: then every part carries compact items, W37).
 */
function parted(/** @type {number[]} */ cuts, compact = false) {
  const features = compact ? ["parts", "compact"] : ["parts"];
  const conn = new ClientConnection({ replica: "r-ana", name: "Ana", features });
  assert.deepEqual(conn.hello(null).features, features);
  const items = compact ? Tapestry.fromData(ALL).toCompact() : ALL;
  const bounds = [0, ...cuts, items.length];
  const lists = bounds.slice(1).map((end, i) => items.slice(bounds[i], end));
  const k = lists.length;
  const form = compact ? { form: "compact" } : {};
  const welcome = { type: "welcome", v: 1, sanctuary: "g", sid: "s", identity: IDENTITY, seq: 9, since: 9, snapshot: lists[0], ops: [], peers: [], policy: {}, parts: k, ...form };
  const parts = lists.slice(1).map((fragments, i) => ({ type: "snapshot", seq: 9, part: i + 1, parts: k, fragments }));
  const [event] = conn.receive(welcome);
  assert.equal(event[0], "welcomed");
  return { conn, welcome, parts };
}

/** Every slice the load can make now. @param {WelcomeLoad} load */
function drain(load) {
  const ids = [];
  for (let slice = load.next(); slice !== null; slice = load.next()) ids.push(...slice);
  return ids;
}

test("W36 the parts, loaded as they come, make the tapestry of the whole welcome", async () => {
  const { conn, welcome, parts } = parted([3, 10, 18]);
  const load = new WelcomeLoad(conn, welcome, new Tapestry(), 4);
  const first = drain(load);
  assert.deepEqual(first, ["f0000", "f0001", "f0002"]); // the first part paints before the others come
  assert.equal(load.done, false);
  /** @type {any[]} */
  const backlog = [parts[0]];
  assert.deepEqual(load.take(backlog), []);
  assert.deepEqual(backlog, []);
  const second = load.next();
  assert.deepEqual(second, ["f0003", "f0004", "f0005", "f0006"]); // a slice at a time
  drain(load);
  backlog.push(parts[1], parts[2], { type: "ops", seq: 10, ops: [] });
  load.take(backlog);
  assert.deepEqual(backlog.map((m) => m.type), ["ops"]); // what follows the last part is left for later
  drain(load);
  assert.equal(load.done, true);
  assert.equal(load.loaded, ALL.length);
  assert.equal(conn.state, "live");
  assert.equal(await load.tapestry.digest(), await Tapestry.fromData(ALL).digest());
});

test("W36 W37 compact parts, loaded as they come, make the tapestry of a canonical whole welcome", async () => {
  const { conn, welcome, parts } = parted([4, 11, 19], true);
  assert.equal(parts[0].fragments[0].length, 5); // compact items: [id, counter, replica, values, others]
  const load = new WelcomeLoad(conn, welcome, new Tapestry(), 3);
  assert.deepEqual(drain(load), ["f0000", "f0001", "f0002", "f0003"]);
  load.take([...parts]);
  drain(load);
  assert.equal(load.done, true);
  assert.equal(load.loaded, ALL.length);
  assert.equal(await load.tapestry.digest(), await Tapestry.fromData(ALL).digest());
});

test("W36 W37 a canonical item in a compact welcome's part is refused", () => {
  const { conn, welcome, parts } = parted([5], true);
  parts[0].fragments = [ALL[20]];
  const load = new WelcomeLoad(conn, welcome, new Tapestry(), 100);
  drain(load);
  load.take([parts[0]]);
  assert.throws(() => drain(load), /compact snapshot entry/);
});

test("W36 a whole welcome is one list to load", () => {
  const conn = new ClientConnection({ replica: "r-ana", name: "Ana" });
  conn.hello(null);
  const welcome = { type: "welcome", v: 1, sanctuary: "g", sid: "s", identity: IDENTITY, seq: 9, since: 9, snapshot: ALL, ops: [], peers: [], policy: {} };
  conn.receive(welcome);
  const load = new WelcomeLoad(conn, welcome, new Tapestry(), 10);
  assert.equal(drain(load).length, ALL.length);
  assert.equal(load.done, true);
});

test("W36 pings that come between parts are handed back; other messages break the load", () => {
  const { conn, welcome, parts } = parted([5]);
  const load = new WelcomeLoad(conn, welcome, new Tapestry(), 100);
  drain(load);
  const ping = { type: "ping", t: 3 };
  assert.deepEqual(load.take([ping]), [ping]);
  assert.throws(() => load.take([{ type: "ops", seq: 10, ops: [] }]), /before the last part/);
  assert.equal(load.done, false);
  assert.equal(parts.length, 1);
});

test("W36 a part out of order breaks the load", () => {
  const { conn, welcome, parts } = parted([5, 10]);
  const load = new WelcomeLoad(conn, welcome, new Tapestry(), 100);
  assert.throws(() => load.take([parts[1]]), /before the last part/);
});

test("W36 a fragment listed in two parts is refused", () => {
  const { conn, welcome, parts } = parted([5]);
  parts[0].fragments = [ALL[0], ...parts[0].fragments];
  const load = new WelcomeLoad(conn, welcome, new Tapestry(), 100);
  drain(load);
  load.take([parts[0]]);
  assert.throws(() => drain(load), /listed twice/);
});
