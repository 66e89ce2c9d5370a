"""Budgets (SPEC W17-W19): ops by count and bytes per connection and per identity, presence by
bytes, live bytes per sanctuary. Each at the limit, then one over, with real clients."""

from __future__ import annotations

from server_kit import StartServer, Wire
from wire import JSON, WireClient

from dreamloom.protocol import ErrorCode, Ops, Presence, PresenceState
from dreamloom.protocol.messages import PeersPresence

NO_REFILL = 1e-9  # a rate so slow that a test sees its bucket only drain


def _ops_size(client: WireClient, *ops: object) -> int:
    return len(client.codec.encode(Ops(tuple(ops))))  # type: ignore[arg-type]


async def test_W17_ops_past_the_connection_byte_budget_are_rejected_naming_ops_bytes_rate(
    start_server: StartServer, wire: Wire
) -> None:
    pts = [float(i) for i in range(200)]
    # The budget is exactly two messages of this stroke: the third is one over.
    first = await wire.join((await start_server()).ws_url("sizing"))
    size = _ops_size(first, first.stroke("a0", pts))
    server = await start_server(ops_bytes_rate=NO_REFILL, ops_bytes_burst=2 * size)
    writer = await wire.join(server.ws_url("garden"))
    other = await wire.join(server.ws_url("garden"))
    acked = await writer.wait_acked(await writer.send_ops(writer.stroke("a0", pts)))
    acked |= await writer.wait_acked(await writer.send_ops(writer.stroke("a1", pts)))
    assert len(acked) == 2
    [counter] = await writer.send_ops(writer.stroke("a2", pts))
    await writer.wait_settled([counter])
    reject = writer.rejects[counter]
    assert reject.code == ErrorCode.RATE_LIMITED
    assert reject.rule == "ops_bytes_rate"
    assert reject.retry_after is not None
    assert reject.retry_after > 0
    # Another connection has its own budget.
    assert len(await other.wait_acked(await other.send_ops(other.stroke("b0", pts)))) == 1


async def test_W17_one_identity_shares_its_op_budget_over_its_connections(
    start_server: StartServer, wire: Wire
) -> None:
    # Each connection may send 2 ops; the identity twice that: the fifth op of one identity is one over.
    server = await start_server(ops_rate=NO_REFILL, ops_burst=2, identity_ops_rate=NO_REFILL)
    url = server.ws_url("garden")
    first = await wire.join(url)
    second = await wire.open(url)
    second.token = first.token  # the same guest on another device
    await wire.hello(second)
    assert second.welcome is not None
    assert first.welcome is not None
    assert second.welcome.identity.id == first.welcome.identity.id
    for client in (first, second):
        acked = await client.wait_acked(await client.send_ops(client.symbol(f"{client.replica}a")))
        acked |= await client.wait_acked(await client.send_ops(client.symbol(f"{client.replica}b")))
        assert len(acked) == 2
    third = await wire.open(url)
    third.token = first.token
    await wire.hello(third)
    [counter] = await third.send_ops(third.symbol("over"))
    await third.wait_settled([counter])
    assert third.rejects[counter].rule == "identity_ops_rate"
    assert third.rejects[counter].code == ErrorCode.RATE_LIMITED
    # Another identity is not touched by this one's budget.
    stranger = await wire.join(url)
    assert len(await stranger.wait_acked(await stranger.send_ops(stranger.symbol("mine")))) == 1


async def test_W18_presence_past_its_byte_budget_is_dropped_and_told_once(
    start_server: StartServer, wire: Wire
) -> None:
    preview = {"pts": [float(i) for i in range(400)], "style": {"color": "#ffffff"}}
    sizing = await wire.join((await start_server()).ws_url("sizing"), codec=JSON)
    size = len(sizing.codec.encode(Presence(PresenceState(cursor=(1.0, 1.0), preview=preview))))
    server = await start_server(presence_bytes_rate=NO_REFILL, presence_bytes_burst=2 * size)
    url = server.ws_url("garden")
    sender = await wire.join(url, codec=JSON)
    watcher = await wire.join(url)
    assert sender.welcome is not None
    sid = sender.welcome.sid

    def cursors() -> list[tuple[float, float] | None]:
        return [p.state.cursor for m in watcher.of(PeersPresence) for p in m.peers if p.sid == sid]

    for x in (1.0, 2.0):  # at the budget: both go out
        await sender.presence(cursor=(x, 1.0), preview=preview)
        await watcher.wait_for(lambda x=x: (x, 1.0) in cursors(), f"presence {x}")  # type: ignore[misc]
    await sender.presence(cursor=(3.0, 1.0), preview=preview)  # one over: dropped
    await sender.presence(cursor=(4.0, 1.0), preview=preview)
    await sender.wait_for(lambda: bool(sender.errors), "the presence notice")
    assert [e.code for e in sender.errors] == [ErrorCode.RATE_LIMITED]  # told once, not per message
    assert "presence_bytes_rate" in sender.errors[0].reason
    await sender.ping_roundtrip()
    small = await wire.join(url)  # a small presence of someone else still goes out
    await small.presence(cursor=(9.0, 9.0))
    await watcher.wait_for(
        lambda: any(p.state.cursor == (9.0, 9.0) for m in watcher.of(PeersPresence) for p in m.peers), "small"
    )
    assert (3.0, 1.0) not in cursors()
    assert (4.0, 1.0) not in cursors()


async def test_W19_a_sanctuary_refuses_geometry_past_its_live_bytes_and_others_go_on(
    start_server: StartServer, wire: Wire
) -> None:
    server = await start_server(live_bytes_per_sanctuary=16 * 100)  # 100 stroke points
    garden = await wire.join(server.ws_url("garden"))
    pts60 = [float(i) for i in range(120)]
    pts40 = [float(i) for i in range(80)]
    acked = await garden.wait_acked(await garden.send_ops(garden.stroke("s60", pts60), garden.stroke("s40", pts40)))
    assert len(acked) == 2  # exactly at the budget
    [counter] = await garden.send_ops(garden.stroke("s1", [0.0, 0.0]))
    await garden.wait_settled([counter])
    reject = garden.rejects[counter]
    assert reject.code == ErrorCode.OVER_BUDGET
    assert reject.rule == "live_bytes_per_sanctuary"
    # Geometry that does not grow is still accepted: a shape, and a stroke made shorter.
    shorter = garden.set("s60", geom={"pts": pts60[:20]})
    assert len(await garden.wait_acked(await garden.send_ops(garden.symbol("moon"), shorter))) == 2
    # Shortening freed 50 points: 50 fit again.
    refill = garden.stroke("s50", [float(i) for i in range(100)])
    assert len(await garden.wait_acked(await garden.send_ops(refill))) == 1
    # Another sanctuary has its own budget.
    attic = await wire.join(server.ws_url("attic"))
    assert len(await attic.wait_acked(await attic.send_ops(attic.stroke("s", pts60)))) == 1
    # A restart counts the tapestry again from the store.
    await server.restart()
    again = await wire.join(server.ws_url("garden"))
    [counter] = await again.send_ops(again.stroke("s2", [0.0, 0.0]))
    await again.wait_settled([counter])
    assert again.rejects[counter].code == ErrorCode.OVER_BUDGET
