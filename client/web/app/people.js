// @ts-check
/**
 * Who is here: the avatar stack in the top bar (a few faces, then "+N"), and
 * the share panel with the link and everyone's row (follow, badges, your own
 * colour to choose). The top bar keeps its width however many people come:
 * the stack shows at most `MAX_FACES` faces (fewer on a phone).
 */

import { inkOn, PALETTE } from "./colours.js";
import { $ } from "./ui.js";

/** @typedef {import("./sync.js").Peer} Peer */
/** @typedef {{peers: Map<string, Peer>, peerCount?: number, name: string, colour: string, following: string | null}} Here */

export const MAX_FACES = 5;
export const MAX_FACES_PHONE = 2;
/** People listed by name in the share panel; the rest of a crowded room is a count. */
export const PEOPLE_SHOWN = 64;

/** How many others are here: a crowded room's welcome lists a page of them and counts the rest (W23). @param {Here} here */
const othersHere = (here) => Math.max(here.peerCount ?? 0, here.peers.size);

/** @param {Peer} p */
const isWeaver = (p) => p.origin === "ai" || p.role === "weaver";
/** @param {string} name */
const initial = (name) => ([...(name || "?").trim()][0] ?? "?").toUpperCase();

/**
 * How the stack shows `n` peers when `max` faces fit: the faces, then the rest as "+N".
 * @param {number} n @param {number} max
 */
export function stackOf(n, max) {
  const faces = n <= max ? n : Math.max(0, max - 1);
  return { faces, more: n - faces };
}

export class People extends EventTarget {
  /** @param {{phone: () => boolean}} opts */
  constructor(opts) {
    super();
    this.phone = opts.phone;
    this.picking = false;
    /** @type {Here | null} */
    this.here = null;
    $("copy-link").addEventListener("click", () => this.#copy());
  }

  /** Draw the stack and the list. @param {Here} here */
  render(here) {
    this.here = here;
    this.#stack(here);
    this.#list(here);
  }

  /** @param {Here} here */
  #stack(here) {
    const box = $("avatars");
    box.textContent = "";
    box.append(this.#face({ name: here.name, color: here.colour, me: true }));
    const peers = [...here.peers.values()];
    const { faces, more } = stackOf(othersHere(here), (this.phone() ? MAX_FACES_PHONE : MAX_FACES) - 1);
    for (const p of peers.slice(0, faces)) {
      const b = this.#face({ name: p.name, color: p.color, weaver: isWeaver(p), following: here.following === p.sid });
      b.dataset.sid = p.sid;
      b.title = isWeaver(p) ? `${p.name}: a weaver (AI). Click to follow its view.` : `${p.name}: click to follow their view`;
      b.addEventListener("click", () => this.#emit("follow", p.sid));
      box.append(b);
    }
    if (more) {
      const b = document.createElement("button");
      b.className = "avatar more";
      b.id = "people-more";
      b.textContent = `+${more}`;
      b.title = `${more} more here: show everyone`;
      b.addEventListener("click", () => this.#emit("open"));
      box.append(b);
    }
    box.setAttribute("aria-label", `${othersHere(here) + 1} here`);
  }

  /** @param {{name: string, color: string, me?: boolean, weaver?: boolean, following?: boolean}} f */
  #face(f) {
    const b = document.createElement("button");
    b.className = `avatar${f.me ? " me" : ""}${f.weaver ? " weaver" : ""}${f.following ? " following" : ""}`;
    b.style.background = f.color;
    b.style.color = inkOn(f.color);
    b.textContent = f.weaver ? "AI" : initial(f.name);
    if (f.me) {
      b.title = `${f.name} (you): choose your colour`;
      b.addEventListener("click", () => {
        this.picking = true;
        if (this.here) this.#list(this.here);
        this.#emit("open");
      });
    }
    return b;
  }

  /** @param {Here} here */
  #list(here) {
    const ul = $("people");
    ul.textContent = "";
    const n = othersHere(here) + 1;
    $("people-count").textContent = `${n} here now`;
    const me = document.createElement("li");
    me.className = "me human";
    const pick = document.createElement("button");
    pick.className = "dot pick";
    pick.id = "colour-button";
    pick.style.background = here.colour;
    pick.style.color = inkOn(here.colour);
    pick.textContent = initial(here.name);
    pick.title = "Your colour: click to choose another";
    pick.setAttribute("aria-expanded", String(this.picking));
    pick.addEventListener("click", () => {
      this.picking = !this.picking;
      this.#list(here);
    });
    const who = document.createElement("span");
    who.className = "who";
    who.textContent = `${here.name} (you)`;
    me.append(pick, who);
    ul.append(me);
    if (this.picking) ul.append(this.#picker(here));
    let listed = 0;
    for (const p of here.peers.values()) {
      if (listed++ >= PEOPLE_SHOWN) break; // a crowded room lists its first few and counts the rest
      const li = document.createElement("li");
      const weaver = isWeaver(p);
      li.className = `${weaver ? "weaver" : "human"}${here.following === p.sid ? " following" : ""}`;
      li.dataset.sid = p.sid;
      li.style.color = p.color;
      li.title = weaver ? `${p.name}: a weaver (AI). Click to follow its view.` : `${p.name}: click to follow their view`;
      const dot = document.createElement("span");
      dot.className = "dot";
      dot.style.background = p.color;
      dot.style.color = inkOn(p.color);
      dot.textContent = weaver ? "AI" : initial(p.name);
      const name = document.createElement("span");
      name.className = "who";
      name.textContent = p.name || "dreamer";
      const badge = document.createElement("span");
      badge.className = "badge";
      badge.textContent = weaver ? "weaver" : p.role === "steward" ? "steward" : "dreamer";
      li.append(dot, name, badge);
      li.addEventListener("click", () => this.#emit("follow", p.sid));
      ul.append(li);
    }
    const rest = othersHere(here) - Math.min(here.peers.size, PEOPLE_SHOWN);
    if (rest > 0) {
      const more = document.createElement("li");
      more.className = "more";
      more.textContent = `and ${rest} more`;
      ul.append(more);
    }
  }

  /** The palette, with the colours others hold turned off. @param {Here} here */
  #picker(here) {
    const holders = new Map([...here.peers.values()].map((p) => [p.color, p.name || "someone"]));
    const li = document.createElement("li");
    li.className = "colour-picker";
    li.id = "colour-picker";
    for (const c of PALETTE) {
      const b = document.createElement("button");
      b.style.background = c;
      b.dataset.colour = c;
      b.classList.toggle("on", c === here.colour);
      const holder = holders.get(c);
      b.disabled = holder !== undefined;
      b.title = holder !== undefined ? `${c}: ${holder}'s colour` : c;
      b.addEventListener("click", (e) => {
        e.stopPropagation();
        this.picking = false;
        this.#emit("colour", c);
      });
      li.append(b);
    }
    return li;
  }

  async #copy() {
    const field = /** @type {HTMLInputElement} */ ($("share-link"));
    try {
      await navigator.clipboard.writeText(field.value);
      $("copy-link").textContent = "Copied ✓";
    } catch {
      // No clipboard permission (an insecure origin): leave the link selected to copy by hand.
      field.select();
      $("copy-link").textContent = "Press Ctrl+C";
    }
    setTimeout(() => ($("copy-link").textContent = "Copy link"), 2000);
  }

  /** @param {string} type @param {any} [detail] */
  #emit(type, detail) {
    this.dispatchEvent(new CustomEvent(type, { detail }));
  }
}
