"""The Bus contract (SPEC B1-B3), one suite run against every backend: in-process and Redis."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable

import pytest
from services_kit import redis_prefix
from wire import scaled

from dreamloom.server.bus import Bus, LocalBus


@pytest.fixture(params=["local", "redis"])
async def bus(request: pytest.FixtureRequest) -> AsyncIterator[Bus]:
    async with contextlib.AsyncExitStack() as stack:
        if request.param == "redis":
            from dreamloom.server.bus.redis import RedisBus

            b: Bus = RedisBus(await stack.enter_async_context(redis_prefix()))
        else:
            b = LocalBus()
        await b.open()
        stack.push_async_callback(b.close)
        yield b


async def receive(sub: object, count: int) -> list[bytes]:
    async def take() -> list[bytes]:
        return [await sub.get() for _ in range(count)]  # type: ignore[attr-defined]

    return await asyncio.wait_for(take(), scaled(5))


async def after_expiry(read: Callable[[], Awaitable[object]], expected: object) -> None:
    """Read until the value is ``expected``: expiry is the bus's own clock, with no event to wait on."""
    for _ in range(round(scaled(5) / 0.02)):
        if await read() == expected:
            return
        await asyncio.sleep(0.02)
    assert await read() == expected


async def test_B1_messages_reach_every_subscriber_in_publish_order(bus: Bus) -> None:
    first = await bus.subscribe("node:a")
    second = await bus.subscribe("node:a")
    elsewhere = await bus.subscribe("node:b")
    for i in range(50):
        await bus.publish("node:a", b"m%d" % i)
    expected = [b"m%d" % i for i in range(50)]
    assert await receive(first, 50) == expected
    assert await receive(second, 50) == expected
    await bus.publish("node:b", b"only-b")
    assert await receive(elsewhere, 1) == [b"only-b"]
    await bus.publish_many([("node:a", b"x"), ("node:b", b"y"), ("node:a", b"z")])
    assert await receive(first, 2) == [b"x", b"z"]
    assert await receive(elsewhere, 1) == [b"y"]


async def test_B1_an_unsubscribed_channel_receives_nothing_more(bus: Bus) -> None:
    kept = await bus.subscribe("c")
    gone = await bus.subscribe("c")
    await gone.close()
    await bus.publish("c", b"after")
    assert await receive(kept, 1) == [b"after"]
    assert gone._queue.empty()


async def test_B2_a_lease_has_one_holder_until_released_or_expired(bus: Bus) -> None:
    assert await bus.acquire("lease:garden", "n1", 5.0)
    assert not await bus.acquire("lease:garden", "n2", 5.0)
    assert await bus.holder("lease:garden") == "n1"
    assert await bus.renew("lease:garden", "n1", 5.0)
    assert not await bus.renew("lease:garden", "n2", 5.0)
    await bus.release("lease:garden", "n2")  # not its lease: nothing happens
    assert await bus.holder("lease:garden") == "n1"
    await bus.release("lease:garden", "n1")
    assert await bus.holder("lease:garden") is None
    assert await bus.acquire("lease:garden", "n2", 5.0)


async def test_B2_an_expired_lease_is_free_and_cannot_be_renewed(bus: Bus) -> None:
    assert await bus.acquire("lease:garden", "n1", 0.05)
    await after_expiry(lambda: bus.holder("lease:garden"), None)
    assert not await bus.renew("lease:garden", "n1", 5.0)
    assert await bus.acquire("lease:garden", "n2", 5.0)


async def test_B3_keys_expire_and_scan_reads_those_alive_under_a_prefix(bus: Bus) -> None:
    await bus.put("census:n1", b"one", 5.0)
    await bus.put("census:n2", b"two", 0.05)
    await bus.put("other:n3", b"three", 5.0)
    assert await bus.scan("census:") in ({"n1": b"one", "n2": b"two"}, {"n1": b"one"})

    await after_expiry(lambda: bus.scan("census:"), {"n1": b"one"})
