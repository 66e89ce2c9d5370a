// @ts-check
/**
 * Stamps: `[counter, replica]`, ordered by counter then replica id (SPEC M1).
 * Replica ids are ASCII (validated), so `<` on strings is Python's order.
 */

/** Largest counter a stamp may carry: numbers are exact up to 2**53. */
export const MAX_COUNTER = Number.MAX_SAFE_INTEGER;

/** @typedef {[number, string]} Stamp */

/**
 * @param {Stamp} a
 * @param {Stamp} b
 * @returns {number} negative, zero or positive
 */
export function compareStamps(a, b) {
  if (a[0] !== b[0]) return a[0] < b[0] ? -1 : 1;
  if (a[1] === b[1]) return 0;
  return a[1] < b[1] ? -1 : 1;
}

/** A Lamport clock owned by one replica (SPEC M2). */
export class Clock {
  /** @param {string} replica @param {number} [counter] */
  constructor(replica, counter = 0) {
    this.replica = replica;
    this.counter = counter;
  }

  /** A stamp greater than every stamp seen so far. @returns {Stamp} */
  tick() {
    this.counter += 1;
    return [this.counter, this.replica];
  }

  /** @param {Stamp} stamp */
  observe(stamp) {
    if (stamp[0] > this.counter) this.counter = stamp[0];
  }

  /** @param {number} counter */
  observeCounter(counter) {
    if (counter > this.counter) this.counter = counter;
  }
}
