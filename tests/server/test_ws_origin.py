"""The Origin check of the WebSocket handshake: forged origins get HTTP 403 before any upgrade."""

from __future__ import annotations

import pytest
from server_kit import StartServer, Wire
from websockets.asyncio.client import connect
from websockets.exceptions import InvalidStatus

from dreamloom.server.testing import InProcessServer

ALLOWED_EXTRA = "https://dreams.example"


def forged(port: int) -> list[str]:
    own = f"127.0.0.1:{port}"
    return [
        f"http://127.0.0.1.evil.example:{port}",  # look-alike hosts
        f"http://127.0.0.1:{port}.evil.example",
        f"http://{own}@evil.example",
        "https://dreams.example.evil.example",
        "https://evil-dreams.example",
        "https://dreams.example.",
        "http://evil.example",
        "HTTP://EVIL.EXAMPLE",
        f"https://{own}",  # other scheme
        f"ws://{own}",
        "http://dreams.example",
        "file://",
        f"http://127.0.0.1:{port + 1}",  # other port
        "http://127.0.0.1",
        "https://dreams.example:8443",
        f"http://localhost:{port}",  # same machine, other origin
        f"http://127.0.0.2:{port}",
        f"http://[::1]:{port}",
        "null",  # sandboxed frames, file pages, redirects
        f"http://user@{own}",  # userinfo
        f"http://user:pw@{own}",
        f"http://{own}/",  # path or query
        f"http://{own}/ws/garden",
        f"http://{own}?x=1",
        "!!!",  # garbage
        "http://",
        f"http://{own}, http://evil.example",
        "http://127.0.0.1:99999",
    ]


async def expect_403(server: InProcessServer, origin: str) -> None:
    with pytest.raises(InvalidStatus) as info:
        async with connect(server.ws_url("garden"), origin=origin, proxy=None, subprotocols=["dreamloom.v1.json"]):  # type: ignore[arg-type,list-item]
            pass
    assert info.value.response.status_code == 403, origin


async def test_forged_origins_are_refused_with_403_before_the_upgrade(start_server: StartServer, wire: Wire) -> None:
    server = await start_server(allow_origins=(ALLOWED_EXTRA,))
    origins = forged(server.config.port)
    assert len(origins) >= 20
    for origin in origins:
        await expect_403(server, origin)
    assert server.hub.loaded("garden") is None  # no sanctuary was even loaded for them


async def test_own_and_allowed_origins_and_no_origin_are_accepted(start_server: StartServer, wire: Wire) -> None:
    server = await start_server(allow_origins=(ALLOWED_EXTRA, "http://studio.example:8080"))
    port = server.config.port
    accepted = [
        f"http://127.0.0.1:{port}",
        f"HTTP://127.0.0.1:{port}",
        ALLOWED_EXTRA,
        "https://dreams.example:443",
        "https://DREAMS.example",
        "http://studio.example:8080",
        None,  # no Origin: a non-browser client (SDK, weaver)
    ]
    for origin in accepted:
        client = await wire.join(server.ws_url("garden"), origin=origin)
        assert client.welcome is not None, origin
        await client.close()


async def test_allow_origin_is_exact(start_server: StartServer) -> None:
    server = await start_server(allow_origins=("http://studio.example:8080",))
    for origin in ("http://studio.example", "http://studio.example:8081", "https://studio.example:8080"):
        await expect_403(server, origin)
