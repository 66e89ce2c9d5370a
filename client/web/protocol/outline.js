// @ts-check
/**
 * The outline of a pressure stroke (SPEC M17): the port of protocol/outline.py,
 * operation for operation, so both compute the same floats (the shared vectors
 * in protocol/vectors/outline/ check it). The centre line is the one a
 * constant-width stroke draws; the radius follows the eased pressure, both ends
 * taper into round caps, and the polygon is filled with the non-zero rule.
 */

/** How much the pressure changes the width: 0.7 draws from 0.3 to 1.7 times the base width. */
export const THINNING = 0.7;
/** Both ends narrow over this many base widths (at most a third of the stroke each). */
export const TAPER_WIDTHS = 4.0;
/** The width left at the very tip of a taper, as a share of the width there. */
export const TAPER_TIP = 0.35;
/** Segments of a half circle in a round cap (a dot is a full circle of twice as many). */
export const CAP_STEPS = 8;
const COS = 0.9238795325112867;
const SIN = 0.3826834323650898;
const EPSILON = 1e-9;

/** Half the drawn width at `pressure` (before the end tapers). @param {number} width @param {number} pressure */
export const radius = (width, pressure) => (width / 2) * (1 + THINNING * (2 * pressure - 1));

/** The widest half-width a stroke reaches. @param {number} width @param {ArrayLike<number>} pressure */
export function maxRadius(width, pressure) {
  if (!pressure.length) return width / 2;
  let top = -Infinity;
  for (let i = 0; i < pressure.length; i++) if (pressure[i] > top) top = pressure[i];
  return radius(width, top);
}

/** @param {ArrayLike<number>} pressure @returns {number[]} */
function eased(pressure) {
  const n = pressure.length;
  /** @type {number[]} */
  const out = [];
  if (n < 3) {
    for (let i = 0; i < n; i++) out.push(pressure[i]);
    return out;
  }
  out.push(pressure[0]);
  for (let i = 1; i < n - 1; i++) out.push((pressure[i - 1] + 2 * pressure[i] + pressure[i + 1]) / 4);
  out.push(pressure[n - 1]);
  return out;
}

/**
 * Samples [x, y, p] along the smoothed line a constant-width stroke draws.
 * @param {ArrayLike<number>} pts @param {ArrayLike<number>} pressure @param {number} [ox] @param {number} [oy]
 * @returns {number[][]}
 */
export function centreLine(pts, pressure, ox = 0, oy = 0) {
  const n = Math.min(pts.length >> 1, pressure.length);
  if (n === 0) return [];
  const p = eased(Array.prototype.slice.call(pressure, 0, n));
  const xs = [];
  const ys = [];
  for (let i = 0; i < n; i++) {
    xs.push(ox + pts[2 * i]);
    ys.push(oy + pts[2 * i + 1]);
  }
  /** @type {number[][]} */
  const out = [];
  /** @param {number} x @param {number} y @param {number} q */
  const add = (x, y, q) => {
    if (out.length) {
      const last = out[out.length - 1];
      const dx = x - last[0];
      const dy = y - last[1];
      if (dx * dx + dy * dy < EPSILON * EPSILON) return;
    }
    out.push([x, y, q]);
  };
  add(xs[0], ys[0], p[0]);
  let ax = xs[0];
  let ay = ys[0];
  let ap = p[0];
  for (let i = 1; i < n - 1; i++) {
    const bx = (xs[i] + xs[i + 1]) / 2;
    const by = (ys[i] + ys[i + 1]) / 2;
    const bp = (p[i] + p[i + 1]) / 2;
    const mx = 0.25 * ax + 0.5 * xs[i] + 0.25 * bx;
    add(mx, 0.25 * ay + 0.5 * ys[i] + 0.25 * by, 0.25 * ap + 0.5 * p[i] + 0.25 * bp);
    add(bx, by, bp);
    ax = bx;
    ay = by;
    ap = bp;
  }
  if (n > 1) add(xs[n - 1], ys[n - 1], p[n - 1]);
  return out;
}

/** @param {number[][]} line @param {number} width @returns {number[]} */
function tapers(line, width) {
  const m = line.length;
  const along = new Array(m).fill(0);
  for (let i = 1; i < m; i++) {
    const dx = line[i][0] - line[i - 1][0];
    const dy = line[i][1] - line[i - 1][1];
    along[i] = along[i - 1] + Math.sqrt(dx * dx + dy * dy);
  }
  const total = along[m - 1];
  const span = Math.min(TAPER_WIDTHS * width, total / 3);
  if (span <= 0) return new Array(m).fill(1);
  const out = [];
  for (let i = 0; i < m; i++) {
    const t = Math.min(along[i], total - along[i]) / span;
    out.push(t >= 1 ? 1 : TAPER_TIP + (1 - TAPER_TIP) * t * (2 - t));
  }
  return out;
}

/** @param {number} cx @param {number} cy @param {number} vx @param {number} vy @param {number} steps @param {number[]} out */
function arc(cx, cy, vx, vy, steps, out) {
  for (let k = 0; k < steps - 1; k++) {
    const nx = vx * COS + vy * SIN;
    vy = vy * COS - vx * SIN;
    vx = nx;
    out.push(cx + vx, cy + vy);
  }
}

/**
 * The closed outline [x0, y0, x1, y1, ...] of a stroke drawn with pressure; empty: nothing to draw.
 * @param {ArrayLike<number>} pts relative to (ox, oy) @param {ArrayLike<number>} pressure one value in [0, 1] a point
 * @param {number} width the base width @param {number} [ox] @param {number} [oy]
 * @returns {number[]}
 */
export function outline(pts, pressure, width, ox = 0, oy = 0) {
  if (!(width > 0)) return [];
  const line = centreLine(pts, pressure, ox, oy);
  const m = line.length;
  if (m === 0) return [];
  /** @type {number[]} */
  const out = [];
  if (m === 1) {
    const [x, y, p] = line[0];
    const r = radius(width, p);
    out.push(x + r, y);
    arc(x, y, r, 0, 2 * CAP_STEPS, out);
    return out;
  }
  const taper = tapers(line, width);
  const right = [];
  const normals = [];
  let tx = line[1][0] - line[0][0];
  let ty = line[1][1] - line[0][1];
  for (let i = 0; i < m; i++) {
    const a = i > 0 ? line[i - 1] : line[i];
    const b = i + 1 < m ? line[i + 1] : line[i];
    const dx = b[0] - a[0];
    const dy = b[1] - a[1];
    let d = Math.sqrt(dx * dx + dy * dy);
    if (d > EPSILON) {
      tx = dx / d;
      ty = dy / d;
    } else {
      d = Math.sqrt(tx * tx + ty * ty);
      tx = tx / d;
      ty = ty / d;
    }
    const r = radius(width, line[i][2]) * taper[i];
    const nx = -ty * r;
    const ny = tx * r;
    normals.push([nx, ny]);
    const x = line[i][0];
    const y = line[i][1];
    out.push(x + nx, y + ny);
    right.push(x - nx, y - ny);
  }
  arc(line[m - 1][0], line[m - 1][1], normals[m - 1][0], normals[m - 1][1], CAP_STEPS, out);
  for (let i = m - 1; i >= 0; i--) out.push(right[2 * i], right[2 * i + 1]);
  arc(line[0][0], line[0][1], -normals[0][0], -normals[0][1], CAP_STEPS, out);
  return out;
}
