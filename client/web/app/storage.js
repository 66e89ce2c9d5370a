// @ts-check
/**
 * What survives a page reload: the display name, this tab's replica id, its
 * queue of unacknowledged ops, and the last known tapestry with its seq.
 *
 * Replica ids are per tab (two tabs sharing one would replace each other's
 * connection), so the id lives in sessionStorage and each replica holds a
 * lease in localStorage, refreshed while the tab is open and released on
 * pagehide. A new tab adopts the queue of a replica whose lease is stale, so
 * ops drawn offline in a closed tab are not lost either.
 */

const LEASE_MS = 6000;
const PREFIX = "dreamloom:";

/** @param {string} key */
function read(key) {
  try {
    const raw = localStorage.getItem(PREFIX + key);
    return raw === null ? null : JSON.parse(raw);
  } catch {
    return null;
  }
}

/** @param {string} key @param {any} value @returns {boolean} */
function write(key, value) {
  try {
    if (value === null) localStorage.removeItem(PREFIX + key);
    else localStorage.setItem(PREFIX + key, JSON.stringify(value));
    return true;
  } catch {
    return false; // quota or privacy mode: the cache is best effort
  }
}

export function getName() {
  const v = read("name");
  return typeof v === "string" && v.trim() ? v.trim() : null;
}

/** @param {string} name */
export function setName(name) {
  write("name", name);
}

/** The presence colour this person chose (or was first given): theirs in every sanctuary. */
export function getColour() {
  const v = read("colour");
  return typeof v === "string" && /^#[0-9a-f]{6}$/.test(v) ? v : null;
}

/** @param {string} colour */
export function setColour(colour) {
  write("colour", colour);
}

/** @param {string} sanctuary @returns {{x: number, y: number, zoom: number} | null} */
export function loadView(sanctuary) {
  const v = read(`view:${sanctuary}`);
  return v && [v.x, v.y, v.zoom].every(Number.isFinite) && v.zoom > 0 ? v : null;
}

/** @param {string} sanctuary @param {{x: number, y: number, zoom: number}} view */
export function saveView(sanctuary, view) {
  write(`view:${sanctuary}`, view);
}

/** A fresh random replica id. */
export function newReplicaId() {
  const bytes = crypto.getRandomValues(new Uint8Array(9));
  return "w" + [...bytes].map((b) => b.toString(36).padStart(2, "0")).join("").slice(0, 15);
}

/** @param {string} replica */
const leaseFresh = (replica) => {
  const t = read(`lease:${replica}`);
  return typeof t === "number" && t > 0 && Date.now() - t < LEASE_MS;
};

/**
 * The replica id of this tab for a sanctuary, holding a lease on it.
 * `renew()` gives the tab a new id (the server bound the old one to another
 * identity) and moves the lease to it.
 * @param {string} sanctuary
 */
export function claimReplica(sanctuary) {
  const sessionKey = `${PREFIX}replica:${sanctuary}`;
  let stored = sessionStorage.getItem(sessionKey);
  if (stored && leaseFresh(stored)) stored = null; // a duplicated tab: the original holds it
  /** @type {string} */
  let replica = stored || (orphanWithQueue(sanctuary) ?? newReplicaId());
  sessionStorage.setItem(sessionKey, replica);
  const lease = () => write(`lease:${replica}`, Date.now());
  lease();
  const timer = setInterval(lease, LEASE_MS / 3);
  addEventListener("pagehide", () => write(`lease:${replica}`, 0));
  addEventListener("pageshow", lease);
  return {
    get replica() {
      return replica;
    },
    renew() {
      write(`lease:${replica}`, 0);
      replica = newReplicaId();
      sessionStorage.setItem(sessionKey, replica);
      lease();
      return replica;
    },
    release() {
      clearInterval(timer);
      write(`lease:${replica}`, 0);
    },
  };
}

/** @param {string} sanctuary @returns {string | null} */
function orphanWithQueue(sanctuary) {
  const prefix = `${PREFIX}pending:${sanctuary}:`;
  for (let i = 0; i < localStorage.length; i++) {
    const key = localStorage.key(i);
    if (!key || !key.startsWith(prefix)) continue;
    const replica = key.slice(prefix.length);
    const q = read(`pending:${sanctuary}:${replica}`);
    if (q && Array.isArray(q.ops) && q.ops.length && !leaseFresh(replica)) return replica;
  }
  return null;
}

/**
 * @param {string} sanctuary @param {string} replica
 * @returns {{ops: any[], counter: number, identity: any} | null}
 */
export function loadQueue(sanctuary, replica) {
  return read(`pending:${sanctuary}:${replica}`);
}

/** @param {string} sanctuary @param {string} replica @param {{ops: any[], counter: number, identity: any} | null} q */
export function saveQueue(sanctuary, replica, q) {
  return write(`pending:${sanctuary}:${replica}`, q);
}

/** @param {string} sanctuary @returns {{seq: number, epoch?: string | null, data: any} | null} */
export function loadCache(sanctuary) {
  return read(`cache:${sanctuary}`);
}

/** @param {string} sanctuary @param {{seq: number, epoch: string | null, data: any} | null} c */
export function saveCache(sanctuary, c) {
  if (!write(`cache:${sanctuary}`, c)) write(`cache:${sanctuary}`, null);
}
