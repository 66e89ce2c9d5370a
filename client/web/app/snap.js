// @ts-check
/**
 * Snapping while moving: the moving selection's edges and centre line up with
 * those of the fragments around it when they come within a few pixels, and
 * the lines they share are drawn as guides.
 */

/** @typedef {import("./geometry.js").Box} Box */
/** @typedef {{dx: number, dy: number, xs: number[], ys: number[]}} Snap */

/** @param {Box} b @returns {[number[], number[]]} the box's x lines (left, centre, right) and y lines */
const lines = (b) => [
  [b.x0, (b.x0 + b.x1) / 2, b.x1],
  [b.y0, (b.y0 + b.y1) / 2, b.y1],
];

/**
 * How far to nudge `moving` so it lines up with `others` (each axis on its
 * own), within `tol`; and where the guides go.
 * @param {Box} moving @param {Box[]} others @param {number} tol (world units)
 * @returns {Snap}
 */
export function snapBox(moving, others, tol) {
  const [mx, my] = lines(moving);
  let best = { x: tol + 1, y: tol + 1 };
  let dx = 0;
  let dy = 0;
  for (const o of others) {
    const [ox, oy] = lines(o);
    for (const a of mx) {
      for (const b of ox) {
        const d = b - a;
        if (Math.abs(d) < Math.abs(best.x)) best = { ...best, x: d };
      }
    }
    for (const a of my) {
      for (const b of oy) {
        const d = b - a;
        if (Math.abs(d) < Math.abs(best.y)) best = { ...best, y: d };
      }
    }
  }
  if (Math.abs(best.x) <= tol) dx = best.x;
  if (Math.abs(best.y) <= tol) dy = best.y;
  // The guides: every line of the snapped box that another box shares exactly.
  const [sx, sy] = lines({ x0: moving.x0 + dx, y0: moving.y0 + dy, x1: moving.x1 + dx, y1: moving.y1 + dy });
  const near = (/** @type {number} */ a, /** @type {number} */ b) => Math.abs(a - b) < 1e-6 * Math.max(1, Math.abs(a));
  /** @type {Set<number>} */
  const xs = new Set();
  /** @type {Set<number>} */
  const ys = new Set();
  for (const o of others) {
    const [ox, oy] = lines(o);
    if (Math.abs(best.x) <= tol) for (const a of sx) if (ox.some((b) => near(a, b))) xs.add(a);
    if (Math.abs(best.y) <= tol) for (const a of sy) if (oy.some((b) => near(a, b))) ys.add(a);
  }
  return { dx, dy, xs: [...xs], ys: [...ys] };
}
