// @ts-check
/**
 * Arrows that stay attached to shapes (SPEC M14), on the screen.
 *
 * The replica keeps every bound line and arrow resolved (its entry's fragment
 * is drawn through its attached ends, `protocol/bindings.js`); here are the
 * pieces around it: following targets that are being dragged (ours and
 * others', through presence) before any op lands, finding what an end drawn
 * over a shape binds to, and what an edit of a bound arrow writes.
 */

import { isBound, isConnector, resolve, storedEnds } from "../protocol/bindings.js";

/** @typedef {import("../protocol/tapestry.js").Fragment} Fragment */
/** @typedef {import("./replica.js").Replica} Replica */
/** @typedef {import("./replica.js").Entry} Entry */

/**
 * How a bound line or arrow is shown while fragments are previewed (moved,
 * resized or rotated, by us or by others): re-resolved against the previews.
 * Null when the entry is shown as it is (or as its own preview says).
 * @param {Replica} replica @param {Entry} entry @param {Map<string, Fragment>} overrides @param {Map<string, Fragment>} remote
 * @returns {Fragment | null}
 */
export function following(replica, entry, overrides, remote) {
  const id = entry.frag.id;
  const own = overrides.get(id) ?? remote.get(id);
  const f = own ?? entry.frag;
  if (!isBound(f)) return own ?? null;
  const previewed = (/** @type {string | null | undefined} */ t) => !!t && (overrides.has(t) || remote.has(t));
  if (!own && !previewed(f.start) && !previewed(f.end)) return null;
  const lookup = (/** @type {string} */ t) => overrides.get(t) ?? remote.get(t) ?? replica.tapestry.get(t);
  if (!own) return resolve(replica.tapestry.get(id) ?? f, lookup);
  // The arrow itself is previewed (from its drawn geometry): it stays attached only to targets that
  // move with it; an arrow moved alone lets go on release, so it is shown loose already.
  const keep = (/** @type {string | null | undefined} */ t) => (previewed(t) ? t : null);
  const base = { ...own, start: keep(own.start), end: keep(own.end) };
  return isBound(base) ? resolve(base, lookup) : base;
}

/**
 * The fragment an end drawn at a world point binds to: the top-most visible
 * fragment whose bounds hold the point, not a line or an arrow.
 * @param {Replica} replica @param {number} wx @param {number} wy @param {(f: Fragment) => boolean} [visible]
 * @returns {Fragment | null}
 */
export function targetAt(replica, wx, wy, visible = () => true) {
  const order = replica.ordered();
  for (let i = order.length - 1; i >= 0; i--) {
    const e = order[i];
    const b = e.box;
    if (!b || wx < b.x0 || wx > b.x1 || wy < b.y0 || wy > b.y1) continue;
    if (!isConnector(e.frag) && visible(e.frag)) return e.frag;
  }
  return null;
}

/**
 * What an edit of a bound line or arrow writes besides its own change: its
 * drawn geometry becomes what it stores (so it stays where it was seen if a
 * target goes), and an end whose target does not move along lets go.
 * @param {Fragment} f the fragment as shown (resolved) @param {Set<string>} moving the fragments edited together
 * @returns {Record<string, any>}
 */
export function loosen(f, moving) {
  if (!isBound(f)) return {};
  /** @type {Record<string, any>} */
  const out = { geom: f.geom };
  if (f.start && !moving.has(f.start)) out.start = null;
  if (f.end && !moving.has(f.end)) out.end = null;
  return out;
}

/** The ends of a line or an arrow as shown (a shown bound line has its ends placed, no rot). @param {Fragment} f */
export const endsOf = (f) => storedEnds(f);

/**
 * A line or an arrow with one end dragged to (x, y) and bound to `target`
 * (or loose): its geometry goes through its shown ends, the other end keeps
 * its binding. Returns the fields to write and the fragment to show.
 * @param {Fragment} f as shown @param {0 | 1} which @param {number} x @param {number} y @param {string | null} target
 * @returns {{fields: Record<string, any>, shown: Fragment}}
 */
export function moveEnd(f, which, x, y, target) {
  const [[x1, y1], [x2, y2]] = storedEnds(f);
  const [sx, sy, ex, ey] = which === 0 ? [x, y, x2, y2] : [x1, y1, x, y];
  /** @type {Record<string, any>} */
  const geom = { ...f.geom, w: ex - sx, h: ey - sy };
  delete geom.rot;
  const name = which === 0 ? "start" : "end";
  const fields = { x: sx, y: sy, geom, [name]: target };
  return { fields, shown: { ...f, ...fields } };
}
