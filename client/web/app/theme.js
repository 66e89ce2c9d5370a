// @ts-check
/**
 * Light or dark: the system's choice (`prefers-color-scheme`) until the
 * person picks one with the toggle; the pick is kept. The tapestry keeps one
 * set of colours: in the light theme the renderer draws each one turned over
 * (`turnOver`: lightness inverted, hue kept), the way the anchors show their
 * dark mode, colour by colour rather than with a filter over the whole
 * canvas (which costs a full-screen pass per frame without a GPU).
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

/** The CSS filter `invert(1) hue-rotate(180deg)` as a matrix on the inverted colour (Filter Effects, feColorMatrix). */
const TURN = [
  [-0.574, 1.43, 0.144],
  [0.426, 0.43, 0.144],
  [0.426, 1.43, -0.856],
];

/**
 * A `#rrggbb[aa]` colour as the light theme shows it: what `invert(1)
 * hue-rotate(180deg)` makes of it (the alpha kept). Anything else unchanged.
 * @param {string} c @returns {string}
 */
export function turnOver(c) {
  if (!/^#[0-9a-fA-F]{6}([0-9a-fA-F]{2})?$/.test(c)) return c;
  const inv = [1, 3, 5].map((i) => 1 - parseInt(c.slice(i, i + 2), 16) / 255);
  const out = TURN.map((row) => Math.round(255 * Math.max(0, Math.min(1, row[0] * inv[0] + row[1] * inv[1] + row[2] * inv[2]))));
  return "#" + out.map((v) => v.toString(16).padStart(2, "0")).join("") + c.slice(7);
}
