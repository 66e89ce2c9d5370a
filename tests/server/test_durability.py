"""Durability in-process (SPEC S1, S3): restart keeps the bytes and the clock, shutdown commits what is in flight,
and the crash checker's negative control."""

from __future__ import annotations

import asyncio
import random
from collections.abc import Sequence
from pathlib import Path

from acked import AckedLedger, missing_from_log, read_log, unreflected
from fuzz import KIND_GEOMS, RandomWriter, create, seed
from kit.timing import poll_until
from server_kit import StartServer, Wire
from wire import JSON, WireClient

from dreamloom.protocol import CloseCode, Op, Tapestry
from dreamloom.server.store import LogEntry, SqliteStore
from dreamloom.server.testing import InProcessServer, serve_in_process


async def fill(server: InProcessServer, wire: Wire, n_ops: int = 150) -> list[WireClient]:
    rng = random.Random(seed())
    clients = [await wire.join(server.ws_url("garden"), codec=codec) for codec in ("dreamloom.v1.msgpack", JSON)]
    shared = {f"s{i}": k for i, k in enumerate(KIND_GEOMS)}
    first = clients[0]
    await first.wait_acked(await first.send_ops(*(create(rng, first, fid, k) for fid, k in shared.items())))
    for c in clients:
        writer = RandomWriter(rng, c, shared)
        await c.wait_acked(await c.send_ops(*(writer.op() for _ in range(n_ops // 2))))
    return clients


async def test_S3_graceful_restart_serves_the_same_bytes(start_server: StartServer, wire: Wire) -> None:
    server = await start_server(snapshot_every=40)  # so the reload is snapshot + tail
    clients = await fill(server, wire)
    before = await server.hub.sanctuary("garden")
    data, seq = before.tapestry.encode(), before.seq
    await server.restart()
    for c in clients:
        assert await c.wait_closed() == CloseCode.GOING_AWAY
    after = await server.hub.sanctuary("garden")
    assert (after.seq, after.tapestry.encode()) == (seq, data)
    fresh = await wire.join(server.ws_url("garden"))
    assert fresh.tapestry.encode() == data


async def test_S3_the_clock_survives_a_restart(server: InProcessServer, wire: Wire) -> None:
    early = await wire.join(server.ws_url("garden"), replica="zz-early")
    early.clock.observe_counter(5000)  # an early writer far ahead of everyone else, still within stamp_ahead
    await early.wait_acked(await early.send_ops(early.symbol("moon"), early.set("moon", x=1.0, style={})))
    await server.restart()

    late = await wire.join(server.ws_url("garden"), replica="aa-late")  # sorts before zz: counters must decide
    await late.wait_acked(await late.send_ops(late.set("moon", x=2.0)))
    after = (await server.hub.sanctuary("garden")).tapestry.get("moon")
    assert after is not None
    assert after.x == 2.0
    await server.restart()
    again = (await server.hub.sanctuary("garden")).tapestry.get("moon")
    assert again is not None
    assert again.x == 2.0


async def test_W9_S5_resends_are_recognised_after_a_restart(start_server: StartServer, wire: Wire) -> None:
    server = await start_server(resume_window=2, snapshot_every=3)
    writer = await wire.join(server.ws_url("garden"), replica="w1")
    sent = [writer.symbol(f"f{i}") for i in range(6)]
    first = await writer.wait_acked(await writer.send_ops(*sent))
    await server.restart()
    back = await wire.join(server.ws_url("garden"), replica="w1")
    await back.wait_settled(await back.send_ops(*sent))
    assert back.rejects == {}
    sanctuary = await server.hub.sanctuary("garden")
    assert sanctuary.seq == 6
    assert len(await server.hub.store.read_ops("garden", 0)) == 6
    # Within the resume window the original seqs come back; older ones are acked at the current seq.
    assert all(back.acks[c] == first[c] for c in list(first)[-2:])


async def test_S1_shutdown_commits_in_flight_ops_and_closes_with_1001(start_server: StartServer, wire: Wire) -> None:
    server = await start_server()
    client = await wire.join(server.ws_url("garden"))
    other = await wire.join(server.ws_url("garden"), codec=JSON)
    sanctuary = await server.hub.sanctuary("garden")
    release = asyncio.Event()
    held = asyncio.ensure_future(sanctuary.call(release.wait))
    counters: list[int] = []
    for frame in range(3):
        counters += await client.send_ops(*(client.symbol(f"f{frame}-{i}") for i in range(20)))
    await poll_until(lambda: sanctuary.backlog >= 3, "ops queued in the sanctuary")
    stopping = asyncio.ensure_future(server.stop())
    await poll_until(lambda: sanctuary.closing or sanctuary.backlog >= 4, "the shutdown queued")
    release.set()
    await held
    await stopping
    # Acks for every in-flight op arrive before the 1001.
    assert await client.wait_closed() == CloseCode.GOING_AWAY
    assert await other.wait_closed() == CloseCode.GOING_AWAY
    assert sorted(client.acks) == sorted(counters)
    assert other.seq == 60
    await server.start()
    reloaded = await server.hub.sanctuary("garden")
    assert reloaded.seq == 60
    assert reloaded.tapestry.encode() == other.tapestry.encode()


class AckBeforeCommitStore(SqliteStore):
    """A broken store for the negative control: it acknowledges a batch before committing it,
    and commits it only when the next batch comes. A crash loses the last acknowledged batch."""

    def __init__(self, path: str) -> None:
        super().__init__(path)
        self.pending: list[LogEntry] = []

    async def append(self, sanctuary: str, entries: Sequence[LogEntry]) -> None:
        behind, self.pending = self.pending, list(entries)
        if behind:
            await super().append(sanctuary, behind)


async def test_S1_negative_control_the_checker_catches_ack_before_commit(tmp_path: Path, wire: Wire) -> None:
    db = tmp_path / "lossy.db"
    ledger = AckedLedger()
    async with serve_in_process(tmp_path, store=AckBeforeCommitStore(str(db))) as server:
        client = await wire.join(server.ws_url("garden"))
        for round_ in range(5):
            batch: dict[int, Op] = {}
            for i in range(4):
                op = client.symbol(f"f{round_}-{i}")
                batch[op.stamp.counter] = op
            await client.wait_acked(await client.send_ops(*batch.values()))
            ledger.record(client, batch)
        # The server is "killed" now: what a restart would find is what the database file holds.
        log, integrity = read_log(db, "garden")
        assert integrity == "ok"
        lost = missing_from_log(ledger, log)
        assert len(ledger) == 20
        assert lost, "the checker must see that acknowledged ops are missing"
        assert [seq for seq, _ in lost] == [17, 18, 19, 20]
        # The register check sees it too, on the tapestry a restart would load from that log.
        reloaded = Tapestry()
        reloaded.apply_many(log[s] for s in sorted(log))
        assert len(unreflected(ledger, reloaded)) > 0
        # ... and the same checks pass on the live, in-memory tapestry (it is the store that lost them).
        assert unreflected(ledger, (await server.hub.sanctuary("garden")).tapestry) == []
        client.abort()
