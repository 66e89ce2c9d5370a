// @ts-check
/**
 * The panels around the canvas: style, dream symbols, connection state,
 * Dream Diversity, the banner and toasts.
 */

import { DEFAULT_COLOR } from "./geometry.js";

/** @typedef {import("./render.js").Symbol} Symbol */

/** @param {string} id @returns {any} */
export const $ = (id) => /** @type {any} */ (document.getElementById(id));

export const SWATCHES = [
  "#ece8ff", "#c7b8ff", "#9ad0ff", "#5cd3ff", "#7be0a8", "#b5f07a",
  "#f4e06d", "#ffb35c", "#ff7a90", "#ff8fd8", "#8f9bff", "#1b1c33",
];

export class StylePanel extends EventTarget {
  constructor() {
    super();
    this.color = DEFAULT_COLOR;
    this.width = 3;
    this.opacity = 1;
    /** @type {"none" | "same" | "own"} no fill, the ink's colour, or a colour of its own */
    this.fill = "none";
    this.fillColor = "#2a2b44";
    /** Caption size in screen pixels (at 100% zoom, world units). */
    this.textSize = 24;
    /** @type {"left" | "center" | "right"} */
    this.textAlign = "left";
    /** @type {"" | "dashed" | "dotted"} a solid, dashed or dotted line */
    this.dash = "";
    const sw = $("swatches");
    for (const c of SWATCHES) {
      const b = document.createElement("button");
      b.style.background = c;
      b.title = c;
      b.dataset.color = c;
      b.addEventListener("click", () => this.setColor(c, true));
      sw.append(b);
    }
    $("color").addEventListener("input", (/** @type {any} */ e) => this.setColor(e.target.value, true, "color"));
    $("fill").addEventListener("change", (/** @type {any} */ e) => {
      this.fill = e.target.value;
      $("fill-color").hidden = this.fill !== "own";
      this.#changed({ fill: this.#fillValue() });
    });
    $("fill-color").addEventListener("input", (/** @type {any} */ e) => {
      this.fillColor = e.target.value;
      this.#changed({ fill: this.fillColor }, "fill");
    });
    $("dash").addEventListener("change", (/** @type {any} */ e) => {
      this.dash = e.target.value;
      this.#changed({ dash: this.dash || null });
    });
    for (const b of $("text-align").querySelectorAll("button")) {
      b.addEventListener("click", () => {
        this.textAlign = b.dataset.align;
        for (const o of $("text-align").querySelectorAll("button")) o.classList.toggle("on", o === b);
        this.dispatchEvent(new CustomEvent("text-align", { detail: this.textAlign }));
      });
    }
    $("text-size").addEventListener("change", (/** @type {any} */ e) => {
      this.textSize = Number(e.target.value);
      this.dispatchEvent(new CustomEvent("text-size", { detail: this.textSize }));
    });
    $("width").addEventListener("input", (/** @type {any} */ e) => {
      this.width = Number(e.target.value);
      $("width-out").textContent = String(this.width);
      this.#changed({ width: this.width }, "width");
    });
    $("opacity").addEventListener("input", (/** @type {any} */ e) => {
      this.opacity = Number(e.target.value) / 100;
      $("opacity-out").textContent = `${e.target.value}%`;
      this.#changed({ opacity: this.opacity }, "opacity");
    });
    // A slider or the colour picker sends a value per step while it moves: the
    // movement is shown live and written once, when the control settles.
    for (const id of ["color", "width", "opacity", "fill-color"]) $(id).addEventListener("change", () => this.dispatchEvent(new Event("settle")));
    this.setColor(this.color, false);
  }

  /** @param {string} c @param {boolean} apply @param {string} [group] */
  setColor(c, apply, group) {
    this.color = c;
    $("color").value = c.slice(0, 7);
    for (const b of $("swatches").children) b.classList.toggle("on", b.dataset.color === c);
    if (apply) this.#changed(this.fill === "same" ? { color: c, fill: c } : { color: c }, group);
  }

  /** Show a selected fragment's style in the controls. @param {Record<string, any>} s */
  show(s) {
    if (typeof s.color === "string") this.setColor(s.color.slice(0, 7), false);
    if (typeof s.width === "number") {
      this.width = s.width;
      $("width").value = String(s.width);
      $("width-out").textContent = String(s.width);
    }
    if (typeof s.opacity === "number") {
      this.opacity = s.opacity;
      $("opacity").value = String(Math.round(s.opacity * 100));
      $("opacity-out").textContent = `${Math.round(s.opacity * 100)}%`;
    }
    this.dash = s.dash === "dashed" || s.dash === "dotted" ? s.dash : "";
    $("dash").value = this.dash;
    const fill = typeof s.fill === "string" && s.fill !== "none" ? s.fill : null;
    this.fill = !fill ? "none" : fill === s.color ? "same" : "own";
    if (fill && this.fill === "own") this.fillColor = fill.slice(0, 7);
    $("fill").value = this.fill;
    $("fill-color").value = this.fillColor;
    $("fill-color").hidden = this.fill !== "own";
  }

  #fillValue() {
    return this.fill === "none" ? "none" : this.fill === "same" ? this.color : this.fillColor;
  }

  /**
   * @param {Record<string, any>} patch
   * @param {string} [group] a continuous control (a slider, the colour picker): shown live, written when it settles
   */
  #changed(patch, group) {
    this.dispatchEvent(new CustomEvent("change", { detail: { patch, group } }));
  }

  /** The style new fragments get. */
  current() {
    /** @type {Record<string, any>} */
    const s = { color: this.color, width: this.width };
    if (this.opacity < 1) s.opacity = this.opacity;
    if (this.fill !== "none") s.fill = this.#fillValue();
    if (this.dash) s.dash = this.dash;
    return s;
  }
}

/**
 * The palette of dream symbols, drawn from the catalogue's paths.
 * @param {Symbol[]} symbols @param {(name: string) => void} pick
 */
export function buildPalette(symbols, pick) {
  const grid = $("symbol-grid");
  grid.textContent = "";
  /** @type {Map<string, HTMLButtonElement>} */
  const buttons = new Map();
  for (const s of symbols) {
    const b = document.createElement("button");
    b.dataset.sym = s.name;
    b.title = `${s.label}: ${s.meaning ?? ""}`;
    const c = document.createElement("canvas");
    c.width = 72;
    c.height = 72;
    const ctx = /** @type {CanvasRenderingContext2D} */ (c.getContext("2d"));
    ctx.scale(0.6, 0.6);
    ctx.translate(10, 10);
    try {
      const p = new Path2D(s.path);
      ctx.strokeStyle = "#ece8ff";
      ctx.fillStyle = "#ece8ff";
      ctx.lineWidth = 5;
      ctx.lineCap = "round";
      ctx.lineJoin = "round";
      if (s.fill) ctx.fill(p, "evenodd");
      ctx.stroke(p);
    } catch {
      // unparsable: the label alone
    }
    const label = document.createElement("span");
    label.textContent = s.label;
    b.append(c, label);
    b.addEventListener("click", () => {
      for (const other of buttons.values()) other.classList.toggle("on", other === b);
      $("symbol-meaning").textContent = s.meaning ?? "";
      pick(s.name);
    });
    buttons.set(s.name, b);
    grid.append(b);
  }
  $("symbol-search").addEventListener("input", (/** @type {any} */ e) => {
    const q = e.target.value.trim().toLowerCase();
    for (const s of symbols) {
      const hay = [s.name, s.label, s.meaning ?? "", ...(s.keywords ?? [])].join(" ").toLowerCase();
      /** @type {HTMLButtonElement} */ (buttons.get(s.name)).hidden = !!q && !hay.includes(q);
    }
  });
  return buttons;
}

/**
 * The Dream Diversity meter; in history mode it shows the replayed state's share.
 * @param {{organic: number, ai: number}} counts @param {string} [when] what the figures are of
 */
export function renderDiversity(counts, when = "") {
  const total = counts.organic + counts.ai;
  const organic = total ? (100 * counts.organic) / total : 0;
  const ai = total ? 100 - organic : 0;
  const root = $("diversity");
  /** @type {HTMLElement} */ (root.querySelector(".organic")).style.width = `${organic}%`;
  /** @type {HTMLElement} */ (root.querySelector(".ai")).style.width = `${ai}%`;
  /** @type {HTMLElement} */ (root.querySelector(".figures")).textContent = total
    ? `${when}${Math.round(organic)}% organic · ${Math.round(ai)}% AI`
    : `${when}empty`;
  root.title = `Dream Diversity${when ? ` ${when.replace(/: $/, "")}` : ""}: ${Math.round(organic)}% organic, ${Math.round(ai)}% AI of ${total} live fragments`;
}

/** @param {string} status @param {string} detail @param {number} pending */
export function renderStatus(status, detail, pending) {
  const el = $("status");
  el.className = `status ${status}`;
  el.dataset.state = status;
  const labels = /** @type {Record<string, string>} */ ({ live: "live", connecting: "connecting", offline: "offline", closed: "disconnected", history: "history" });
  /** @type {HTMLElement} */ (el.querySelector("b")).textContent = labels[status] ?? status;
  const parts = [];
  if (status !== "live" && detail) parts.push(detail);
  el.title = [labels[status] ?? status, ...parts].join(" · ");
  if (pending) parts.push(`${pending} edit${pending === 1 ? "" : "s"} to sync`);
  /** @type {HTMLElement} */ (el.querySelector("small")).textContent = parts.join(" · ");
}

/**
 * The lasting banner: following someone, a locked canvas, a mute. Null hides it.
 * @param {{text: string, kind: string, action?: {label: string, run: () => void}} | null} b
 */
export function renderBanner(b) {
  const el = $("banner");
  el.hidden = !b;
  if (!b) return;
  el.className = `banner ${b.kind}`;
  el.dataset.kind = b.kind;
  el.textContent = "";
  const text = document.createElement("span");
  text.textContent = b.text;
  el.append(text);
  if (b.action) {
    const button = document.createElement("button");
    button.textContent = b.action.label;
    button.addEventListener("click", b.action.run);
    el.append(button);
  }
}

/** @param {string} text */
export function toast(text) {
  const box = $("toasts");
  const div = document.createElement("div");
  div.textContent = text;
  box.append(div);
  while (box.children.length > 4) box.firstChild.remove();
  setTimeout(() => div.remove(), 6000);
}
