// @ts-check
/**
 * Copy and paste through the system clipboard, within and across sanctuaries:
 * the fragments travel as Dreamloom JSON (`application/x-dreamloom+json`, and
 * as plain text so another browser window or app can carry it), with an SVG
 * picture beside it for apps that do not know Dreamloom. Pasting makes new
 * fragments (new ids, on top, authored by whoever pastes), centred where the
 * pointer is; plain text that is not Dreamloom JSON becomes a caption.
 */

import { canon } from "../protocol/canon.js";
import { checkOp } from "../protocol/validate.js";
import { union, worldBox } from "./geometry.js";

/** @typedef {import("../protocol/tapestry.js").Fragment} Fragment */
/** @typedef {{kind: string, x: number, y: number, geom: Record<string, any>, style: Record<string, any>, inspired_by: string[], remixable: boolean, group?: string | null}} Piece */

export const MIME = "application/x-dreamloom+json";
const FORMAT = "dreamloom/fragments";
/** At most this many fragments travel in one paste. */
export const MAX_PIECES = 1000;

/** The clipboard text of fragments. @param {Fragment[]} frags @returns {string} */
export function encodePieces(frags) {
  const pieces = frags.slice(0, MAX_PIECES).map((f) => canon({
    kind: f.kind, x: f.x, y: f.y, geom: f.geom, style: f.style, inspired_by: f.inspired_by, remixable: f.remixable, ...(f.group ? { group: f.group } : {}),
  }));
  return JSON.stringify({ format: FORMAT, v: 1, fragments: pieces });
}

/**
 * The fragments in clipboard text, checked as any op from the network is;
 * null when the text is not Dreamloom's.
 * @param {string} text @returns {Piece[] | null}
 */
export function decodePieces(text) {
  let doc;
  try {
    doc = JSON.parse(text);
  } catch {
    return null;
  }
  if (!doc || doc.format !== FORMAT || !Array.isArray(doc.fragments)) return null;
  /** @type {Piece[]} */
  const out = [];
  for (const raw of doc.fragments.slice(0, MAX_PIECES)) {
    try {
      // Checked as a create from the network would be: clipboard text is anyone's.
      const { kind, x, y, geom, style, inspired_by, remixable, group } = raw ?? {};
      const op = checkOp({ t: "c", id: "paste", s: [1, "paste"], f: { kind, x: x ?? 0, y: y ?? 0, geom, style: style ?? {}, z: "V", inspired_by: inspired_by ?? [], remixable: remixable ?? false, ...(group ? { group } : {}) } });
      const f = op.f;
      out.push({ kind: f.kind, x: f.x, y: f.y, geom: f.geom, style: f.style, inspired_by: f.inspired_by, remixable: f.remixable, ...(f.group ? { group: f.group } : {}) });
    } catch {
      // one bad piece does not spoil the rest
    }
  }
  return out;
}

/**
 * The pieces moved so that the centre of their bounds is at (cx, cy).
 * @param {Piece[]} pieces @param {number} cx @param {number} cy @returns {Piece[]}
 */
export function placePieces(pieces, cx, cy) {
  const box = union(pieces.map((p) => worldBox(/** @type {any} */ ({ ...p, id: "", z: "V", author: "", origin: "organic", deleted: false }))).filter((b) => !!b).map((b) => /** @type {any} */ (b)));
  if (!box) return pieces;
  const dx = cx - (box.x0 + box.x1) / 2;
  const dy = cy - (box.y0 + box.y1) / 2;
  return pieces.map((p) => ({ ...p, x: p.x + dx, y: p.y + dy }));
}
