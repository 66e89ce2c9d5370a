"""The sanctuary actor without sockets (SPEC F1, W9, W13, S3, S5): fake members record what they are sent.

A :class:`FakeMember` is everything the actor may use of a connection (the
``Member`` protocol); a fake clock gives the log its times.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import pytest

from dreamloom.protocol import (
    Ack,
    Clock,
    CloseCode,
    Hello,
    Identity,
    JsonCodec,
    Op,
    Ops,
    Peer,
    PresenceState,
    Reject,
    ServerMessage,
    SnapshotPart,
    Stamp,
    Tapestry,
    UsageError,
    Welcome,
    ops,
)
from dreamloom.server.auth import Claims
from dreamloom.server.config import ServerConfig
from dreamloom.server.metrics import Metrics
from dreamloom.server.sanctuary import Sanctuary, SanctuaryClosed
from dreamloom.server.store import LogEntry, MemoryStore, StoreError

_CODEC = JsonCodec()


@dataclass(eq=False)  # members are told apart by identity, as connections are
class FakeMember:
    """A member that records its frames (decoded) and its close code."""

    sid: str
    replica: str
    identity: Identity
    claims: Claims | None = None
    issued_token: str | None = None
    presence: PresenceState = field(default_factory=PresenceState)
    received: list[Any] = field(default_factory=list)
    closed_with: int | None = None
    colour: str = "#ffffff"

    @property
    def peer(self) -> Peer:
        return Peer(self.sid, self.identity.name, self.identity.role, self.identity.origin, self.colour)

    @peer.setter
    def peer(self, value: Peer) -> None:
        # The sanctuary gives each member its colour (W11a); the rest follows the identity.
        self.colour = value.color

    @property
    def codec_name(self) -> str:
        return _CODEC.name

    def send(self, message: ServerMessage) -> None:
        self.received.append(message)

    def send_frame(self, frame: bytes, *, droppable: bool = False) -> None:
        self.received.append(_CODEC.decode_server(frame))

    def close(self, code: int, reason: str) -> None:
        self.closed_with = code

    def set_identity(self, identity: Identity, replica: str, *, issued_token: str | None = None) -> None:
        self.identity, self.replica = identity, replica

    def of(self, kind: type) -> list[Any]:
        return [m for m in self.received if isinstance(m, kind)]

    def acks(self) -> dict[int, int]:
        return {c: s for a in self.of(Ack) for c, s in a.acks}


class FakeClock:
    def __init__(self) -> None:
        self.now = 1_800_000_000.0

    def __call__(self) -> float:
        return self.now


def person(n: int) -> FakeMember:
    return FakeMember(f"s{n}", f"r{n}", Identity(f"u{n}", f"person {n}", "dreamer", "organic"))


def symbol(fid: str, stamp: Stamp) -> Op:
    return ops.create(fid, stamp, kind="symbol", geom={"sym": "moon", "size": 9}, z="V")


@contextlib.asynccontextmanager
async def running(store: MemoryStore | None = None, **config: Any) -> AsyncIterator[Sanctuary]:
    store = store or MemoryStore()
    cfg = ServerConfig(batch_window=0.0, **config)
    sanctuary = await Sanctuary.load("garden", store, cfg, Metrics(), clock=FakeClock())
    task = asyncio.create_task(sanctuary.run())
    try:
        yield sanctuary
    finally:
        await sanctuary.shutdown()
        await task


async def settle(sanctuary: Sanctuary) -> None:
    """Wait until the actor has handled everything queued so far (a call runs after them)."""

    async def nothing() -> None:
        return None

    await sanctuary.call(nothing)


async def join(sanctuary: Sanctuary, member: FakeMember, seq: int | None = None) -> Welcome:
    await sanctuary.join(member, Hello(name=member.identity.name, replica=member.replica, seq=seq))  # type: ignore[arg-type]
    [welcome] = member.of(Welcome)[-1:]
    return welcome


def submit(sanctuary: Sanctuary, member: FakeMember, batch: Sequence[Op]) -> None:
    sanctuary.submit(member, tuple(batch))  # type: ignore[arg-type]


async def test_F1_an_op_to_an_idle_sanctuary_is_broadcast_as_it_is_handed_over() -> None:
    async with running() as sanctuary:
        a, b = person(1), person(2)
        await join(sanctuary, a)
        await join(sanctuary, b)
        await settle(sanctuary)
        clock = Clock("r1")
        submit(sanctuary, a, [symbol("f0", clock.tick())])
        # No await: the actor had nothing in hand, so the op was merged and sent in place.
        assert [(f.seq, [op.id for op in f.ops]) for f in b.of(Ops)] == [(1, ["f0"])]
        assert a.acks() == {}  # the ack still waits for the commit (S3)
        await settle(sanctuary)
        assert a.acks() == {1: 1}


async def test_F1_ops_waiting_together_share_one_commit_and_one_frame() -> None:
    async with running() as sanctuary:
        a, b = person(1), person(2)
        await join(sanctuary, a)
        await join(sanctuary, b)
        clock = Clock("r1")
        busy, release = asyncio.Event(), asyncio.Event()

        async def hold() -> None:
            busy.set()
            await release.wait()

        holding = asyncio.ensure_future(sanctuary.call(hold))
        await busy.wait()
        for i in range(3):  # they arrive while the actor is busy: they wait for it together
            submit(sanctuary, a, [symbol(f"f{i}", clock.tick())])
        release.set()
        await holding
        await settle(sanctuary)
        frames = b.of(Ops)
        assert [(f.seq, [op.id for op in f.ops]) for f in frames] == [(1, ["f0", "f1", "f2"])]
        assert a.acks() == {1: 1, 2: 2, 3: 3}
        assert b.of(Ops) == a.of(Ops)  # the sender gets the broadcast too (F1)
        assert [e.time for e in await sanctuary.store.read_ops("garden", 0)] == [1_800_000_000.0] * 3


async def test_W9_a_resend_is_acked_at_its_seq_and_a_lower_new_stamp_applied() -> None:
    async with running() as sanctuary:
        a = person(1)
        await join(sanctuary, a)
        high = symbol("high", Stamp(50, "r1"))
        submit(sanctuary, a, [high])
        await settle(sanctuary)
        submit(sanctuary, a, [symbol("low", Stamp(40, "r1")), high, high])
        await settle(sanctuary)
        assert a.acks() == {50: 1, 40: 2}
        assert [op.id for f in a.of(Ops) for op in f.ops] == ["high", "low"]  # the resends are not broadcast
        assert sanctuary.seq == 2


async def test_W9_S5_a_resend_older_than_memory_is_found_in_the_store() -> None:
    store = MemoryStore()
    async with running(store, resume_window=2) as sanctuary:
        a = person(1)
        await join(sanctuary, a)
        clock = Clock("r1")
        first = symbol("first", clock.tick())
        submit(sanctuary, a, [first])
        for i in range(30):
            submit(sanctuary, a, [symbol(f"f{i}", clock.tick())])
            await settle(sanctuary)
    async with running(store, resume_window=2) as again:  # a restart: memory knows the last 2 only
        a = person(1)
        await join(again, a)
        submit(again, a, [first])
        await settle(again)
        assert a.acks() == {first.stamp.counter: 1}
        assert again.seq == 31


async def test_W13_refusals_name_their_stamp_and_change_nothing() -> None:
    async with running() as sanctuary:
        a = person(1)
        await join(sanctuary, a)
        submit(sanctuary, a, [ops.set_fields("nowhere", Stamp(1, "r1"), x=1), symbol("x", Stamp(2, "other"))])
        await settle(sanctuary)
        assert [(r.stamp, r.code.value) for r in a.of(Reject)] == [
            (Stamp(1, "r1"), "unknown_fragment"),
            (Stamp(2, "other"), "bad_stamp"),
        ]
        assert sanctuary.seq == 0


async def test_W14_a_newer_connection_of_the_same_replica_replaces_the_older_with_4012() -> None:
    async with running() as sanctuary:
        old, new = person(1), person(1)
        new.sid = "s1-new"
        await join(sanctuary, old)
        await join(sanctuary, new)
        assert old.closed_with == CloseCode.REPLACED
        assert list(sanctuary.members) == ["s1-new"]


async def test_S3_a_failed_commit_closes_every_member_with_1011_and_acks_nothing() -> None:
    class FailingStore(MemoryStore):
        async def append(self, sanctuary: str, entries: Sequence[LogEntry]) -> None:
            raise StoreError("the disk is gone")

    store = FailingStore()
    sanctuary = await Sanctuary.load("garden", store, ServerConfig(batch_window=0.0), Metrics())
    task = asyncio.create_task(sanctuary.run())
    a = person(1)
    await join(sanctuary, a)
    submit(sanctuary, a, [symbol("lost", Stamp(1, "r1"))])
    await asyncio.wait_for(task, 5)
    assert a.closed_with == CloseCode.INTERNAL_ERROR
    assert a.acks() == {}
    assert sanctuary.finished.is_set()


async def test_actor_only_methods_refuse_to_run_outside_the_actor() -> None:
    async with running() as sanctuary:
        with pytest.raises(UsageError):
            await sanctuary.apply_local([symbol("x", Stamp(1, "dreamloom:server"))], "steward")
        with pytest.raises(UsageError):
            sanctuary.broadcast_policy()

        async def inside() -> list[int]:
            return await sanctuary.apply_local([symbol("x", Stamp(1, "dreamloom:server"))], "steward")

        assert await sanctuary.call(inside) == [1]


async def test_a_failing_actor_answers_every_caller_it_had_taken_in_hand() -> None:
    class FailingStore(MemoryStore):
        async def append(self, sanctuary: str, entries: Sequence[LogEntry]) -> None:
            raise StoreError("the disk is gone")

    sanctuary = await Sanctuary.load("garden", FailingStore(), ServerConfig(batch_window=0.0), Metrics())
    a = person(1)
    task = asyncio.create_task(sanctuary.run())
    await join(sanctuary, a)
    submit(sanctuary, a, [symbol("lost", Stamp(1, "r1"))])

    async def nothing() -> None:
        return None

    waiting = asyncio.ensure_future(sanctuary.call(nothing))  # queued behind the batch that fails
    await asyncio.wait_for(task, 5)
    with pytest.raises(SanctuaryClosed):
        await asyncio.wait_for(waiting, 5)


async def test_w36_ops_submitted_while_a_welcome_in_parts_is_sent_follow_its_last_part() -> None:
    async with running(welcome_first_part_bytes=1024, welcome_part_bytes=2048) as sanctuary:
        writer, joiner = person(1), person(2)
        await join(sanctuary, writer)
        submit(sanctuary, writer, [symbol(f"f{i:03d}", Stamp(i + 1, writer.replica)) for i in range(120)])
        await settle(sanctuary)
        hello = Hello(name="joiner", replica=joiner.replica, features=("parts",))
        joining = asyncio.create_task(sanctuary.join(joiner, hello))  # type: ignore[arg-type]
        await asyncio.sleep(0)  # the join is in the actor's hands, its parts being encoded
        submit(sanctuary, writer, [ops.set_fields("f000", Stamp(200, writer.replica), x=5)])
        await joining
        await settle(sanctuary)
        kinds = [type(m).__name__ for m in joiner.received]
        welcome = joiner.of(Welcome)[0]
        assert welcome.parts is not None
        assert welcome.parts >= 3
        assert kinds[: welcome.parts] == ["Welcome"] + ["SnapshotPart"] * (welcome.parts - 1)
        assert "Ops" in kinds[welcome.parts :]  # the op came after the last part, as a broadcast
        fragments = welcome.snapshot + [f for p in joiner.of(SnapshotPart) for f in p.fragments]
        assert len(fragments) == 120
        replica = Tapestry.from_data(fragments)
        for message in joiner.of(Ops):
            replica.apply_many(message.ops)
        assert replica.digest() == sanctuary.tapestry.digest()
