"""The Origin check of the WebSocket handshake (cross-site WebSocket hijacking).

A browser always sends ``Origin`` with a WebSocket handshake; a page of another
site must not open a socket to us with the visitor's cookies or links. Allowed:
our own origin (same scheme, host and port as the request) and the origins the
operator lists. No ``Origin`` at all means a non-browser client (an SDK), which
authenticates by token, not by ambient credentials.
"""

from __future__ import annotations

from urllib.parse import urlsplit

from aiohttp import web


def normalise(origin: str) -> str | None:
    """``scheme://host[:port]`` in lower case with default ports dropped, or None if malformed."""
    try:
        parts = urlsplit(origin.strip())
        port = parts.port
    except ValueError:
        return None
    if parts.scheme not in ("http", "https") or not parts.hostname or parts.path or parts.query:
        return None
    if parts.username is not None or parts.password is not None:
        return None
    default = 443 if parts.scheme == "https" else 80
    host = parts.hostname.lower()
    if ":" in host:
        host = f"[{host}]"
    return f"{parts.scheme}://{host}" + (f":{port}" if port not in (None, default) else "")


def origin_allowed(request: web.Request, extra: tuple[str, ...]) -> bool:
    """Whether the handshake's ``Origin`` may open a socket."""
    origin = request.headers.get("Origin")
    if origin is None:
        return True
    got = normalise(origin)
    if got is None:
        return False
    own = normalise(f"{request.scheme}://{request.host}")
    if got == own:
        return True
    return any(normalise(o) == got for o in extra)
