"""Buses: how the nodes of a cluster talk (SPEC B1-B3). In-process for tests, Redis for a cluster."""

from __future__ import annotations

from .base import Bus, BusError, Subscription
from .local import LocalBus


def open_bus(url: str) -> Bus:
    """A bus from its URL: ``redis://host:6379/0`` (``?prefix=name`` to share a Redis) or ``local://``."""
    if url.startswith(("redis://", "rediss://", "unix://")):
        try:
            from .redis import RedisBus  # redis-py is needed in cluster mode only
        except ImportError as exc:
            raise BusError(f"a Redis bus needs redis-py: pip install 'dreamloom[cluster]' ({exc})") from None
        return RedisBus(url)
    if url.startswith("local://"):
        return LocalBus()
    raise BusError(f"unsupported bus URL {url!r} (use redis://HOST:PORT/N)")


__all__ = ["Bus", "BusError", "LocalBus", "Subscription", "open_bus"]
