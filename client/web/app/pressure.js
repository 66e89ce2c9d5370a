// @ts-check
/**
 * Pressure-sensitive strokes (SPEC W38, M17): what a pen reports, or a
 * pressure made up from the drawing speed when the pointer reports none
 * (a mouse, most fingers), and the drawing of a stroke as its outline.
 *
 * A pen says `pointerType === "pen"`; a mouse reports 0.5 while a button is
 * down and 0 otherwise, and many touch screens a constant too. So a stroke
 * uses the reported values when they come from a pen or vary, and otherwise
 * the speed: faster is lighter (thinner), eased so a hand's jitter does not show.
 */

import { maxRadius, outline } from "../protocol/outline.js";

/** Screen pixels a millisecond at which a simulated stroke is at its lightest. */
const FAST = 2.5;
/** Simulated pressure of a still pointer and of a fast one. */
const SLOW_PRESSURE = 0.75;
const FAST_PRESSURE = 0.2;
/** How far each new point eases toward the pressure its speed asks for. */
const EASE = 0.3;
const STORAGE_KEY = "dreamloom.pressure";

/** @param {any} v */
const finite = (v) => typeof v === "number" && Number.isFinite(v);

/** Pressure keeps two decimals on the wire. @param {number} p */
const round2 = (p) => Math.round(Math.max(0, Math.min(1, p)) * 100) / 100;

/**
 * The pressure of a stroke while it is drawn: one reported and one simulated value a point.
 */
export class PressureTrace {
  /** @param {{pointerType: string, pressure: number, timeStamp: number}} e @param {number} sx @param {number} sy */
  constructor(e, sx, sy) {
    this.pen = e.pointerType === "pen";
    /** @type {number[]} */
    this.reported = [];
    /** @type {number[]} */
    this.simulated = [];
    this.last = { x: sx, y: sy, t: e.timeStamp || performance.now() };
    this.eased = 0.5;
    this.add(e, sx, sy);
  }

  /**
   * One more point of the stroke, at screen (sx, sy).
   * @param {{pressure: number, timeStamp: number}} e @param {number} sx @param {number} sy
   */
  add(e, sx, sy) {
    const now = e.timeStamp || performance.now();
    const dt = Math.max(1, now - this.last.t);
    const speed = Math.hypot(sx - this.last.x, sy - this.last.y) / dt;
    const target = SLOW_PRESSURE - (SLOW_PRESSURE - FAST_PRESSURE) * Math.min(1, speed / FAST);
    this.eased += (target - this.eased) * (this.simulated.length ? EASE : 0.5);
    this.last = { x: sx, y: sy, t: now };
    this.simulated.push(round2(this.eased));
    // A mouse lifting reports 0: keep the last pressure for the point where it lifts.
    const p = finite(e.pressure) && e.pressure > 0 ? e.pressure : (this.reported.at(-1) ?? 0.5);
    this.reported.push(round2(p));
  }

  /** Whether the pointer told its pressure: a pen, or values that are not one constant. */
  get real() {
    if (this.pen) return true;
    const seen = new Set(this.reported);
    seen.delete(0.5);
    return seen.size > 1;
  }

  /**
   * The pressure of the points so far: the trace's own array, not a copy (a preview reads it at
   * every point); it is never changed afterwards, only appended to while the stroke goes on.
   * @returns {number[]}
   */
  values() {
    return this.real ? this.reported : this.simulated;
  }

  /** Keep only the last `n` points (a long stroke goes on as a new fragment). @param {number} n */
  keepLast(n) {
    this.reported = this.reported.slice(-n);
    this.simulated = this.simulated.slice(-n);
  }
}

/**
 * The pressure a stroke fragment is drawn with, or null when it is drawn at a constant width:
 * no valid `pressure`, or a dashed or dotted line.
 * @param {{kind: string, geom: Record<string, any>, style: Record<string, any>}} f @returns {number[] | null}
 */
export function strokePressure(f) {
  if (f.kind !== "stroke" || f.style.dash) return null;
  const p = f.geom.pressure;
  const pts = f.geom.pts;
  if (!Array.isArray(p) || !Array.isArray(pts) || !p.length || pts.length !== 2 * p.length) return null;
  return p.map((v) => (finite(v) ? Math.max(0, Math.min(1, v)) : 0.5));
}

/**
 * Half the widest width of a stroke: what its bounds and hit tests grow by.
 * @param {{kind: string, geom: Record<string, any>, style: Record<string, any>}} f @param {number} width
 */
export function strokeHalf(f, width) {
  const p = strokePressure(f);
  return p ? maxRadius(width, p) : width / 2;
}

/**
 * The outline as a path, filled with the non-zero rule.
 * @param {ArrayLike<number>} pts @param {ArrayLike<number>} pressure @param {number} width @param {number} ox @param {number} oy
 */
export function outlinePath(pts, pressure, width, ox, oy) {
  const poly = outline(pts, pressure, width, ox, oy);
  const p = new Path2D();
  if (poly.length < 2) return p;
  p.moveTo(poly[0], poly[1]);
  for (let i = 2; i + 1 < poly.length; i += 2) p.lineTo(poly[i], poly[i + 1]);
  p.closePath();
  return p;
}

/** SVG path data of the outline (two decimals, as the server writes). @param {number[]} poly */
export function outlineData(poly) {
  const f = (/** @type {number} */ v) => String(Math.round(v * 100) / 100);
  const parts = [];
  for (let i = 0; i + 1 < poly.length; i += 2) parts.push(`${i ? "L" : "M"}${f(poly[i])},${f(poly[i + 1])}`);
  return parts.length ? `${parts.join(" ")} Z` : "";
}

/**
 * The "Pressure" switch of the style panel: on by default, remembered in this browser.
 * @param {HTMLInputElement | null} box @param {(on: boolean) => void} changed
 */
export function bindPressureToggle(box, changed) {
  let on = true;
  try {
    on = localStorage.getItem(STORAGE_KEY) !== "off";
  } catch {
    // Storage may be unavailable (private mode); the default stands.
  }
  if (box) {
    box.checked = on;
    box.addEventListener("change", () => {
      try {
        localStorage.setItem(STORAGE_KEY, box.checked ? "on" : "off");
      } catch {
        // Not remembered; still applied.
      }
      changed(box.checked);
    });
  }
  changed(on);
}

/** @type {WeakMap<object, {pts: any, pressure: any, width: number, x: number, y: number, path: Path2D}>} */
const paths = new WeakMap();

/**
 * The outline path of a pressure stroke fragment, kept while its geometry is unchanged; null
 * when it is drawn at a constant width.
 * @param {{kind: string, x: number, y: number, geom: Record<string, any>, style: Record<string, any>}} f
 * @param {number} width
 */
export function fragmentOutline(f, width) {
  const pressure = strokePressure(f);
  if (!pressure) return null;
  const held = paths.get(f);
  if (held && held.pts === f.geom.pts && held.pressure === f.geom.pressure && held.width === width && held.x === f.x && held.y === f.y)
    return held.path;
  const path = outlinePath(f.geom.pts, pressure, width, f.x, f.y);
  paths.set(f, { pts: f.geom.pts, pressure: f.geom.pressure, width, x: f.x, y: f.y, path });
  return path;
}

/**
 * A stroke being drawn (ours or a peer's preview), with its pressure when it has one.
 * @param {CanvasRenderingContext2D} ctx @param {number[]} pts absolute points @param {number[] | null | undefined} pressure
 * @param {number} width @returns {boolean} whether it was drawn (as an outline, filled with the current fillStyle)
 */
export function fillPreviewOutline(ctx, pts, pressure, width) {
  if (!Array.isArray(pressure) || pressure.length * 2 !== pts.length || !(width > 0)) return false;
  ctx.fill(outlinePath(pts, pressure, width, 0, 0));
  return true;
}

/**
 * The stroke being drawn as presence sends it (SPEC W11, W38): its last 4,096 points, their pressure.
 * @param {{pts: number[], style: Record<string, any>, pressure?: number[]}} preview
 */
export function previewOf(preview) {
  /** @type {{pts: number[], style: Record<string, any>, pressure?: number[]}} */
  const out = { pts: preview.pts.slice(-8192), style: preview.style };
  if (preview.pressure && preview.pressure.length * 2 === preview.pts.length) out.pressure = preview.pressure.slice(-4096);
  return out;
}
