"""Every connection's heartbeat (SPEC W12) on one timer per event loop and setting.

A timer or a task per connection costs each idle connection half a kilobyte or
more; a room of 5,000 mostly idle watchers would pay it 5,000 times. Instead one
sweep, every tenth of the shorter of ``heartbeat`` and ``heartbeat_timeout``,
looks at when each connection was last heard: a quiet one is pinged, a silent
one dropped. A sweep costs well under a microsecond per quiet connection, and
the timer exists only while some connection is registered.
"""

from __future__ import annotations

import asyncio
import time
from typing import Protocol


class Beating(Protocol):
    """A connection as its heartbeat sees it."""

    #: ``time.monotonic()`` when its peer was last heard (any frame counts, W12).
    last_heard: float

    def quiet(self, silent: float) -> None:
        """Its peer has been silent ``silent`` seconds, past ``heartbeat``: ping it, or drop it past the timeout."""


class Heartbeats:
    """The connections of one event loop that share the heartbeat settings, swept together."""

    def __init__(self, interval: float, timeout: float) -> None:
        self.interval = interval
        self.period = max(0.005, min(interval, timeout) / 10)
        self._beating: dict[Beating, None] = {}  # a set in registration order
        self._timer: asyncio.TimerHandle | None = None

    def __len__(self) -> int:
        return len(self._beating)

    def add(self, connection: Beating) -> None:
        self._beating[connection] = None
        if self._timer is None:
            self._timer = asyncio.get_running_loop().call_later(self.period, self._sweep)

    def discard(self, connection: Beating) -> None:
        self._beating.pop(connection, None)
        if not self._beating and self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def _sweep(self) -> None:
        self._timer = None
        now = time.monotonic()
        interval = self.interval
        for connection in [c for c in self._beating if now - c.last_heard >= interval]:
            connection.quiet(now - connection.last_heard)
        if self._beating:
            self._timer = asyncio.get_running_loop().call_later(self.period, self._sweep)


_Key = tuple[asyncio.AbstractEventLoop, float, float]
_SHARED: dict[_Key, Heartbeats] = {}


def register(connection: Beating, interval: float, timeout: float) -> None:
    """Watch ``connection``'s heartbeat with these settings (``heartbeat``, ``heartbeat_timeout``)."""
    key = (asyncio.get_running_loop(), interval, timeout)
    sweep = _SHARED.get(key)
    if sweep is None:
        sweep = _SHARED[key] = Heartbeats(interval, timeout)
    sweep.add(connection)


def unregister(connection: Beating, interval: float, timeout: float) -> None:
    """Stop watching ``connection``; a sweep left without connections goes (and lets its loop go)."""
    key = (asyncio.get_running_loop(), interval, timeout)
    sweep = _SHARED.get(key)
    if sweep is not None:
        sweep.discard(connection)
        if not sweep:
            del _SHARED[key]


__all__ = ["Beating", "Heartbeats", "register", "unregister"]
