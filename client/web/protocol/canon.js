// @ts-check
/**
 * The canonical form of values and its msgpack bytes (SPEC M9), byte for byte
 * what protocol/canon.py and msgpack-python produce:
 *
 * - map keys sorted (by code point, as Python's `sorted`);
 * - a number that is an integer in the safe range is packed as the smallest
 *   msgpack int form (fixint, uint8..64, int8..64), any other number as float64;
 * - strings as fixstr/str8/str16/str32 of their UTF-8 bytes;
 * - arrays, maps, nil and booleans in their shortest headers.
 *
 * The encoder is only what canonical bytes need; the browser speaks JSON.
 */

const utf8 = new TextEncoder();

/** Python's `sorted` order of str: by code point (JS `<` compares UTF-16 code units). */
export function compareCodePoints(/** @type {string} */ a, /** @type {string} */ b) {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) {
    const ca = a.codePointAt(i) ?? 0;
    const cb = b.codePointAt(i) ?? 0;
    if (ca !== cb) return ca < cb ? -1 : 1;
    if (ca > 0xffff) i++;
  }
  return a.length === b.length ? 0 : a.length < b.length ? -1 : 1;
}

/** @param {Record<string, any>} obj */
export function sortedKeys(obj) {
  const keys = Object.keys(obj);
  // ASCII keys (every key the protocol allows) sort the same either way; the
  // comparator keeps exotic keys in Python's order too.
  return keys.sort(compareCodePoints);
}

/**
 * The canonical form of a value: maps with sorted keys, integral numbers as integers.
 * In JavaScript 1.0 and 1 are one value already, so only the key order changes.
 * @param {any} value
 * @returns {any}
 */
export function canon(value) {
  // -0 is an integral float: Python's canon makes it the integer 0.
  if (value === 0) return 0;
  if (value === null || value === undefined || typeof value !== "object") return value ?? null;
  if (Array.isArray(value)) return value.map(canon);
  /** @type {Record<string, any>} */
  const out = {};
  for (const k of sortedKeys(value)) out[k] = canon(value[k]);
  return out;
}

/** A growable byte buffer. */
class Writer {
  constructor(size = 256) {
    this.buf = new Uint8Array(size);
    this.view = new DataView(this.buf.buffer);
    this.pos = 0;
  }

  /** @param {number} n */
  ensure(n) {
    if (this.pos + n <= this.buf.length) return;
    let size = this.buf.length * 2;
    while (size < this.pos + n) size *= 2;
    const next = new Uint8Array(size);
    next.set(this.buf.subarray(0, this.pos));
    this.buf = next;
    this.view = new DataView(next.buffer);
  }

  /** @param {number} b */
  u8(b) {
    this.ensure(1);
    this.buf[this.pos++] = b;
  }

  /** @param {number} tag @param {number} v */
  u16(tag, v) {
    this.ensure(3);
    this.buf[this.pos] = tag;
    this.view.setUint16(this.pos + 1, v);
    this.pos += 3;
  }

  /** @param {number} tag @param {number} v */
  u32(tag, v) {
    this.ensure(5);
    this.buf[this.pos] = tag;
    this.view.setUint32(this.pos + 1, v);
    this.pos += 5;
  }

  /** @param {number} tag @param {bigint} v */
  u64(tag, v) {
    this.ensure(9);
    this.buf[this.pos] = tag;
    this.view.setBigUint64(this.pos + 1, BigInt.asUintN(64, v));
    this.pos += 9;
  }

  /** @param {Uint8Array} bytes */
  bytes(bytes) {
    this.ensure(bytes.length);
    this.buf.set(bytes, this.pos);
    this.pos += bytes.length;
  }

  result() {
    return this.buf.slice(0, this.pos);
  }
}

/** @param {Writer} w @param {number} n */
function packInt(w, n) {
  if (n >= 0) {
    if (n < 0x80) w.u8(n);
    else if (n < 0x100) {
      w.u8(0xcc);
      w.u8(n);
    } else if (n < 0x10000) w.u16(0xcd, n);
    else if (n < 0x100000000) w.u32(0xce, n);
    else w.u64(0xcf, BigInt(n));
  } else if (n >= -32) w.u8(n & 0xff);
  else if (n >= -0x80) {
    w.u8(0xd0);
    w.u8(n & 0xff);
  } else if (n >= -0x8000) w.u16(0xd1, n & 0xffff);
  else if (n >= -0x80000000) w.u32(0xd2, n >>> 0);
  else w.u64(0xd3, BigInt(n));
}

/** @param {Writer} w @param {number} n */
function packFloat(w, n) {
  w.ensure(9);
  w.buf[w.pos] = 0xcb;
  w.view.setFloat64(w.pos + 1, n);
  w.pos += 9;
}

/** @param {Writer} w @param {number} len @param {number} fix @param {number} tag16 */
function header(w, len, fix, tag16) {
  if (len < 16) w.u8(fix | len);
  else if (len < 0x10000) w.u16(tag16, len);
  else w.u32(tag16 + 1, len);
}

/** @param {Writer} w @param {any} v */
function packValue(w, v) {
  if (v === null || v === undefined) w.u8(0xc0);
  else if (v === true) w.u8(0xc3);
  else if (v === false) w.u8(0xc2);
  else if (typeof v === "number") {
    if (Number.isSafeInteger(v)) packInt(w, v === 0 ? 0 : v);
    else packFloat(w, v);
  } else if (typeof v === "string") {
    const b = utf8.encode(v);
    const n = b.length;
    if (n < 32) w.u8(0xa0 | n);
    else if (n < 0x100) {
      w.u8(0xd9);
      w.u8(n);
    } else if (n < 0x10000) w.u16(0xda, n);
    else w.u32(0xdb, n);
    w.bytes(b);
  } else if (Array.isArray(v)) {
    header(w, v.length, 0x90, 0xdc);
    for (const item of v) packValue(w, item);
  } else if (typeof v === "object") {
    const keys = sortedKeys(v);
    header(w, keys.length, 0x80, 0xde);
    for (const k of keys) {
      packValue(w, k);
      packValue(w, v[k]);
    }
  } else {
    throw new TypeError(`not a canonical value: ${typeof v}`);
  }
}

/**
 * Canonical msgpack bytes of `value` (keys sorted on the way).
 * @param {any} value
 * @returns {Uint8Array}
 */
export function pack(value) {
  const w = new Writer();
  packValue(w, value);
  return w.result();
}

/** Lexicographic byte order, as Python compares `bytes`. */
export function compareBytes(/** @type {Uint8Array} */ a, /** @type {Uint8Array} */ b) {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) if (a[i] !== b[i]) return a[i] < b[i] ? -1 : 1;
  return a.length - b.length;
}

/** @param {Uint8Array} bytes */
export function toHex(bytes) {
  let s = "";
  for (const b of bytes) s += b.toString(16).padStart(2, "0");
  return s;
}
