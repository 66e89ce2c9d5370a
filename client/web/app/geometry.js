// @ts-check
/**
 * Fragment geometry: bounds, Path2D building and hit testing. The numbers
 * follow the server's renderer (server/render_geom.py) so the canvas and the
 * SVG export draw the same tapestry.
 */

import { strokeHalf } from "./pressure.js";

export const DEFAULT_COLOR = "#ece8ff";
export const DEFAULT_WIDTH = 3;
export const GLYPH_BOX = 100;
export const GLYPH_STROKE = 4;
export const CHAR_ADVANCE = 0.6;
export const LINE_HEIGHT = 1.25;
export const FONT_FAMILY = "DejaVu Sans, Verdana, Arial, sans-serif";

/** @typedef {import("../protocol/tapestry.js").Fragment} Fragment */
/** @typedef {{x0: number, y0: number, x1: number, y1: number}} Box */

/** How far left of its anchor a caption starts, as a share of its width (server/render_geom.py). */
export const ALIGN_SHIFT = /** @type {Record<string, number>} */ ({ left: 0, center: 0.5, right: 1 });

/**
 * A caption's alignment: left, center or right (anything else reads as left).
 * @param {{geom: Record<string, any>}} f @returns {"left" | "center" | "right"}
 */
export const textAlign = (f) => (f.geom.align === "center" || f.geom.align === "right" ? f.geom.align : "left");

/**
 * The canvas dash pattern of a line's `style.dash`: dashes of 3 widths and gaps of 2, or round
 * dots 2 widths apart (as the server's SVG draws them).
 * @param {Record<string, any>} style @returns {number[]}
 */
export function dashPattern(style) {
  const w = Math.max(strokeWidth(style), 0.5);
  if (style.dash === "dashed") return [3 * w, 2 * w];
  if (style.dash === "dotted") return [0, 2 * w];
  return [];
}

/** @param {any} v @param {number} [d] */
export const num = (v, d = 0) => (typeof v === "number" && Number.isFinite(v) ? v : d);

/** @param {Record<string, any>} style */
export function strokeWidth(style) {
  const w = num(style.width, DEFAULT_WIDTH);
  return w >= 0 ? w : DEFAULT_WIDTH;
}

/** @param {Box} b @param {number} by @returns {Box} */
export const grow = (b, by) => ({ x0: b.x0 - by, y0: b.y0 - by, x1: b.x1 + by, y1: b.y1 + by });

/** @param {Box} a @param {Box} b */
export const intersects = (a, b) => a.x0 <= b.x1 && b.x0 <= a.x1 && a.y0 <= b.y1 && b.y0 <= a.y1;

/** @param {Box} a @param {Box} b inner */
export const contains = (a, b) => a.x0 <= b.x0 && a.y0 <= b.y0 && a.x1 >= b.x1 && a.y1 >= b.y1;

/** @param {Iterable<Box>} boxes @returns {Box | null} */
export function union(boxes) {
  let out = null;
  for (const b of boxes) {
    if (!out) out = { ...b };
    else {
      out.x0 = Math.min(out.x0, b.x0);
      out.y0 = Math.min(out.y0, b.y0);
      out.x1 = Math.max(out.x1, b.x1);
      out.y1 = Math.max(out.y1, b.y1);
    }
  }
  return out;
}

/** @param {Box} b */
export const centre = (b) => [(b.x0 + b.x1) / 2, (b.y0 + b.y1) / 2];

/** @param {number} width */
export const arrowLength = (width) => Math.max(8, 3 * width);

/** The fragment's bounds before rotation, ink included. @param {Fragment} f @returns {Box | null} */
export function localBox(f) {
  const half = strokeWidth(f.style) / 2;
  const g = f.geom;
  if (f.kind === "stroke") {
    const pts = g.pts;
    if (!Array.isArray(pts) || pts.length < 2) return null;
    let x0 = Infinity;
    let y0 = Infinity;
    let x1 = -Infinity;
    let y1 = -Infinity;
    for (let i = 0; i + 1 < pts.length; i += 2) {
      const x = f.x + num(pts[i]);
      const y = f.y + num(pts[i + 1]);
      if (x < x0) x0 = x;
      if (x > x1) x1 = x;
      if (y < y0) y0 = y;
      if (y > y1) y1 = y;
    }
    return grow({ x0, y0, x1, y1 }, strokeHalf(f, strokeWidth(f.style)));
  }
  if (f.kind === "shape") {
    const w = num(g.w);
    const h = num(g.h);
    const extra = g.shape === "arrow" ? arrowLength(strokeWidth(f.style)) : 0;
    return grow(
      { x0: Math.min(f.x, f.x + w), y0: Math.min(f.y, f.y + h), x1: Math.max(f.x, f.x + w), y1: Math.max(f.y, f.y + h) },
      half + extra,
    );
  }
  if (f.kind === "symbol") {
    const r = num(g.size) / 2;
    if (r <= 0) return null;
    return { x0: f.x - r, y0: f.y - r, x1: f.x + r, y1: f.y + r };
  }
  if (f.kind === "text") {
    const size = num(g.size);
    if (typeof g.text !== "string" || size <= 0) return null;
    const lines = g.text.split("\n");
    const longest = Math.max(...lines.map((l) => [...l].length));
    const span = Math.max(CHAR_ADVANCE * size * longest, size * 0.3);
    const x0 = f.x - span * (ALIGN_SHIFT[textAlign(f)] ?? 0);
    return { x0, y0: f.y - 0.8 * size, x1: x0 + span, y1: f.y + 0.25 * size + (lines.length - 1) * LINE_HEIGHT * size };
  }
  return null;
}

/** The fragment's axis-aligned world bounds (rotation included). @param {Fragment} f @returns {Box | null} */
export function worldBox(f) {
  const b = localBox(f);
  const rot = num(f.geom.rot);
  if (!b || !rot) return b;
  const c = Math.cos(rot);
  const s = Math.sin(rot);
  const pts = [
    [b.x0, b.y0],
    [b.x1, b.y0],
    [b.x1, b.y1],
    [b.x0, b.y1],
  ].map(([x, y]) => [f.x + (x - f.x) * c - (y - f.y) * s, f.y + (x - f.x) * s + (y - f.y) * c]);
  const xs = pts.map((p) => p[0]);
  const ys = pts.map((p) => p[1]);
  return { x0: Math.min(...xs), y0: Math.min(...ys), x1: Math.max(...xs), y1: Math.max(...ys) };
}

/**
 * Smoothed path through points (quadratic curves through midpoints), as the server draws strokes.
 * @param {Path2D | CanvasRenderingContext2D} p
 * @param {number[]} pts flat [x0, y0, ...] @param {number} ox @param {number} oy
 */
export function traceStroke(p, pts, ox, oy) {
  const n = pts.length >> 1;
  if (!n) return;
  const X = (/** @type {number} */ i) => ox + num(pts[2 * i]);
  const Y = (/** @type {number} */ i) => oy + num(pts[2 * i + 1]);
  p.moveTo(X(0), Y(0));
  if (n === 1) {
    p.lineTo(X(0) + 0.01, Y(0));
    return;
  }
  if (n === 2) {
    p.lineTo(X(1), Y(1));
    return;
  }
  for (let i = 1; i < n - 1; i++) p.quadraticCurveTo(X(i), Y(i), (X(i) + X(i + 1)) / 2, (Y(i) + Y(i + 1)) / 2);
  p.lineTo(X(n - 1), Y(n - 1));
}

/** @param {Path2D} p @param {number} x1 @param {number} y1 @param {number} x2 @param {number} y2 @param {number} width */
export function traceArrowHead(p, x1, y1, x2, y2, width) {
  const length = Math.hypot(x2 - x1, y2 - y1);
  if (!length) return;
  const head = Math.min(arrowLength(width), length / 2);
  const ux = (x2 - x1) / length;
  const uy = (y2 - y1) / length;
  const bx = x2 - ux * head;
  const by = y2 - uy * head;
  const px = -uy * head * 0.5;
  const py = ux * head * 0.5;
  p.moveTo(bx + px, by + py);
  p.lineTo(x2, y2);
  p.lineTo(bx - px, by - py);
}

/**
 * Distance from point to segment.
 * @param {number} px @param {number} py @param {number} ax @param {number} ay @param {number} bx @param {number} by
 */
export function segDist(px, py, ax, ay, bx, by) {
  const dx = bx - ax;
  const dy = by - ay;
  const len2 = dx * dx + dy * dy;
  const t = len2 ? Math.max(0, Math.min(1, ((px - ax) * dx + (py - ay) * dy) / len2)) : 0;
  return Math.hypot(px - (ax + t * dx), py - (ay + t * dy));
}

/**
 * Whether world point (px, py) touches the fragment, with a tolerance in world units.
 * @param {Fragment} f @param {number} px @param {number} py @param {number} tol
 */
export function hitTest(f, px, py, tol) {
  const rot = num(f.geom.rot);
  if (rot) {
    // Test in the fragment's unrotated frame.
    const c = Math.cos(-rot);
    const s = Math.sin(-rot);
    const dx = px - f.x;
    const dy = py - f.y;
    px = f.x + dx * c - dy * s;
    py = f.y + dx * s + dy * c;
  }
  const b = localBox(f);
  if (!b || !intersects(grow(b, tol), { x0: px, y0: py, x1: px, y1: py })) return false;
  const g = f.geom;
  let half = strokeWidth(f.style) / 2 + tol;
  if (f.kind === "stroke") {
    const pts = g.pts;
    const n = pts.length >> 1;
    half = strokeHalf(f, strokeWidth(f.style)) + tol;
    if (n === 1) return Math.hypot(px - f.x - pts[0], py - f.y - pts[1]) <= half;
    for (let i = 0; i + 1 < n; i++) {
      const d = segDist(px, py, f.x + pts[2 * i], f.y + pts[2 * i + 1], f.x + pts[2 * i + 2], f.y + pts[2 * i + 3]);
      if (d <= half) return true;
    }
    return false;
  }
  if (f.kind === "shape") {
    const w = num(g.w);
    const h = num(g.h);
    if (g.shape === "line" || g.shape === "arrow") return segDist(px, py, f.x, f.y, f.x + w, f.y + h) <= half;
    const filled = f.style.fill && f.style.fill !== "none";
    if (g.shape === "rect") {
      const x0 = Math.min(f.x, f.x + w);
      const x1 = Math.max(f.x, f.x + w);
      const y0 = Math.min(f.y, f.y + h);
      const y1 = Math.max(f.y, f.y + h);
      const inside = px >= x0 && px <= x1 && py >= y0 && py <= y1;
      if (filled && inside) return true;
      const edge = Math.min(Math.abs(px - x0), Math.abs(px - x1), Math.abs(py - y0), Math.abs(py - y1));
      return edge <= half && intersects(grow({ x0, y0, x1, y1 }, half), { x0: px, y0: py, x1: px, y1: py });
    }
    const rx = Math.abs(w) / 2 || 1e-9;
    const ry = Math.abs(h) / 2 || 1e-9;
    const cx = f.x + w / 2;
    const cy = f.y + h / 2;
    const r = Math.hypot((px - cx) / rx, (py - cy) / ry);
    if (filled && r <= 1) return true;
    return Math.abs(r - 1) * Math.min(rx, ry) <= half;
  }
  // Symbols and text: their box is the target, as in every canvas tool.
  return true;
}
