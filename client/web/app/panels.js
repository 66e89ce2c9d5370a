// @ts-check
/**
 * The panels around the canvas, on a laptop and on a phone.
 *
 * On a wide screen the style panel and the view bar stay open (the style
 * panel folds to its title), the symbol palette opens with the symbol tool,
 * and the share panel and the steward panel open from the top bar; these
 * three share the right-hand side, one at a time.
 *
 * On a phone (up to 640 px wide) every panel is a sheet above the dock, and
 * at most one sheet is open: opening one closes the others, so they never
 * cover each other, and a touch on the canvas closes them. The rule holds for
 * panels other modules open too (the steward panel), because it watches the
 * `hidden` attribute of every `.panel`.
 */

export const PHONE = "(max-width: 640px)";
/** Panels that are always open on a wide screen. */
const DOCKED = ["style-panel", "view-panel"];
/** Panels that share the right-hand side of a wide screen. */
const RIGHT = ["symbols", "people-panel", "steward-panel"];

export class Panels extends EventTarget {
  /** @param {Document} doc */
  constructor(doc = document) {
    super();
    this.doc = doc;
    this.media = matchMedia(PHONE);
    this.phone = this.media.matches;
    this.#layout();
    this.media.addEventListener("change", () => {
      this.phone = this.media.matches;
      this.#layout();
    });
    // Whoever shows a panel (a button here, the symbol tool, the steward module),
    // on a phone it is the only sheet open.
    new MutationObserver((records) => {
      for (const r of records) {
        const el = /** @type {HTMLElement} */ (r.target);
        if (!el.classList?.contains("panel")) continue;
        if (!el.hidden) this.#shown(el);
        else this.dispatchEvent(new CustomEvent("closed", { detail: el.id }));
      }
      this.#syncDock();
    }).observe(doc.body, { attributes: true, attributeFilter: ["hidden"], subtree: true });
    for (const b of doc.querySelectorAll("[data-open]")) {
      b.addEventListener("click", () => this.toggle(/** @type {string} */ (/** @type {HTMLElement} */ (b).dataset.open)));
    }
    for (const b of doc.querySelectorAll("[data-close]")) {
      b.addEventListener("click", () => this.close(/** @type {string} */ (/** @type {HTMLElement} */ (b).dataset.close)));
    }
    for (const b of doc.querySelectorAll("[data-fold]")) {
      b.addEventListener("click", () => this.fold(/** @type {string} */ (/** @type {HTMLElement} */ (b).dataset.fold)));
    }
  }

  /** @param {string} id */
  #el(id) {
    return /** @type {HTMLElement | null} */ (this.doc.getElementById(id));
  }

  /** Whether a panel is open (shown and, on a wide screen, not folded). @param {string} id */
  isOpen(id) {
    const el = this.#el(id);
    return !!el && !el.hidden;
  }

  /** @param {string} id */
  open(id) {
    const el = this.#el(id);
    if (el) el.hidden = false;
  }

  /** @param {string} id */
  close(id) {
    const el = this.#el(id);
    if (!el) return;
    // On a wide screen the docked panels do not close; they fold.
    if (!this.phone && DOCKED.includes(id)) return this.fold(id, true);
    el.hidden = true;
  }

  /** @param {string} id */
  toggle(id) {
    if (this.isOpen(id)) this.close(id);
    else this.open(id);
  }

  /** Fold a wide-screen panel to its title (or unfold it). @param {string} id @param {boolean} [folded] */
  fold(id, folded) {
    const el = this.#el(id);
    if (!el || this.phone) return;
    const now = el.classList.toggle("folded", folded);
    el.querySelector("[data-fold]")?.setAttribute("aria-expanded", String(!now));
  }

  /** Close every sheet (a touch on the canvas, on a phone). */
  closeSheets() {
    if (!this.phone) return;
    for (const el of this.doc.querySelectorAll(".panel")) {
      if (!(/** @type {HTMLElement} */ (el).hidden)) this.close(el.id);
    }
  }

  /** @param {HTMLElement} shown */
  #shown(shown) {
    if (!this.phone && !RIGHT.includes(shown.id)) return;
    for (const el of this.doc.querySelectorAll(".panel")) {
      if (el === shown || (/** @type {HTMLElement} */ (el).hidden)) continue;
      if (this.phone || RIGHT.includes(el.id)) this.close(el.id);
    }
  }

  #layout() {
    this.doc.body.classList.toggle("phone", this.phone);
    for (const id of DOCKED) {
      const el = this.#el(id);
      if (!el) continue;
      el.hidden = this.phone;
      el.classList.remove("folded");
    }
    if (this.phone) for (const el of this.doc.querySelectorAll(".panel")) /** @type {HTMLElement} */ (el).hidden = true;
    this.#syncDock();
    this.dispatchEvent(new Event("layout"));
  }

  #syncDock() {
    for (const b of this.doc.querySelectorAll("[data-open]")) {
      const id = /** @type {string} */ (/** @type {HTMLElement} */ (b).dataset.open);
      b.setAttribute("aria-expanded", String(this.isOpen(id)));
    }
  }
}
