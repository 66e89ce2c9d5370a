// @ts-check
/**
 * Which keys are the app's shortcuts and which belong to the focused control.
 *
 * Shortcuts stop only in text fields, where every key is typing. A slider, a
 * checkbox, a colour input or a button keeps the few keys it acts on itself
 * (a slider its arrows, a checkbox its space bar); every other key, and
 * Ctrl/⌘ chords such as undo, is still a shortcut while it has focus.
 */

/** @typedef {{tagName?: string, type?: string, isContentEditable?: boolean}} Focused */
/** @typedef {{key: string, ctrlKey?: boolean, metaKey?: boolean, altKey?: boolean}} Key */

/** Input types that take typed text (and `number`, whose keys edit the value). */
const TEXT_TYPES = new Set(["", "text", "search", "email", "url", "tel", "password", "number", "date", "time", "datetime-local", "month", "week"]);
const ARROWS = ["ArrowLeft", "ArrowRight", "ArrowUp", "ArrowDown"];
/** Keys each kind of control acts on itself. */
const OWN = {
  range: new Set([...ARROWS, "Home", "End", "PageUp", "PageDown"]),
  toggle: new Set([" ", "Enter"]),
  select: new Set([...ARROWS, " ", "Enter", "Home", "End", "PageUp", "PageDown"]),
};

/** Whether `el` takes typed text: no shortcut may fire there. @param {Focused | null | undefined} el */
export function isTextField(el) {
  if (!el) return false;
  if (el.isContentEditable) return true;
  const tag = (el.tagName ?? "").toUpperCase();
  if (tag === "TEXTAREA") return true;
  return tag === "INPUT" && TEXT_TYPES.has((el.type ?? "").toLowerCase());
}

/**
 * Whether a key press is the app's shortcut rather than the focused control's.
 * @param {Focused | null | undefined} el the focused element @param {Key} e
 */
export function isShortcut(el, e) {
  if (e.key === "Tab" || isTextField(el)) return false;
  if (!el) return true;
  const tag = (el.tagName ?? "").toUpperCase();
  const type = (el.type ?? "").toLowerCase();
  /** @type {Set<string> | null} */
  let own = null;
  if (tag === "SELECT") own = OWN.select;
  else if (tag === "INPUT" && type === "range") own = OWN.range;
  else if (tag === "BUTTON" || (tag === "INPUT" && ["checkbox", "radio", "color", "button", "submit", "reset", "file"].includes(type)))
    own = OWN.toggle;
  if (!own || e.ctrlKey || e.metaKey || e.altKey) return true;
  return !own.has(e.key);
}
