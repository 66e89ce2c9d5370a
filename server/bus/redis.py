"""The cluster bus on Redis (redis-py's asyncio API): pub/sub, leases with ``SET NX PX``, expiring keys.

Every channel and key is under one prefix (``redis://host:6379/0?prefix=name``), so
several clusters (or test runs) can share one Redis. One pub/sub connection per
node reads every subscribed channel in a reader task and hands each message to
its subscriptions' queues; pub/sub is at-most-once (B1) and the nodes heal gaps
from the store (B5).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
import urllib.parse
from typing import Any

import redis.asyncio as aioredis
from redis.exceptions import RedisError

from .base import Bus, BusError, Subscription

log = logging.getLogger("dreamloom.bus")

_RENEW = """
if redis.call('get', KEYS[1]) == ARGV[1] then
    return redis.call('pexpire', KEYS[1], ARGV[2])
end
return 0
"""
_RELEASE = """
if redis.call('get', KEYS[1]) == ARGV[1] then
    return redis.call('del', KEYS[1])
end
return 0
"""


def parse_url(url: str) -> tuple[str, str]:
    """The Redis URL without our ``prefix`` parameter, and the prefix (default ``dreamloom:``)."""
    parts = urllib.parse.urlsplit(url)
    query = urllib.parse.parse_qs(parts.query)
    prefix = query.pop("prefix", ["dreamloom"])[0]
    rest = urllib.parse.urlencode({k: v[-1] for k, v in query.items()})
    return urllib.parse.urlunsplit((parts.scheme, parts.netloc, parts.path, rest, parts.fragment)), prefix + ":"


class RedisBus(Bus):
    """Channels, leases and expiring keys in one Redis database, under one prefix."""

    def __init__(self, url: str) -> None:
        self.url, self.prefix = parse_url(url)
        #: How this bus's connections are named in Redis (``CLIENT LIST``): the prefix and a random part.
        self.client_name = f"{self.prefix}{secrets.token_hex(4)}"
        self._redis: aioredis.Redis | None = None
        self._pubsub: Any = None
        self._reader: asyncio.Task[None] | None = None
        self._subscribers: dict[str, list[Subscription]] = {}
        self._confirmed: dict[str, asyncio.Event] = {}
        self._renew: Any = None
        self._release: Any = None

    @property
    def redis(self) -> aioredis.Redis:
        if self._redis is None:
            raise BusError("bus is not open")
        return self._redis

    async def open(self) -> None:
        if self._redis is not None:
            return
        client = aioredis.from_url(self.url, socket_connect_timeout=5, client_name=self.client_name)
        try:
            await client.ping()
        except (OSError, RedisError) as exc:
            await client.aclose()
            raise BusError(f"cannot reach Redis at {self._where()}: {exc}") from exc
        self._redis = client
        self._renew = client.register_script(_RENEW)
        self._release = client.register_script(_RELEASE)
        self._pubsub = client.pubsub()
        # The reader needs one subscription to wait on: a channel of this connection's own.
        await self._pubsub.subscribe(f"{self.prefix}bus:{secrets.token_hex(8)}")
        self._reader = asyncio.create_task(self._read(), name="bus-reader")

    def _where(self) -> str:
        parts = urllib.parse.urlsplit(self.url)
        return f"{parts.hostname}:{parts.port or 6379}{parts.path}"

    async def close(self) -> None:
        reader, self._reader = self._reader, None
        if reader is not None:
            reader.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await reader
        if self._pubsub is not None:
            with contextlib.suppress(Exception):
                await self._pubsub.aclose()
            self._pubsub = None
        client, self._redis = self._redis, None
        if client is not None:
            await client.aclose()
        for subs in self._subscribers.values():
            for sub in subs:
                sub.closed = True
        self._subscribers.clear()

    async def _read(self) -> None:
        while True:
            try:
                message = await self._pubsub.get_message(timeout=1.0)
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("bus reader lost its connection; retrying")
                await asyncio.sleep(0.5)  # redis-py reconnects and resubscribes on the next read
                continue
            if message is None:
                continue
            channel = message["channel"].decode()
            kind = message["type"]
            if kind == "subscribe":
                event = self._confirmed.get(channel)
                if event is not None:
                    event.set()
            elif kind == "message":
                for sub in self._subscribers.get(channel, ()):
                    sub.deliver(message["data"])

    # -- pub/sub ------------------------------------------------------------
    async def publish(self, channel: str, data: bytes) -> None:
        try:
            await self.redis.publish(self.prefix + channel, data)
        except RedisError as exc:
            raise BusError(f"publish to {channel!r} failed: {exc}") from exc

    async def publish_many(self, messages: list[tuple[str, bytes]]) -> None:
        # One pipeline on one connection: one round trip, and Redis runs the commands in order.
        try:
            async with self.redis.pipeline(transaction=False) as pipe:
                for channel, data in messages:
                    pipe.publish(self.prefix + channel, data)
                await pipe.execute()
        except RedisError as exc:
            raise BusError(f"publish of {len(messages)} messages failed: {exc}") from exc

    async def subscribe(self, channel: str) -> Subscription:
        name = self.prefix + channel
        sub = Subscription(channel, self)
        subs = self._subscribers.setdefault(name, [])
        subs.append(sub)
        if len(subs) == 1:
            event = self._confirmed[name] = asyncio.Event()
            await self._pubsub.subscribe(name)
            # Published after the server confirmed the subscription: delivered (B1).
            await asyncio.wait_for(event.wait(), timeout=10.0)
        return sub

    async def unsubscribe(self, subscription: Subscription) -> None:
        name = self.prefix + subscription.channel
        subs = self._subscribers.get(name, [])
        if subscription in subs:
            subs.remove(subscription)
        if not subs and name in self._subscribers:
            del self._subscribers[name]
            self._confirmed.pop(name, None)
            if self._pubsub is not None:
                with contextlib.suppress(Exception):
                    await self._pubsub.unsubscribe(name)

    # -- leases and keys ----------------------------------------------------
    async def acquire(self, key: str, holder: str, ttl: float) -> bool:
        return bool(await self.redis.set(self.prefix + key, holder, nx=True, px=_ms(ttl)))

    async def renew(self, key: str, holder: str, ttl: float) -> bool:
        return bool(await self._renew(keys=[self.prefix + key], args=[holder, _ms(ttl)]))

    async def release(self, key: str, holder: str) -> None:
        await self._release(keys=[self.prefix + key], args=[holder])

    async def holder(self, key: str) -> str | None:
        value = await self.redis.get(self.prefix + key)
        return None if value is None else _bytes(value).decode()

    async def put(self, key: str, value: bytes, ttl: float) -> None:
        await self.redis.set(self.prefix + key, value, px=_ms(ttl))

    async def scan(self, prefix: str) -> dict[str, bytes]:
        full = self.prefix + prefix
        keys = [k async for k in self.redis.scan_iter(match=_glob_escape(full) + "*", count=500)]
        if not keys:
            return {}
        values = await self.redis.mget(keys)
        return {_bytes(k).decode()[len(full) :]: _bytes(v) for k, v in zip(keys, values, strict=True) if v is not None}

    async def delete_all(self) -> None:
        """Remove every key under this bus's prefix (test runs clean up after themselves)."""
        keys = [k async for k in self.redis.scan_iter(match=_glob_escape(self.prefix) + "*", count=500)]
        if keys:
            await self.redis.delete(*keys)


def _bytes(value: bytes | str) -> bytes:
    return value if isinstance(value, bytes) else value.encode()


def _ms(seconds: float) -> int:
    return max(1, round(seconds * 1000))


def _glob_escape(text: str) -> str:
    return "".join("\\" + c if c in "*?[]\\" else c for c in text)
