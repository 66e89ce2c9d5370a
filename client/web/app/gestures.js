// @ts-check
/**
 * Gestures others are making, seen live (SPEC W11 `live`): a move, a resize
 * or a restyle travels as presence while it happens; the op lands when it
 * ends. Until the op arrives, the fragment is shown as the gesture left it, so
 * it never jumps back between the end of the gesture and its op.
 */

import { rotated, scaled } from "./tools.js";

/** @typedef {import("../protocol/tapestry.js").Fragment} Fragment */
/** @typedef {{ids: string[], dx?: number, dy?: number, ax?: number, ay?: number, sx?: number, sy?: number, rot?: number, style?: Record<string, any>}} Live */

/** How long a finished gesture waits for its op before the fragment is shown as the tapestry has it. */
const LINGER_MS = 2000;

/**
 * A fragment as a gesture shows it: restyled, scaled and turned about a point, then moved.
 * @param {Fragment} f @param {Live} g @returns {Fragment}
 */
export function applyGesture(f, g) {
  let out = g.style ? { ...f, style: { ...f.style, ...g.style } } : f;
  if (typeof g.sx === "number" && typeof g.sy === "number") out = scaled(out, g.ax ?? 0, g.ay ?? 0, g.sx, g.sy);
  if (typeof g.rot === "number" && g.rot) out = rotated(out, g.ax ?? 0, g.ay ?? 0, g.rot);
  if (g.dx || g.dy) out = { ...out, x: out.x + (g.dx ?? 0), y: out.y + (g.dy ?? 0) };
  return out;
}

export class Gestures {
  /** @param {(id: string) => Fragment | null} get the fragment as the tapestry has it */
  constructor(get) {
    this.get = get;
    /** @type {Map<string, Live>} peer sid -> its gesture */
    this.bySid = new Map();
    /** @type {Map<string, {live: Live, until: number}>} fragment id -> a finished gesture awaiting its op */
    this.lingering = new Map();
    /**
     * Fragments whose op landed while the gesture that made it was still shown live: ops go out at
     * once, presence once a tick, so the op often comes first. Such a gesture must not linger when
     * it ends, or it would be applied a second time on top of where its op put the fragment.
     * @type {Set<string>}
     */
    this.landedLive = new Set();
  }

  /**
   * The peers' presence changed. @param {Iterable<{sid: string, live?: Live | null}>} peers
   * @returns {boolean} whether what is shown changed
   */
  update(peers) {
    const seen = new Set();
    let changed = false;
    for (const p of peers) {
      seen.add(p.sid);
      const now = p.live ?? null;
      const before = this.bySid.get(p.sid) ?? null;
      if (JSON.stringify(now) === JSON.stringify(before)) continue;
      changed = true;
      if (now) this.bySid.set(p.sid, now);
      else this.bySid.delete(p.sid);
      if (now && !before) for (const id of now.ids) this.landedLive.delete(id); // a new gesture
      if (before && !now) this.#linger(before);
    }
    for (const [sid, g] of this.bySid) {
      if (seen.has(sid)) continue;
      this.bySid.delete(sid); // the peer left
      for (const id of g.ids) this.landedLive.delete(id);
      changed = true;
    }
    return changed;
  }

  /** @param {Live} g */
  #linger(g) {
    const until = performance.now() + LINGER_MS;
    for (const id of g.ids) {
      if (this.landedLive.delete(id)) continue; // its op is in already
      this.lingering.set(id, { live: g, until });
    }
  }

  /** Ops changed these fragments: their finished gestures are written now. @param {Iterable<string>} ids */
  landed(ids) {
    for (const id of ids) {
      this.lingering.delete(id);
      for (const g of this.bySid.values()) if (g.ids.includes(id)) this.landedLive.add(id);
    }
  }

  /** Fragment id -> how others' gestures show it now. @returns {Map<string, Fragment>} */
  shown() {
    /** @type {Map<string, Fragment>} */
    const out = new Map();
    const now = performance.now();
    for (const [id, l] of this.lingering) {
      if (l.until < now) this.lingering.delete(id);
    }
    const all = [...[...this.lingering].map(([id, l]) => /** @type {[string, Live]} */ ([id, l.live]))];
    for (const g of this.bySid.values()) for (const id of g.ids) if (!this.landedLive.has(id)) all.push([id, g]);
    for (const [id, g] of all) {
      const f = this.get(id);
      if (f) out.set(id, applyGesture(f, g));
    }
    return out;
  }
}
