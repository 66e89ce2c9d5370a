"""Test helpers for weaver authors: a real Dreamloom server in-process, and scripted people.

Example (a pytest test with ``asyncio_mode = "auto"``)::

    from dreamloom.client.testing import dreamer, serve_in_process

    async def test_echo_answers(tmp_path):
        async with serve_in_process(data_dir=tmp_path) as server:
            async with Echo().connect(server.url, "garden") as echo, dreamer(server.url, "garden") as person:
                caption = person.add_text("a silver tide", 0, 0)
                await echo.wait_until(lambda: any(caption.id in f.inspired_by for f in echo.tapestry))

The server is the real one (aiohttp, SQLite in ``data_dir``) on a free 127.0.0.1 port;
it needs the server's dependencies, which ``pip install dreamloom`` brings.
"""

from __future__ import annotations

import contextlib
import importlib
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any, ClassVar

from dreamloom.protocol.messages import ClientKind

from .backoff import Backoff
from .weaver import Weaver


def serve_in_process(data_dir: str | Path | None = None, **config: Any) -> contextlib.AbstractAsyncContextManager[Any]:
    """Start a Dreamloom server on a free loopback port for the ``async with`` block.

    The object it yields has ``.url`` (``http://127.0.0.1:PORT``), ``.ws_url(sanctuary)``,
    ``.hub`` (``(await server.hub.sanctuary(name)).tapestry`` is the server's tapestry) and
    ``await .restart()``. Keyword arguments override server settings (``ops_rate=...``).

    Example::

        async with serve_in_process(data_dir=tmp_path, ops_rate=50) as server:
            print(server.ws_url("garden"))
    """
    # Imported here so that the SDK itself never loads the server.
    server_testing = importlib.import_module("dreamloom.server.testing")
    manager: contextlib.AbstractAsyncContextManager[Any] = server_testing.serve_in_process(data_dir, **config)
    return manager


def issue_token(server: Any, sanctuary: str, *, name: str, role: str = "weaver") -> str:
    """A token the in-process ``server`` accepts, for a ``role`` (``weaver``, ``dreamer``,
    ``steward``, ``viewer``) in ``sanctuary``: a weaver's fragments are then ``ai``.

    Example::

        token = issue_token(server, "garden", name="echo")
        async with Echo().connect(server.url, "garden", token=token) as echo:
            assert echo.identity.origin == "ai"
    """
    auth = importlib.import_module("dreamloom.server.auth")
    secret = auth.load_or_create_secret(server.config.data_dir, server.config.token_secret)
    token: str = auth.TokenAuthority(secret).issue(role=role, sanctuary=sanctuary, name=name)[0]
    return token


async def set_policy(server: Any, sanctuary: str, **changes: Any) -> dict[str, Any]:
    """Change the Harmony policy of ``sanctuary`` on the in-process ``server``, as its steward would.

    A new sanctuary caps the AI share at 50% of live fragments, so a weaver alone in an
    empty one is refused its first fragment: open it up for tests that are not about the cap.

    Example::

        await set_policy(server, "garden", ai_share_cap=1.0)
    """
    auth = importlib.import_module("dreamloom.server.auth")
    operator = auth.Claims("operator", "operator", "steward", auth.ALL_SANCTUARIES, 0.0, 0.0, "test-operator")
    policy: dict[str, Any] = await server.services.stewardship.acts.set_policy(sanctuary, operator, changes)
    return policy


class Dreamer(Weaver):
    """A plain connection with no handlers, for scripting what a person does in a test
    (tests tell people and weavers apart by the server-stamped identity, never by name).
    It stands in for a person's browser, so its hello says ``client: "person"``: without
    a token it is a guest *person* (``organic``), as a browser would be.

    Example: ``person = Dreamer(name="ada")``.
    """

    name = "dreamer"
    _client: ClassVar[ClientKind] = "person"


@contextlib.asynccontextmanager
async def dreamer(
    url: str, sanctuary: str | None = None, *, name: str = "dreamer", token: str | None = None
) -> AsyncIterator[Dreamer]:
    """A connected :class:`Dreamer` for the block, reconnecting fast (for restart tests).

    Example::

        async with dreamer(server.url, "garden", name="ada") as ada:
            await ada.add_stroke([0, 0, 30, 30], x=10, y=10)
    """
    person = Dreamer(name=name, reconnect=Backoff(0.05, 1.0), retry=Backoff(0.05, 1.0))
    async with person.connect(url, sanctuary, token=token) as connected:
        yield connected


def fast_backoff() -> dict[str, Backoff]:
    """Keyword arguments that make a weaver reconnect and retry quickly, for tests.

    Example: ``Kaleidoscope(folds=4, **fast_backoff())``.
    """
    return {"reconnect": Backoff(0.05, 1.0), "retry": Backoff(0.05, 1.0)}
