"""Where a sanctuary's WebSocket lives, from whatever base URL a bot author has."""

from __future__ import annotations

import re
from urllib.parse import quote, unquote, urlsplit, urlunsplit

from dreamloom.protocol import UsageError

_SCHEMES = {"http": "ws", "https": "wss", "ws": "ws", "wss": "wss"}
_WS_PATH = re.compile(r"(?:^|/)ws/([^/]+)/?$")
#: A sanctuary's page in the browser, as people copy it from the address bar.
_PAGE_PATH = re.compile(r"(?:^|/)s/([^/]+)/?$")


def sanctuary_url(url: str, sanctuary: str | None = None) -> tuple[str, str]:
    """The ``ws(s)://.../ws/{sanctuary}`` URL and the sanctuary name.

    ``url`` may be an http(s) or ws(s) base (``http://host:8765``, ``ws://host:8765/prefix``)
    or already a sanctuary URL (``ws://host:8765/ws/dreams``, or the browser's page
    ``http://host:8765/s/dreams``), in which case ``sanctuary`` may be omitted.

    >>> sanctuary_url("http://127.0.0.1:8765", "dreams")
    ('ws://127.0.0.1:8765/ws/dreams', 'dreams')
    >>> sanctuary_url("wss://loom.example/ws/night")
    ('wss://loom.example/ws/night', 'night')
    >>> sanctuary_url("https://loom.example/s/night?token=abc")
    ('wss://loom.example/ws/night', 'night')
    """
    parts = urlsplit(url)
    scheme = _SCHEMES.get(parts.scheme.lower())
    if scheme is None or not parts.netloc:
        raise UsageError(f"expected an http(s):// or ws(s):// URL, got {url!r}")
    path, query = parts.path, parts.query
    page = _PAGE_PATH.search(path)
    if page is not None:
        # The page's query (an invite ?token=) is not the socket's: tokens go in the hello.
        path, query = f"{path[: page.start()]}/ws/{page.group(1)}", ""
    found = _WS_PATH.search(path)
    if found is not None:
        named = unquote(found.group(1))
        if sanctuary is not None and sanctuary != named:
            raise UsageError(f"URL names sanctuary {named!r} but {sanctuary!r} was asked for")
        return urlunsplit((scheme, parts.netloc, path.rstrip("/"), query, "")), named
    if not sanctuary:
        raise UsageError(f"no sanctuary given and {url!r} does not end in /ws/NAME")
    path = f"{path.rstrip('/')}/ws/{quote(sanctuary, safe='')}"
    return urlunsplit((scheme, parts.netloc, path, query, "")), sanctuary
