"""The in-process bus: nodes in one process share it (tests, and the single-node default has no use for one)."""

from __future__ import annotations

import time
from collections.abc import Callable

from .base import Bus, Subscription


class LocalBus(Bus):
    """Channels, leases and expiring keys in dicts. Same contract as the Redis bus."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self.clock = clock
        self._subscribers: dict[str, list[Subscription]] = {}
        self._keys: dict[str, tuple[bytes, float]] = {}

    async def publish(self, channel: str, data: bytes) -> None:
        for sub in list(self._subscribers.get(channel, ())):
            sub.deliver(data)

    async def subscribe(self, channel: str) -> Subscription:
        sub = Subscription(channel, self)
        self._subscribers.setdefault(channel, []).append(sub)
        return sub

    async def unsubscribe(self, subscription: Subscription) -> None:
        subs = self._subscribers.get(subscription.channel, [])
        if subscription in subs:
            subs.remove(subscription)

    def _live(self, key: str) -> bytes | None:
        entry = self._keys.get(key)
        if entry is None:
            return None
        if entry[1] <= self.clock():
            del self._keys[key]
            return None
        return entry[0]

    async def acquire(self, key: str, holder: str, ttl: float) -> bool:
        if self._live(key) is not None:
            return False
        self._keys[key] = (holder.encode(), self.clock() + ttl)
        return True

    async def renew(self, key: str, holder: str, ttl: float) -> bool:
        if self._live(key) != holder.encode():
            return False
        self._keys[key] = (holder.encode(), self.clock() + ttl)
        return True

    async def release(self, key: str, holder: str) -> None:
        if self._live(key) == holder.encode():
            del self._keys[key]

    async def holder(self, key: str) -> str | None:
        value = self._live(key)
        return None if value is None else value.decode()

    async def put(self, key: str, value: bytes, ttl: float) -> None:
        self._keys[key] = (value, self.clock() + ttl)

    async def scan(self, prefix: str) -> dict[str, bytes]:
        out = {}
        for key in list(self._keys):
            value = self._live(key)
            if value is not None and key.startswith(prefix):
                out[key[len(prefix) :]] = value
        return out
