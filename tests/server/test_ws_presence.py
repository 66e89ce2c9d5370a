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


# -- colours -----------------------------------------------------------------------
async def test_W11_colours_are_stable_per_identity_and_distinct(start_server: StartServer, wire: Wire) -> None:
    server = await start_server(presence_interval=0.02)
    people = [await wire.join(server.ws_url("garden"), replica=f"r{i}", name=f"p{i}") for i in range(12)]
    last = people[-1].welcome
    assert last is not None
    colours = [p.color for p, _ in last.peers]
    assert len(colours) == len(set(colours)) == 11, colours
    # A reconnect of the same identity (same replica: same guest) gets its colour back.
    before = {p.sid: p.color for p, _ in last.peers}[people[3].welcome.sid]  # type: ignore[union-attr]
    await people[3].close()
    again = await wire.join(server.ws_url("garden"), replica="r3", name="p3")
    joined = await people[0].wait_message(Join, lambda m: m.peer.sid == again.welcome.sid)  # type: ignore[union-attr]
    assert joined.peer.color == before


async def test_W11_a_chosen_colour_reaches_everyone_and_is_kept(start_server: StartServer, wire: Wire) -> None:
    server = await start_server(presence_interval=0.02)
    ana = await wire.join(server.ws_url("garden"), replica="ana", name="Ana")
    ben = await wire.join(server.ws_url("garden"), replica="ben", name="Ben", codec=JSON)
    sid = ana.welcome.sid  # type: ignore[union-attr]
    await ana.presence(cursor=(1.0, 2.0), color="#123456")
    seen = await ben.wait_message(PeersPresence, lambda m: any(p.sid == sid and p.state.color for p in m.peers))
    assert [p.state.color for p in seen.peers if p.sid == sid] == ["#123456"]
    # A newcomer sees it as Ana's colour, and is given another one.
    late = await wire.join(server.ws_url("garden"), replica="cy", name="Cy")
    assert {p.sid: p.color for p, _ in late.welcome.peers}[sid] == "#123456"  # type: ignore[union-attr]
    joined = await ana.wait_message(Join, lambda m: m.peer.sid == late.welcome.sid)  # type: ignore[union-attr]
    assert joined.peer.color not in ("#123456", next(p.color for p, _ in ben.welcome.peers))  # type: ignore[union-attr]


def test_W11_presence_colour_must_be_opaque() -> None:
    from dreamloom.protocol import DEFAULT_LIMITS, DecodeError, PresenceState

    assert PresenceState.from_fields({"color": "#a1b2c3"}, DEFAULT_LIMITS).color == "#a1b2c3"
    for bad in ("#a1b2c3d4", "red", 7, "#12345"):
        try:
            PresenceState.from_fields({"color": bad}, DEFAULT_LIMITS)
        except DecodeError:
            continue
        raise AssertionError(f"{bad!r} accepted")


def test_colours_prefer_the_hash_then_the_next_free_then_remember() -> None:
    from dreamloom.server.identity import PALETTE, Colours, colour_for

    first = colour_for("guest-a")
    assert first in PALETTE
    assert colour_for("guest-a", {first}) != first
    everything = set(PALETTE)
    beyond = colour_for("guest-a", everything)
    assert beyond not in PALETTE
    assert all(int(beyond[i : i + 2], 16) >= 128 for i in (1, 3, 5))  # light enough for the dark canvas
    colours = Colours()
    mine = colours.join("s1", "a")
    colours.leave("s1")
    assert colours.join("s2", "a") == mine  # a reconnect keeps it
    other = colours.join("s3", "b")
    assert other != mine
    colours.leave("s2")
    assert colours.join("s4", "c") not in (mine, other)  # not the colour of someone seen lately, though absent
    colours.chose("s3", "b", "#123456")
    colours.leave("s3")
    assert colours.join("s5", "b") == "#123456"  # a chosen colour is remembered
    colours.leave("s5")
    colours.join("s6", "z")
    colours.chose("s6", "z", "#123456")  # b's colour, while b is away
    assert colours.join("s7", "b") != "#123456", "held by someone else present: b gets another"
    # A second connection of one identity shares its colour.
    assert colours.join("s8", "z") == "#123456"


def test_W11a_a_crowd_past_the_palette_gets_distinct_light_colours_and_frees_them() -> None:
    from dreamloom.server.identity import PALETTE, Colours

    colours = Colours()
    given = {f"s{n}": colours.join(f"s{n}", f"guest-{n}") for n in range(200)}
    assert set(list(given.values())[: len(PALETTE)]) == set(PALETTE)  # the palette first
    assert len(set(given.values())) == 200  # then light colours, none held twice
    assert all(int(c[i : i + 2], 16) >= 128 for c in list(given.values())[len(PALETTE) :] for i in (1, 3, 5))
    # A second connection of a present identity shares its colour, even past the palette.
    assert colours.join("again", "guest-150") == given["s150"]
    # A palette colour freed by a leave is the next newcomer's: the palette comes before light colours.
    freed = given["s3"]
    colours.leave("s3")
    assert colours.join("t1", "new-1") == freed
    assert colours.join("t2", "new-2") not in PALETTE


def test_W11_live_gestures_are_checked() -> None:
    from dreamloom.protocol import DEFAULT_LIMITS, DecodeError, PresenceState

    ok = {"ids": ["f1", "f2"], "dx": 3, "dy": -4.5, "ax": 0, "ay": 0, "sx": 2, "sy": 0.5, "rot": 1.5, "style": {}}
    assert PresenceState.from_fields({"live": ok}, DEFAULT_LIMITS).live == ok
    assert PresenceState.from_fields({"live": ok}, DEFAULT_LIMITS).to_wire()["live"] == ok
    bad = [
        {"dx": 1},
        {"ids": []},
        {"ids": ["a b"]},
        {"ids": ["f1"], "dx": "far"},
        {"ids": ["f1"], "dx": float("nan")},
        {"ids": ["f1"], "style": {"color": "red"}},
        {"ids": ["f1"], "turn": 1},
        {"ids": ["f"] * (DEFAULT_LIMITS.max_selection + 1)},
        ["f1"],
    ]
    for live in bad:
        try:
            PresenceState.from_fields({"live": live}, DEFAULT_LIMITS)
        except DecodeError:
            continue
        raise AssertionError(f"{live!r} accepted")


async def test_W11_a_live_gesture_reaches_the_others(start_server: StartServer, wire: Wire) -> None:
    server = await start_server(presence_interval=0.02)
    mover = await wire.join(server.ws_url("garden"), replica="m", name="mover")
    watcher = await wire.join(server.ws_url("garden"), replica="w", codec=JSON)
    sid = mover.welcome.sid  # type: ignore[union-attr]
    await mover.presence(live={"ids": ["f1"], "dx": 10, "dy": 0})
    seen = await watcher.wait_message(PeersPresence, lambda m: any(p.sid == sid and p.state.live for p in m.peers))
    assert [p.state.live for p in seen.peers if p.sid == sid] == [{"ids": ["f1"], "dx": 10, "dy": 0}]
