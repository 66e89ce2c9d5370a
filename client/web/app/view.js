// @ts-check
/**
 * The view: how the wheel zooms, and how "zoom to fit" keeps clear of the
 * panels and bars over the canvas.
 */

/** Zoom limits of the camera (also enforced by `Camera`). */
export const MIN_ZOOM = 0.02;
export const MAX_ZOOM = 40;
/** Screen pixels of wheel travel that double (or halve) the zoom. */
const PIXELS_PER_DOUBLING = 500;
/** The largest step one wheel event may take: one notch of a mouse wheel. */
const MAX_STEP = 120;

/**
 * The zoom factor of one Ctrl+wheel (or pinch) event: proportional to the
 * wheel's travel, so a trackpad pinch is smooth and a notch is about 15%;
 * one event never jumps more than one notch's worth.
 * @param {number} deltaY @param {number} [deltaMode] 0 pixels, 1 lines, 2 pages
 */
export function wheelZoomFactor(deltaY, deltaMode = 0) {
  const px = deltaMode === 1 ? deltaY * 16 : deltaMode === 2 ? deltaY * 400 : deltaY;
  const step = Math.max(-MAX_STEP, Math.min(MAX_STEP, px));
  return 2 ** (-step / PIXELS_PER_DOUBLING);
}

/** @typedef {{top: number, right: number, bottom: number, left: number}} Insets */
/** @typedef {{left: number, top: number, right: number, bottom: number}} Rect */

/**
 * How far the canvas is covered from each side by the given screen rects:
 * each rect counts against the side where it hides the least of the canvas
 * (a top bar against the top, a side panel against its side).
 * @param {Rect[]} rects @param {number} w @param {number} h
 * @returns {Insets}
 */
export function insetsOf(rects, w, h) {
  const out = { top: 0, right: 0, bottom: 0, left: 0 };
  for (const r of rects) {
    if (r.right <= r.left || r.bottom <= r.top || r.right <= 0 || r.bottom <= 0 || r.left >= w || r.top >= h) continue;
    const cost = { top: r.bottom * w, bottom: (h - r.top) * w, left: r.right * h, right: (w - r.left) * h };
    const side = /** @type {(keyof Insets)[]} */ (["top", "bottom", "left", "right"]).reduce((a, b) => (cost[b] < cost[a] ? b : a));
    const depth = side === "top" ? r.bottom : side === "bottom" ? h - r.top : side === "left" ? r.right : w - r.left;
    out[side] = Math.max(out[side], depth);
  }
  return out;
}

/**
 * The camera that shows `box` (world) as large as fits in the part of the
 * screen the insets leave free, centred there.
 * @param {{x0: number, y0: number, x1: number, y1: number}} box
 * @param {number} w @param {number} h @param {Insets} insets
 * @param {{margin?: number, maxZoom?: number}} [opts] margin in screen pixels
 * @returns {{x: number, y: number, zoom: number}}
 */
export function fitCamera(box, w, h, insets, opts = {}) {
  const margin = opts.margin ?? 24;
  const freeW = Math.max(40, w - insets.left - insets.right - 2 * margin);
  const freeH = Math.max(40, h - insets.top - insets.bottom - 2 * margin);
  const bw = Math.max(1e-6, box.x1 - box.x0);
  const bh = Math.max(1e-6, box.y1 - box.y0);
  const zoom = Math.max(MIN_ZOOM, Math.min(opts.maxZoom ?? 4, freeW / bw, freeH / bh));
  const sx = insets.left + margin + freeW / 2;
  const sy = insets.top + margin + freeH / 2;
  return { x: (box.x0 + box.x1) / 2 - sx / zoom, y: (box.y0 + box.y1) / 2 - sy / zoom, zoom };
}
