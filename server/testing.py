"""Run a real Dreamloom server in-process, on a free loopback port, for tests.

>>> async def test_my_weaver(tmp_path):
...     async with serve_in_process(data_dir=tmp_path) as server:
...         print(server.ws_url("garden"))
"""

from __future__ import annotations

import contextlib
import socket
import tempfile
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from aiohttp import web

from .app import build_app
from .config import ServerConfig
from .hub import Hub
from .services import SERVICES, Services


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port nobody listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        port: int = s.getsockname()[1]
        return port


class InProcessServer:
    """A started server: its URLs, its hub, and stop/restart."""

    def __init__(self, config: ServerConfig, build: dict[str, Any]) -> None:
        self.config = config
        self._build = build
        self._runner: web.AppRunner | None = None
        self.app: web.Application | None = None

    @property
    def url(self) -> str:
        return f"http://{self.config.host}:{self.config.port}"

    def ws_url(self, sanctuary: str) -> str:
        """The WebSocket URL of a sanctuary."""
        return f"ws://{self.config.host}:{self.config.port}/ws/{sanctuary}"

    @property
    def services(self) -> Services:
        """The running server's parts (hub, store, stewardship...)."""
        assert self.app is not None, "server is not running"
        return self.app[SERVICES]

    @property
    def hub(self) -> Hub:
        return self.services.hub

    async def start(self) -> None:
        self.app = build_app(self.config, **self._build)
        self._runner = web.AppRunner(self.app, handle_signals=False, shutdown_timeout=5.0)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.config.host, self.config.port, reuse_address=True)
        await site.start()

    async def stop(self) -> None:
        """Graceful stop: in-flight ops committed, clients closed with 1001."""
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def restart(self) -> None:
        """Stop and start again on the same port and data."""
        await self.stop()
        await self.start()


@contextlib.asynccontextmanager
async def serve_in_process(
    data_dir: str | Path | None = None, *, store: Any = None, clock: Any = None, **config: Any
) -> AsyncIterator[InProcessServer]:
    """Start a server on a free 127.0.0.1 port with an SQLite store under ``data_dir``.

    ``clock`` replaces wall time (mutes, AI rates). Extra keyword arguments override
    :class:`ServerConfig` fields.
    """
    with contextlib.ExitStack() as stack:
        if data_dir is None:
            data_dir = stack.enter_context(tempfile.TemporaryDirectory(prefix="dreamloom-"))
        cfg = ServerConfig(host="127.0.0.1", port=free_port(), data_dir=Path(data_dir), **config)
        build: dict[str, Any] = {}
        if store is not None:
            build["store"] = store
        if clock is not None:
            build["clock"] = clock
        server = InProcessServer(cfg, build)
        await server.start()
        try:
            yield server
        finally:
            await server.stop()
