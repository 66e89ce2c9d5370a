// Shortcuts stop only in text fields; other controls keep just the keys they act on.
import assert from "node:assert/strict";
import { test } from "node:test";

import { isShortcut, isTextField } from "../app/keys.js";

const input = (/** @type {string} */ type) => ({ tagName: "INPUT", type });

test("text fields take every key", () => {
  for (const el of [input("text"), input("search"), input(""), input("number"), { tagName: "TEXTAREA" }, { tagName: "DIV", isContentEditable: true }]) {
    assert.ok(isTextField(el), JSON.stringify(el));
    for (const key of ["v", "z", "Delete", "ArrowLeft", " "]) {
      assert.equal(isShortcut(el, { key }), false, `${key} in ${JSON.stringify(el)}`);
      assert.equal(isShortcut(el, { key, ctrlKey: true }), false, `Ctrl+${key} in ${JSON.stringify(el)}`);
    }
  }
});

test("a slider keeps its arrows; letters, Delete and Ctrl+Z stay shortcuts", () => {
  const slider = input("range");
  assert.equal(isTextField(slider), false);
  for (const key of ["ArrowLeft", "ArrowRight", "ArrowUp", "ArrowDown", "Home", "End", "PageUp"]) assert.equal(isShortcut(slider, { key }), false, key);
  for (const key of ["v", "p", "Delete", "?", "]", "+", "0", " "]) assert.ok(isShortcut(slider, { key }), key);
  assert.ok(isShortcut(slider, { key: "z", ctrlKey: true }));
  assert.ok(isShortcut(slider, { key: "ArrowLeft", ctrlKey: true }));
});

test("checkboxes, colour inputs and buttons keep Space and Enter only", () => {
  for (const el of [input("checkbox"), input("color"), input("radio"), { tagName: "BUTTON" }]) {
    assert.equal(isShortcut(el, { key: " " }), false);
    assert.equal(isShortcut(el, { key: "Enter" }), false);
    for (const key of ["v", "ArrowRight", "Delete", "Escape"]) assert.ok(isShortcut(el, { key }), `${key} in ${el.tagName} ${el.type ?? ""}`);
    assert.ok(isShortcut(el, { key: "z", metaKey: true }));
  }
});

test("selects keep their navigation keys; Tab is never a shortcut", () => {
  const sel = { tagName: "SELECT" };
  assert.equal(isShortcut(sel, { key: "ArrowDown" }), false);
  assert.ok(isShortcut(sel, { key: "v" }));
  assert.equal(isShortcut(null, { key: "Tab" }), false);
  assert.ok(isShortcut(null, { key: "v" }));
  assert.ok(isShortcut({ tagName: "CANVAS" }, { key: "ArrowLeft" }));
});
