"""Bounds on TCP connections, before any HTTP is read (SPEC W16).

Theory of operation:

1. Every accepted socket is counted, per client address and in total, the
   moment it is accepted: a request that never finishes its headers still holds
   a file descriptor, so counting requests (a middleware) would count too late.
2. A socket over either cap gets a short, complete HTTP answer — 429
   ``too_many_connections`` (this address) or 503 ``server_full`` (everyone),
   both with ``Retry-After`` and a message naming the limit — and is closed.
   It never reaches aiohttp, so it costs no task and no parser.
3. The total cap stays below the process's descriptor limit: at start the soft
   ``RLIMIT_NOFILE`` is raised to the hard one where allowed, and the cap is
   clipped to it minus a reserve for the store, render workers and logs.
4. A request must finish its headers within ``header_timeout`` seconds of the
   connection opening (and an idle keep-alive connection is closed after as
   long): aiohttp's keep-alive timer does both once it is given that value.
"""

from __future__ import annotations

import asyncio
import logging
import resource
from collections import Counter
from dataclasses import dataclass
from typing import Any, cast

import orjson
from aiohttp import web

log = logging.getLogger("dreamloom.limits")

#: Descriptors kept for everything that is not a client socket (store, render workers, logs, listeners).
FD_RESERVE = 64
RETRY_AFTER = 5


def raise_fd_limit() -> int:
    """Raise the soft ``RLIMIT_NOFILE`` to the hard limit where allowed; return the soft limit now in force."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = hard if hard != resource.RLIM_INFINITY else max(soft, 65536)
    if soft != resource.RLIM_INFINITY and soft < target:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
            soft = target
        except (ValueError, OSError):
            log.warning("could not raise the descriptor limit from %d to %d", soft, target)
    return int(soft) if soft != resource.RLIM_INFINITY else 1 << 20


def connection_cap(wanted: int, fd_limit: int) -> int:
    """The total connection cap in force: ``wanted``, kept below the descriptor limit."""
    return max(1, min(wanted, fd_limit - FD_RESERVE))


@dataclass
class ConnectionCaps:
    """Live connection counts against the two caps."""

    total_cap: int
    per_client_cap: int

    def __post_init__(self) -> None:
        self.by_client: Counter[str] = Counter()
        self.total = 0
        self.refused: Counter[str] = Counter()

    def admit(self, client: str) -> tuple[int, str, str] | None:
        """Count a new connection of ``client``; or the (status, code, message) refusing it."""
        if self.by_client[client] >= self.per_client_cap:
            self.refused["too_many_connections"] += 1
            return (
                429,
                "too_many_connections",
                f"max_connections_per_client: at most {self.per_client_cap} connections from one address",
            )
        if self.total >= self.total_cap:
            self.refused["server_full"] += 1
            return 503, "server_full", f"max_connections: the server holds its {self.total_cap} connections"
        self.by_client[client] += 1
        self.total += 1
        return None

    def release(self, client: str) -> None:
        self.total -= 1
        self.by_client[client] -= 1
        if self.by_client[client] <= 0:
            del self.by_client[client]


def refusal_bytes(status: int, code: str, message: str) -> bytes:
    """A whole HTTP/1.1 answer in the API's error shape, for a socket we will not serve."""
    body = orjson.dumps({"error": {"code": code, "message": message, "retry_after": RETRY_AFTER}})
    reason = {429: "Too Many Requests", 503: "Service Unavailable"}[status]
    head = (
        f"HTTP/1.1 {status} {reason}\r\nContent-Type: application/json\r\nContent-Length: {len(body)}\r\n"
        f"Retry-After: {RETRY_AFTER}\r\nConnection: close\r\n\r\n"
    )
    return head.encode() + body


class _Guarded(asyncio.Protocol):
    """One accepted socket: counted, then handed to aiohttp's protocol, or refused."""

    def __init__(self, caps: ConnectionCaps, inner: asyncio.Protocol) -> None:
        self._caps = caps
        self._inner = inner
        self._client: str | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        peer: Any = transport.get_extra_info("peername")
        client = str(peer[0]) if isinstance(peer, tuple) and peer else "?"
        refusal = self._caps.admit(client)
        if refusal is not None:
            # uvloop's transports are not asyncio's classes: cast, do not check.
            socket_end = cast(asyncio.Transport, transport)
            socket_end.write(refusal_bytes(*refusal))
            socket_end.close()
            return
        self._client = client
        self._inner.connection_made(transport)

    def connection_lost(self, exc: Exception | None) -> None:
        if self._client is None:
            return
        self._caps.release(self._client)
        self._client = None
        self._inner.connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        if self._client is not None:
            self._inner.data_received(data)

    def eof_received(self) -> bool | None:
        return self._inner.eof_received() if self._client is not None else None

    def pause_writing(self) -> None:
        if self._client is not None:
            self._inner.pause_writing()

    def resume_writing(self) -> None:
        if self._client is not None:
            self._inner.resume_writing()


class GuardedSite(web.BaseSite):
    """A TCP site whose sockets pass :class:`ConnectionCaps` before aiohttp sees them."""

    def __init__(self, runner: web.BaseRunner, host: str, port: int, caps: ConnectionCaps) -> None:
        super().__init__(runner, backlog=1024)
        self._host, self._port, self.caps = host, port, caps

    @property
    def name(self) -> str:
        return f"http://{self._host}:{self._port}"

    async def start(self) -> None:
        await super().start()
        factory = self._runner.server
        assert factory is not None
        caps = self.caps
        self._server = await asyncio.get_running_loop().create_server(
            lambda: _Guarded(caps, factory()), self._host, self._port, backlog=self._backlog, reuse_address=True
        )


CAPS = web.AppKey("connection_caps", ConnectionCaps)


def runner_options(header_timeout: float) -> dict[str, Any]:
    """aiohttp's keep-alive timer closes a connection whose request is not whole after ``header_timeout``."""
    return {"keepalive_timeout": header_timeout}
