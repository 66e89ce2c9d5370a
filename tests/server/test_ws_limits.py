"""Limits (SPEC F3, F4, W11): op rate per connection, floods, connections per sanctuary, slow consumers."""

from __future__ import annotations

import asyncio

from server_kit import StartServer, Wire
from websockets.exceptions import ConnectionClosed
from wire import JSON, scaled

from dreamloom.protocol import CloseCode, ErrorCode, Join, Leave, PeersPresence


async def test_W11_op_rate_limit_rejects_then_a_flood_is_closed_with_4009(
    start_server: StartServer, wire: Wire
) -> None:
    server = await start_server(ops_rate=20.0, ops_burst=20.0, flood_close_after=1.0)
    flooder = await wire.join(server.ws_url("garden"))
    calm = await wire.join(server.ws_url("garden"), codec=JSON)
    watcher = await wire.join(server.ws_url("garden"))
    await flooder.wait_acked(await flooder.send_ops(flooder.symbol("moon")))

    deadline = asyncio.get_running_loop().time() + scaled(10)
    calm_writes: list[int] = []
    last_calm = 0.0
    n = 0
    while not flooder.closed.is_set():
        assert asyncio.get_running_loop().time() < deadline, "the flood was never closed"
        n += 1
        try:
            counters = await flooder.send_ops(*(flooder.set("moon", x=n * 10 + i) for i in range(5)))
            await flooder.wait_settled(counters)
        except (AssertionError, ConnectionClosed):
            assert await flooder.wait_closed()
        now = asyncio.get_running_loop().time()
        if now - last_calm > 0.2:  # the others go on writing (within their own limit) during the flood
            calm_writes += await calm.send_ops(calm.symbol(f"calm{n}"))
            last_calm = now
    assert flooder.close_code == CloseCode.RATE_LIMITED
    limited = [r for r in flooder.rejects.values() if r.code == ErrorCode.RATE_LIMITED]
    assert limited, "no op was rejected as rate limited"
    assert all(r.rule == "ops_rate" for r in limited)  # W17: the rule names the budget
    assert {r.code for r in flooder.rejects.values()} == {ErrorCode.RATE_LIMITED}
    accepted = len(flooder.acks)
    assert 20 <= accepted < 5 * n // 2, (accepted, n)

    acked = await calm.wait_acked(calm_writes)
    assert len(acked) >= 1
    sanctuary = await server.hub.sanctuary("garden")
    await watcher.wait_seq(sanctuary.seq)
    await calm.wait_seq(sanctuary.seq)
    assert watcher.gaps == []
    assert watcher.tapestry.encode() == calm.tapestry.encode() == sanctuary.tapestry.encode()
    await watcher.wait_message(Leave, lambda m: m.sid == flooder.welcome.sid)  # type: ignore[union-attr]


async def test_W11_the_fourth_connection_of_a_three_cap_sanctuary_is_refused(
    start_server: StartServer, wire: Wire
) -> None:
    server = await start_server(max_connections_per_sanctuary=3)
    members = [await wire.join(server.ws_url("garden")) for _ in range(3)]
    fourth = await wire.open(server.ws_url("garden"))
    await fourth.send_wire({"type": "hello", "v": 1, "name": "late", "replica": fourth.replica, "seq": None})
    assert await fourth.wait_closed() == CloseCode.SANCTUARY_FULL
    assert [e.code for e in fourth.errors] == [ErrorCode.SANCTUARY_FULL]
    assert fourth.welcome is None
    # Presence sent after the refusal reaches all three with a tick, after that tick's roster (W24):
    # anything about the fourth would have come before it.
    await members[0].presence(cursor=(1.0, 2.0))
    for m in members[1:]:
        await m.wait_message(PeersPresence)
    for m in members:
        assert [j.peer.name for j in m.joins if j.peer.name == "late"] == []
        assert m.leaves == []
    assert server.hub.participants("garden") == 3
    # Another sanctuary is not affected by the cap of this one.
    await wire.join(server.ws_url("attic"))
    # When one leaves, a newcomer fits again.
    await members[2].close()
    await members[0].wait_message(Leave)
    await wire.join(server.ws_url("garden"))


async def test_F4_a_client_that_stops_reading_is_closed_with_4008_and_the_others_keep_up(
    start_server: StartServer, wire: Wire
) -> None:
    server = await start_server(
        send_buffer_bytes=64 * 1024,
        ops_rate=10_000.0,
        ops_burst=10_000.0,
        ops_bytes_rate=100_000_000,
        ops_bytes_burst=100_000_000,
    )
    metrics = server.services.metrics
    writer = await wire.join(server.ws_url("garden"))
    reader = await wire.join(server.ws_url("garden"), codec=JSON)
    stalled = await wire.join(server.ws_url("garden"), rcvbuf=4096, max_queue=1)
    stalled.pause()
    pts = [float(i) + 0.5 for i in range(600)]  # ~5 KiB per op, so frames are big and the buffers fill fast
    sent = 0
    while metrics.registry.get_sample_value("dreamloom_slow_consumers_closed_total") != 1.0:
        assert sent < 2000, "the stalled client was never cut off"
        counters = await writer.send_ops(*(writer.stroke(f"s{sent + i}", pts) for i in range(20)))
        sent += 20
        await writer.wait_acked(counters)
    # The server dropped it: the others hear it leave.
    leave = await reader.wait_message(Leave, lambda m: m.sid == stalled.welcome.sid)  # type: ignore[union-attr]
    assert leave is not None
    assert server.hub.participants("garden") == 2
    # The others got every broadcast, in order, while it was stalled.
    await reader.wait_seq(sent)
    await writer.wait_seq(sent)
    assert reader.gaps == []
    assert writer.gaps == []
    assert reader.tapestry.encode() == (await server.hub.sanctuary("garden")).tapestry.encode()
    # When it reads again it finds the close code that tells it to resume by seq.
    stalled.resume()
    assert await stalled.wait_closed(within=10) == CloseCode.SLOW_CONSUMER
    assert stalled.seq < sent
    assert stalled.gaps == []
    back = await wire.resume(server.ws_url("garden"), stalled)
    assert back.welcome is not None
    assert back.welcome.snapshot is None  # within the resume window: just the ops it missed
    assert back.tapestry.encode() == reader.tapestry.encode()
    await reader.wait_message(Join, lambda m: m.peer.sid == back.welcome.sid)  # type: ignore[union-attr]


async def test_F4_one_frame_bigger_than_the_send_buffer_closes_nobody(start_server: StartServer, wire: Wire) -> None:
    server = await start_server(send_buffer_bytes=16 * 1024)
    writer = await wire.join(server.ws_url("garden"))
    reader = await wire.join(server.ws_url("garden"), codec=JSON)
    pts = [float(i) + 0.5 for i in range(600)]
    # One group commit of big strokes: its single broadcast frame is larger than the whole buffer.
    await writer.wait_acked(await writer.send_ops(*(writer.stroke(f"s{i}", pts) for i in range(10))))
    await reader.wait_seq(10)
    assert len(reader.codec.encode(reader.broadcasts[0])) > 16 * 1024
    await writer.ping_roundtrip()
    assert not reader.closed.is_set()
    assert not writer.closed.is_set()


async def test_W9a_a_rate_refusal_says_when_the_same_ops_will_fit(start_server: StartServer, wire: Wire) -> None:
    server = await start_server(ops_rate=10.0, ops_burst=4.0)
    client = await wire.join(server.ws_url("garden"))
    await client.wait_acked(await client.send_ops(*(client.symbol(f"f{i}") for i in range(4))))  # the burst
    batch = [client.symbol(f"g{i}") for i in range(3)]
    counters = await client.send_ops(*batch)
    await client.wait_settled(counters)
    refused = [client.rejects[c] for c in counters]
    assert {r.code for r in refused} == {ErrorCode.RATE_LIMITED}
    [wait] = {r.retry_after for r in refused}
    assert wait is not None
    assert 0 < wait <= 3 / 10.0 + 0.001  # three tokens at ten per second
    await asyncio.sleep(wait)  # the server said when: not a guess
    for c in counters:
        del client.rejects[c]
    assert set(await client.wait_acked(await client.send_ops(*batch))) == set(counters)  # the same stamps (W9)
