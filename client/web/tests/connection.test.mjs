// The session rules of the browser (protocol/connection.js) against the shared vectors that
// protocol/connection.py runs too: the same events, states and close decisions in both languages.
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { test } from "node:test";

import { ClientConnection, closeAction } from "../protocol/connection.js";
import { ROOT } from "./helpers.mjs";

const dir = join(ROOT, "protocol", "vectors", "connection");
const load = (/** @type {string} */ name) => JSON.parse(readFileSync(join(dir, name), "utf8"));

/** The vector form of an event (ops by id, messages by type). @param {any[]} e */
function plain(e) {
  switch (e[0]) {
    case "welcomed":
      return ["welcomed", e[1]];
    case "broadcast":
      return ["broadcast", e[1], e[2].map((/** @type {any} */ op) => op.id)];
    case "part":
      return ["part", e[1], e[2], e[3].fragments.map((/** @type {any} */ f) => f[0])];
    case "received":
      return ["received", e[1].type];
    default:
      return e;
  }
}

for (const c of load("close_codes.json").cases) {
  test(`W14 close ${c.code} after ${c.error} (guest token ${c.sent_guest_token}) -> ${c.action}`, () => {
    assert.equal(closeAction(c.code, c.error, c.sent_guest_token), c.action);
  });
}

for (const c of load("client_sessions.json").cases) {
  test(`${c.rule} ${c.name}`, () => {
    const conn = new ClientConnection({ replica: "r-ana", name: "Ana", seq: c.seq, epoch: c.epoch ?? null });
    const hello = conn.hello(c.guest_token ? "t.o.k" : null, { guest: Boolean(c.guest_token) });
    assert.deepEqual([hello.seq, hello.epoch ?? null], [c.seq, c.hello_epoch ?? null]);
    for (const step of c.steps) {
      if ("close" in step) {
        assert.equal(conn.close(step.close), step.action);
        continue;
      }
      assert.deepEqual(conn.receive(step.receive).map(plain), step.events);
      assert.deepEqual([conn.state, conn.seq], [step.state, step.seq]);
      if ("epoch" in step) assert.equal(conn.epoch, step.epoch);
    }
  });
}

test("a hello is sent once and says what the client is", () => {
  const conn = new ClientConnection({ replica: "r", name: "Ana" });
  assert.equal(conn.hello(null).client, "person");
  assert.throws(() => conn.hello(null), /once/);
});

test("W37 the hello lists the features the client handles, and omits an empty list", () => {
  const asking = new ClientConnection({ replica: "r-ana", name: "Ana", features: ["compact"] });
  assert.deepEqual(asking.hello(null).features, ["compact"]);
  const plainHello = new ClientConnection({ replica: "r-ana", name: "Ana" }).hello(null);
  assert.equal("features" in plainHello, false);
});
