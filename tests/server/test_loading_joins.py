"""Joins while a sanctuary loads (SPEC S11, W25): welcomed from the stored snapshot at once, ops wait.

The actor without sockets, as in test_sanctuary_unit.py: fake members record what they are sent.
"""

from __future__ import annotations

import asyncio
from typing import Any

import msgpack
from test_sanctuary_unit import FakeClock, FakeMember, join, person, running, settle, submit, symbol

from dreamloom.protocol import (
    Ack,
    Clock,
    CloseCode,
    ErrorCode,
    Hello,
    Identity,
    MsgpackCodec,
    Op,
    Ops,
    Reject,
    Stamp,
    Tapestry,
    Welcome,
    ops,
)
from dreamloom.server.budgets import BudgetGate
from dreamloom.server.config import ServerConfig
from dreamloom.server.gate import Gate
from dreamloom.server.metrics import Metrics
from dreamloom.server.sanctuary import Sanctuary
from dreamloom.server.store import LogEntry, MemoryStore, Snapshot

_MSGPACK = MsgpackCodec()


class MsgpackMember(FakeMember):
    """A fake member of the msgpack codec (the stored snapshot's own: S11 sends it as it is)."""

    @property
    def codec_name(self) -> str:
        return _MSGPACK.name

    def send_frame(self, frame: bytes, *, droppable: bool = False) -> None:
        self.received.append(_MSGPACK.decode_server(frame))


class RawMember(MsgpackMember):
    """Records frames as sent, undecoded."""

    def send_frame(self, frame: bytes, *, droppable: bool = False) -> None:
        self.received.append(frame)


def msgpack_person(n: int) -> MsgpackMember:
    return MsgpackMember(f"s{n}", f"r{n}", Identity(f"u{n}", f"person {n}", "dreamer", "organic"))


def text(fid: str, stamp: Stamp, size: int) -> Op:
    return ops.create(fid, stamp, kind="text", geom={"text": "a" * size, "size": 12}, z="V")


async def _start(
    store: MemoryStore, joiner: FakeMember, gate: Any = None, features: tuple[str, ...] = (), **config: Any
) -> tuple[Sanctuary, asyncio.Task[Any]]:
    """Load a sanctuary with ``joiner``'s join queued before it runs (the first thing it handles)."""
    cfg = ServerConfig(batch_window=0.0, **config)
    sanctuary = await Sanctuary.load("garden", store, cfg, Metrics(), gate, clock=FakeClock())
    hello = Hello(name=joiner.identity.name, replica=joiner.replica, seq=None, features=features)
    joined = asyncio.create_task(sanctuary.join(joiner, hello))  # type: ignore[arg-type]
    task = asyncio.create_task(sanctuary.run())
    await joined
    return sanctuary, task


async def test_S11_W25_a_join_while_the_snapshot_decodes_gets_it_at_its_seq_then_the_log_after_it() -> None:
    store = MemoryStore()
    async with running(store) as first:
        a = person(1)
        await join(first, a)
        clock = Clock("r1")
        submit(first, a, [symbol(f"f{i}", clock.tick()) for i in range(3)])
        await settle(first)
    # Stopped cleanly: a snapshot at seq 3. Two more ops in the log after it (the run that wrote
    # them ended without a snapshot).
    later = [symbol("f3", clock.tick()), ops.set_fields("f0", clock.tick(), x=7)]
    await store.append("garden", [LogEntry(4 + i, op, "u1", 0.0) for i, op in enumerate(later)])
    b = msgpack_person(2)
    sanctuary, task = await _start(store, b)
    try:
        [welcome] = b.of(Welcome)
        assert (welcome.seq, welcome.since, welcome.ops) == (3, 3, ())
        assert welcome.snapshot is not None
        assert [fid for fid, _ in welcome.snapshot] == ["f0", "f1", "f2"]
        # Then the log after the snapshot, as broadcasts from seq 4: nothing else came between.
        assert b.received.index(welcome) == 0
        assert [(f.seq, [op.id for op in f.ops]) for f in b.of(Ops)] == [(4, ["f3", "f0"])]
        seen = Tapestry.from_data(welcome.snapshot)
        seen.apply_many(op for f in b.of(Ops) for op in f.ops)
        await sanctuary.loaded()
        assert sanctuary.seq == 5
        assert seen.encode() == sanctuary.tapestry.encode()
        # Ops go on from there without a gap; a later join gets the whole tapestry at its seq.
        submit(sanctuary, b, [ops.set_fields("f3", Stamp(1, "r2"), y=2)])
        await settle(sanctuary)
        assert [f.seq for f in b.of(Ops)] == [4, 6]
        assert b.acks() == {1: 6}
        c = msgpack_person(3)
        late = await join(sanctuary, c)
        assert (late.seq, late.since) == (6, 6)
        assert late.snapshot is not None
        assert Tapestry.from_data(late.snapshot).encode() == sanctuary.tapestry.encode()
        assert c.of(Ops) == []
    finally:
        await sanctuary.shutdown()
        await task


class _HeldWeighing(BudgetGate):
    """The live-bytes budget, its weighing held until the test lets it go; records what checks saw."""

    def __init__(self, limit: int) -> None:
        super().__init__(Gate(), limit)
        self.release = asyncio.Event()
        self.weighed_at_check: list[bool] = []

    async def prepare(self, tapestry: Tapestry) -> None:
        await self.release.wait()
        await super().prepare(tapestry)

    def check(self, member: Any, op: Op, tapestry: Tapestry) -> None:
        self.weighed_at_check.append(self.total is not None)
        super().check(member, op, tapestry)


async def test_S11_a_join_while_the_budget_is_weighed_is_welcomed_and_an_op_then_waits_for_the_weight() -> None:
    store = MemoryStore()
    async with running(store) as first:
        a = person(1)
        await join(first, a)
        submit(first, a, [text("t0", Stamp(1, "r1"), 100)])
        await settle(first)
    gate = _HeldWeighing(limit=150)
    b = msgpack_person(2)
    sanctuary, task = await _start(store, b, gate)
    try:
        # Welcomed with the whole tapestry while the weighing has not even started.
        [welcome] = b.of(Welcome)
        assert welcome.snapshot is not None
        assert [fid for fid, _ in welcome.snapshot] == ["t0"]
        c = msgpack_person(3)
        await join(sanctuary, c)  # and so is the next join
        assert gate.total is None
        # An op sent now is checked once the weight is known: 100 + 100 bytes is over 150.
        submit(sanctuary, b, [text("t1", Stamp(1, "r2"), 100), text("t2", Stamp(2, "r2"), 40)])
        gate.release.set()
        await settle(sanctuary)
        assert gate.weighed_at_check == [True, True]
        [reject] = b.of(Reject)
        assert (reject.stamp, reject.code) == (Stamp(1, "r2"), ErrorCode.OVER_BUDGET)
        assert [(c_, s) for a_ in b.of(Ack) for c_, s in a_.acks] == [(2, 2)]
        assert gate.total == 140
    finally:
        await sanctuary.shutdown()
        await task


async def test_S11_a_join_waits_for_the_decode_when_the_log_after_the_snapshot_is_long() -> None:
    store = MemoryStore()
    async with running(store) as first:
        a = person(1)
        await join(first, a)
        submit(first, a, [symbol("f0", Stamp(1, "r1"))])
        await settle(first)
    # More log after the snapshot than a quarter of a connection's send bound: sent as ops behind
    # the welcome, it could close the joiner as a slow consumer (F3).
    big = [text(f"t{i:03d}", Stamp(2 + i, "r1"), 1000) for i in range(100)]
    await store.append("garden", [LogEntry(2 + i, op, "u1", 0.0) for i, op in enumerate(big)])
    b = msgpack_person(2)
    sanctuary, task = await _start(store, b, send_buffer_bytes=256 * 1024)
    try:
        [welcome] = b.of(Welcome)
        assert (welcome.seq, welcome.since) == (101, 101)
        assert welcome.snapshot is not None
        assert len(welcome.snapshot) == 101
        assert b.of(Ops) == []
        assert Tapestry.from_data(welcome.snapshot).encode() == sanctuary.tapestry.encode()
    finally:
        await sanctuary.shutdown()
        await task


async def test_S11_S10_a_stored_snapshot_of_a_broken_structure_fails_the_sanctuary_after_its_welcome() -> None:
    store = MemoryStore()
    await store.ensure_sanctuary("garden")
    broken = msgpack.packb([["f0", {"nowhere": [1, "r1", 2]}]], use_bin_type=True)
    await store.save_snapshot("garden", Snapshot(1, broken, {"r1": 1}))
    b = RawMember("s2", "r2", Identity("u2", "person 2", "dreamer", "organic"))
    sanctuary, task = await _start(store, b)
    assert len(b.received) == 1  # its welcome, the snapshot as stored: a client's own decoder judges it
    await task  # the decode fails the sanctuary: its connections are closed (F5)
    assert b.closed_with == CloseCode.INTERNAL_ERROR
    assert sanctuary.closing


async def test_S11_a_json_join_while_the_snapshot_decodes_waits_for_the_whole_tapestry() -> None:
    store = MemoryStore()
    async with running(store) as first:
        a = person(1)
        await join(first, a)
        submit(first, a, [symbol("f0", Stamp(1, "r1"))])
        await settle(first)
    await store.append("garden", [LogEntry(2, symbol("f1", Stamp(2, "r1")), "u1", 0.0)])
    b = person(2)  # JSON: the stored snapshot is msgpack, not sent as it is
    sanctuary, task = await _start(store, b)
    try:
        [welcome] = b.of(Welcome)
        assert (welcome.seq, welcome.since) == (2, 2)
        assert welcome.snapshot is not None
        assert [fid for fid, _ in welcome.snapshot] == ["f0", "f1"]
        assert b.of(Ops) == []
    finally:
        await sanctuary.shutdown()
        await task


async def test_S11_no_snapshot_is_taken_of_a_tapestry_still_decoding() -> None:
    store = MemoryStore()
    await store.ensure_sanctuary("garden")
    # A log and no snapshot (a crash before the first): past the snapshot spacing, so the
    # settling before a join would take one if it looked at the half-decoded tapestry.
    log = [symbol(f"f{i}", Stamp(1 + i, "r1")) for i in range(5)]
    await store.append("garden", [LogEntry(1 + i, op, "u1", 0.0) for i, op in enumerate(log)])
    b = msgpack_person(2)
    sanctuary, task = await _start(store, b, snapshot_every=2)
    try:
        [welcome] = b.of(Welcome)
        assert (welcome.seq, welcome.snapshot) == (0, [])
        await sanctuary.loaded()
        submit(sanctuary, b, [symbol("g0", Stamp(1, "r2"))])
        await settle(sanctuary)
        snap = await store.latest_snapshot("garden")
        assert snap is not None
        assert snap.seq == 6
        assert snap.data == sanctuary.tapestry.encode()
        assert len(sanctuary.tapestry) == 6
    finally:
        await sanctuary.shutdown()
        await task


async def test_W37_a_join_while_the_snapshot_decodes_gets_the_stored_canonical_form_even_if_it_asks() -> None:
    store = MemoryStore()
    async with running(store) as first:
        a = person(1)
        await join(first, a)
        clock = Clock("r1")
        submit(first, a, [symbol(f"f{i}", clock.tick()) for i in range(3)])
        await settle(first)
    b = msgpack_person(2)
    sanctuary, task = await _start(store, b, features=("compact",))
    try:
        [welcome] = b.of(Welcome)
        assert welcome.form is None  # the stored snapshot's own bytes: canonical (S11)
        assert welcome.snapshot is not None
        assert Tapestry.from_data(welcome.snapshot).to_data() == welcome.snapshot
        await sanctuary.loaded()
        # Once the tapestry is whole, the same hello gets the compact form.
        c = msgpack_person(3)
        await sanctuary.join(c, Hello(name="c", replica=c.replica, seq=None, features=("compact",)))  # type: ignore[arg-type]
        [later] = c.of(Welcome)
        assert later.form == "compact"
        assert Tapestry.from_compact(later.snapshot).encode() == sanctuary.tapestry.encode()
    finally:
        await sanctuary.shutdown()
        await task


async def test_w36_S11_a_join_while_the_snapshot_decodes_gets_the_stored_canonical_bytes_whole() -> None:
    store = MemoryStore()
    async with running(store) as first:
        a = person(1)
        await join(first, a)
        clock = Clock("r1")
        submit(first, a, [symbol(f"f{i:03d}", clock.tick()) for i in range(200)])
        await settle(first)
    later = [symbol("new", clock.tick()), ops.set_fields("f000", clock.tick(), x=7)]
    await store.append("garden", [LogEntry(201 + i, op, "u1", 0.0) for i, op in enumerate(later)])
    b = msgpack_person(2)
    parts = {"welcome_first_part_bytes": 1024, "welcome_part_bytes": 4096}
    sanctuary, task = await _start(store, b, features=("parts", "compact"), **parts)
    try:
        welcome = b.received[0]
        assert isinstance(welcome, Welcome)
        assert (welcome.seq, welcome.since) == (200, 200)
        assert welcome.form is None  # the stored bytes stay canonical (W37)
        # Whole, though parts were asked for and it is far above the first part's size (W36):
        # the stored bytes go out as they lie, then the log after them.
        assert welcome.parts is None
        assert [(f.seq, [op.id for op in f.ops]) for f in b.received[1:]] == [(201, ["new", "f000"])]
        assert welcome.snapshot is not None
        seen = Tapestry.from_data(welcome.snapshot)
        assert len(seen) == 200
        seen.apply_many(op for f in b.of(Ops) for op in f.ops)
        await sanctuary.loaded()
        assert seen.encode() == sanctuary.tapestry.encode()
    finally:
        await sanctuary.shutdown()
        await task
