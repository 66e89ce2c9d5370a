// The steward's audit log reads as sentences with people's names.
import assert from "node:assert/strict";
import { test } from "node:test";

import { auditSentence } from "../steward.js";

const names = new Map([["guest-1", "Bo"], ["w-echo", "echo"]]);

test("acts read as sentences naming people, not ids", () => {
  const by = { by: "steward-ana", by_name: "Ana" };
  assert.equal(auditSentence({ ...by, act: "mute", target: "guest-1", seconds: 600 }, names), "Ana muted Bo for 10 minutes.");
  assert.equal(auditSentence({ ...by, act: "mute", target: "guest-1", seconds: 30 }, names), "Ana muted Bo for 30 seconds.");
  assert.equal(auditSentence({ ...by, act: "kick", target: "guest-1" }, names), "Ana removed Bo from the sanctuary.");
  assert.equal(auditSentence({ ...by, act: "ban", target: "guest-9", reason: "spam" }, names), "Ana banned guest-9 (spam).");
  assert.equal(auditSentence({ ...by, act: "role", target: "w-echo", role: "viewer" }, names), "Ana made echo a viewer.");
  assert.equal(
    auditSentence({ ...by, act: "rollback", target: "w-echo", ops: 12, fragments: ["a", "b"] }, names),
    "Ana rolled back 12 edits by echo on 2 fragments.",
  );
  assert.equal(auditSentence({ by: "guest-1", act: "remove", target: "f1" }, names), "Bo removed a fragment.");
});

test("policy edits say what changed, in words", () => {
  const s = auditSentence({ by_name: "Ana", act: "policy", changes: { ai_share_cap: 0.25, locked: true, access: "invite" } }, names);
  assert.equal(s, "Ana set the AI share cap to 25%, locked the canvas, made the sanctuary invite-only.");
  assert.ok(!s.includes("{"), "no raw JSON");
  assert.equal(auditSentence({ by_name: "Ana", act: "policy", changes: { future_knob: 3 } }, names), "Ana set future_knob to 3.");
});
