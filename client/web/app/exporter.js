// @ts-check
/**
 * Export: PNG drawn client-side with the same renderer as the screen, SVG
 * from the server's renderer (cropped to the view when asked).
 */

import { authHeaders } from "../tokens.js";
import { grow, union } from "./geometry.js";
import { Camera } from "./render.js";

/** @typedef {import("./render.js").Renderer} Renderer */

const MAX_SIDE = 4096;

/** @param {Blob} blob @param {string} filename */
export function download(blob, filename) {
  const url = URL.createObjectURL(blob);
  const a = document.createElement("a");
  a.href = url;
  a.download = filename;
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 10000);
}

/**
 * The world box of the whole (filtered) tapestry, or the view.
 * @param {Renderer} r @param {"view" | "all"} what
 */
export function exportBox(r, what) {
  if (what === "view") return r.viewBox();
  const boxes = [];
  for (const e of r.replica().entries.values()) if (e.box && r.visible(e.frag)) boxes.push(e.box);
  return grow(union(boxes) ?? { x0: -50, y0: -50, x1: 50, y1: 50 }, 32);
}

/** @typedef {"dark" | "light" | "transparent"} Background */
/** @typedef {{background?: Background, scale?: number}} PngOptions */

/** Lightness turned over, hues kept: the dark canvas as a light one (the light theme draws the same colours). */
export const LIGHT_FILTER = "invert(1) hue-rotate(180deg)";

/**
 * PNG of the view or the whole tapestry: drawn by the screen's renderer, on
 * the dark canvas, a light one or none, at 1x to 3x.
 * @param {Renderer} r @param {"view" | "all"} what @param {PngOptions} [opts] @returns {Promise<Blob>}
 */
export function pngBlob(r, what, opts = {}) {
  const box = exportBox(r, what);
  const w = box.x1 - box.x0;
  const h = box.y1 - box.y0;
  const base = what === "view" ? r.camera.zoom * r.dpr : Math.min(2, MAX_SIDE / Math.max(w, h));
  const scale = Math.min(base * (opts.scale ?? 1), MAX_SIDE / Math.max(w, h));
  const cw = Math.max(1, Math.min(MAX_SIDE, Math.round(w * scale)));
  const ch = Math.max(1, Math.min(MAX_SIDE, Math.round(h * scale)));
  const canvas = document.createElement("canvas");
  canvas.width = cw;
  canvas.height = ch;
  const ctx = /** @type {CanvasRenderingContext2D} */ (canvas.getContext("2d"));
  const cam = new Camera();
  cam.x = box.x0;
  cam.y = box.y0;
  cam.zoom = cw / w;
  // A light background is the dark canvas turned over (as the light theme draws it); no background
  // keeps the colours of the theme in use.
  const { background, turned } = r;
  r.background = opts.background === "transparent" ? null : background;
  if (opts.background === "light" || opts.background === "dark") r.turned = opts.background === "light";
  try {
    r.draw(ctx, cw, ch, cam, 1, { overlays: false });
  } finally {
    r.background = background;
    r.turned = turned;
  }
  return new Promise((resolve, reject) =>
    canvas.toBlob((b) => (b ? resolve(b) : reject(new Error("the browser could not encode the PNG"))), "image/png"),
  );
}

/** Put a PNG on the system clipboard. @param {Blob} png */
export async function copyPng(png) {
  await navigator.clipboard.write([new ClipboardItem({ "image/png": png })]);
}

/**
 * @param {Renderer} r @param {string} sanctuary @param {"view" | "all"} what
 * @param {{threads: boolean, at?: number | null, background?: Background}} opts
 */
export async function svgBlob(r, sanctuary, what, opts) {
  const q = new URLSearchParams();
  if (opts.threads) q.set("threads", "1");
  if (opts.at !== undefined && opts.at !== null) q.set("at", String(opts.at));
  const res = await fetch(`/api/sanctuaries/${encodeURIComponent(sanctuary)}/tapestry.svg?${q}`, {
    headers: authHeaders(sanctuary),
  });
  if (!res.ok) throw new Error(`the server could not render the SVG (${res.status})`);
  let text = await res.text();
  if (what === "view") {
    const doc = new DOMParser().parseFromString(text, "image/svg+xml");
    const root = doc.documentElement;
    const b = r.viewBox();
    root.setAttribute("viewBox", `${b.x0} ${b.y0} ${b.x1 - b.x0} ${b.y1 - b.y0}`);
    root.setAttribute("width", String(Math.round(r.width)));
    root.setAttribute("height", String(Math.round(r.height)));
    // The background rectangle covered the whole tapestry; stretch it over the view too.
    const bg = root.querySelector(":scope > rect");
    if (bg) {
      bg.setAttribute("x", String(b.x0));
      bg.setAttribute("y", String(b.y0));
      bg.setAttribute("width", String(b.x1 - b.x0));
      bg.setAttribute("height", String(b.y1 - b.y0));
    }
    text = new XMLSerializer().serializeToString(doc);
  }
  if (opts.background === "transparent" || opts.background === "light") {
    const doc = new DOMParser().parseFromString(text, "image/svg+xml");
    const root = doc.documentElement;
    if (opts.background === "transparent") root.querySelector(":scope > rect")?.remove();
    else root.setAttribute("style", `filter: ${LIGHT_FILTER}`);
    text = new XMLSerializer().serializeToString(doc);
  }
  return new Blob([text], { type: "image/svg+xml" });
}
