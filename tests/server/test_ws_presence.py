"""Presence (coalesced, announced, never persisted), heartbeats, and unloading idle sanctuaries."""

from __future__ import annotations

import asyncio
import time

from server_kit import StartServer, Wire
from wire import JSON, scaled

from dreamloom.protocol import CloseCode, Join, Leave, PeersPresence


async def test_W11_presence_is_coalesced_latest_wins(start_server: StartServer, wire: Wire) -> None:
    server = await start_server(presence_interval=0.2)
    mover = await wire.join(server.ws_url("garden"), name="mover")
    watcher = await wire.join(server.ws_url("garden"), codec=JSON)
    sid = mover.welcome.sid  # type: ignore[union-attr]
    for i in range(30):  # all within one tick
        await mover.presence(cursor=(float(i), 2.0 * i), sel=("a",) if i % 2 else ())

    def latest(m: PeersPresence) -> bool:
        return any(p.sid == sid and p.state.cursor == (29.0, 58.0) for p in m.peers)

    await watcher.wait_message(PeersPresence, latest)
    mine = [p for m in watcher.presences for p in m.peers if p.sid == sid]
    assert len(mine) <= 3, [p.state.cursor for p in mine]  # coalesced, not 30 messages
    assert mine[-1].state.sel == ("a",)
    # A newcomer finds the latest presence in its welcome.
    late = await wire.join(server.ws_url("garden"))
    [(peer, state)] = [(p, s) for p, s in late.welcome.peers if p.sid == sid]  # type: ignore[union-attr]
    assert (peer.name, state.cursor) == ("mover", (29.0, 58.0))


async def test_W11_join_and_leave_are_announced_and_presence_is_never_persisted(
    start_server: StartServer, wire: Wire
) -> None:
    server = await start_server(presence_interval=0.02)
    host = await wire.join(server.ws_url("garden"))
    guest = await wire.join(server.ws_url("garden"), name="Nox", codec=JSON)
    joined = await host.wait_message(Join)
    assert (joined.peer.sid, joined.peer.name, joined.peer.role) == (guest.welcome.sid, "Nox", "dreamer")  # type: ignore[union-attr]
    await guest.presence(cursor=(1.0, 1.0), preview={"pts": [0, 0, 4, 4], "style": {"color": "#ffffff"}})
    await host.wait_message(PeersPresence, lambda m: any(p.sid == guest.welcome.sid for p in m.peers))  # type: ignore[union-attr]
    await guest.close()
    left = await host.wait_message(Leave)
    assert left.sid == guest.welcome.sid  # type: ignore[union-attr]

    sanctuary = await server.hub.sanctuary("garden")
    assert sanctuary.seq == 0
    assert await server.hub.store.read_ops("garden", 0) == []
    await server.restart()
    again = await wire.join(server.ws_url("garden"))
    assert again.welcome is not None
    assert (again.welcome.seq, again.welcome.snapshot, again.welcome.peers) == (0, [], ())


async def test_W12_heartbeat_drops_a_silent_peer_with_4011_and_announces_its_leave(
    start_server: StartServer, wire: Wire
) -> None:
    server = await start_server(heartbeat=0.2, heartbeat_timeout=0.8)
    alive = await wire.join(server.ws_url("garden"))
    silent = await wire.join(server.ws_url("garden"), answer_pings=False)
    started = time.monotonic()
    left = await alive.wait_message(Leave, within=5)
    elapsed = time.monotonic() - started
    assert left.sid == silent.welcome.sid  # type: ignore[union-attr]
    assert 0.7 <= elapsed < scaled(0.8 + 1.0), elapsed  # silent for heartbeat_timeout, not before
    assert await silent.wait_closed() == CloseCode.HEARTBEAT_TIMEOUT
    assert server.hub.participants("garden") == 1
    # The peer that answers its pings outlives several heartbeats and still works.
    await alive.ping_roundtrip()
    await alive.wait_acked(await alive.send_ops(alive.symbol("moon")))
    assert not alive.closed.is_set()


async def test_idle_sanctuary_unloads_and_reloads_identical(start_server: StartServer, wire: Wire) -> None:
    server = await start_server(idle_unload=0.2)
    client = await wire.join(server.ws_url("garden"))
    await client.wait_acked(await client.send_ops(client.symbol("moon", x=4), client.set("moon", y=2)))
    keeper = await wire.join(server.ws_url("attic"))
    loaded = server.hub.loaded("garden")
    assert loaded is not None
    data = loaded.tapestry.encode()
    await client.close()
    await asyncio.wait_for(loaded.finished.wait(), scaled(5))
    assert server.hub.loaded("garden") is None
    assert server.hub.loaded("attic") is not None  # a sanctuary with a member stays
    back = await wire.join(server.ws_url("garden"))
    reloaded = server.hub.loaded("garden")
    assert reloaded is not None
    assert reloaded is not loaded
    assert reloaded.tapestry.encode() == back.tapestry.encode() == data
    assert not keeper.closed.is_set()
