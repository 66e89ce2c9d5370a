"""Kept encodings kept warm by the sanctuary (SPEC S13, S14): up to date as ops land, built after a
load while idle, and equal to a fresh encoding in every welcome whatever happened before it.

The actor without sockets, as in test_sanctuary_unit.py: fake members record what they are sent.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

import pytest
from test_loading_joins import msgpack_person
from test_sanctuary_unit import FakeMember, person, running, settle, submit, symbol

from dreamloom.protocol import Clock, Hello, Stamp, Welcome, ops
from dreamloom.server import sanctuary as sanctuary_module
from dreamloom.server.config import ServerConfig
from dreamloom.server.encodings import COMPACT, KEPT
from dreamloom.server.metrics import Metrics
from dreamloom.server.sanctuary import Sanctuary
from dreamloom.server.store import LogEntry, MemoryStore, StoreError

#: A small threshold, so that a few ops bring the kept items up to date (S13).
REFRESH_AT = 8


@pytest.fixture(autouse=True)
def small_refresh(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sanctuary_module, "REFRESH_AT", REFRESH_AT)


async def after_turn(sanctuary: Sanctuary) -> None:
    """Wait until the actor has finished the turn that handles what is queued now, its refresh included.

    A call is answered in the middle of its turn: a second one runs in the next turn.
    """
    await settle(sanctuary)
    await settle(sanctuary)


async def compact_welcome(sanctuary: Sanctuary, member: FakeMember) -> Welcome:
    hello = Hello(name=member.identity.name, replica=member.replica, seq=None, features=("compact",))
    await sanctuary.join(member, hello)  # type: ignore[arg-type]
    return member.of(Welcome)[-1]  # type: ignore[no-any-return]


async def assert_compact_welcomes_are_fresh(sanctuary: Sanctuary, first: int) -> None:
    """A compact welcome in each codec holds exactly the tapestry's compact structure now."""
    for member in (person(first), msgpack_person(first + 1)):
        welcome = await compact_welcome(sanctuary, member)
        assert welcome.form == COMPACT
        assert welcome.snapshot == sanctuary.tapestry.to_compact()


async def test_S13_the_kept_items_follow_the_ops_with_no_join_to_ask() -> None:
    async with running(snapshot_every=100_000) as garden:  # no snapshot: only the ops refresh them
        ana = person(1)
        await compact_welcome(garden, ana)
        clock = Clock(ana.replica)
        for n in range(30):  # one at a time: merged as they are handed over (rule 1a)
            submit(garden, ana, [symbol(f"f{n:02d}", clock.tick())])
            await asyncio.sleep(0)
        submit(garden, ana, [ops.set_fields(f"f{n:02d}", clock.tick(), x=n) for n in range(0, 30, 2)])
        await after_turn(garden)
        # Brought up to date as they landed: a join finds fewer than REFRESH_AT fragments to encode.
        assert garden._encodings.written < REFRESH_AT
        assert not garden._encodings.pending
        await assert_compact_welcomes_are_fresh(garden, 2)


async def test_S13_ops_of_the_server_itself_keep_them_equal_to_a_fresh_encoding() -> None:
    """A rollback or a moderation act writes through apply_local (P12): the kept items follow it."""
    async with running(snapshot_every=100_000) as garden:
        ana = person(1)
        await compact_welcome(garden, ana)
        clock = Clock(ana.replica)
        submit(garden, ana, [symbol(f"f{n:02d}", clock.tick()) for n in range(20)])
        await settle(garden)

        async def undo() -> list[int]:
            server = Clock("dreamloom:server", garden.tapestry.max_counter)
            written = [ops.delete(f"f{n:02d}", server.tick()) for n in range(0, 20, 3)]
            written += [ops.set_fields(f"f{n:02d}", server.tick(), y=5) for n in range(1, 20, 2)]
            return await garden.apply_local(written, "steward")

        await garden.call(undo)
        await after_turn(garden)
        assert garden._encodings.written < REFRESH_AT
        await assert_compact_welcomes_are_fresh(garden, 2)


async def test_S14_a_loaded_sanctuary_makes_its_compact_items_from_the_snapshot_while_idle() -> None:
    store = MemoryStore()
    async with running(store) as first:
        ana = person(1)
        await compact_welcome(first, ana)
        clock = Clock(ana.replica)
        submit(first, ana, [symbol(f"f{n:02d}", clock.tick()) for n in range(30)])
        await settle(first)
    # Stopped cleanly (a snapshot), then two ops in the log after it.
    later = [symbol("g1", clock.tick()), ops.set_fields("f03", clock.tick(), x=9)]
    await store.append("garden", [LogEntry(31 + i, op, "u1", 0.0) for i, op in enumerate(later)])
    async with running(store) as garden:
        await garden.loaded()
        assert set(garden._encodings.kinds()) == set(KEPT)
        for _ in range(100):  # bounded: 5 s at most
            await settle(garden)
            if not garden._encodings.pending:
                break
            await asyncio.sleep(0.05)
        # Nobody joined: built while idle (S14), with the log after the snapshot in them.
        assert not garden._encodings.pending
        assert garden._encodings.written == 0
        await assert_compact_welcomes_are_fresh(garden, 2)


async def test_S14_a_reload_after_a_failed_commit_builds_them_afresh() -> None:
    """Rule 7: the run that failed is gone with its kept items; the next one starts from the store."""

    class FailingOnce(MemoryStore):
        fail = False

        async def append(self, sanctuary: str, entries: Sequence[LogEntry]) -> None:
            if self.fail:
                self.fail = False
                raise StoreError("the disk is gone")
            await super().append(sanctuary, entries)

    store = FailingOnce()
    garden = await Sanctuary.load("garden", store, ServerConfig(batch_window=0.0, snapshot_every=10), Metrics())
    task = asyncio.create_task(garden.run())
    ana = person(1)
    await compact_welcome(garden, ana)
    clock = Clock(ana.replica)
    submit(garden, ana, [symbol(f"f{n:02d}", clock.tick()) for n in range(25)])
    await settle(garden)
    store.fail = True
    submit(garden, ana, [ops.set_fields("f01", clock.tick(), x=1), symbol("lost", clock.tick())])
    await asyncio.wait_for(task, 5)
    async with running(store) as again:
        await again.loaded()
        assert "lost" not in again.tapestry
        await assert_compact_welcomes_are_fresh(again, 2)
        bea = person(4)
        await compact_welcome(again, bea)
        submit(again, bea, [symbol("h1", Stamp(1, bea.replica))])
        await settle(again)
        await assert_compact_welcomes_are_fresh(again, 5)


async def test_S14_an_empty_sanctuary_still_unloads_while_it_builds_them() -> None:
    store = MemoryStore()
    async with running(store) as first:
        ana = person(1)
        await compact_welcome(first, ana)
        clock = Clock(ana.replica)
        submit(first, ana, [symbol(f"f{n:02d}", clock.tick()) for n in range(30)])
        await settle(first)
    config = ServerConfig(batch_window=0.0, idle_unload=0.1)
    garden = await Sanctuary.load("garden", store, config, Metrics())
    task = asyncio.create_task(garden.run())
    # Nobody joins: its idle turns (S14) do not keep it loaded past idle_unload.
    await asyncio.wait_for(task, 5)
    assert garden.finished.is_set()
