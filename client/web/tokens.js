// @ts-check
/**
 * Access tokens in the browser: no side effects on import (SPEC P2, P3, P14).
 *
 * A link may carry `?token=...` (an invite, or the steward link the server
 * prints): `captureToken()`, called by each page at start, takes it out of the
 * address bar (history.replaceState, so it is neither in the history nor in a
 * bookmark) and keeps it in localStorage under its sanctuary scope until it
 * expires. A visitor without one gets a guest token from the server
 * (`welcome.token`): one per server origin, kept apart from the others
 * (`keepGuestToken`), so a reload or a restart of the server is the same
 * person. `tokenFor(sanctuary)` gives the token to send in `hello`: one scoped
 * to the sanctuary (an invite), else one for every sanctuary, else the guest
 * token; `authHeaders` the same for the HTTP API.
 */

const PREFIX = "dreamloom:token:";
const GUEST_KEY = "dreamloom:guest";

/** @param {string} token @returns {{sub: string, name: string, role: string, snc: string, exp: number, jti: string} | null} */
export function claimsOf(token) {
  try {
    const part = token.split(".")[1].replace(/-/g, "+").replace(/_/g, "/");
    const json = decodeURIComponent(
      [...atob(part + "===".slice((part.length + 3) % 4))].map((c) => "%" + c.charCodeAt(0).toString(16).padStart(2, "0")).join(""),
    );
    const claims = JSON.parse(json);
    return typeof claims === "object" && claims && typeof claims.snc === "string" ? claims : null;
  } catch {
    return null;
  }
}

/** Take `?token=` out of the address bar and keep it. Returns the token, if there was one. */
export function captureToken() {
  const url = new URL(location.href);
  const token = url.searchParams.get("token");
  if (!token) return null;
  url.searchParams.delete("token");
  history.replaceState(history.state, "", url.pathname + (url.search === "?" ? "" : url.search) + url.hash);
  return keepToken(token);
}

/**
 * Keep a token from a link for the sanctuaries it covers (guest tokens have their own place:
 * `keepGuestToken`).
 * @param {string} token
 */
export function keepToken(token) {
  const claims = claimsOf(token);
  if (!claims) return null;
  try {
    localStorage.setItem(PREFIX + claims.snc, token);
  } catch {
    // private mode: the token still serves this page
  }
  memory.set(claims.snc, token);
  return token;
}

/** @type {Map<string, string>} */
const memory = new Map();

/** @param {string} scope */
function stored(scope) {
  let token = memory.get(scope) ?? null;
  if (!token) {
    try {
      token = localStorage.getItem(PREFIX + scope);
    } catch {
      token = null;
    }
  }
  if (!token) return null;
  const claims = claimsOf(token);
  if (!claims || claims.exp * 1000 <= Date.now()) {
    try {
      localStorage.removeItem(PREFIX + scope);
    } catch {
      // nothing to clean
    }
    memory.delete(scope);
    return null;
  }
  return token;
}

/** A token given by a link (never a guest's): scoped to the sanctuary, else to every one. @param {string} sanctuary */
export function givenTokenFor(sanctuary) {
  return stored(sanctuary) ?? stored("*");
}

/** The token to present in a sanctuary: a given one, else the guest token. @param {string} sanctuary */
export function tokenFor(sanctuary) {
  return givenTokenFor(sanctuary) ?? guestToken();
}

/**
 * Headers for the HTTP API: every route applies the same access rule as the hello (SPEC P14),
 * so reads of an invite-only sanctuary carry the token this browser holds for it.
 * @param {string} sanctuary a sanctuary id, or "*" for the landing list
 * @returns {Record<string, string>}
 */
export function authHeaders(sanctuary) {
  const token = tokenFor(sanctuary);
  return token ? { Authorization: `Bearer ${token}` } : {};
}

/** The guest token the server issued this browser, unless it has expired. @returns {string | null} */
export function guestToken() {
  let token = memory.get(GUEST_KEY) ?? null;
  if (!token) {
    try {
      token = localStorage.getItem(GUEST_KEY);
    } catch {
      token = null;
    }
  }
  if (!token) return null;
  const claims = claimsOf(token);
  if (!claims || claims.exp * 1000 <= Date.now()) {
    forgetGuestToken();
    return null;
  }
  return token;
}

/** Keep the guest token of `welcome.token` for every later hello. @param {string} token */
export function keepGuestToken(token) {
  memory.set(GUEST_KEY, token);
  try {
    localStorage.setItem(GUEST_KEY, token);
  } catch {
    // private mode: the token still serves this page
  }
}

/** Forget the guest token (the server no longer accepts it). */
export function forgetGuestToken() {
  memory.delete(GUEST_KEY);
  try {
    localStorage.removeItem(GUEST_KEY);
  } catch {
    // nothing to clean
  }
}
