"""Fixtures of the server tests: real servers on free loopback ports, raw WebSocket clients."""

from __future__ import annotations

import contextlib
import itertools
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
from wire import WireClient

from dreamloom.protocol import Welcome
from dreamloom.server.testing import InProcessServer, serve_in_process

StartServer = Callable[..., Awaitable[InProcessServer]]


@pytest.fixture
async def start_server(tmp_path: Path) -> AsyncIterator[StartServer]:
    """Start servers (SQLite under tmp_path, config overrides as keywords); all stopped at the end."""
    counter = itertools.count()
    async with contextlib.AsyncExitStack() as stack:

        async def start(data_dir: Path | None = None, **config: Any) -> InProcessServer:
            folder = data_dir or tmp_path / f"server{next(counter)}"
            return await stack.enter_async_context(serve_in_process(data_dir=folder, **config))

        yield start


@pytest.fixture
async def server(start_server: StartServer) -> InProcessServer:
    """A server with the default configuration."""
    return await start_server()


class Wire:
    """Opens raw clients and closes whichever are still open when the test ends."""

    def __init__(self) -> None:
        self.clients: list[WireClient] = []
        self._replicas = itertools.count(1)
        # Like a device keeping its guest token: a later connection of a replica is the same guest.
        self.tokens: dict[str, str] = {}

    def replica(self) -> str:
        return f"r{next(self._replicas)}"

    async def open(self, url: str, **kw: Any) -> WireClient:
        kw.setdefault("replica", self.replica())
        client = await WireClient.open(url, **kw)
        client.token = self.tokens.get(client.replica)
        self.clients.append(client)
        return client

    async def join(self, url: str, *, seq: int | None = None, **kw: Any) -> WireClient:
        client = await self.open(url, **kw)
        await self.hello(client, seq=seq)
        return client

    async def hello(self, client: WireClient, seq: int | None = None, **fields: Any) -> Welcome:
        """``client.hello``, remembering the guest token it was issued for its replica's next connections."""
        welcome = await client.hello(seq=seq, **fields)
        if client.token is not None:
            self.tokens.setdefault(client.replica, client.token)
        return welcome

    async def resume(self, url: str, old: WireClient, seq: int | None = None) -> WireClient:
        """Reconnect as ``old``'s replica, keeping its replica state, and resume from its seq (or ``seq``)."""
        client = await self.open(url, replica=old.replica, codec=old.codec.name)
        client.tapestry = old.tapestry.copy()
        client.seq = old.seq
        client.clock.observe_counter(old.clock.counter)
        # Resuming by seq needs the epoch that seq was counted in (F5).
        epoch = old.welcome.epoch if old.welcome is not None else None
        await self.hello(client, seq=old.seq if seq is None else seq, epoch=epoch)
        return client

    async def close_all(self) -> None:
        for client in self.clients:
            await client.close()


@pytest.fixture
async def wire(start_server: StartServer) -> AsyncIterator[Wire]:
    """Raw clients; closed before any server of the test stops."""
    w = Wire()
    try:
        yield w
    finally:
        await w.close_all()
