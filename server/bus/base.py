"""The Bus interface (SPEC B1-B3): messages between nodes, leases, and keys that expire.

B1: ``publish`` is at-most-once and keeps the order of one publisher's
messages on one channel; a message may be lost (a subscriber that was cut
off, a full queue), never duplicated or reordered. Whoever needs every
message numbers them and heals gaps from the store (SPEC B5).
B2: a lease is held by one holder at a time: ``acquire`` succeeds only when
nobody holds it; ``renew`` only for its holder, before it expires; an expired
lease is free. A lease says who *should* own a sanctuary; the store's owner
epoch (S7) is what stops a former holder from committing.
B3: ``put`` writes a key that disappears ``ttl`` seconds later unless written
again (presence, live counts); ``scan`` reads every live key under a prefix.
"""

from __future__ import annotations

import abc
import asyncio
from collections.abc import AsyncIterator

#: Messages a subscriber may hold before the newest are dropped (at-most-once, B1).
QUEUE_SIZE = 10_000


class BusError(Exception):
    """The bus cannot do what was asked (bad URL, unreachable server...)."""


class Subscription:
    """Messages of one channel, in order; ``dropped`` counts those lost to a full queue."""

    def __init__(self, channel: str, bus: Bus) -> None:
        self.channel = channel
        self.dropped = 0
        self._bus = bus
        self._queue: asyncio.Queue[bytes] = asyncio.Queue(QUEUE_SIZE)
        self.closed = False

    def deliver(self, data: bytes) -> None:
        """Called by the bus; never blocks."""
        try:
            self._queue.put_nowait(data)
        except asyncio.QueueFull:
            self.dropped += 1

    async def get(self) -> bytes:
        return await self._queue.get()

    def __aiter__(self) -> AsyncIterator[bytes]:
        return self._iterate()

    async def _iterate(self) -> AsyncIterator[bytes]:
        while not self.closed:
            yield await self._queue.get()

    async def close(self) -> None:
        if not self.closed:
            self.closed = True
            await self._bus.unsubscribe(self)


class Bus(abc.ABC):
    """What nodes share besides the store. Implementations: local (one process), Redis."""

    async def open(self) -> None:  # noqa: B027 - optional hook
        """Connect."""

    async def close(self) -> None:  # noqa: B027 - optional hook
        """Disconnect; subscriptions end."""

    @abc.abstractmethod
    async def publish(self, channel: str, data: bytes) -> None:
        """Send ``data`` to every current subscriber of ``channel`` (B1)."""

    async def publish_many(self, messages: list[tuple[str, bytes]]) -> None:
        """Publish several messages, in this order (B1); a backend may send them in one round trip."""
        for channel, data in messages:
            await self.publish(channel, data)

    @abc.abstractmethod
    async def subscribe(self, channel: str) -> Subscription:
        """Start receiving ``channel``; messages published after this returns are delivered."""

    @abc.abstractmethod
    async def unsubscribe(self, subscription: Subscription) -> None:
        """Stop delivering to ``subscription``."""

    @abc.abstractmethod
    async def acquire(self, key: str, holder: str, ttl: float) -> bool:
        """Take the lease ``key`` for ``ttl`` seconds if nobody holds it (B2)."""

    @abc.abstractmethod
    async def renew(self, key: str, holder: str, ttl: float) -> bool:
        """Extend the lease if ``holder`` still holds it; False if it was lost (B2)."""

    @abc.abstractmethod
    async def release(self, key: str, holder: str) -> None:
        """Give the lease up if ``holder`` holds it."""

    @abc.abstractmethod
    async def holder(self, key: str) -> str | None:
        """Who holds the lease now, if anyone."""

    @abc.abstractmethod
    async def put(self, key: str, value: bytes, ttl: float) -> None:
        """Write a key that expires after ``ttl`` seconds (B3)."""

    @abc.abstractmethod
    async def scan(self, prefix: str) -> dict[str, bytes]:
        """Every live key starting with ``prefix`` (without the prefix) and its value (B3)."""
