// @ts-check
/**
 * Groups (SPEC M13): a fragment's `group` register names its group; a group
 * is the live fragments that name it. Selecting one member selects them all,
 * so every edit of the selection (move, resize, rotate, restyle, delete,
 * duplicate, copy) acts on the whole group. A double-click enters a group:
 * until the selection leaves it, a click picks one member.
 *
 * One level: grouping fragments that are already grouped puts them all in
 * the new group.
 */

import { setFields } from "../protocol/ops.js";

/** @typedef {import("./replica.js").Replica} Replica */
/** @typedef {import("./editor.js").Editor} Editor */

/** A fresh group id: unique without coordination. */
export function newGroupId() {
  const bytes = crypto.getRandomValues(new Uint8Array(10));
  return "g" + [...bytes].map((b) => b.toString(36).padStart(2, "0")).join("").slice(0, 16);
}

/**
 * `ids` and every live member of their groups (in paint order for the added ones).
 * @param {Replica} replica @param {Iterable<string>} ids @param {string | null} [entered] a group whose members are picked alone
 * @returns {string[]}
 */
export function expand(replica, ids, entered = null) {
  const out = new Set(ids);
  const groups = new Set();
  for (const id of out) {
    const g = replica.get(id)?.group;
    if (g && g !== entered) groups.add(g);
  }
  if (!groups.size) return [...out];
  for (const e of replica.ordered()) if (e.frag.group && groups.has(e.frag.group)) out.add(e.frag.id);
  return [...out];
}

/**
 * Put the fragments in one new group, as one undo step; returns the group id.
 * @param {Editor} editor @param {string[]} ids
 */
export function group(editor, ids) {
  const g = newGroupId();
  const live = ids.filter((id) => editor.replica.get(id));
  if (live.length < 2) return null;
  editor.commit("group", live.map((id) => setFields(id, editor.stamp(), { group: g })));
  return g;
}

/** Take the fragments out of their groups, as one undo step. @param {Editor} editor @param {string[]} ids */
export function ungroup(editor, ids) {
  const grouped = ids.filter((id) => editor.replica.get(id)?.group);
  editor.commit("ungroup", grouped.map((id) => setFields(id, editor.stamp(), { group: null })));
  return grouped.length;
}

/**
 * New group ids for copies of grouped fragments, so a duplicate or a paste of
 * a group is a group of its own. @param {(string | null | undefined)[]} groups
 * @returns {Map<string, string>}
 */
export function regroup(groups) {
  const out = new Map();
  for (const g of groups) if (g && !out.has(g)) out.set(g, newGroupId());
  return out;
}
