// @ts-check
/**
 * Canvas rendering of a replica: redraw only when something changed (a dirty
 * flag read by requestAnimationFrame), cull fragments outside the view by
 * their bounds, cache one Path2D per fragment version.
 *
 * Visual language (shared with the server's SVG renderer): AI fragments get a
 * thin dashed #9ad0ff outline over a faint glow of the same colour, or, for
 * strokes, lines and arrows, a faint glow along themselves; the mark keeps its
 * thickness on screen at every zoom. Threads are faint #c7b8ff curves bowed by
 * a fifth of their length.
 */

import { fragmentOutline } from "./pressure.js";
import { following } from "./attach.js";
import { turnOver } from "./theme.js";
import {
  centre,
  dashPattern,
  textAlign,
  contains,
  DEFAULT_COLOR,
  FONT_FAMILY,
  GLYPH_BOX,
  GLYPH_STROKE,
  grow,
  intersects,
  LINE_HEIGHT,
  localBox,
  num,
  strokeWidth,
  traceArrowHead,
  traceStroke,
  union,
  worldBox,
} from "./geometry.js";

/** @typedef {import("../protocol/tapestry.js").Fragment} Fragment */
/** @typedef {import("./replica.js").Entry} Entry */
/** @typedef {import("./replica.js").Replica} Replica */
/** @typedef {import("./geometry.js").Box} Box */
/** @typedef {{name: string, label: string, path: string, fill: boolean, meaning?: string, keywords?: string[]}} Symbol */

export const AI_ACCENT = "#9ad0ff";
/** The AI mark, in screen pixels (the same at every zoom); server/render.py draws it at zoom 1. */
export const HALO = Object.freeze({
  pad: 5, radius: 6, line: 1.25, dash: [4, 3], lineOpacity: 0.7, glow: 3, glowOpacity: 0.12, strandGlow: 5, strandOpacity: 0.22,
});

/** Strokes, lines and arrows: marked along themselves, not boxed. @param {Fragment} f */
export const isStrand = (f) => f.kind === "stroke" || (f.kind === "shape" && (f.geom.shape === "line" || f.geom.shape === "arrow"));
export const THREAD_COLOR = "#c7b8ff";
export const BACKGROUND = "#0f1020";
const SELECT_COLOR = "#ffd27a";

/** @param {any} v @param {string} d */
const colour = (v, d) => (typeof v === "string" && /^#[0-9a-fA-F]{6}([0-9a-fA-F]{2})?$/.test(v) ? v : d);

export class Camera {
  constructor() {
    this.x = -400; // world coordinate at the screen's left edge
    this.y = -300;
    this.zoom = 1;
  }

  /** @param {number} sx @param {number} sy @returns {[number, number]} */
  toWorld(sx, sy) {
    return [this.x + sx / this.zoom, this.y + sy / this.zoom];
  }

  /** @param {number} wx @param {number} wy @returns {[number, number]} */
  toScreen(wx, wy) {
    return [(wx - this.x) * this.zoom, (wy - this.y) * this.zoom];
  }

  /** Zoom by `factor` keeping screen point (sx, sy) fixed. @param {number} factor @param {number} sx @param {number} sy */
  zoomAt(factor, sx, sy) {
    const z = Math.min(40, Math.max(0.02, this.zoom * factor));
    const [wx, wy] = this.toWorld(sx, sy);
    this.zoom = z;
    this.x = wx - sx / z;
    this.y = wy - sy / z;
  }

  /** Centre on world point at zoom. @param {number} wx @param {number} wy @param {number} zoom @param {number} w @param {number} h */
  centreOn(wx, wy, zoom, w, h) {
    this.zoom = Math.min(40, Math.max(0.02, zoom));
    this.x = wx - w / 2 / this.zoom;
    this.y = wy - h / 2 / this.zoom;
  }
}

export class Renderer {
  /**
   * @param {HTMLCanvasElement} canvas
   * @param {() => Replica} replica which replica to draw (live or replay)
   */
  constructor(canvas, replica) {
    this.canvas = canvas;
    this.ctx = /** @type {CanvasRenderingContext2D} */ (canvas.getContext("2d"));
    this.replica = replica;
    this.camera = new Camera();
    /** @type {Map<string, {symbol: Symbol, path: Path2D}>} */
    this.glyphs = new Map();
    this.dirty = true;
    this.filter = /** @type {"all" | "organic" | "ai"} */ ("all");
    this.threads = false;
    /** @type {Set<string>} */
    this.selection = new Set();
    /** @type {Map<string, Fragment>} fragments shown with uncommitted changes (drag, resize) */
    this.overrides = new Map();
    /** @type {Map<string, Fragment>} fragments as others' gestures show them (a move, a resize in progress) */
    this.remote = new Map();
    /** @type {string | null} the canvas colour; null: transparent (an export) */
    this.background = BACKGROUND;
    /** Draw every colour turned over (the light theme). */
    this.turned = false;
    /** @type {Map<string, string>} */
    this.turnedInk = new Map();
    /** @type {((ctx: CanvasRenderingContext2D) => void)[]} world-space overlays (previews) */
    this.worldOverlays = [];
    /** @type {((ctx: CanvasRenderingContext2D) => void)[]} screen-space overlays (cursors, marquee) */
    this.screenOverlays = [];
    this.width = 0;
    this.height = 0;
    /** Whether the last full draw was slow enough to be worth a cached layer. */
    this.heavy = false;
    /** @type {{canvas: HTMLCanvasElement, box: Box, key: string, replica: Replica} | null} */
    this.layer = null;
    this.dpr = 1;
    this.frames = 0;
    this.lastFrameMs = 0;
    this.#drawn = 0;
    this.#resize();
    new ResizeObserver(() => this.#resize()).observe(canvas);
    const loop = () => {
      if (this.dirty) {
        const t0 = performance.now();
        this.dirty = false;
        this.draw(this.ctx, this.width, this.height, this.camera, this.dpr);
        this.lastFrameMs = performance.now() - t0;
        this.frames++;
      }
      requestAnimationFrame(loop);
    };
    requestAnimationFrame(loop);
  }

  /** @type {(() => number) | null} */
  #countDrawn = null;
  #drawn = 0;

  /** How many fragments the last frame showed. */
  get drawn() {
    if (this.#countDrawn) {
      this.#drawn = this.#countDrawn();
      this.#countDrawn = null;
    }
    return this.#drawn;
  }

  #resize() {
    const r = this.canvas.getBoundingClientRect();
    this.dpr = Math.min(window.devicePixelRatio || 1, 2);
    this.width = Math.max(1, r.width);
    this.height = Math.max(1, r.height);
    this.canvas.width = Math.round(this.width * this.dpr);
    this.canvas.height = Math.round(this.height * this.dpr);
    this.invalidate();
  }

  invalidate() {
    this.dirty = true;
  }

  /** A colour as drawn: itself, or turned over in the light theme. @param {string} c */
  ink(c) {
    if (!this.turned) return c;
    let t = this.turnedInk.get(c);
    if (t === undefined) {
      t = turnOver(c);
      if (this.turnedInk.size < 4096) this.turnedInk.set(c, t);
    }
    return t;
  }

  /** @param {Symbol[]} symbols */
  setSymbols(symbols) {
    this.glyphs.clear();
    for (const s of symbols) {
      try {
        this.glyphs.set(s.name, { symbol: s, path: new Path2D(s.path) });
      } catch {
        // an unparsable path draws as an unknown symbol
      }
    }
    for (const e of this.replica().entries.values()) e.path = undefined;
    this.invalidate();
  }

  /** The world box on screen. */
  viewBox() {
    const c = this.camera;
    return { x0: c.x, y0: c.y, x1: c.x + this.width / c.zoom, y1: c.y + this.height / c.zoom };
  }

  /** @param {Fragment} f */
  visible(f) {
    return this.filter === "all" || f.origin === this.filter;
  }

  /**
   * Draw the tapestry into any 2D context (the screen, or an export canvas).
   *
   * On screen, a heavy scene (one that took more than a few ms to draw) is
   * drawn once into a cached layer a quarter larger than the view on every
   * side; while only the camera pans, frames blit that layer and draw the
   * overlays (selection, previews, cursors) on top. Any change to the
   * tapestry, the zoom, the filter or the threads redraws the layer.
   * @param {CanvasRenderingContext2D} ctx @param {number} w @param {number} h @param {Camera} cam @param {number} dpr
   * @param {{overlays?: boolean}} [opts]
   */
  draw(ctx, w, h, cam, dpr, opts = {}) {
    const overlays = opts.overlays ?? true;
    const view = { x0: cam.x, y0: cam.y, x1: cam.x + w / cam.zoom, y1: cam.y + h / cam.zoom };
    const replica = this.replica();
    if (overlays && this.overrides.size === 0 && this.remote.size === 0 && this.heavy) this.#drawCached(ctx, w, h, cam, dpr, view, replica);
    else {
      const t0 = performance.now();
      this.#drawn = this.#drawScene(ctx, w, h, cam, dpr, view, replica);
      this.#countDrawn = null;
      if (overlays) this.heavy = performance.now() - t0 > 4;
    }
    if (!overlays) return;
    ctx.setTransform(dpr * cam.zoom, 0, 0, dpr * cam.zoom, -cam.x * cam.zoom * dpr, -cam.y * cam.zoom * dpr);
    this.drawSelection(ctx, replica, cam.zoom);
    for (const fn of this.worldOverlays) fn(ctx);
    ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
    for (const fn of this.screenOverlays) fn(ctx);
  }

  /**
   * Background, fragments (culled to `view`) and threads; returns how many fragments were drawn.
   * @param {CanvasRenderingContext2D} ctx @param {number} w @param {number} h @param {Camera} cam @param {number} dpr
   * @param {Box} view @param {Replica} replica
   */
  #drawScene(ctx, w, h, cam, dpr, view, replica) {
    ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
    if (this.background) {
      ctx.fillStyle = this.ink(this.background);
      ctx.fillRect(0, 0, w, h);
    } else ctx.clearRect(0, 0, w, h);
    ctx.setTransform(dpr * cam.zoom, 0, 0, dpr * cam.zoom, -cam.x * cam.zoom * dpr, -cam.y * cam.zoom * dpr);
    /** @type {Map<string, Box>} */
    const boxes = new Map();
    let drawn = 0;
    const previews = this.overrides.size > 0 || this.remote.size > 0;
    // Threads need every box; otherwise only the fragments in view (and any shown moved, with the
    // lines bound to them) are walked.
    const shownMoved = [...this.overrides.keys(), ...this.remote.keys()];
    for (const id of [...shownMoved]) for (const line of replica.bound.get(id) ?? []) shownMoved.push(line);
    const entries = this.threads ? replica.ordered() : replica.inView(view, shownMoved);
    for (const entry of entries) {
      let e = entry;
      // Previews (ours and others'), and the arrows bound to them, follow the gesture (M14).
      const o = previews ? following(replica, entry, this.overrides, this.remote) : null;
      if (o) e = overrideEntry(entry, o);
      const f = e.frag;
      if (!e.box || !this.visible(f)) continue;
      if (this.threads) boxes.set(f.id, e.box);
      if (!intersects(e.box, view)) continue;
      this.drawEntry(ctx, e, cam.zoom);
      drawn++;
    }
    if (this.threads) this.drawThreads(ctx, replica, boxes, cam.zoom);
    return drawn;
  }

  /**
   * @param {CanvasRenderingContext2D} ctx @param {number} w @param {number} h @param {Camera} cam @param {number} dpr
   * @param {Box} view @param {Replica} replica
   */
  #drawCached(ctx, w, h, cam, dpr, view, replica) {
    const key = `${replica.version}|${cam.zoom}|${dpr}|${this.filter}|${this.threads}|${this.glyphs.size}|${this.turned}`;
    let c = this.layer;
    if (!c || c.replica !== replica || c.key !== key || !contains(c.box, view)) {
      const mx = (view.x1 - view.x0) / 4;
      const my = (view.y1 - view.y0) / 4;
      const box = { x0: view.x0 - mx, y0: view.y0 - my, x1: view.x1 + mx, y1: view.y1 + my };
      const lw = (box.x1 - box.x0) * cam.zoom;
      const lh = (box.y1 - box.y0) * cam.zoom;
      const canvas = c?.canvas ?? document.createElement("canvas");
      canvas.width = Math.ceil(lw * dpr);
      canvas.height = Math.ceil(lh * dpr);
      const lctx = /** @type {CanvasRenderingContext2D} */ (canvas.getContext("2d"));
      const lcam = new Camera();
      lcam.x = box.x0;
      lcam.y = box.y0;
      lcam.zoom = cam.zoom;
      const t0 = performance.now();
      this.#drawScene(lctx, lw, lh, lcam, dpr, box, replica);
      // A layer that became cheap to draw is not worth keeping.
      this.heavy = performance.now() - t0 > 8;
      c = this.layer = { canvas, box, key, replica };
    }
    ctx.setTransform(1, 0, 0, 1, 0, 0);
    ctx.fillStyle = this.ink(BACKGROUND);
    ctx.fillRect(0, 0, w * dpr, h * dpr);
    const dx = Math.round((c.box.x0 - cam.x) * cam.zoom * dpr);
    const dy = Math.round((c.box.y0 - cam.y) * cam.zoom * dpr);
    ctx.drawImage(c.canvas, dx, dy);
    // Counted when asked (a debug figure): a frame that only moves the layer stays a blit.
    this.#countDrawn = () => replica.countInView(view, (f) => this.visible(f));
  }

  /** @param {CanvasRenderingContext2D} ctx @param {Entry} e @param {number} zoom */
  drawEntry(ctx, e, zoom) {
    const f = e.frag;
    const box = /** @type {Box} */ (e.box);
    // Below a pixel or two a fragment is a speck: draw it as one.
    if ((box.x1 - box.x0) * zoom < 1.5 && (box.y1 - box.y0) * zoom < 1.5) {
      ctx.fillStyle = this.ink(colour(f.style.color, DEFAULT_COLOR));
      ctx.fillRect(box.x0, box.y0, 1.5 / zoom, 1.5 / zoom);
      return;
    }
    const opacity = Math.max(0, Math.min(1, num(f.style.opacity, 1)));
    if (opacity <= 0) return;
    ctx.save();
    ctx.globalAlpha = opacity;
    const rot = num(f.geom.rot);
    if (rot) {
      ctx.translate(f.x, f.y);
      ctx.rotate(rot);
      ctx.translate(-f.x, -f.y);
    }
    if (f.origin === "ai") {
      if (isStrand(f) && !e.path) e.path = buildPath(f);
      this.drawHalo(ctx, f, zoom, e.path ?? undefined);
    }
    const color = this.ink(colour(f.style.color, DEFAULT_COLOR));
    const fill = f.style.fill && f.style.fill !== "none" ? this.ink(colour(f.style.fill, "")) : "";
    ctx.lineCap = "round";
    ctx.lineJoin = "round";
    if (f.kind === "symbol") this.#drawSymbol(ctx, f, color, fill);
    else if (f.kind === "text") this.#drawText(ctx, f, color);
    else {
      if (!e.path) e.path = buildPath(f);
      if (fill && !(f.kind === "shape" && (f.geom.shape === "line" || f.geom.shape === "arrow"))) {
        ctx.fillStyle = fill;
        ctx.fill(e.path);
      }
      const pressed = fragmentOutline(f, strokeWidth(f.style));
      if (pressed) {
        ctx.fillStyle = color;
        ctx.fill(pressed);
      } else {
        ctx.strokeStyle = color;
        ctx.lineWidth = strokeWidth(f.style);
        if (f.style.dash) ctx.setLineDash(dashPattern(f.style));
        if (ctx.lineWidth > 0) ctx.stroke(e.path);
      }
    }
    ctx.restore();
  }

  /** @param {CanvasRenderingContext2D} ctx @param {Fragment} f @param {string} color @param {string} fill */
  #drawSymbol(ctx, f, color, fill) {
    const size = num(f.geom.size);
    if (size <= 0) return;
    const k = size / GLYPH_BOX;
    const glyph = this.glyphs.get(f.geom.sym);
    ctx.translate(f.x - size / 2, f.y - size / 2);
    ctx.scale(k, k);
    ctx.lineWidth = "width" in f.style ? strokeWidth(f.style) / k : GLYPH_STROKE;
    ctx.strokeStyle = color;
    if (!glyph) {
      ctx.setLineDash([8, 6]);
      ctx.beginPath();
      ctx.arc(50, 50, 40, 0, Math.PI * 2);
      ctx.stroke();
      ctx.setLineDash([]);
      ctx.fillStyle = color;
      ctx.font = `40px ${FONT_FAMILY}`;
      ctx.textAlign = "center";
      ctx.fillText("?", 50, 64);
      return;
    }
    const paint = fill || (glyph.symbol.fill ? color : "");
    if (paint) {
      ctx.fillStyle = paint;
      ctx.fill(glyph.path, "evenodd");
    }
    if (ctx.lineWidth > 0) ctx.stroke(glyph.path);
  }

  /** @param {CanvasRenderingContext2D} ctx @param {Fragment} f @param {string} color */
  #drawText(ctx, f, color) {
    const size = num(f.geom.size);
    if (size <= 0 || typeof f.geom.text !== "string") return;
    ctx.fillStyle = color;
    ctx.font = `${size}px ${FONT_FAMILY}`;
    ctx.textBaseline = "alphabetic";
    ctx.textAlign = textAlign(f);
    const lines = f.geom.text.split("\n");
    for (let i = 0; i < lines.length; i++) ctx.fillText(lines[i], f.x, f.y + i * LINE_HEIGHT * size);
  }

  /**
   * The mark of AI work, as thin on screen at every zoom: a strand (a stroke,
   * a line, an arrow) gets a faint glow along itself, never a box around its
   * curve; anything else a thin dashed outline a few pixels out, over a faint glow.
   * @param {CanvasRenderingContext2D} ctx @param {Fragment} f @param {number} zoom @param {Path2D} [path]
   */
  drawHalo(ctx, f, zoom, path) {
    const px = 1 / zoom;
    ctx.save();
    ctx.strokeStyle = this.ink(AI_ACCENT);
    ctx.lineCap = "round";
    ctx.lineJoin = "round";
    if (path && isStrand(f)) {
      ctx.globalAlpha *= HALO.strandOpacity;
      ctx.lineWidth = strokeWidth(f.style) + HALO.strandGlow * px;
      ctx.stroke(path);
      ctx.restore();
      return;
    }
    const b = localBox(f);
    if (b) {
      const g = grow(b, HALO.pad * px);
      ctx.beginPath();
      ctx.roundRect(g.x0, g.y0, g.x1 - g.x0, g.y1 - g.y0, HALO.radius * px);
      ctx.globalAlpha *= HALO.glowOpacity;
      ctx.lineWidth = HALO.glow * px;
      ctx.stroke();
      ctx.globalAlpha /= HALO.glowOpacity;
      ctx.globalAlpha *= HALO.lineOpacity;
      ctx.lineWidth = HALO.line * px;
      ctx.setLineDash(HALO.dash.map((d) => d * px));
      ctx.stroke();
    }
    ctx.restore();
  }

  /** @param {CanvasRenderingContext2D} ctx @param {Replica} replica @param {Map<string, Box>} boxes @param {number} zoom */
  drawThreads(ctx, replica, boxes, zoom) {
    ctx.save();
    ctx.strokeStyle = this.ink(THREAD_COLOR);
    ctx.globalAlpha = 0.45;
    ctx.lineWidth = Math.max(1.5, 1.5 / zoom);
    ctx.beginPath();
    for (const [id, box] of boxes) {
      const f = replica.get(id);
      if (!f || !f.inspired_by.length) continue;
      const [x1, y1] = centre(box);
      for (const src of f.inspired_by) {
        const sb = boxes.get(src);
        if (!sb) continue;
        const [x0, y0] = centre(sb);
        if (x0 === x1 && y0 === y1) continue;
        ctx.moveTo(x0, y0);
        ctx.quadraticCurveTo((x0 + x1) / 2 - (y1 - y0) / 5, (y0 + y1) / 2 + (x1 - x0) / 5, x1, y1);
      }
    }
    ctx.stroke();
    ctx.restore();
  }

  /** Bounds of the current selection (overrides included). @param {Replica} replica */
  selectionBox(replica = this.replica()) {
    const boxes = [];
    for (const id of this.selection) {
      const e = replica.entries.get(id);
      if (!e) continue;
      const o = this.overrides.get(id);
      const box = o ? overrideEntry(e, o).box : e.box;
      if (box) boxes.push(box);
    }
    return union(boxes);
  }

  /** @param {CanvasRenderingContext2D} ctx @param {Replica} replica @param {number} zoom */
  drawSelection(ctx, replica, zoom) {
    if (!this.selection.size) return;
    ctx.save();
    ctx.strokeStyle = this.ink(SELECT_COLOR);
    ctx.lineWidth = 1 / zoom;
    for (const id of this.selection) {
      const e = replica.entries.get(id);
      if (!e) continue;
      const o = this.overrides.get(id);
      const box = o ? overrideEntry(e, o).box : e.box;
      if (box) ctx.strokeRect(box.x0, box.y0, box.x1 - box.x0, box.y1 - box.y0);
    }
    const all = this.selectionBox(replica);
    if (all) {
      const g = grow(all, 4 / zoom);
      ctx.setLineDash([5 / zoom, 4 / zoom]);
      ctx.strokeRect(g.x0, g.y0, g.x1 - g.x0, g.y1 - g.y0);
      ctx.setLineDash([]);
      ctx.fillStyle = this.ink(BACKGROUND);
      const s = 8 / zoom;
      for (const [hx, hy] of handlePoints(g)) {
        ctx.fillRect(hx - s / 2, hy - s / 2, s, s);
        ctx.strokeRect(hx - s / 2, hy - s / 2, s, s);
      }
      const [rx, ry] = rotationHandle(g, zoom);
      ctx.beginPath();
      ctx.moveTo(rx, g.y0);
      ctx.lineTo(rx, ry + s / 2);
      ctx.stroke();
      ctx.beginPath();
      ctx.arc(rx, ry, s / 2 + 1 / zoom, 0, Math.PI * 2);
      ctx.fill();
      ctx.stroke();
    }
    ctx.restore();
  }
}

/**
 * The resize handles of a box: the corners nw, ne, se, sw, then the sides n,
 * e, s, w. Handle i is opposite handle OPPOSITE[i].
 * @param {Box} b
 */
export function handlePoints(b) {
  const mx = (b.x0 + b.x1) / 2;
  const my = (b.y0 + b.y1) / 2;
  return [
    [b.x0, b.y0],
    [b.x1, b.y0],
    [b.x1, b.y1],
    [b.x0, b.y1],
    [mx, b.y0],
    [b.x1, my],
    [mx, b.y1],
    [b.x0, my],
  ];
}
export const OPPOSITE = [2, 3, 0, 1, 6, 7, 4, 5];
/** Screen pixels between the top of the selection and its rotation handle. */
export const ROTATE_GAP = 24;

/** The rotation handle above the middle of a box. @param {Box} b @param {number} zoom */
export function rotationHandle(b, zoom) {
  return [(b.x0 + b.x1) / 2, b.y0 - ROTATE_GAP / zoom];
}

/** @param {Entry} e @param {Fragment} f @returns {Entry} */
function overrideEntry(e, f) {
  return { frag: f, box: worldBox(f) };
}

/** @param {Fragment} f */
export function buildPath(f) {
  const p = new Path2D();
  const g = f.geom;
  if (f.kind === "stroke") {
    traceStroke(p, Array.isArray(g.pts) ? g.pts : [], f.x, f.y);
    return p;
  }
  const w = num(g.w);
  const h = num(g.h);
  if (g.shape === "rect") p.rect(Math.min(f.x, f.x + w), Math.min(f.y, f.y + h), Math.abs(w), Math.abs(h));
  else if (g.shape === "ellipse") p.ellipse(f.x + w / 2, f.y + h / 2, Math.abs(w) / 2, Math.abs(h) / 2, 0, 0, Math.PI * 2);
  else {
    p.moveTo(f.x, f.y);
    p.lineTo(f.x + w, f.y + h);
    if (g.shape === "arrow") traceArrowHead(p, f.x, f.y, f.x + w, f.y + h, strokeWidth(f.style));
  }
  return p;
}
