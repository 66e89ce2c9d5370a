"""A welcome in parts (W36): asked for in the hello, cut from the kept items in the welcome's form (W37),
nothing between the parts."""

from __future__ import annotations

import asyncio

import pytest
from server_kit import StartServer, Wire
from wire import WireClient

from dreamloom.protocol import JSON, MSGPACK, Hello, SnapshotPart, Tapestry
from dreamloom.protocol.compact import expand
from dreamloom.server.testing import InProcessServer

FIRST, REST = 4 * 1024, 16 * 1024  # small parts: a few hundred fragments make several of them
FRAGMENTS = 600


async def _garden(start_server: StartServer, wire: Wire, **config: object) -> tuple[InProcessServer, WireClient]:
    """A server with small welcome parts, and the writer of its sanctuary "garden" of 600 symbols."""
    server = await start_server(
        welcome_first_part_bytes=FIRST,
        welcome_part_bytes=REST,
        ops_rate=100_000.0,
        ops_burst=100_000.0,
        ops_bytes_rate=10**9,
        identity_bytes_rate=10**9,
        client_bytes_rate=10**9,
        **config,
    )
    writer = await wire.join(server.ws_url("garden"))
    for n in range(0, FRAGMENTS, 200):
        batch = [writer.symbol(f"f{i:04d}", x=i, y=-i, sym="star") for i in range(n, n + 200)]
        await writer.wait_acked(await writer.send_ops(*batch))
    return server, writer


async def _join_with_parts(wire: Wire, url: str, codec: str, **kw: object) -> WireClient:
    client = await wire.open(url, codec=codec, **kw)
    await wire.hello(client, features=["parts"])
    return client


@pytest.mark.parametrize("codec", [MSGPACK, JSON])
async def test_w36_parts_only_when_asked_and_only_above_the_first_part(
    start_server: StartServer, wire: Wire, codec: str
) -> None:
    server, _writer = await _garden(start_server, wire)
    url = server.ws_url("garden")
    whole = await wire.join(url, codec=codec)
    assert whole.welcome is not None
    assert whole.welcome.parts is None
    assert whole.parts == []
    parted = await _join_with_parts(wire, url, codec)
    assert parted.welcome is not None
    assert parted.welcome.parts is not None
    assert parted.welcome.parts == len(parted.parts) + 1 >= 3
    # A hello with features this server does not know is welcomed as usual (forward compatible).
    other = await wire.open(url, codec=codec)
    await wire.hello(other, features=["a-later-feature"])
    assert other.welcome is not None
    assert other.welcome.parts is None
    # A snapshot that fits in the first part is sent whole, even to a client that asks for parts.
    small = await wire.join(server.ws_url("small"), codec=codec)
    await small.wait_acked(await small.send_ops(small.symbol("only")))
    fits = await _join_with_parts(wire, server.ws_url("small"), codec)
    assert fits.welcome is not None
    assert fits.welcome.parts is None
    assert fits.welcome.snapshot is not None
    assert len(fits.welcome.snapshot) == 1


@pytest.mark.parametrize("codec", [MSGPACK, JSON])
async def test_w36_concatenated_parts_are_the_whole_snapshot(start_server: StartServer, wire: Wire, codec: str) -> None:
    server, _ = await _garden(start_server, wire)
    url = server.ws_url("garden")
    live = (await server.hub.sanctuary("garden")).tapestry
    whole = await wire.join(url, codec=codec)
    parted = await _join_with_parts(wire, url, codec)
    assert whole.welcome is not None
    assert parted.welcome is not None
    assert parted.welcome.snapshot is not None
    assert whole.welcome.snapshot is not None
    assembled = parted.welcome.snapshot + [f for p in parted.parts for f in p.fragments]
    assert assembled == whole.welcome.snapshot  # same fragments, same order, none split or repeated
    assert parted.tapestry.digest() == whole.tapestry.digest() == live.digest()
    assert all(p.seq == parted.welcome.seq for p in parted.parts)
    # The first part is the small one: a page paints after it.
    sizes = [len(whole.codec.encode(SnapshotPart(0, 1, 2, p.fragments))) for p in parted.parts]
    first = len(whole.codec.encode(SnapshotPart(0, 1, 2, parted.welcome.snapshot)))
    assert first < min(sizes[:-1])


@pytest.mark.parametrize("codec", [MSGPACK, JSON])
async def test_w36_ops_during_a_welcome_in_parts_follow_its_last_part(
    start_server: StartServer, wire: Wire, codec: str
) -> None:
    # A send bound below the snapshot: the parts are one welcome, not a slow consumer's backlog.
    server, writer = await _garden(start_server, wire, send_buffer_bytes=48 * 1024)
    url = server.ws_url("garden")
    garden = await server.hub.sanctuary("garden")
    slow = await wire.open(url, codec=codec, rcvbuf=4096, max_queue=1)
    slow.pause()  # its parts back up in the server's send buffer while others write
    hello = Hello(name=slow.name, replica=slow.replica, features=("parts",)).to_wire()
    await slow.send_wire(hello)
    # Ops sent while the parts are encoded and sent, and after: all follow the last part.
    early = await writer.send_ops(writer.set("f0100", y=7), writer.symbol("early"))
    await writer.wait_for(lambda: any(m.sid != writer.welcome.sid for m in garden.members.values()), "the join")
    await writer.wait_acked(early)
    for n in range(3):
        await writer.wait_acked(await writer.send_ops(writer.set(f"f{n:04d}", x=1000 + n), writer.symbol(f"new{n}")))
    await writer.presence(cursor=[1, 2])
    await asyncio.sleep(0.2)  # a presence tick and a roster go out meanwhile too
    slow.resume()
    await slow.wait_for(lambda: slow.welcome is not None and slow.assembling is None, "the last part", within=10)
    await slow.wait_seq(garden.seq)
    assert slow.close_code is None
    assert slow.between_parts == []
    assert slow.gaps == []
    assert slow.welcome is not None
    assert slow.welcome.parts is not None
    assert slow.welcome.parts >= 3
    assert slow.tapestry.digest() == garden.tapestry.digest()
    # Ops after the welcome's seq came after the parts, as broadcasts (W5a, W36).
    assert slow.broadcasts
    assert slow.broadcasts[0].seq == slow.welcome.seq + 1


@pytest.mark.parametrize("codec", [MSGPACK, JSON])
async def test_w36_w37_a_hello_with_both_gets_compact_parts_that_load_to_a_canonical_whole_welcomes_digest(
    start_server: StartServer, wire: Wire, codec: str
) -> None:
    server, writer = await _garden(start_server, wire)
    # Some fragments written again under other stamps: their compact items list them apart.
    again = [writer.set(f"f{i:04d}", x=-i, z="W") for i in range(0, FRAGMENTS, 7)]
    await writer.wait_acked(await writer.send_ops(*again, writer.delete("f0003")))
    url = server.ws_url("garden")
    live = (await server.hub.sanctuary("garden")).tapestry
    whole = await wire.join(url, codec=codec)
    both = await wire.open(url, codec=codec)
    await wire.hello(both, features=["parts", "compact"])
    assert whole.welcome is not None
    assert whole.welcome.form is None
    assert whole.welcome.parts is None
    assert whole.welcome.snapshot is not None
    assert both.welcome is not None
    assert both.welcome.form == "compact"
    assert both.welcome.parts is not None
    assert both.welcome.parts == len(both.parts) + 1 >= 3
    assert both.welcome.snapshot is not None
    assembled = both.welcome.snapshot + [f for p in both.parts for f in p.fragments]
    # Every part carries compact items (M15), none split or repeated; expanded, the whole welcome's.
    assert all(type(item) is list and len(item) == 5 for item in assembled)
    assert expand(assembled) == whole.welcome.snapshot
    loaded = Tapestry.from_compact(assembled)
    assert loaded.digest() == Tapestry.from_data(whole.welcome.snapshot).digest() == live.digest()
    assert both.tapestry.digest() == live.digest()
    # The parts were cut from the compact items: fewer of them than of the canonical ones.
    canonical = await _join_with_parts(wire, url, codec)
    assert canonical.welcome is not None
    assert canonical.welcome.form is None
    assert canonical.welcome.parts is not None
    assert both.welcome.parts <= canonical.welcome.parts
    assert canonical.tapestry.digest() == live.digest()
