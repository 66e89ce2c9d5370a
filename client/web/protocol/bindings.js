// @ts-check
/**
 * Where a bound line's or arrow's ends are drawn (SPEC M14), a port of
 * protocol/bindings.py, pinned by the vectors in protocol/vectors/bindings/.
 *
 * 1. A line or an arrow stores its ends as geometry: from (x, y) to
 *    (x + w, y + h), turned by rot around (x, y). Its `start` and `end`
 *    registers may name other fragments, its targets.
 * 2. An end whose target is live, is not the arrow itself, and is not a line
 *    or an arrow is attached: resolved at render time, never stored. Any other
 *    end is drawn where the geometry stores it.
 * 3. An attached end sits where the segment from its target's centre toward
 *    the aim leaves the target's outline, GAP further out. The aim is the other
 *    end's target's centre when that end is attached, else the other stored
 *    end. When the aim lies inside the outline, the end sits on the centre.
 * 4. A target's outline is its box before rotation, turned by its rot around
 *    its anchor; an ellipse's outline is the ellipse itself.
 */

/** @typedef {import("./tapestry.js").Fragment} Fragment */
/** @typedef {(id: string) => Fragment | null | undefined} Lookup */
/** @typedef {[number, number]} Point */
/** @typedef {{cx: number, cy: number, hw: number, hh: number, ax: number, ay: number, rot: number, round: boolean}} Outline */

/** World units between a target's outline and the attached end. */
export const GAP = 6;
const CHAR_ADVANCE = 0.6;
const LINE_HEIGHT = 1.25;

/** @param {any} v */
const num = (v) => (typeof v === "number" && Number.isFinite(v) ? v : 0);

/** Whether the fragment is a line or an arrow (the fragments that bind). @param {Fragment} f */
export const isConnector = (f) => f.kind === "shape" && (f.geom.shape === "line" || f.geom.shape === "arrow");

/** @param {number} x @param {number} y @param {number} ax @param {number} ay @param {number} rot @returns {Point} */
function turn(x, y, ax, ay, rot) {
  if (!rot) return [x, y];
  const c = Math.cos(rot);
  const s = Math.sin(rot);
  const dx = x - ax;
  const dy = y - ay;
  return [ax + dx * c - dy * s, ay + dx * s + dy * c];
}

/** @param {Fragment} f @returns {[number, number, number, number] | null} */
function box(f) {
  const g = f.geom;
  if (f.kind === "shape") {
    const w = num(g.w);
    const h = num(g.h);
    return [Math.min(f.x, f.x + w), Math.min(f.y, f.y + h), Math.max(f.x, f.x + w), Math.max(f.y, f.y + h)];
  }
  if (f.kind === "symbol") {
    const r = num(g.size) / 2;
    return r > 0 ? [f.x - r, f.y - r, f.x + r, f.y + r] : null;
  }
  if (f.kind === "text") {
    const size = num(g.size);
    if (typeof g.text !== "string" || size <= 0) return null;
    const lines = g.text.split("\n");
    const span = Math.max(CHAR_ADVANCE * size * Math.max(...lines.map((l) => [...l].length)), size * 0.3);
    const x0 = f.x - span * (g.align === "center" ? 0.5 : g.align === "right" ? 1 : 0);
    return [x0, f.y - 0.8 * size, x0 + span, f.y + 0.25 * size + (lines.length - 1) * LINE_HEIGHT * size];
  }
  const pts = g.pts;
  if (!Array.isArray(pts) || pts.length < 2) return null;
  let x0 = Infinity;
  let y0 = Infinity;
  let x1 = -Infinity;
  let y1 = -Infinity;
  for (let i = 0; i + 1 < pts.length; i += 2) {
    const x = f.x + num(pts[i]);
    const y = f.y + num(pts[i + 1]);
    x0 = Math.min(x0, x);
    y0 = Math.min(y0, y);
    x1 = Math.max(x1, x);
    y1 = Math.max(y1, y);
  }
  return [x0, y0, x1, y1];
}

/** The outline an end attaches to, or null when `f` cannot be a target. @param {Fragment} f @returns {Outline | null} */
export function outline(f) {
  if (isConnector(f)) return null;
  const b = box(f);
  if (!b) return null;
  const [x0, y0, x1, y1] = b;
  return {
    cx: (x0 + x1) / 2,
    cy: (y0 + y1) / 2,
    hw: (x1 - x0) / 2,
    hh: (y1 - y0) / 2,
    ax: f.x,
    ay: f.y,
    rot: num(f.geom.rot),
    round: f.kind === "shape" && f.geom.shape === "ellipse",
  };
}

/** The outline's centre in world coordinates. @param {Outline} o @returns {Point} */
export const centre = (o) => turn(o.cx, o.cy, o.ax, o.ay, o.rot);

/** Where an end attached to `o` sits when it points toward `aim`. @param {Outline} o @param {Point} aim @returns {Point} */
export function attach(o, aim) {
  const [lx, ly] = turn(aim[0], aim[1], o.ax, o.ay, -o.rot);
  const qx = lx - o.cx;
  const qy = ly - o.cy;
  const length = Math.hypot(qx, qy);
  const hw = Math.max(o.hw, 1e-9);
  const hh = Math.max(o.hh, 1e-9);
  const reach = o.round ? Math.hypot(qx / hw, qy / hh) : Math.max(Math.abs(qx) / hw, Math.abs(qy) / hh);
  if (reach <= 1 || length === 0) return centre(o);
  const k = 1 / reach + GAP / length;
  return turn(o.cx + qx * k, o.cy + qy * k, o.ax, o.ay, o.rot);
}

/** A line's or an arrow's ends as its geometry stores them. @param {Fragment} f @returns {[Point, Point]} */
export function storedEnds(f) {
  return [[f.x, f.y], turn(f.x + num(f.geom.w), f.y + num(f.geom.h), f.x, f.y, num(f.geom.rot))];
}

/**
 * The outline of the live fragment an end is attached to.
 * @param {Fragment} f @param {"start" | "end"} which @param {Lookup} lookup @returns {Outline | null}
 */
export function target(f, which, lookup) {
  const id = f[which];
  if (id === null || id === undefined || id === f.id) return null;
  const t = lookup(id);
  if (!t || t.deleted) return null;
  return outline(t);
}

/** Where a line's or an arrow's ends are drawn. @param {Fragment} f @param {Lookup} lookup @returns {[Point, Point]} */
export function ends(f, lookup) {
  const [a, b] = storedEnds(f);
  const ta = target(f, "start", lookup);
  const tb = target(f, "end", lookup);
  const start = ta ? attach(ta, tb ? centre(tb) : b) : a;
  const end = tb ? attach(tb, ta ? centre(ta) : a) : b;
  return [start, end];
}

/** Whether a line or an arrow names a target at either end. @param {Fragment} f */
export const isBound = (f) => isConnector(f) && ((f.start ?? null) !== null || (f.end ?? null) !== null);

/**
 * `f` as it is drawn: a bound line or arrow gets geometry through its drawn
 * ends and no rot; any other fragment is returned as it is.
 * @param {Fragment} f @param {Lookup} lookup @returns {Fragment}
 */
export function resolve(f, lookup) {
  if (!isBound(f)) return f;
  const [[x1, y1], [x2, y2]] = ends(f, lookup);
  /** @type {Record<string, any>} */
  const geom = { ...f.geom, w: x2 - x1, h: y2 - y1 };
  delete geom.rot;
  return { ...f, x: x1, y: y1, geom };
}
