"""Serving the browser client: pages and static ES modules with revalidation caching."""

from __future__ import annotations

import hashlib
import importlib.util
import mimetypes
from pathlib import Path

from aiohttp import web


def _web_root() -> Path:
    # Locate the browser app inside the installed ``dreamloom.client`` package without importing
    # it: the server never loads the weaver SDK (nor its WebSocket client library).
    spec = importlib.util.find_spec("dreamloom.client")
    if spec is None or not spec.submodule_search_locations:
        raise ImportError("the dreamloom.client package, which holds the web client, is not installed")
    return Path(next(iter(spec.submodule_search_locations))) / "web"


WEB_ROOT = _web_root()

_TYPES = {
    ".js": "text/javascript",
    ".mjs": "text/javascript",
    ".css": "text/css",
    ".html": "text/html",
    ".json": "application/json",
    ".svg": "image/svg+xml",
    ".png": "image/png",
    ".ico": "image/x-icon",
    ".txt": "text/plain",
    ".md": "text/markdown",
}

# Modules change with every release and there is no build step to fingerprint them,
# so browsers revalidate each load (no-cache + ETag): a 304 costs a round trip, not a download.
_CACHE: dict[Path, tuple[float, bytes, str]] = {}


def _load(path: Path) -> tuple[bytes, str]:
    mtime = path.stat().st_mtime
    hit = _CACHE.get(path)
    if hit is not None and hit[0] == mtime:
        return hit[1], hit[2]
    body = path.read_bytes()
    etag = '"' + hashlib.sha256(body).hexdigest()[:32] + '"'
    _CACHE[path] = (mtime, body, etag)
    return body, etag


def file_response(request: web.Request, path: Path) -> web.StreamResponse:
    """Serve one file of the web client with its ETag, or 304 when the browser has it."""
    try:
        body, etag = _load(path)
    except (FileNotFoundError, IsADirectoryError, NotADirectoryError):
        raise web.HTTPNotFound(text="not found") from None
    headers = {
        "ETag": etag,
        "Cache-Control": "no-cache",
        "X-Content-Type-Options": "nosniff",
    }
    if request.headers.get("If-None-Match") == etag:
        return web.Response(status=304, headers=headers)
    ctype = _TYPES.get(path.suffix) or mimetypes.guess_type(path.name)[0] or "application/octet-stream"
    charset = "utf-8" if ctype.startswith("text/") or ctype in ("application/json", "image/svg+xml") else None
    return web.Response(body=body, content_type=ctype, charset=charset, headers=headers)


async def static_handler(request: web.Request) -> web.StreamResponse:
    rel = request.match_info["path"]
    root = WEB_ROOT.resolve()
    path = (root / rel).resolve()
    if not path.is_relative_to(root) or not path.is_file():
        raise web.HTTPNotFound(text="not found")
    response = file_response(request, path)
    if rel == "sw.js":
        # The browser app's offline shell lives under /static/ but serves the /s/ pages.
        response.headers["Service-Worker-Allowed"] = "/"
    return response


async def landing_page(request: web.Request) -> web.StreamResponse:
    return file_response(request, WEB_ROOT / "index.html")


async def sanctuary_page(request: web.Request) -> web.StreamResponse:
    return file_response(request, WEB_ROOT / "sanctuary.html")


def setup_web(app: web.Application) -> None:
    app.router.add_get("/", landing_page)
    app.router.add_get("/s/{sanctuary}", sanctuary_page)
    app.router.add_get("/static/{path:.+}", static_handler)
