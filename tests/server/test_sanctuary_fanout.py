"""Fan-out beside the group commit, without sockets (SPEC F1, F5, S3).

A store whose commits wait on a gate (a slow fsync, on demand) or fail on
demand shows what others see while a commit is in flight, when senders are
acknowledged, and what a client holding an op the store lost gets back.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from test_sanctuary_unit import FakeClock, FakeMember, join, person, settle, submit, symbol

from dreamloom.protocol import Ack, Clock, CloseCode, Hello, Ops, Stamp, Welcome
from dreamloom.server.config import ServerConfig
from dreamloom.server.metrics import Metrics
from dreamloom.server.sanctuary import Sanctuary
from dreamloom.server.store import LogEntry, MemoryStore, Snapshot, StoreError

TIMEOUT = 5.0


class GatedStore(MemoryStore):
    """Commits wait for ``gate``; ``fail_next`` makes the next commit fail; ``commits`` lists their seqs."""

    def __init__(self) -> None:
        super().__init__()
        self.gate = asyncio.Event()
        self.gate.set()
        self.fail_next = False
        self.commits: list[list[int]] = []

    async def append(self, sanctuary: str, entries: Sequence[LogEntry]) -> None:
        await self.gate.wait()
        if self.fail_next:
            self.fail_next = False
            raise StoreError("the disk is gone")
        await super().append(sanctuary, entries)
        self.commits.append([e.seq for e in entries])

    async def save_snapshot(self, sanctuary: str, snapshot: Snapshot) -> None:
        committed = self.commits[-1][-1] if self.commits else 0
        assert snapshot.seq <= committed, f"a snapshot at {snapshot.seq} ahead of the log at {committed}"
        await super().save_snapshot(sanctuary, snapshot)


@dataclass(eq=False)
class WatchedMember(FakeMember):
    """A fake member whose arrivals can be awaited."""

    arrived: asyncio.Event = field(default_factory=asyncio.Event)

    def send(self, message: Any) -> None:
        super().send(message)
        self.arrived.set()

    def send_frame(self, frame: bytes, *, droppable: bool = False) -> None:
        super().send_frame(frame, droppable=droppable)
        self.arrived.set()

    def close(self, code: int, reason: str) -> None:
        super().close(code, reason)
        self.arrived.set()

    async def until(self, done: Callable[[], bool]) -> None:
        async with asyncio.timeout(TIMEOUT):
            while not done():
                self.arrived.clear()
                await self.arrived.wait()


def watched(n: int) -> WatchedMember:
    p = person(n)
    return WatchedMember(p.sid, p.replica, p.identity)


def seen(member: FakeMember) -> list[str]:
    return [op.id for frame in member.of(Ops) for op in frame.ops]


@contextlib.asynccontextmanager
async def running(store: MemoryStore, **config: Any) -> AsyncIterator[Sanctuary]:
    sanctuary = await Sanctuary.load("garden", store, ServerConfig(**config), Metrics(), clock=FakeClock())
    task = asyncio.create_task(sanctuary.run())
    try:
        yield sanctuary
    finally:
        if isinstance(store, GatedStore):
            store.gate.set()
        await sanctuary.shutdown()
        await task


async def test_F1_S3_others_see_an_op_during_its_commit_and_the_sender_is_acked_after_it() -> None:
    store = GatedStore()
    async with running(store) as sanctuary:
        a, b = watched(1), watched(2)
        await join(sanctuary, a)
        await join(sanctuary, b)
        store.gate.clear()  # the fsync stalls
        submit(sanctuary, a, [symbol("moon", Stamp(1, "r1"))])
        await b.until(lambda: seen(b) == ["moon"])
        assert seen(a) == ["moon"]  # the sender's own broadcast too (F1)
        assert a.of(Ack) == []  # not durable yet: no ack (S3)
        assert await store.read_ops("garden", 0) == []
        store.gate.set()
        await a.until(lambda: bool(a.of(Ack)))
        assert a.acks() == {1: 1}
        assert [e.op.id for e in await store.read_ops("garden", 0)] == ["moon"]


async def test_S3_ops_merged_during_a_commit_share_the_next_one_and_acks_keep_seq_order() -> None:
    store = GatedStore()
    async with running(store, commit_interval=0.0) as sanctuary:
        a, b = watched(1), watched(2)
        await join(sanctuary, a)
        await join(sanctuary, b)
        clock = Clock("r1")
        store.gate.clear()
        submit(sanctuary, a, [symbol("f0", clock.tick())])
        await b.until(lambda: len(seen(b)) == 1)
        submit(sanctuary, a, [symbol("f1", clock.tick())])
        await b.until(lambda: len(seen(b)) == 2)
        submit(sanctuary, a, [symbol("f2", clock.tick())])
        await b.until(lambda: len(seen(b)) == 3)
        assert a.of(Ack) == []
        store.gate.set()
        await a.until(lambda: len(a.acks()) == 3)
        assert store.commits == [[1], [2, 3]]  # one commit in flight; what came meanwhile, in the next
        assert [[s for _, s in ack.acks] for ack in a.of(Ack)] == [[1], [2, 3]]


async def test_S1_S3_a_snapshot_is_written_after_the_commit_of_its_last_op_without_stalling_broadcasts() -> None:
    store = GatedStore()
    async with running(store, commit_interval=0.0, snapshot_every=3) as sanctuary:
        a, b = watched(1), watched(2)
        await join(sanctuary, a)
        await join(sanctuary, b)
        clock = Clock("r1")
        store.gate.clear()
        for i in range(4):
            submit(sanctuary, a, [symbol(f"f{i}", clock.tick())])
            await b.until(lambda i=i: len(seen(b)) == i + 1)  # broadcast while the store is stuck
        store.gate.set()
        await a.until(lambda: len(a.acks()) == 4)
        snap = await store.latest_snapshot("garden")
        assert snap is not None
        assert snap.seq == 4
        assert store.commits == [[1], [2, 3, 4]]


async def test_S3_a_commit_waits_out_commit_interval_and_a_join_commits_what_waits() -> None:
    store = GatedStore()
    async with running(store, commit_interval=3600.0) as sanctuary:
        a, b = watched(1), watched(2)
        await join(sanctuary, a)
        await join(sanctuary, b)
        clock = Clock("r1")
        submit(sanctuary, a, [symbol("first", clock.tick())])
        await a.until(lambda: bool(a.of(Ack)))  # an idle store commits at once
        submit(sanctuary, a, [symbol("second", clock.tick())])
        await b.until(lambda: seen(b) == ["first", "second"])  # broadcast without waiting
        assert a.acks() == {1: 1}
        c = watched(3)
        welcome = await join(sanctuary, c)  # a welcome shows committed state only
        assert welcome.seq == 2
        assert a.acks() == {1: 1, 2: 2}
        assert store.commits == [[1], [2]]


async def test_F5_a_failed_commit_ends_the_run_and_a_seq_from_it_resumes_only_by_snapshot() -> None:
    store = GatedStore()
    clock = Clock("r1")
    async with running(store) as first_run:
        a, b = watched(1), watched(2)
        await join(first_run, a)
        welcome_b = await join(first_run, b)
        submit(first_run, a, [symbol("kept", clock.tick())])
        await a.until(lambda: bool(a.of(Ack)))
        store.gate.clear()
        store.fail_next = True
        submit(first_run, a, [symbol("lost", clock.tick())])
        await b.until(lambda: seen(b) == ["kept", "lost"])  # b now holds an op the store will not have
        store.gate.set()
        await b.until(lambda: b.closed_with is not None)
        assert (a.closed_with, b.closed_with) == (CloseCode.INTERNAL_ERROR, CloseCode.INTERNAL_ERROR)
        assert a.acks() == {1: 1}  # the lost op was never acknowledged
        old_epoch = welcome_b.epoch
    async with running(store) as second_run:
        assert second_run.epoch != old_epoch
        c = watched(3)
        await join(second_run, c)
        submit(second_run, c, [symbol("newer", Stamp(1, "r3"))])
        await c.until(lambda: bool(c.of(Ack)))  # seq 2 again, now a different op
        back = watched(2)
        await second_run.join(back, Hello(name="person 2", replica="r2", seq=2, epoch=old_epoch))  # type: ignore[arg-type]
        [stale] = back.of(Welcome)
        assert stale.snapshot is not None
        assert stale.ops == ()
        assert sorted(frag[0] for frag in stale.snapshot) == ["kept", "newer"]
        again = watched(4)
        await second_run.join(again, Hello(name="person 4", replica="r4", seq=1, epoch=second_run.epoch))  # type: ignore[arg-type]
        [resumed] = again.of(Welcome)
        assert resumed.snapshot is None
        assert [op.id for op in resumed.ops] == ["newer"]
        await settle(second_run)


async def test_F5_a_seq_without_an_epoch_gets_a_snapshot() -> None:
    async with running(MemoryStore()) as sanctuary:
        a = watched(1)
        await join(sanctuary, a)
        submit(sanctuary, a, [symbol("moon", Stamp(1, "r1"))])
        await a.until(lambda: bool(a.of(Ack)))
        b = watched(2)
        welcome = await join(sanctuary, b, seq=0)
        assert welcome.snapshot is not None
        assert welcome.epoch == sanctuary.epoch


async def test_F6_ops_merged_while_fan_out_is_paced_share_one_broadcast_and_a_join_sends_them_first() -> None:
    # A pace far longer than any test: only a join (or a call, or an unload) lets the ops out.
    async with running(MemoryStore(), fanout_pacing=1e9, fanout_max_wait=3600.0) as sanctuary:
        a, b = watched(1), watched(2)
        await join(sanctuary, a)
        await join(sanctuary, b)
        submit(sanctuary, a, [symbol("first", Stamp(1, "r1"))])
        await b.until(lambda: seen(b) == ["first"])  # after a quiet moment: at once
        submit(sanctuary, a, [symbol("second", Stamp(2, "r1"))])
        await a.until(lambda: a.acks() == {1: 1, 2: 2})  # acks are not paced (S3)
        submit(sanctuary, b, [symbol("third", Stamp(1, "r2"))])
        await b.until(lambda: b.acks() == {1: 3})
        assert seen(b) == ["first"]  # both wait for the pace
        newcomer = watched(3)
        welcome = await join(sanctuary, newcomer)
        assert welcome.seq == 3
        assert [[op.id for op in frame.ops] for frame in b.of(Ops)] == [["first"], ["second", "third"]]
        assert seen(a) == ["first", "second", "third"]


async def test_F6_a_paced_broadcast_goes_out_by_itself_when_its_time_comes() -> None:
    async with running(MemoryStore(), fanout_pacing=1e9, fanout_max_wait=0.05) as sanctuary:
        a, b = watched(1), watched(2)
        await join(sanctuary, a)
        await join(sanctuary, b)
        submit(sanctuary, a, [symbol("first", Stamp(1, "r1"))])
        await b.until(lambda: seen(b) == ["first"])
        submit(sanctuary, a, [symbol("second", Stamp(2, "r1"))])
        submit(sanctuary, a, [symbol("third", Stamp(3, "r1"))])
        await b.until(lambda: seen(b) == ["first", "second", "third"])  # no join, no call: the pace ran out


async def test_F6_without_pacing_each_op_after_a_broadcast_goes_out_alone() -> None:
    async with running(MemoryStore(), fanout_pacing=0.0) as sanctuary:
        a, b = watched(1), watched(2)
        await join(sanctuary, a)
        await join(sanctuary, b)
        for n, fid in enumerate(("first", "second", "third"), start=1):
            submit(sanctuary, a, [symbol(fid, Stamp(n, "r1"))])
            await b.until(lambda: fid in seen(b))  # noqa: B023 - awaited before the loop moves on
        assert [[op.id for op in frame.ops] for frame in b.of(Ops)] == [["first"], ["second"], ["third"]]
