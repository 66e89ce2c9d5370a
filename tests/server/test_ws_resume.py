"""Resume by seq (SPEC W5, W9): exactly the missed ops, a snapshot when too far behind, resends harmless."""

from __future__ import annotations

from server_kit import StartServer, Wire
from wire import JSON, WireClient

from dreamloom.protocol import Ops
from dreamloom.server.testing import InProcessServer


async def rejoin(wire: Wire, server: InProcessServer, old: WireClient, seq: int | None = None) -> WireClient:
    return await wire.resume(server.ws_url("garden"), old, seq)


async def write(client: WireClient, n: int, prefix: str) -> dict[int, int]:
    return await client.wait_acked(await client.send_ops(*(client.symbol(f"{prefix}{i}", x=i) for i in range(n))))


async def test_W5_reconnect_with_seq_gets_exactly_the_missed_ops(server: InProcessServer, wire: Wire) -> None:
    writer = await wire.join(server.ws_url("garden"))
    away = await wire.join(server.ws_url("garden"), codec=JSON)
    await write(writer, 4, "before")
    await away.wait_seq(4)
    await away.close()
    missed = await write(writer, 6, "while-away")
    await writer.wait_acked(await writer.send_ops(writer.set("before0", x=99), writer.delete("before1")))

    back = await rejoin(wire, server, away)
    welcome = back.welcome
    assert welcome is not None
    assert welcome.snapshot is None
    assert (welcome.since, welcome.seq) == (4, 12)
    sent = [op for b in writer.broadcasts for op in b.ops][4:]
    assert list(welcome.ops) == sent
    assert sorted(missed.values()) == list(range(5, 11))
    assert back.tapestry.encode() == (await server.hub.sanctuary("garden")).tapestry.encode()
    # And it carries on live from there.
    await write(writer, 1, "after")
    await back.wait_seq(13)
    assert back.gaps == []


async def test_W5_resume_at_the_edge_of_the_window_and_one_past_it(start_server: StartServer, wire: Wire) -> None:
    server = await start_server(resume_window=5)
    writer = await wire.join(server.ws_url("garden"))
    await write(writer, 3, "a")
    at_edge = await wire.join(server.ws_url("garden"), seq=None)
    assert at_edge.seq == 3
    await at_edge.close()
    await write(writer, 5, "b")  # 5 behind: still resumable
    resumed = await rejoin(wire, server, at_edge)
    assert resumed.welcome is not None
    assert resumed.welcome.snapshot is None
    assert len(resumed.welcome.ops) == 5
    assert resumed.seq == 8
    await resumed.close()

    await write(writer, 6, "c")  # now 6 behind a window of 5: snapshot
    behind = await rejoin(wire, server, resumed)
    assert behind.welcome is not None
    assert behind.welcome.ops == ()
    assert behind.welcome.snapshot is not None
    assert (behind.welcome.since, behind.welcome.seq) == (14, 14)
    assert behind.tapestry.encode() == (await server.hub.sanctuary("garden")).tapestry.encode()


async def test_W5_seq_from_the_future_gets_a_snapshot(server: InProcessServer, wire: Wire) -> None:
    writer = await wire.join(server.ws_url("garden"))
    await write(writer, 2, "a")
    confused = await wire.join(server.ws_url("garden"), seq=50)
    assert confused.welcome is not None
    assert confused.welcome.snapshot is not None
    assert confused.welcome.seq == 2
    assert len(confused.tapestry) == 2


async def test_W9_resend_of_an_acked_op_is_acked_again_and_not_applied_twice(
    server: InProcessServer, wire: Wire
) -> None:
    writer = await wire.join(server.ws_url("garden"))
    watcher = await wire.join(server.ws_url("garden"))
    create = writer.symbol("moon")
    move = writer.set("moon", x=10)
    first = await writer.wait_acked(await writer.send_ops(create, move))
    assert first == {create.stamp.counter: 1, move.stamp.counter: 2}
    before = (await server.hub.sanctuary("garden")).tapestry.encode()

    # The same ops again, as a client does when it did not see its acks before a disconnect.
    writer.acks.clear()
    again = await writer.wait_acked(await writer.send_ops(create, move))
    assert again == first
    sanctuary = await server.hub.sanctuary("garden")
    assert sanctuary.seq == 2
    assert sanctuary.tapestry.encode() == before
    assert len(await server.hub.store.read_ops("garden", 0)) == 2

    # ... and from a new connection of the same replica.
    await writer.close()
    back = await rejoin(wire, server, writer)
    assert await back.wait_acked(await back.send_ops(move, create)) == first
    nxt = await back.wait_acked(await back.send_ops(back.set("moon", y=1)))
    assert list(nxt.values()) == [3]
    # The watcher saw each op exactly once: nothing was broadcast for the resends.
    await watcher.wait_seq(3)
    assert [b.seq for b in watcher.of(Ops)] == [1, 3]
    assert watcher.gaps == []
