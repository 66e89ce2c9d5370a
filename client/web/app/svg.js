// @ts-check
/**
 * SVG of a few fragments, drawn in the browser: the picture that travels with
 * copied fragments for apps that do not read Dreamloom JSON. The same visual
 * language as server/render.py (smoothed strokes, open arrow heads, glyphs
 * from the catalogue, captions on their baseline, the AI mark).
 */

import { outline } from "../protocol/outline.js";
import { outlineData, strokePressure } from "./pressure.js";
import { dashPattern, DEFAULT_COLOR, FONT_FAMILY, GLYPH_BOX, GLYPH_STROKE, grow, localBox, num, strokeWidth, textAlign, traceArrowHead, traceStroke, union, worldBox } from "./geometry.js";
import { AI_ACCENT, BACKGROUND, HALO, isStrand } from "./render.js";

/** @typedef {import("../protocol/tapestry.js").Fragment} Fragment */
/** @typedef {import("./render.js").Symbol} Symbol */

/** @param {number} v */
const f = (v) => String(Math.round(v * 100) / 100);
/** @param {string} s */
const esc = (s) => s.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;").replace(/"/g, "&quot;");
/** @param {any} v @param {string} d */
const colour = (v, d) => (typeof v === "string" && /^#[0-9a-fA-F]{6}([0-9a-fA-F]{2})?$/.test(v) ? v : d);

/** Path data written by the same tracing code that draws on the canvas. */
class PathData {
  constructor() {
    /** @type {string[]} */
    this.parts = [];
  }

  /** @param {number} x @param {number} y */
  moveTo(x, y) {
    this.parts.push(`M${f(x)},${f(y)}`);
  }

  /** @param {number} x @param {number} y */
  lineTo(x, y) {
    this.parts.push(`L${f(x)},${f(y)}`);
  }

  /** @param {number} cx @param {number} cy @param {number} x @param {number} y */
  quadraticCurveTo(cx, cy, x, y) {
    this.parts.push(`Q${f(cx)},${f(cy)} ${f(x)},${f(y)}`);
  }

  toString() {
    return this.parts.join(" ");
  }
}

/** @param {Fragment} frag @returns {string | null} the path data of a strand (stroke, line, arrow) */
function strandPath(frag) {
  const p = new PathData();
  const g = frag.geom;
  if (frag.kind === "stroke") traceStroke(/** @type {any} */ (p), Array.isArray(g.pts) ? g.pts : [], frag.x, frag.y);
  else if (isStrand(frag)) {
    p.moveTo(frag.x, frag.y);
    p.lineTo(frag.x + num(g.w), frag.y + num(g.h));
    if (g.shape === "arrow") traceArrowHead(/** @type {any} */ (p), frag.x, frag.y, frag.x + num(g.w), frag.y + num(g.h), strokeWidth(frag.style));
  } else return null;
  return String(p);
}

/** @param {Fragment} frag @param {Map<string, Symbol>} symbols */
function body(frag, symbols) {
  const s = frag.style;
  const ink = colour(s.color, DEFAULT_COLOR);
  const fill = s.fill && s.fill !== "none" ? colour(s.fill, "none") : "none";
  const dash = dashPattern(s);
  const paint = `stroke="${ink}" stroke-width="${f(strokeWidth(s))}" stroke-linecap="round" stroke-linejoin="round"${dash.length ? ` stroke-dasharray="${dash.map(f).join(" ")}"` : ""}`;
  const g = frag.geom;
  const strand = strandPath(frag);
  const pressure = strand !== null ? strokePressure(frag) : null;
  if (pressure) {
    // A pressure stroke is its outline (SPEC M17), as the server draws it.
    const d = outlineData(outline(g.pts, pressure, strokeWidth(s), frag.x, frag.y));
    const under = fill !== "none" ? `<path d="${strand}" fill="${fill}" stroke="none"/>` : "";
    return d ? `${under}<path d="${d}" fill="${ink}" stroke="none" data-pressure="1"/>` : under;
  }
  if (strand !== null) return `<path d="${strand}" fill="${frag.kind === "stroke" ? fill : "none"}" ${paint}/>`;
  if (frag.kind === "shape") {
    const w = num(g.w);
    const h = num(g.h);
    if (g.shape === "ellipse") return `<ellipse cx="${f(frag.x + w / 2)}" cy="${f(frag.y + h / 2)}" rx="${f(Math.abs(w) / 2)}" ry="${f(Math.abs(h) / 2)}" fill="${fill}" ${paint}/>`;
    return `<rect x="${f(Math.min(frag.x, frag.x + w))}" y="${f(Math.min(frag.y, frag.y + h))}" width="${f(Math.abs(w))}" height="${f(Math.abs(h))}" fill="${fill}" ${paint}/>`;
  }
  if (frag.kind === "symbol") {
    const size = num(g.size);
    const sym = symbols.get(g.sym);
    const k = size / GLYPH_BOX;
    const width = "width" in s ? strokeWidth(s) / k : GLYPH_STROKE;
    const place = `transform="translate(${f(frag.x - size / 2)} ${f(frag.y - size / 2)}) scale(${k.toPrecision(6)})"`;
    if (!sym) return `<g ${place}><circle cx="50" cy="50" r="40" fill="none" stroke="${ink}" stroke-width="${f(width)}" stroke-dasharray="8 6"/></g>`;
    const glyphFill = fill !== "none" ? fill : sym.fill ? ink : "none";
    return `<g ${place}><path d="${esc(sym.path)}" fill="${glyphFill}" fill-rule="evenodd" stroke="${ink}" stroke-width="${f(width)}" stroke-linecap="round" stroke-linejoin="round"/></g>`;
  }
  const size = num(g.size);
  const lines = String(g.text ?? "").split("\n");
  const spans = lines.map((l, i) => `<tspan x="${f(frag.x)}" dy="${i ? f(size * 1.25) : "0"}">${esc(l)}</tspan>`).join("");
  const anchor = { left: "", center: ' text-anchor="middle"', right: ' text-anchor="end"' }[textAlign(frag)];
  return `<text x="${f(frag.x)}" y="${f(frag.y)}" font-size="${f(size)}" font-family="${FONT_FAMILY}" fill="${ink}"${anchor} xml:space="preserve">${spans}</text>`;
}

/** @param {Fragment} frag */
function mark(frag) {
  const strand = strandPath(frag);
  if (strand !== null) {
    return `<path d="${strand}" fill="none" stroke="${AI_ACCENT}" stroke-width="${f(strokeWidth(frag.style) + HALO.strandGlow)}" stroke-opacity="${HALO.strandOpacity}" stroke-linecap="round" stroke-linejoin="round"/>`;
  }
  const b = localBox(frag);
  if (!b) return "";
  const g = grow(b, HALO.pad);
  const rect = `x="${f(g.x0)}" y="${f(g.y0)}" width="${f(g.x1 - g.x0)}" height="${f(g.y1 - g.y0)}" rx="${HALO.radius}" fill="none" stroke="${AI_ACCENT}"`;
  return `<rect ${rect} stroke-width="${HALO.glow}" stroke-opacity="${HALO.glowOpacity}"/><rect ${rect} stroke-width="${HALO.line}" stroke-opacity="${HALO.lineOpacity}" stroke-dasharray="${HALO.dash.join(" ")}"/>`;
}

/**
 * A standalone SVG document of `frags` (in paint order), cropped to their bounds.
 * @param {Fragment[]} frags @param {Map<string, Symbol>} symbols
 * @param {{background?: string | null, margin?: number}} [opts] background null: transparent
 */
export function fragmentsSvg(frags, symbols, opts = {}) {
  const margin = opts.margin ?? 16;
  const box = grow(union(frags.map((x) => worldBox(x)).filter((b) => !!b).map((b) => /** @type {any} */ (b))) ?? { x0: 0, y0: 0, x1: 1, y1: 1 }, margin);
  const w = box.x1 - box.x0;
  const h = box.y1 - box.y0;
  const background = opts.background === undefined ? BACKGROUND : opts.background;
  const out = [
    `<svg xmlns="http://www.w3.org/2000/svg" viewBox="${f(box.x0)} ${f(box.y0)} ${f(w)} ${f(h)}" width="${f(w)}" height="${f(h)}">`,
  ];
  if (background) out.push(`<rect x="${f(box.x0)}" y="${f(box.y0)}" width="${f(w)}" height="${f(h)}" fill="${background}"/>`);
  for (const frag of frags) {
    const attrs = [`data-kind="${esc(frag.kind)}"`, `data-origin="${esc(frag.origin)}"`];
    const opacity = num(frag.style.opacity, 1);
    if (opacity < 1) attrs.push(`opacity="${f(Math.max(0, opacity))}"`);
    const rot = num(frag.geom.rot);
    if (rot) attrs.push(`transform="rotate(${((rot * 180) / Math.PI).toPrecision(4)} ${f(frag.x)} ${f(frag.y)})"`);
    out.push(`<g ${attrs.join(" ")}>${frag.origin === "ai" ? mark(frag) : ""}${body(frag, symbols)}</g>`);
  }
  out.push("</svg>");
  return out.join("");
}
