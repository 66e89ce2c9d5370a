// @ts-check
/**
 * Presence colours: the server's palette and rule (server/identity.py,
 * SPEC W11a), so the colour a person starts with here is the one the server
 * gives them, and a colour they choose is one nobody present holds.
 */

import { sha256HexSync } from "../protocol/digest.js";

/** The same list, in the same order, as `PALETTE` in server/identity.py. */
export const PALETTE = Object.freeze([
  "#ff7a90", "#ffb35c", "#f4e06d", "#7be0a8", "#5cd3ff", "#8f9bff", "#c88bff", "#ff8fd8",
  "#9ad0ff", "#b5f07a", "#ff9866", "#4fd8c4", "#e6b3ff", "#d9c58f", "#6fa8ff", "#ffc2a8",
  "#a3e4ff", "#f7a8c8", "#c4f0a0", "#ffdf8f", "#b0b8ff", "#8fe0e8", "#ffa3a3", "#dcd0ff",
]);

const encoder = new TextEncoder();
/** @param {string} s */
const sha = (s) => sha256HexSync(encoder.encode(s));

/**
 * The colour of an identity: the palette colour its hash points at, or the
 * next one not `taken`; past the palette, a light colour from the hash.
 * @param {string} key @param {Iterable<string>} [taken]
 */
export function colourFor(key, taken = []) {
  const held = new Set(taken);
  const start = parseInt(sha(key).slice(0, 8), 16) % PALETTE.length;
  for (let i = 0; i < PALETTE.length; i++) {
    const c = PALETTE[(start + i) % PALETTE.length];
    if (!held.has(c)) return c;
  }
  for (let i = 0; i < 64; i++) {
    const hex = sha(`${key}:${i}`);
    let c = "#";
    for (let j = 0; j < 3; j++) c += (128 + (parseInt(hex.slice(2 * j, 2 * j + 2), 16) % 128)).toString(16).padStart(2, "0");
    if (!held.has(c)) return c;
  }
  return PALETTE[start];
}

/** Text colour readable on `bg` (a `#rrggbb`). @param {string} bg */
export function inkOn(bg) {
  const v = parseInt(bg.slice(1, 7), 16);
  const lum = 0.299 * ((v >> 16) & 255) + 0.587 * ((v >> 8) & 255) + 0.114 * (v & 255);
  return lum > 140 ? "#0f1020" : "#ffffff";
}
