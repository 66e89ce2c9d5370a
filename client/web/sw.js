// The offline shell: the sanctuary page and its modules, so a page reloaded
// without network still opens, shows the last known tapestry and keeps the
// queue of edits made offline (they sync once the network is back).
//
// Network first, cache as fallback: online, every load revalidates with the
// server (ETag) exactly as without this worker. WebSockets and the HTTP API
// (except the symbol catalogue) are never cached.

const CACHE = "dreamloom-shell-v6";
const SHELL = [
  "/static/style.css",
  "/static/favicon.svg",
  "/static/landing.js",
  "/static/steward.js",
  "/static/tokens.js",
  "/static/steward.css",
  "/static/app/main.js",
  "/static/app/attach.js",
  "/static/app/clipboard.js",
  "/static/app/colours.js",
  "/static/app/editor.js",
  "/static/app/exporter.js",
  "/static/app/geometry.js",
  "/static/app/groups.js",
  "/static/app/gestures.js",
  "/static/app/keys.js",
  "/static/app/panels.js",
  "/static/app/people.js",
  "/static/app/pressure.js",
  "/static/app/render.js",
  "/static/app/replay.js",
  "/static/app/replica.js",
  "/static/app/snap.js",
  "/static/app/storage.js",
  "/static/app/svg.js",
  "/static/app/theme.js",
  "/static/app/timelapse.js",
  "/static/app/sync.js",
  "/static/app/tools.js",
  "/static/app/ui.js",
  "/static/app/view.js",
  "/static/app/welcome_load.js",
  "/static/protocol/bindings.js",
  "/static/protocol/canon.js",
  "/static/protocol/connection.js",
  "/static/protocol/digest.js",
  "/static/protocol/ops.js",
  "/static/protocol/outline.js",
  "/static/protocol/stamps.js",
  "/static/protocol/tapestry.js",
  "/static/protocol/undo.js",
  "/static/protocol/validate.js",
  "/static/protocol/zorder.js",
  "/api/symbols",
];
const PAGE = "/s/";
const LANDING = "/";

/** This script's global scope: a service worker's (for the type checker; nothing changes at run time). */
const worker = /** @type {ServiceWorkerGlobalScope} */ (/** @type {unknown} */ (self));

worker.addEventListener("install", (event) => {
  event.waitUntil(
    (async () => {
      const cache = await caches.open(CACHE);
      // One by one: a file missing from a release must not cost the whole shell.
      await Promise.allSettled(SHELL.map((url) => cache.add(url)));
      // Any /s/<name> answers with the same page: keep one copy under /s/.
      const page = await fetch("/s/offline");
      if (page.ok) await cache.put(PAGE, page);
      const landing = await fetch(LANDING);
      if (landing.ok) await cache.put(LANDING, landing);
      await worker.skipWaiting();
    })(),
  );
});

worker.addEventListener("activate", (event) => {
  event.waitUntil(
    (async () => {
      for (const key of await caches.keys()) if (key !== CACHE) await caches.delete(key);
      await worker.clients.claim();
    })(),
  );
});

/** The cache key of a request we keep, or null for one we leave alone. @param {URL} url */
function keyOf(url) {
  if (url.origin !== worker.location.origin) return null;
  if (url.pathname.startsWith("/s/")) return PAGE;
  if (url.pathname === "/") return LANDING;
  if (url.pathname.startsWith("/static/") || url.pathname === "/api/symbols") return url.pathname;
  return null;
}

worker.addEventListener("fetch", (event) => {
  const req = event.request;
  if (req.method !== "GET") return;
  const key = keyOf(new URL(req.url));
  if (key === null) return;
  event.respondWith(
    (async () => {
      const cache = await caches.open(CACHE);
      try {
        const res = await fetch(req);
        if (res.ok) await cache.put(key, res.clone());
        return res;
      } catch (err) {
        const hit = await cache.match(key);
        if (hit) return hit;
        throw err;
      }
    })(),
  );
});
