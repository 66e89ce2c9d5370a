// @ts-check
/**
 * Light or dark: the system's choice (`prefers-color-scheme`) until the
 * person picks one with the toggle; the pick is kept. The canvas keeps one
 * set of colours: in the light theme it is shown turned over (lightness
 * inverted, hues kept), the way the anchors show their dark mode.
 */

const KEY = "dreamloom:theme";
const LIGHT = "(prefers-color-scheme: light)";

/** @returns {"light" | "dark" | null} */
function chosen() {
  try {
    const v = localStorage.getItem(KEY);
    return v === "light" || v === "dark" ? v : null;
  } catch {
    return null;
  }
}

/** The theme shown now. @returns {"light" | "dark"} */
export function theme() {
  return chosen() ?? (matchMedia(LIGHT).matches ? "light" : "dark");
}

function apply() {
  document.documentElement.dataset.theme = theme();
  document.dispatchEvent(new Event("dreamloom:theme"));
}

/** Follow the system until the person chooses. */
export function initTheme() {
  apply();
  matchMedia(LIGHT).addEventListener("change", () => {
    if (!chosen()) apply();
  });
}

/** Switch to the other theme, and keep it. */
export function toggleTheme() {
  try {
    localStorage.setItem(KEY, theme() === "light" ? "dark" : "light");
  } catch {
    document.documentElement.dataset.theme = theme() === "light" ? "dark" : "light";
    return;
  }
  apply();
}
