// @ts-check
/**
 * Fractional z-order keys (SPEC M7), a port of protocol/zorder.py.
 *
 * A key is a string of base-62 digits `0-9A-Za-z` read as the fraction
 * `0.d1d2d3...`; ASCII order of the strings is the numeric order. A key never
 * ends in `0`. With a replica id, `between` appends a short tag derived from
 * it so two replicas inserting at the same spot get different keys.
 */

export const DIGITS = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
const BASE = DIGITS.length;
/** @type {Record<string, number>} */
const INDEX = Object.fromEntries([...DIGITS].map((c, i) => [c, i]));

export class ZOrderError extends Error {}

/** @param {string} s @param {number} i */
const digit = (s, i) => (i < s.length ? INDEX[s[i]] : 0);

/**
 * A key strictly between `a` ("" = 0) and `b` (null = 1).
 * @param {string} a @param {string | null} b @returns {string}
 */
export function midpoint(a, b) {
  if (b !== null && a >= b) throw new ZOrderError(`midpoint needs a < b, got ${a} >= ${b}`);
  if (a.endsWith("0") || (b !== null && b.endsWith("0"))) throw new ZOrderError("keys must not end in 0");
  if (b !== null) {
    let n = 0;
    while (digit(a, n) === INDEX[b[n]]) n++;
    if (n) return b.slice(0, n) + midpoint(a.slice(n), b.slice(n));
  }
  const lo = a ? digit(a, 0) : 0;
  const hi = b !== null ? INDEX[b[0]] : BASE;
  if (hi - lo > 1) return DIGITS[Math.floor((lo + hi + 1) / 2)];
  if (b !== null && b.length > 1) return b[0];
  return DIGITS[lo] + midpoint(a.slice(1), null);
}

/**
 * Three base-62 digits derived from a replica id (FNV-1a), never ending in 0.
 * @param {string} replica
 */
export function replicaTag(replica) {
  let h = 0x811c9dc5;
  for (const byte of new TextEncoder().encode(replica)) h = Math.imul(h ^ byte, 0x01000193) >>> 0;
  const d1 = h % BASE;
  const d2 = Math.floor(h / BASE) % BASE;
  const d3 = (Math.floor(h / (BASE * BASE)) % (BASE - 1)) + 1;
  return DIGITS[d1] + DIGITS[d2] + DIGITS[d3];
}

/** @param {string} key */
export function validateKey(key) {
  if (!key || key.endsWith("0") || [...key].some((c) => !(c in INDEX))) throw new ZOrderError(`invalid z key ${key}`);
}

/**
 * A key strictly between `a` and `b` (null = open end).
 * @param {string | null} a @param {string | null} b @param {string | null} [replica]
 */
export function between(a, b, replica = null) {
  const lo = a ?? "";
  if (a !== null) validateKey(a);
  if (b !== null) validateKey(b);
  let key = midpoint(lo, b);
  if (replica === null) return key;
  while (b !== null && b.startsWith(key)) key = midpoint(key, b);
  return key + replicaTag(replica);
}

/** A short key above `key`: its first digit below `z` raised by one (the rest dropped). @param {string} key */
function bumpUp(key) {
  for (let i = 0; i < key.length; i++) {
    if (key[i] !== "z") return key.slice(0, i) + DIGITS[INDEX[key[i]] + 1];
  }
  return key + "V";
}

/** A short key below `key`: its first non-zero digit lowered by one (`1` becomes `0z`). @param {string} key */
function bumpDown(key) {
  for (let i = 0; i < key.length; i++) {
    const d = INDEX[key[i]];
    if (d > 1) return key.slice(0, i) + DIGITS[d - 1];
    if (d === 1) return key.slice(0, i) + "0z";
  }
  return null;
}

/**
 * A key below `first` (the current bottom); steps down one digit rather than halving the gap.
 * @param {string | null} first @param {string | null} [replica]
 */
export function beforeFirst(first, replica = null) {
  if (first === null) return between(null, null, replica);
  validateKey(first);
  const key = bumpDown(first);
  if (key === null) return between(null, first, replica);
  return key + (replica === null ? "" : replicaTag(replica));
}

/**
 * A key above `last` (the current top): "bring to front"; steps up one digit rather than halving.
 * @param {string | null} last @param {string | null} [replica]
 */
export function afterLast(last, replica = null) {
  if (last === null) return between(null, null, replica);
  validateKey(last);
  return bumpUp(last) + (replica === null ? "" : replicaTag(replica));
}
