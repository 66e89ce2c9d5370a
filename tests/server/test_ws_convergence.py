"""Convergence through the server (SPEC M5, F1-F2): concurrent clients of both codecs end byte-identical."""

from __future__ import annotations

import asyncio
import random

from fuzz import KIND_GEOMS, RandomWriter, create, seed
from kit.timing import poll_until
from server_kit import StartServer, Wire
from wire import JSON, MSGPACK, WireClient

from dreamloom.protocol import Tapestry
from dreamloom.server.testing import InProcessServer

CLIENTS = 10
OPS_EACH = 200


async def write(rng: random.Random, client: WireClient, shared: dict[str, str]) -> list[int]:
    writer = RandomWriter(rng, client, shared)
    counters: list[int] = []
    left = OPS_EACH
    while left:
        n = min(left, rng.randint(1, 4))
        counters += await client.send_ops(*(writer.op() for _ in range(n)))
        left -= n
        if rng.random() < 0.3:
            await asyncio.sleep(0)  # let the others interleave at random points
    return counters


async def test_F1_ten_clients_two_codecs_converge_byte_for_byte(server: InProcessServer, wire: Wire) -> None:
    s = seed()
    print(f"seed={s}")
    rng = random.Random(s)
    url = server.ws_url("garden")
    clients = [await wire.join(url, codec=MSGPACK if i % 2 else JSON) for i in range(CLIENTS)]
    first = clients[0]
    shared = {f"shared-{i}": kind for i, kind in enumerate(KIND_GEOMS * 2)}
    await first.wait_acked(await first.send_ops(*(create(rng, first, fid, kind) for fid, kind in shared.items())))
    for c in clients:
        await c.wait_seq(len(shared))

    sent = await asyncio.gather(*(write(random.Random(rng.random()), c, shared) for c in clients))
    for c, counters in zip(clients, sent, strict=True):
        await c.wait_acked(counters, within=30)
    sanctuary = await server.hub.sanctuary("garden")
    total = len(shared) + CLIENTS * OPS_EACH
    assert sanctuary.seq == total, f"seed={s}"
    for c in clients:
        await c.wait_seq(total, within=30)

    expected = sanctuary.tapestry.encode()
    for c in clients:
        assert c.gaps == [], f"seed={s}"
        assert c.undecodable == [], f"seed={s}"
        assert c.tapestry.encode() == expected, f"seed={s} replica {c.replica} ({c.codec.name}) diverged"
    # Every client saw each op exactly once, in seq order, from one broadcast stream.
    for c in clients:
        seqs = [b.seq + i for b in c.broadcasts for i in range(len(b.ops))]  # type: ignore[operator]
        assert seqs == list(range(1, total + 1))
    # The stored log replays to the same bytes (what a restart would load).
    replay = Tapestry()
    replay.apply_many(e.op for e in await server.hub.store.read_ops("garden", 0))
    assert replay.encode() == expected, f"seed={s}"
    # Concurrency really happened: ops were batched, and shared fields were written by many replicas.
    assert len(first.broadcasts) < total
    writers = {op.stamp.replica for b in first.broadcasts for op in b.ops if op.id == "shared-0" and op.t == "s"}
    assert len(writers) >= CLIENTS // 2


async def test_F2_ops_committed_together_are_broadcast_in_frames_clients_can_decode(
    start_server: StartServer, wire: Wire
) -> None:
    server = await start_server(ops_burst=2000.0)
    writer = await wire.join(server.ws_url("garden"))
    reader = await wire.join(server.ws_url("garden"), codec=JSON)
    sanctuary = await server.hub.sanctuary("garden")
    release = asyncio.Event()
    # Hold the actor so that three full frames of ops queue up and land in one group commit.
    held = asyncio.ensure_future(sanctuary.call(release.wait))
    counters: list[int] = []
    for frame in range(3):
        counters += await writer.send_ops(*(writer.symbol(f"f{frame}-{i}") for i in range(256)))
    await poll_until(lambda: sanctuary.backlog >= 3, "three queued frames")
    release.set()
    await held
    await writer.wait_acked(counters)
    for c in (writer, reader):
        await c.wait_seq(768)
        assert c.undecodable == []
        assert c.gaps == []
        assert max(len(b.ops) for b in c.broadcasts) <= 256
        assert c.tapestry.encode() == sanctuary.tapestry.encode()
    assert len(writer.broadcasts) == 3  # one commit, split only as far as the frame limit needs
