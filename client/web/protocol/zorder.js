// @ts-check
/**
 * Fractional z-order keys (SPEC M7), a port of protocol/zorder.py (byte for byte: the
 * shared vectors in protocol/vectors/zorder prove it).
 *
 * A key is a string of base-62 digits `0-9A-Za-z` compared in ASCII order; it never ends
 * in `0`. Keys are made of cells read from the left: a variable-length integer (a head
 * that says how many digits follow: `a`-`z` 1 to 26, `A`-`Z` 26 to 1) and a 3-digit slot
 * for the writer's replica tag; a short last cell reads as padded with zeros. Bring to
 * front and send to back move the end key's first integer by one, so keys stay short.
 */

export const DIGITS = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
const BASE = DIGITS.length;
/** @type {Record<string, number>} */
const INDEX = Object.fromEntries([...DIGITS].map((c, i) => [c, i]));
const TAG_LEN = 3;
/** The key of the first fragment. */
export const FIRST = "a1";
/** How far a nested integer steps: room for 15 inserts between neighbours before nesting again. */
export const NESTED_STEP = 16;

export class ZOrderError extends Error {}

/** Digits after a head: a-z 1..26, A-Z 26..1; 0-9 (only in older keys) 26. @param {string} head */
function width(head) {
  const i = INDEX[head];
  if (i >= 36) return i - 35;
  if (i >= 10) return 36 - i;
  return 26;
}

/** The cell `key` starts with, padded with zeros when `key` ends inside it. @param {string} key */
function firstCell(key) {
  const size = 1 + width(key[0]) + TAG_LEN;
  return key.slice(0, size).padEnd(size, "0");
}

/** @param {string} key */
function cells(key) {
  /** @type {string[]} */
  const out = [];
  let rest = key;
  while (rest) {
    const cell = firstCell(rest);
    out.push(cell);
    rest = rest.slice(cell.length);
  }
  return out;
}

/** @param {string} cell */
const integer = (cell) => cell.slice(0, 1 + width(cell[0]));

/**
 * The integer just above (below) `value`; null past the ends.
 * @param {string} value @param {boolean} up @returns {string | null}
 */
function step(value, up) {
  const digits = [...value.slice(1)].map((c) => INDEX[c]);
  const [edge, wrap] = up ? [BASE - 1, 0] : [0, BASE - 1];
  for (let j = digits.length - 1; j >= 0; j--) {
    if (digits[j] !== edge) {
      digits[j] += up ? 1 : -1;
      return value[0] + digits.map((d) => DIGITS[d]).join("");
    }
    digits[j] = wrap;
  }
  const head = INDEX[value[0]] + (up ? 1 : -1);
  if (head < 0 || head >= BASE) return null;
  return DIGITS[head] + DIGITS[wrap].repeat(width(DIGITS[head]));
}

/**
 * `times` integers up (down), skipping those ending in 0; null if it cannot move at all.
 * @param {string} value @param {boolean} up @param {number} times @returns {string | null}
 */
function move(value, up, times) {
  let out = value;
  for (let n = 0; n < times; n++) {
    let next = step(out, up);
    while (next !== null && next.endsWith("0")) next = step(next, up);
    if (next === null) break;
    out = next;
  }
  return out === value ? null : out;
}

/**
 * An integer strictly between `lo` and `hi` not ending in 0, or null.
 * @param {string} lo @param {string} hi @returns {string | null}
 */
function middle(lo, hi) {
  const after = move(lo, true, 1);
  if (after === null || after >= hi) return null;
  if (lo[0] !== hi[0]) return after;
  /** @type {number[]} */
  const total = [];
  let carry = 1; // rounds the mean up
  for (let j = lo.length - 1; j >= 1; j--) {
    const sum = INDEX[lo[j]] + INDEX[hi[j]] + carry;
    total.push(sum % BASE);
    carry = Math.floor(sum / BASE);
  }
  /** @type {number[]} */
  const half = [];
  let odd = carry;
  for (let j = total.length - 1; j >= 0; j--) {
    const cur = odd * BASE + total[j];
    half.push(Math.floor(cur / 2));
    odd = cur % 2;
  }
  let mid = lo[0] + half.map((d) => DIGITS[d]).join("");
  if (mid.endsWith("0")) {
    mid = move(mid, true, 1) ?? mid;
    if (mid >= hi) mid = move(mid, false, 1) ?? mid;
  }
  return lo < mid && mid < hi ? mid : after;
}

/**
 * A key strictly between `a` ("" = 0) and `b` (null = 1), digit by digit: only for the far
 * bottom of the key space, where no integer is left.
 * @param {string} a @param {string | null} b @returns {string}
 */
export function midpoint(a, b) {
  if (b !== null && a >= b) throw new ZOrderError(`midpoint needs a < b, got ${a} >= ${b}`);
  if (a.endsWith("0") || (b !== null && b.endsWith("0"))) throw new ZOrderError("keys must not end in 0");
  if (b !== null) {
    let n = 0;
    while ((n < a.length ? INDEX[a[n]] : 0) === INDEX[b[n]]) n++;
    if (n) return b.slice(0, n) + midpoint(a.slice(n), b.slice(n));
  }
  const lo = a ? INDEX[a[0]] : 0;
  const hi = b !== null ? INDEX[b[0]] : BASE;
  if (hi - lo > 1) return DIGITS[Math.floor((lo + hi + 1) / 2)];
  if (b !== null && b.length > 1) return b[0];
  return DIGITS[lo] + midpoint(a.slice(1), null);
}

/**
 * A key above `rest` (FIRST above nothing): the first integer moved up, or at the largest
 * integer that cell kept and the rest raised.
 * @param {string} rest @param {number} times @returns {string}
 */
function up(rest, times) {
  if (!rest) return FIRST;
  const cell = firstCell(rest);
  const moved = move(integer(cell), true, times);
  if (moved !== null) return moved;
  return cell + up(rest.slice(cell.length), times);
}

/**
 * A key below `rest` and not a prefix of it.
 * @param {string} rest @param {number} times @returns {string}
 */
function down(rest, times) {
  const moved = move(integer(firstCell(rest)), false, times);
  if (moved !== null) return moved;
  let key = midpoint("", rest);
  while (rest.startsWith(key)) key = midpoint(key, rest);
  return key;
}

/** @param {string} a @param {string} b */
function inside(a, b) {
  const ca = cells(a);
  const cb = cells(b);
  let i = 0;
  while (i < ca.length && i < cb.length && ca[i] === cb[i]) i++;
  const prefix = ca.slice(0, i).join("");
  if (i === ca.length) return prefix + down(b.slice(prefix.length), NESTED_STEP);
  const low = integer(ca[i]);
  const high = integer(cb[i]);
  if (low < high) {
    const mid = middle(low, high);
    if (mid !== null) return prefix + mid;
  }
  return prefix + ca[i] + up(a.slice(prefix.length + ca[i].length), NESTED_STEP);
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
 * A key strictly between `a` and `b` (null = open end), tagged with `replica`'s tag.
 * @param {string | null} a @param {string | null} b @param {string | null} [replica]
 */
export function between(a, b, replica = null) {
  if (a !== null) validateKey(a);
  if (b !== null) validateKey(b);
  if (a !== null && b !== null && a >= b) throw new ZOrderError(`between needs a < b, got ${a} >= ${b}`);
  let key;
  if (a === null) key = b === null ? FIRST : down(b, 1);
  else key = b === null ? up(a, 1) : inside(a, b);
  return replica === null ? key : key + replicaTag(replica);
}

/**
 * A key below `first` (the current bottom): "send to back", its first integer minus one.
 * @param {string | null} first @param {string | null} [replica]
 */
export function beforeFirst(first, replica = null) {
  return between(null, first, replica);
}

/**
 * A key above `last` (the current top): "bring to front", its first integer plus one.
 * @param {string | null} last @param {string | null} [replica]
 */
export function afterLast(last, replica = null) {
  return between(last, null, replica);
}
