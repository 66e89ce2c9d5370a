// @ts-check
/**
 * Pointer and keyboard interaction on the canvas: the tools (select, hand,
 * pen, shapes, symbol, text), pan and zoom, selection, move and resize.
 *
 * A gesture never writes ops while it runs: moves and resizes are shown as
 * overrides and a stroke as a preview (also sent as presence so others see it
 * being drawn); the ops are committed once, when the pointer lifts.
 */

import { checkPoints, checkPressure } from "../protocol/validate.js";
import { round } from "./editor.js";
import { contains, dashPattern, grow, hitTest, intersects, num, strokeWidth, traceStroke, union } from "./geometry.js";
import { fillPreviewOutline, PressureTrace } from "./pressure.js";
import { setFields } from "../protocol/ops.js";
import { isConnector, resolve } from "../protocol/bindings.js";
import { endsOf, moveEnd, targetAt } from "./attach.js";
import { expand } from "./groups.js";
import { handlePoints, OPPOSITE, rotationHandle } from "./render.js";
import { snapBox } from "./snap.js";
import { wheelZoomFactor } from "./view.js";

/** @typedef {import("../protocol/tapestry.js").Fragment} Fragment */
/** @typedef {import("./render.js").Renderer} Renderer */
/** @typedef {import("./editor.js").Editor} Editor */
/** @typedef {"select" | "hand" | "pen" | "rect" | "ellipse" | "line" | "arrow" | "symbol" | "text" | "eraser"} Tool */

const MAX_STROKE_POINTS = 4096;

export class Tools extends EventTarget {
  /**
   * @param {HTMLCanvasElement} canvas @param {Renderer} renderer @param {Editor} editor
   * @param {() => Record<string, any>} style the style panel's current style
   */
  constructor(canvas, renderer, editor, style) {
    super();
    this.canvas = canvas;
    this.r = renderer;
    this.editor = editor;
    this.style = style;
    /** @type {Tool} */
    this.tool = "pen";
    this.symbol = "moon";
    /** Size of new captions on screen, in pixels. */
    this.textSize = 24;
    /** How new captions sit on the point where they are placed. */
    this.textAlign = "left";
    /** @type {string[]} next fragment responds to these (a thread) */
    this.respondTo = [];
    /** @type {any} */
    this.gesture = null;
    /** @type {Map<number, {x: number, y: number}>} */
    this.pointers = new Map();
    this.space = false;
    /** @type {number[] | null} world cursor */
    this.cursor = null;
    /** @type {{pts: number[], style: Record<string, any>, pressure?: number[]} | null} */
    this.preview = null;
    /** Strokes carry their pressure (the style panel's switch, SPEC W38). */
    this.pressure = true;
    /** @type {import("./gestures.js").Live | null} a move or resize in progress, sent as presence */
    this.live = null;
    /** @type {import("./snap.js").Snap | null} alignment guides of the move in progress */
    this.guides = null;
    this.marquee = /** @type {{x0: number, y0: number, x1: number, y1: number} | null} */ (null);
    /** @type {((x: number, y: number, f?: Fragment) => void) | null} */
    this.onTextRequest = null;
    /** @type {string | null} the group entered by a double-click: its members are picked one by one */
    this.entered = null;
    canvas.addEventListener("pointerdown", (e) => this.#down(e));
    canvas.addEventListener("pointermove", (e) => this.#move(e));
    canvas.addEventListener("pointerup", (e) => this.#up(e));
    canvas.addEventListener("pointercancel", (e) => this.#up(e, true));
    canvas.addEventListener("pointerleave", () => {
      this.cursor = null;
      this.#presence();
    });
    canvas.addEventListener("wheel", (e) => this.#wheel(e), { passive: false });
    canvas.addEventListener("dblclick", (e) => this.#dblclick(e));
    renderer.worldOverlays.push((ctx) => this.#drawPreview(ctx));
    renderer.worldOverlays.push((ctx) => this.#drawEnds(ctx));
    renderer.screenOverlays.push((ctx) => this.#drawMarquee(ctx));
    renderer.screenOverlays.push((ctx) => this.#drawGuides(ctx));
  }

  /** @param {Tool} tool */
  setTool(tool) {
    this.tool = tool;
    this.canvas.style.cursor = tool === "hand" ? "grab" : tool === "select" ? "default" : tool === "text" ? "text" : "crosshair";
    if (tool !== "select") this.select([]);
    this.#emit("tool");
  }

  /** @param {string[]} ids */
  select(ids) {
    if (!ids.length) this.entered = null; // leaving the selection leaves the group entered
    this.r.selection = new Set(ids);
    this.r.invalidate();
    this.#emit("selection");
    this.#presence();
  }

  get selected() {
    return [...this.r.selection].filter((id) => this.editor.replica.get(id));
  }

  /** @param {string} type */
  #emit(type) {
    this.dispatchEvent(new Event(type));
  }

  #presence() {
    this.dispatchEvent(new Event("presence"));
  }

  /** @param {PointerEvent | WheelEvent | MouseEvent} e @returns {[number, number]} */
  #screen(e) {
    const rect = this.canvas.getBoundingClientRect();
    return [e.clientX - rect.left, e.clientY - rect.top];
  }

  /** @param {PointerEvent | MouseEvent} e */
  #world(e) {
    const [sx, sy] = this.#screen(e);
    return this.r.camera.toWorld(sx, sy);
  }

  /** Top-most visible fragment under a world point. @param {number} wx @param {number} wy */
  hit(wx, wy) {
    const tol = 6 / this.r.camera.zoom;
    const order = this.editor.replica.ordered();
    for (let i = order.length - 1; i >= 0; i--) {
      const e = order[i];
      if (!e.box || !this.r.visible(e.frag)) continue;
      if (wx < e.box.x0 - tol || wx > e.box.x1 + tol || wy < e.box.y0 - tol || wy > e.box.y1 + tol) continue;
      if (hitTest(e.frag, wx, wy, tol)) return e.frag;
    }
    return null;
  }

  /** @param {PointerEvent} e */
  #down(e) {
    this.canvas.focus();
    this.dispatchEvent(new Event("interact"));
    const [sx, sy] = this.#screen(e);
    this.pointers.set(e.pointerId, { x: sx, y: sy });
    this.canvas.setPointerCapture(e.pointerId);
    if (this.pointers.size === 2) {
      // A second finger: abandon the gesture, pinch-zoom and pan instead.
      this.#cancelGesture();
      this.gesture = { kind: "pinch", ...this.#pinchState() };
      return;
    }
    if (this.pointers.size > 2) return;
    const [wx, wy] = this.r.camera.toWorld(sx, sy);
    if (e.button === 1 || this.tool === "hand" || this.space || (e.button === 0 && e.altKey && this.tool !== "select")) {
      this.gesture = { kind: "pan", sx, sy, cx: this.r.camera.x, cy: this.r.camera.y };
      this.canvas.style.cursor = "grabbing";
      return;
    }
    if (e.button !== 0 && e.pointerType === "mouse") return;
    if (this.editor.readOnly) {
      this.gesture = { kind: "pan", sx, sy, cx: this.r.camera.x, cy: this.r.camera.y };
      return;
    }
    switch (this.tool) {
      case "select":
        return this.#downSelect(e, wx, wy);
      case "pen":
        this.gesture = { kind: "stroke", pts: [wx, wy], last: [sx, sy], smooth: [wx, wy], trace: new PressureTrace(e, sx, sy) };
        this.preview = { pts: [wx, wy], style: this.#style("stroke"), ...(this.pressure ? { pressure: this.gesture.trace.values() } : {}) };
        this.r.invalidate();
        return;
      case "rect":
      case "ellipse":
      case "line":
      case "arrow":
        this.gesture = { kind: "shape", shape: this.tool, x0: wx, y0: wy, x1: wx, y1: wy };
        return;
      case "symbol":
        this.gesture = { kind: "place" };
        return;
      case "text":
        this.gesture = { kind: "place" };
        return;
      case "eraser":
        this.gesture = { kind: "erase", ids: new Set() };
        this.#erase(this.gesture, wx, wy);
        return;
    }
  }

  /** Mark what the eraser passes over: shown faded, deleted when the pointer lifts. @param {any} g @param {number} wx @param {number} wy */
  #erase(g, wx, wy) {
    const f = this.hit(wx, wy);
    if (!f || g.ids.has(f.id)) return;
    g.ids.add(f.id);
    this.r.overrides.set(f.id, { ...f, style: { ...f.style, opacity: 0.2 * (typeof f.style.opacity === "number" ? f.style.opacity : 1) } });
    this.r.invalidate();
  }

  /** @param {PointerEvent} e @param {number} wx @param {number} wy */
  #downSelect(e, wx, wy) {
    const end = this.#endAt(wx, wy);
    if (end) {
      this.gesture = { kind: "end", ...end, target: null };
      return;
    }
    const box = this.r.selectionBox();
    if (box) {
      const g = grow(box, 4 / this.r.camera.zoom);
      const tol = 8 / this.r.camera.zoom;
      const [rx, ry] = rotationHandle(g, this.r.camera.zoom);
      if (Math.hypot(wx - rx, wy - ry) <= tol) {
        const cx = (g.x0 + g.x1) / 2;
        const cy = (g.y0 + g.y1) / 2;
        this.gesture = { kind: "rotate", cx, cy, a0: Math.atan2(wy - cy, wx - cx), ids: this.selected };
        return;
      }
      const handles = handlePoints(g);
      for (let i = 0; i < handles.length; i++) {
        const [hx, hy] = handles[i];
        if (Math.abs(wx - hx) <= tol && Math.abs(wy - hy) <= tol) {
          const [ax, ay] = handles[OPPOSITE[i]];
          // A side handle stretches one way only.
          const axis = i < 4 ? null : i % 2 ? "x" : "y";
          this.gesture = { kind: "resize", box: g, ax, ay, hx, hy, axis, ids: this.selected };
          return;
        }
      }
    }
    const f = this.hit(wx, wy);
    if (f && this.entered && f.group !== this.entered) this.entered = null;
    if (f) {
      // A click on a member of a group picks the whole group (M13), unless the group was entered.
      const picked = expand(this.editor.replica, [f.id], this.entered);
      if (e.shiftKey) {
        const sel = new Set(this.r.selection);
        const on = sel.has(f.id);
        for (const id of picked) on ? sel.delete(id) : sel.add(id);
        this.select([...sel]);
      } else if (!this.r.selection.has(f.id)) this.select(picked);
      // Where each fragment was when the drag began: it lands where it is dropped,
      // whatever others did to it meanwhile.
      const starts = new Map();
      for (const id of this.selected) {
        const sf = this.editor.replica.get(id);
        if (sf) starts.set(id, [sf.x, sf.y]);
      }
      // What the selection may line up with: the visible fragments around it (a bounded few).
      const moving = new Set(this.selected);
      const near = grow(this.r.viewBox(), 200 / this.r.camera.zoom);
      const others = this.editor.replica
        .ordered()
        .filter((en) => en.box && !moving.has(en.frag.id) && this.r.visible(en.frag) && intersects(en.box, near))
        .slice(-2000)
        .map((en) => /** @type {import("./geometry.js").Box} */ (en.box));
      this.gesture = { kind: "move", x0: wx, y0: wy, dx: 0, dy: 0, ids: this.selected, starts, box: this.selectionBounds(), others };
      return;
    }
    if (!e.shiftKey) this.select([]);
    this.entered = null;
    this.gesture = { kind: "marquee", x0: wx, y0: wy, add: e.shiftKey ? this.selected : [] };
  }

  /** @param {PointerEvent} e */
  #move(e) {
    const [sx, sy] = this.#screen(e);
    if (this.pointers.has(e.pointerId)) this.pointers.set(e.pointerId, { x: sx, y: sy });
    const [wx, wy] = this.r.camera.toWorld(sx, sy);
    this.cursor = [round(wx), round(wy)];
    const g = this.gesture;
    if (!g) {
      this.#presence();
      return;
    }
    switch (g.kind) {
      case "pinch": {
        const now = this.#pinchState();
        if (!now.d || !g.d) break;
        this.r.camera.zoomAt(now.d / g.d, now.cx, now.cy);
        this.r.camera.x -= (now.cx - g.cx) / this.r.camera.zoom;
        this.r.camera.y -= (now.cy - g.cy) / this.r.camera.zoom;
        Object.assign(g, now);
        this.#viewChanged();
        break;
      }
      case "pan":
        this.r.camera.x = g.cx - (sx - g.sx) / this.r.camera.zoom;
        this.r.camera.y = g.cy - (sy - g.sy) / this.r.camera.zoom;
        this.#viewChanged();
        break;
      case "stroke":
        for (const ev of e.getCoalescedEvents?.() ?? [e]) this.#addPoint(g, ...this.#screen(ev), ev);
        break;
      case "shape":
        g.x1 = wx;
        g.y1 = wy;
        if (e.shiftKey) this.#constrain(g);
        this.r.invalidate();
        break;
      case "move":
        g.dx = wx - g.x0;
        g.dy = wy - g.y0;
        this.guides = null;
        if (g.box && !e.altKey) {
          // Alt moves freely; otherwise edges and centres snap to the fragments around.
          const b = g.box;
          const snap = snapBox({ x0: b.x0 + g.dx, y0: b.y0 + g.dy, x1: b.x1 + g.dx, y1: b.y1 + g.dy }, g.others, 6 / this.r.camera.zoom);
          g.dx += snap.dx;
          g.dy += snap.dy;
          if (snap.xs.length || snap.ys.length) this.guides = snap;
        }
        this.r.overrides.clear();
        for (const id of g.ids) {
          const f = this.editor.replica.get(id);
          const s = g.starts.get(id);
          if (f && s) this.r.overrides.set(id, { ...f, x: s[0] + g.dx, y: s[1] + g.dy });
        }
        this.live = { ids: g.ids.slice(0, 256), dx: round(g.dx), dy: round(g.dy) };
        this.r.invalidate();
        break;
      case "resize":
        this.#resizeTo(g, wx, wy, e.shiftKey);
        break;
      case "end": {
        // An end dragged over a fragment binds to it on release; anywhere else it is loose (M14).
        const f = this.editor.replica.get(g.id);
        g.target = targetAt(this.editor.replica, wx, wy, (t) => this.r.visible(t));
        // Both ends on one fragment would meet at its centre: the other end's target is not offered.
        if (f && g.target && g.target.id === (g.which === 0 ? f.end : f.start)) g.target = null;
        g.x = round(wx);
        g.y = round(wy);
        if (f) {
          // Shown placed already (attached to the target under the pointer): the preview binds nothing.
          const placed = resolve(moveEnd(f, g.which, g.x, g.y, g.target?.id ?? null).shown, (t) => this.editor.replica.tapestry.get(t));
          this.r.overrides.set(g.id, { ...placed, start: null, end: null });
        }
        this.r.invalidate();
        break;
      }
      case "rotate": {
        let angle = Math.atan2(wy - g.cy, wx - g.cx) - g.a0;
        if (e.shiftKey) angle = Math.round(angle / (Math.PI / 12)) * (Math.PI / 12); // 15-degree steps
        g.angle = angle;
        this.r.overrides.clear();
        for (const id of g.ids) {
          const f = this.editor.replica.get(id);
          if (f) this.r.overrides.set(id, rotated(f, g.cx, g.cy, angle));
        }
        this.live = { ids: g.ids.slice(0, 256), ax: round(g.cx), ay: round(g.cy), rot: round4(angle) };
        this.r.invalidate();
        break;
      }
      case "erase":
        for (const ev of e.getCoalescedEvents?.() ?? [e]) this.#erase(g, ...this.r.camera.toWorld(...this.#screen(ev)));
        break;
      case "marquee":
        this.marquee = { x0: g.x0, y0: g.y0, x1: wx, y1: wy };
        this.r.invalidate();
        break;
    }
    this.#presence();
  }

  /** @param {any} g */
  #constrain(g) {
    const dx = g.x1 - g.x0;
    const dy = g.y1 - g.y0;
    if (g.shape === "line" || g.shape === "arrow") {
      const angle = Math.round(Math.atan2(dy, dx) / (Math.PI / 4)) * (Math.PI / 4);
      const len = Math.hypot(dx, dy);
      g.x1 = g.x0 + Math.cos(angle) * len;
      g.y1 = g.y0 + Math.sin(angle) * len;
    } else {
      const s = Math.max(Math.abs(dx), Math.abs(dy));
      g.x1 = g.x0 + Math.sign(dx || 1) * s;
      g.y1 = g.y0 + Math.sign(dy || 1) * s;
    }
  }

  /**
   * Smoothing: drop points closer than 2 screen pixels, and ease each point
   * toward the pointer (an exponential moving average) so jitter disappears
   * without lag you can feel.
   * @param {any} g @param {number} sx @param {number} sy @param {PointerEvent} e
   */
  #addPoint(g, sx, sy, e) {
    if (Math.hypot(sx - g.last[0], sy - g.last[1]) < 2) return;
    g.last = [sx, sy];
    const [wx, wy] = this.r.camera.toWorld(sx, sy);
    const a = 0.55;
    g.smooth = [g.smooth[0] + (wx - g.smooth[0]) * a, g.smooth[1] + (wy - g.smooth[1]) * a];
    g.pts.push(round(g.smooth[0]), round(g.smooth[1]));
    g.trace.add(e, sx, sy);
    if (g.pts.length / 2 >= MAX_STROKE_POINTS) {
      // A very long stroke continues as a new fragment.
      const tail = g.pts.slice(-2);
      this.#commitStroke(g.pts, g.trace);
      g.pts = tail;
      g.trace.keepLast(1);
    }
    if (this.preview) {
      this.preview.pts = g.pts;
      if (this.pressure) this.preview.pressure = g.trace.values();
    }
    this.r.invalidate();
  }

  /** @param {PointerEvent} e @param {boolean} [cancel] */
  #up(e, cancel = false) {
    this.pointers.delete(e.pointerId);
    const g = this.gesture;
    if (!g) return;
    if (g.kind === "pinch") {
      if (this.pointers.size === 0) this.gesture = null;
      return;
    }
    this.gesture = null;
    this.live = null;
    this.guides = null;
    const [wx, wy] = this.#world(e);
    if (cancel) return this.#cancelGesture(g);
    switch (g.kind) {
      case "pan":
        this.setToolCursor();
        break;
      case "stroke":
        g.pts.push(round(wx), round(wy));
        g.trace.add(e, ...this.#screen(e));
        this.#commitStroke(g.pts, g.trace);
        this.preview = null;
        break;
      case "shape":
        this.#commitShape(g);
        break;
      case "place":
        if (this.tool === "symbol") this.#commitSymbol(wx, wy);
        else this.onTextRequest?.(wx, wy);
        break;
      case "move":
        this.r.overrides.clear();
        if (g.dx || g.dy) {
          /** @type {[string, number, number][]} */
          const to = [];
          for (const [id, [sx0, sy0]] of g.starts) to.push([id, sx0 + g.dx, sy0 + g.dy]);
          this.editor.moveTo(to);
        }
        break;
      case "resize": {
        const frags = g.ids.map((/** @type {string} */ id) => this.r.overrides.get(id)).filter(Boolean);
        this.r.overrides.clear();
        this.editor.replace("resize", frags);
        break;
      }
      case "erase":
        this.r.overrides.clear();
        if (g.ids.size) this.editor.remove([...g.ids]);
        break;
      case "end": {
        this.r.overrides.clear();
        const f = this.editor.replica.get(g.id);
        if (f && g.x !== undefined) {
          const { fields } = moveEnd(f, g.which, g.x, g.y, g.target?.id ?? null);
          fields.geom = { ...fields.geom, w: round(fields.geom.w), h: round(fields.geom.h) };
          fields.x = round(fields.x);
          fields.y = round(fields.y);
          this.editor.commit("move end", [setFields(g.id, this.editor.stamp(), fields)]);
        }
        break;
      }
      case "rotate": {
        const frags = g.ids.map((/** @type {string} */ id) => this.r.overrides.get(id)).filter(Boolean);
        this.r.overrides.clear();
        if (g.angle) this.editor.replace("rotate", frags);
        break;
      }
      case "marquee": {
        const m = this.marquee;
        this.marquee = null;
        if (m) {
          const box = { x0: Math.min(m.x0, m.x1), y0: Math.min(m.y0, m.y1), x1: Math.max(m.x0, m.x1), y1: Math.max(m.y0, m.y1) };
          const ids = this.editor.replica
            .ordered()
            .filter((en) => en.box && this.r.visible(en.frag) && contains(box, en.box))
            .map((en) => en.frag.id);
          this.select(expand(this.editor.replica, [...g.add, ...ids]));
        }
        break;
      }
    }
    this.r.invalidate();
    this.#presence();
  }

  setToolCursor() {
    this.canvas.style.cursor = this.tool === "hand" ? "grab" : this.tool === "select" ? "default" : "crosshair";
  }

  /** @param {any} [g] */
  #cancelGesture(g = this.gesture) {
    this.gesture = null;
    this.preview = null;
    this.live = null;
    this.guides = null;
    this.marquee = null;
    this.r.overrides.clear();
    this.r.invalidate();
    void g;
  }

  cancel() {
    this.#cancelGesture();
    this.#presence();
  }

  /** @param {string} kind */
  #style(kind) {
    const s = { ...this.style() };
    if (kind === "stroke" || kind === "symbol" || kind === "text") {
      if (kind !== "symbol") delete s.fill;
    }
    if (kind === "text" || kind === "symbol") {
      delete s.width;
      delete s.dash;
    }
    return s;
  }

  /** @returns {string[]} */
  #threads() {
    const ids = this.respondTo.filter((id) => this.editor.replica.get(id)).slice(0, 16);
    if (this.respondTo.length) {
      this.respondTo = [];
      this.#emit("respond");
    }
    return ids;
  }

  /** @param {number[]} pts @param {PressureTrace} trace */
  #commitStroke(pts, trace) {
    if (pts.length < 2) return;
    const x = pts[0];
    const y = pts[1];
    const rel = [];
    for (let i = 0; i < pts.length; i += 2) rel.push(round(pts[i] - x), round(pts[i + 1] - y));
    checkPoints(rel, "stroke");
    /** @type {Record<string, any>} */
    const geom = { pts: rel };
    const pressure = trace.values();
    if (this.pressure && pressure.length * 2 === rel.length) geom.pressure = checkPressure(pressure, rel);
    this.editor.add({ kind: "stroke", x, y, geom, style: this.#style("stroke"), inspired_by: this.#threads() });
  }

  /** @param {any} g */
  #commitShape(g) {
    let w = g.x1 - g.x0;
    let h = g.y1 - g.y0;
    if (Math.hypot(w, h) * this.r.camera.zoom < 4) {
      // A click: a shape of a sensible default size.
      w = 120 / this.r.camera.zoom;
      h = (g.shape === "line" || g.shape === "arrow" ? 0 : 80) / this.r.camera.zoom;
    }
    // A line or an arrow drawn from or to a shape stays attached to it (M14).
    const [from, to] = this.#ends(g);
    const id = this.editor.add({
      kind: "shape",
      x: g.x0,
      y: g.y0,
      geom: { shape: g.shape, w: round(w), h: round(h) },
      style: this.#style("shape"),
      inspired_by: this.#threads(),
      ...(from ? { start: from.id } : {}),
      ...(to && to !== from ? { end: to.id } : {}),
    });
    void id;
  }

  /** What the ends of a line or an arrow being drawn bind to. @param {any} g @returns {(Fragment | null)[]} */
  #ends(g) {
    if (g.shape !== "line" && g.shape !== "arrow") return [null, null];
    const visible = (/** @type {Fragment} */ f) => this.r.visible(f);
    return [targetAt(this.editor.replica, g.x0, g.y0, visible), targetAt(this.editor.replica, g.x1, g.y1, visible)];
  }

  /** @param {number} wx @param {number} wy */
  #commitSymbol(wx, wy) {
    const size = round(72 / this.r.camera.zoom);
    this.editor.add({
      kind: "symbol",
      x: wx,
      y: wy,
      geom: { sym: this.symbol, size },
      style: this.#style("symbol"),
      inspired_by: this.#threads(),
    });
  }

  /** @param {number} wx @param {number} wy @param {string} text */
  commitText(wx, wy, text) {
    if (!text.trim()) return;
    this.editor.add({
      kind: "text",
      x: wx,
      y: wy,
      geom: { text: text.slice(0, 2000), size: round(this.textSize / this.r.camera.zoom), ...(this.textAlign !== "left" ? { align: this.textAlign } : {}) },
      style: this.#style("text"),
      inspired_by: this.#threads(),
    });
  }

  /** @param {MouseEvent} e */
  #dblclick(e) {
    if (this.editor.readOnly) return;
    const [wx, wy] = this.#world(e);
    const f = this.hit(wx, wy);
    if (f && f.group && this.entered !== f.group && this.tool === "select") {
      // A double-click enters the group: this member alone is selected, and clicks pick members until you leave it.
      this.entered = f.group;
      this.select([f.id]);
    } else if (f && f.kind === "text") this.onTextRequest?.(f.x, f.y, f);
    else if (!f && this.tool === "select") this.onTextRequest?.(wx, wy);
  }

  /** @param {any} g @param {number} wx @param {number} wy @param {boolean} keepRatio */
  #resizeTo(g, wx, wy, keepRatio) {
    const bw = g.hx - g.ax || 1e-9;
    const bh = g.hy - g.ay || 1e-9;
    let sx = g.axis === "y" ? 1 : (wx - g.ax) / bw;
    let sy = g.axis === "x" ? 1 : (wy - g.ay) / bh;
    const single = g.ids.length === 1 ? this.editor.replica.get(g.ids[0]) : null;
    const uniform = keepRatio || (single && (single.kind === "symbol" || single.kind === "text")) || g.ids.some((/** @type {string} */ id) => {
      const k = this.editor.replica.get(id)?.kind;
      return k === "symbol" || k === "text";
    });
    if (uniform) {
      const s = g.axis === "x" ? Math.abs(sx) : g.axis === "y" ? Math.abs(sy) : Math.max(Math.abs(sx), Math.abs(sy));
      sx = s;
      sy = s;
    }
    this.r.overrides.clear();
    for (const id of g.ids) {
      const f = this.editor.replica.get(id);
      if (f) this.r.overrides.set(id, scaled(f, g.ax, g.ay, sx, sy));
    }
    this.live = { ids: g.ids.slice(0, 256), ax: round(g.ax), ay: round(g.ay), sx: round4(sx), sy: round4(sy) };
    this.r.invalidate();
  }

  /** @param {WheelEvent} e */
  #wheel(e) {
    e.preventDefault();
    const [sx, sy] = this.#screen(e);
    if (e.ctrlKey || e.metaKey) {
      this.r.camera.zoomAt(wheelZoomFactor(e.deltaY, e.deltaMode), sx, sy);
    } else {
      this.r.camera.x += e.deltaX / this.r.camera.zoom;
      this.r.camera.y += e.deltaY / this.r.camera.zoom;
    }
    this.#viewChanged();
  }

  #viewChanged() {
    this.r.invalidate();
    this.#emit("view");
    this.#presence();
  }

  #pinchState() {
    const [a, b] = [...this.pointers.values()];
    return { d: Math.hypot(a.x - b.x, a.y - b.y), cx: (a.x + b.x) / 2, cy: (a.y + b.y) / 2 };
  }

  /** @param {CanvasRenderingContext2D} ctx */
  #drawPreview(ctx) {
    const g = this.gesture;
    if (this.preview && this.preview.pts.length >= 2) {
      drawPreviewStroke(ctx, this.preview.pts, this.preview.style, (c) => this.r.ink(c), this.preview.pressure);
    }
    if (g && g.kind === "shape") {
      const style = this.#style("shape");
      const p = new Path2D();
      const w = g.x1 - g.x0;
      const h = g.y1 - g.y0;
      if (g.shape === "rect") p.rect(Math.min(g.x0, g.x1), Math.min(g.y0, g.y1), Math.abs(w), Math.abs(h));
      else if (g.shape === "ellipse") p.ellipse(g.x0 + w / 2, g.y0 + h / 2, Math.abs(w) / 2, Math.abs(h) / 2, 0, 0, Math.PI * 2);
      else {
        p.moveTo(g.x0, g.y0);
        p.lineTo(g.x1, g.y1);
      }
      ctx.save();
      ctx.globalAlpha = num(style.opacity, 1);
      ctx.strokeStyle = this.r.ink(style.color);
      ctx.lineWidth = strokeWidth(style);
      ctx.setLineDash(dashPattern(style));
      ctx.lineCap = "round";
      if (style.fill && style.fill !== "none" && (g.shape === "rect" || g.shape === "ellipse")) {
        ctx.fillStyle = this.r.ink(style.fill);
        ctx.fill(p);
      }
      ctx.stroke(p);
      // The hint: what the ends will attach to is outlined.
      for (const t of this.#ends(g)) {
        const b = t && this.editor.replica.entries.get(t.id)?.box;
        if (!b) continue;
        ctx.setLineDash([]);
        ctx.globalAlpha = 0.9;
        ctx.strokeStyle = this.r.ink("#7ad7ff");
        ctx.lineWidth = 2 / this.r.camera.zoom;
        ctx.strokeRect(b.x0 - 4 / this.r.camera.zoom, b.y0 - 4 / this.r.camera.zoom, b.x1 - b.x0 + 8 / this.r.camera.zoom, b.y1 - b.y0 + 8 / this.r.camera.zoom);
      }
      ctx.restore();
    }
  }

  /** The one selected line or arrow, whose ends have handles. @returns {Fragment | null} */
  #connector() {
    const ids = this.selected;
    const f = ids.length === 1 ? this.editor.replica.get(ids[0]) : null;
    return f && isConnector(f) && this.tool === "select" && !this.editor.readOnly ? f : null;
  }

  /** The end handle of the selected line or arrow under a world point. @param {number} wx @param {number} wy */
  #endAt(wx, wy) {
    const f = this.#connector();
    if (!f) return null;
    const tol = 9 / this.r.camera.zoom;
    const ends = endsOf(f);
    for (const which of /** @type {(0 | 1)[]} */ ([1, 0])) {
      if (Math.hypot(wx - ends[which][0], wy - ends[which][1]) <= tol) return { id: f.id, which };
    }
    return null;
  }

  /** Handles on the ends of the selected line or arrow: filled when the end is attached; the target of a dragged end outlined. @param {CanvasRenderingContext2D} ctx */
  #drawEnds(ctx) {
    const g = this.gesture;
    const f = g?.kind === "end" ? this.r.overrides.get(g.id) : g ? null : this.#connector();
    if (!f) return;
    const z = this.r.camera.zoom;
    ctx.save();
    ctx.lineWidth = 1.5 / z;
    ctx.strokeStyle = this.r.ink("#7ad7ff");
    if (g?.target) {
      const b = this.editor.replica.entries.get(g.target.id)?.box;
      if (b) ctx.strokeRect(b.x0 - 4 / z, b.y0 - 4 / z, b.x1 - b.x0 + 8 / z, b.y1 - b.y0 + 8 / z);
    }
    const shown = this.editor.replica.entries.get(f.id)?.frag ?? f;
    endsOf(f).forEach(([x, y], i) => {
      const attached = g?.kind === "end" && g.which === i ? !!g.target : !!(i === 0 ? shown.start : shown.end);
      ctx.beginPath();
      ctx.arc(x, y, 5 / z, 0, Math.PI * 2);
      ctx.fillStyle = this.r.ink(attached ? "#7ad7ff" : "#0f1020");
      ctx.fill();
      ctx.stroke();
    });
    ctx.restore();
  }

  /** @param {CanvasRenderingContext2D} ctx */
  #drawGuides(ctx) {
    const g = this.guides;
    if (!g) return;
    ctx.save();
    ctx.strokeStyle = "rgba(255, 143, 216, 0.85)";
    ctx.lineWidth = 1;
    ctx.setLineDash([4, 4]);
    ctx.beginPath();
    for (const x of g.xs) {
      const [sx] = this.r.camera.toScreen(x, 0);
      ctx.moveTo(Math.round(sx) + 0.5, 0);
      ctx.lineTo(Math.round(sx) + 0.5, this.r.height);
    }
    for (const y of g.ys) {
      const [, sy] = this.r.camera.toScreen(0, y);
      ctx.moveTo(0, Math.round(sy) + 0.5);
      ctx.lineTo(this.r.width, Math.round(sy) + 0.5);
    }
    ctx.stroke();
    ctx.restore();
  }

  /** @param {CanvasRenderingContext2D} ctx */
  #drawMarquee(ctx) {
    const m = this.marquee;
    if (!m) return;
    const [x0, y0] = this.r.camera.toScreen(m.x0, m.y0);
    const [x1, y1] = this.r.camera.toScreen(m.x1, m.y1);
    ctx.save();
    ctx.fillStyle = "rgba(255, 210, 122, 0.08)";
    ctx.strokeStyle = "rgba(255, 210, 122, 0.8)";
    ctx.setLineDash([4, 3]);
    ctx.fillRect(x0, y0, x1 - x0, y1 - y0);
    ctx.strokeRect(x0, y0, x1 - x0, y1 - y0);
    ctx.restore();
  }

  /** Whole-selection bounds, for the keyboard and the UI. */
  selectionBounds() {
    return union(this.selected.map((id) => this.editor.replica.entries.get(id)?.box).filter((b) => !!b).map((b) => /** @type {any} */ (b)));
  }

  /** Fragments whose bounds meet a box. @param {import("./geometry.js").Box} box */
  within(box) {
    return this.editor.replica.ordered().filter((e) => e.box && intersects(e.box, box));
  }
}

/** Scale factors keep four decimals on the wire. @param {number} v */
const round4 = (v) => Math.round(v * 10000) / 10000;

/**
 * A fragment scaled about an anchor point.
 * @param {Fragment} f @param {number} ax @param {number} ay @param {number} sx @param {number} sy
 * @returns {Fragment}
 */
export function scaled(f, ax, ay, sx, sy) {
  const x = ax + (f.x - ax) * sx;
  const y = ay + (f.y - ay) * sy;
  const g = { ...f.geom };
  const s = Math.max(0.01, Math.sqrt(Math.abs(sx * sy)));
  if (f.kind === "stroke") g.pts = g.pts.map((/** @type {number} */ v, /** @type {number} */ i) => round(v * (i % 2 ? sy : sx)));
  else if (f.kind === "shape") {
    g.w = round(g.w * sx);
    g.h = round(g.h * sy);
  } else g.size = Math.max(1, round(num(g.size) * s));
  return { ...f, x: round(x), y: round(y), geom: g };
}

/**
 * A fragment turned by `angle` (radians) about a point: its anchor goes round
 * the point and its own rotation grows by the angle.
 * @param {Fragment} f @param {number} cx @param {number} cy @param {number} angle
 * @returns {Fragment}
 */
export function rotated(f, cx, cy, angle) {
  const c = Math.cos(angle);
  const s = Math.sin(angle);
  const x = cx + (f.x - cx) * c - (f.y - cy) * s;
  const y = cy + (f.x - cx) * s + (f.y - cy) * c;
  let rot = (num(f.geom.rot) + angle) % (2 * Math.PI);
  if (rot > Math.PI) rot -= 2 * Math.PI;
  if (rot < -Math.PI) rot += 2 * Math.PI;
  /** @type {Record<string, any>} */
  const geom = { ...f.geom, rot: round4(rot) };
  if (!geom.rot) delete geom.rot;
  return { ...f, x: round(x), y: round(y), geom };
}

/**
 * @param {CanvasRenderingContext2D} ctx @param {number[]} pts absolute world points @param {Record<string, any>} style
 * @param {(c: string) => string} [ink] how colours are drawn (turned over in the light theme)
 * @param {number[] | null} [pressure] one a point: drawn as its outline (SPEC M17) unless dashed
 */
export function drawPreviewStroke(ctx, pts, style, ink = (c) => c, pressure = null) {
  const p = new Path2D();
  traceStroke(p, pts, 0, 0);
  ctx.save();
  ctx.globalAlpha = Math.max(0.05, Math.min(1, num(style?.opacity, 1)));
  if (!style?.dash) {
    ctx.fillStyle = ink(typeof style?.color === "string" ? style.color : "#ece8ff");
    if (fillPreviewOutline(ctx, pts, pressure, strokeWidth(style ?? {}))) {
      ctx.restore();
      return;
    }
  }
  ctx.strokeStyle = ink(typeof style?.color === "string" ? style.color : "#ece8ff");
  ctx.setLineDash(dashPattern(style ?? {}));
  ctx.lineWidth = strokeWidth(style ?? {});
  ctx.lineCap = "round";
  ctx.lineJoin = "round";
  ctx.stroke(p);
  ctx.restore();
}
