"""The Store contract (SPEC S1-S6), one suite run against every backend."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest
from services_kit import postgres_schema

from dreamloom.protocol import Stamp, Tapestry, ops
from dreamloom.server.store import Fenced, LogEntry, MemoryStore, Snapshot, SqliteStore, Store, StoreError

BACKENDS: dict[str, Callable[[Path], Store]] = {
    "memory": lambda path: MemoryStore(),
    "sqlite": lambda path: SqliteStore(str(path / "contract.db")),
}


@pytest.fixture(params=[*sorted(BACKENDS), "postgres"])
async def store(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Store]:
    async with contextlib.AsyncExitStack() as stack:
        if request.param == "postgres":
            from dreamloom.server.store.postgres import PostgresStore

            s: Store = PostgresStore(await stack.enter_async_context(postgres_schema()))
        else:
            s = BACKENDS[request.param](tmp_path)
        await s.open()
        stack.push_async_callback(s.close)
        yield s


def entries(first: int, count: int, replica: str = "r1") -> list[LogEntry]:
    out = []
    for seq in range(first, first + count):
        if seq % 3 == 1:
            op = ops.create(f"f{seq}", Stamp(seq, replica), kind="symbol", geom={"sym": "moon", "size": 4}, z="V")
        else:
            op = ops.set_fields(f"f{seq - seq % 3 + 1}", Stamp(seq, replica), x=seq * 1.5, style={"color": "#a1b2c3"})
        out.append(LogEntry(seq, op, f"author-{seq % 2}", 1_700_000_000.0 + seq))
    return out


async def test_S2_append_then_read_every_entry_back_equal(store: Store) -> None:
    await store.ensure_sanctuary("garden")
    batch = entries(1, 10)
    await store.append("garden", batch[:4])
    await store.append("garden", batch[4:])
    got = await store.read_ops("garden", 0)
    assert got == batch
    info = await store.get_sanctuary("garden")
    assert info is not None
    assert info.last_seq == 10


@pytest.mark.parametrize("seqs", [[3], [1], [1, 2], [0], [2, 4], [2, 2], [3, 2]])
async def test_S2_append_must_continue_the_log_without_gaps(store: Store, seqs: list[int]) -> None:
    await store.ensure_sanctuary("garden")
    await store.append("garden", entries(1, 1))
    with pytest.raises(StoreError):
        await store.append("garden", [entries(s, 1)[0] for s in seqs])
    assert [e.seq for e in await store.read_ops("garden", 0)] == [1]
    info = await store.get_sanctuary("garden")
    assert info is not None
    assert info.last_seq == 1


async def test_S2_append_to_unknown_sanctuary_fails(store: Store) -> None:
    with pytest.raises(StoreError):
        await store.append("nowhere", entries(1, 1))


async def test_S2_append_of_nothing_changes_nothing(store: Store) -> None:
    await store.ensure_sanctuary("garden")
    await store.append("garden", [])
    assert await store.read_ops("garden", 0) == []


@pytest.mark.parametrize(
    ("after", "limit", "upto", "want"),
    [
        (0, None, None, list(range(1, 21))),
        (5, None, None, list(range(6, 21))),
        (5, 3, None, [6, 7, 8]),
        (5, None, 9, [6, 7, 8, 9]),
        (5, 2, 9, [6, 7]),
        (5, 10, 7, [6, 7]),
        (20, None, None, []),
        (25, None, None, []),
        (9, None, 9, []),
        (9, None, 3, []),
        (0, 0, None, []),
        (19, 5, None, [20]),
        (0, None, 100, list(range(1, 21))),
    ],
)
async def test_S4_read_ops_ranges_limits_and_upto(
    store: Store, after: int, limit: int | None, upto: int | None, want: list[int]
) -> None:
    await store.ensure_sanctuary("garden")
    await store.append("garden", entries(1, 20))
    got = await store.read_ops("garden", after, limit=limit, upto=upto)
    assert [e.seq for e in got] == want


async def test_S4_sanctuaries_have_separate_logs(store: Store) -> None:
    await store.ensure_sanctuary("a")
    await store.ensure_sanctuary("b")
    await store.append("a", entries(1, 5, "ra"))
    await store.append("b", entries(1, 2, "rb"))
    assert [e.op.stamp.replica for e in await store.read_ops("a", 0)] == ["ra"] * 5
    assert [e.op.stamp.replica for e in await store.read_ops("b", 0)] == ["rb"] * 2
    assert await store.read_ops("c", 0) == []


async def test_S3_snapshots_latest_and_at_most(store: Store) -> None:
    await store.ensure_sanctuary("garden")
    assert await store.latest_snapshot("garden") is None
    t = Tapestry()
    for e in entries(1, 30):
        t.apply(e.op)
        if e.seq % 10 == 0:
            await store.save_snapshot("garden", Snapshot(e.seq, t.encode(), {"r1": e.seq, "r2": 3}))
    latest = await store.latest_snapshot("garden")
    assert latest is not None
    assert (latest.seq, latest.data) == (30, t.encode())
    assert latest.replicas == {"r1": 30, "r2": 3}
    middle = await store.latest_snapshot("garden", at_most=25)
    assert (middle.seq if middle else None) == 20
    exact = await store.latest_snapshot("garden", at_most=10)
    assert (exact.seq if exact else None) == 10
    assert await store.latest_snapshot("garden", at_most=9) is None
    assert await store.latest_snapshot("other") is None


async def test_S3_snapshots_are_thinned_but_the_newest_kept(store: Store) -> None:
    await store.ensure_sanctuary("garden")
    for seq in range(1, 61):
        await store.save_snapshot("garden", Snapshot(seq, b"\x90", {}))
        latest = await store.latest_snapshot("garden")
        assert (latest.seq if latest else None) == seq
    kept = [s for s in range(1, 61) if (snap := await store.latest_snapshot("garden", at_most=s)) and snap.seq == s]
    assert kept[-4:] == [57, 58, 59, 60]
    assert len(kept) < 20
    # Time travel can still start from an old snapshot, not only from the empty tapestry.
    oldest = await store.latest_snapshot("garden", at_most=10)
    assert oldest is not None


async def test_records_newest_first_by_kind_with_before_and_limit(store: Store) -> None:
    await store.ensure_sanctuary("garden")
    made = [await store.add_record("garden", "audit", {"n": i}) for i in range(6)]
    await store.add_record("garden", "checkpoint", {"n": 99})
    await store.add_record("elsewhere", "audit", {"n": 100})
    assert [r.id for r in made] == sorted(r.id for r in made)
    assert len({r.id for r in made}) == 6
    got = await store.records("garden", "audit")
    assert [r.data["n"] for r in got] == [5, 4, 3, 2, 1, 0]
    assert all(r.kind == "audit" and r.time <= time.time() for r in got)
    assert [r.data["n"] for r in await store.records("garden", "audit", limit=2)] == [5, 4]
    page2 = await store.records("garden", "audit", limit=2, before=got[1].id)
    assert [r.data["n"] for r in page2] == [3, 2]
    assert [r.data["n"] for r in await store.records("garden", "checkpoint")] == [99]
    assert await store.records("garden", "nothing") == []


async def test_settings_replace_and_keep_the_log(store: Store) -> None:
    await store.ensure_sanctuary("garden")
    await store.append("garden", entries(1, 3))
    await store.set_settings("garden", {"ai_share_cap": 0.5, "locked": False})
    await store.set_settings("garden", {"ai_share_cap": 0.25})
    info = await store.get_sanctuary("garden")
    assert info is not None
    assert info.settings == {"ai_share_cap": 0.25}
    assert info.last_seq == 3
    assert [e.seq for e in await store.read_ops("garden", 0)] == [1, 2, 3]


async def test_ensure_get_and_list(store: Store) -> None:
    assert await store.get_sanctuary("garden") is None
    assert await store.list_sanctuaries() == []
    first = await store.ensure_sanctuary("garden", title="The Garden")
    assert (first.id, first.title, first.last_seq, first.settings) == ("garden", "The Garden", 0, {})
    again = await store.ensure_sanctuary("garden", title="Another title")
    assert (again.title, again.created) == ("The Garden", first.created)
    untitled = await store.ensure_sanctuary("attic")
    assert untitled.title == "attic"
    await store.append("attic", entries(1, 2))
    listed = await store.list_sanctuaries()
    assert [(s.id, s.last_seq) for s in listed] == [("garden", 0), ("attic", 2)]


async def test_S1_sqlite_log_survives_reopening(tmp_path: Path) -> None:
    path = str(tmp_path / "again.db")
    s = SqliteStore(path)
    await s.open()
    await s.ensure_sanctuary("garden")
    batch = entries(1, 7)
    await s.append("garden", batch)
    await s.save_snapshot("garden", Snapshot(7, b"\x90", {"r1": 7}))
    await s.close()
    s2 = SqliteStore(path)
    await s2.open()
    try:
        assert await s2.read_ops("garden", 0) == batch
        snap = await s2.latest_snapshot("garden")
        assert (snap.replicas if snap else None) == {"r1": 7}
        assert await s2.integrity_check() == "ok"
    finally:
        await s2.close()


async def test_S5_find_stamps_names_the_seq_of_each_applied_stamp(store: Store) -> None:
    await store.ensure_sanctuary("garden")
    await store.ensure_sanctuary("other")
    await store.append("garden", entries(1, 6, replica="r1"))
    await store.append("other", entries(1, 2, replica="r2"))
    found = await store.find_stamps("garden", [Stamp(2, "r1"), Stamp(5, "r1"), Stamp(7, "r1"), Stamp(1, "r2")])
    assert found == {Stamp(2, "r1"): 2, Stamp(5, "r1"): 5}
    assert await store.find_stamps("garden", []) == {}
    assert await store.find_stamps("nowhere", [Stamp(1, "r1")]) == {}


async def test_S5_a_stamp_is_in_the_log_at_most_once(store: Store) -> None:
    await store.ensure_sanctuary("garden")
    await store.append("garden", entries(1, 3, replica="r1"))
    again = LogEntry(4, ops.delete("f1", Stamp(2, "r1")), "someone", 1.0)
    with pytest.raises(StoreError):
        await store.append("garden", [again])
    twice = [
        LogEntry(4, ops.delete("f1", Stamp(9, "r1")), "a", 1.0),
        LogEntry(5, ops.delete("f1", Stamp(9, "r1")), "a", 1.0),
    ]
    with pytest.raises(StoreError):
        await store.append("garden", twice)
    assert [e.seq for e in await store.read_ops("garden", 0)] == [1, 2, 3]
    # the same stamp in another sanctuary is another op
    await store.ensure_sanctuary("other")
    await store.append("other", entries(1, 1, replica="r1"))


async def test_S6_a_replica_stays_bound_to_its_first_identity(store: Store) -> None:
    await store.ensure_sanctuary("garden")
    assert await store.bind_replica("garden", "r-ana", "u-ana") == "u-ana"
    assert await store.bind_replica("garden", "r-ana", "u-eve") == "u-ana"
    assert await store.bind_replica("garden", "r-ana", "u-ana") == "u-ana"
    # bindings are per sanctuary
    assert await store.bind_replica("other", "r-ana", "u-eve") == "u-eve"


async def test_S6_bindings_asked_for_together_are_each_answered_the_first_one_winning(store: Store) -> None:
    await store.ensure_sanctuary("garden")
    asked = [("garden", f"r{n % 50}", f"u{n}") for n in range(200)]  # four claims on each replica
    owners = await asyncio.gather(*(store.bind_replica(*a) for a in asked))
    assert owners == [f"u{n % 50}" for n in range(200)]
    assert await store.bind_replica("garden", "r7", "u-late") == "u7"


async def test_S6_a_replica_in_the_log_belongs_to_the_author_of_its_first_op(store: Store) -> None:
    await store.ensure_sanctuary("garden")
    await store.append("garden", entries(1, 3, replica="r-old"))  # authors author-1, author-0, author-1
    assert await store.bind_replica("garden", "r-old", "u-eve") == "author-1"


async def test_S5_S6_sqlite_stamps_and_bindings_survive_reopening(tmp_path: Path) -> None:
    path = str(tmp_path / "keep.db")
    first = SqliteStore(path)
    await first.open()
    await first.ensure_sanctuary("garden")
    await first.append("garden", entries(1, 3))
    await first.bind_replica("garden", "r-ana", "u-ana")
    await first.close()
    second = SqliteStore(path)
    await second.open()
    try:
        assert await second.find_stamps("garden", [Stamp(3, "r1")]) == {Stamp(3, "r1"): 3}
        assert await second.bind_replica("garden", "r-ana", "u-eve") == "u-ana"
    finally:
        await second.close()


async def test_S7_claim_gives_rising_epochs_and_fences_the_former_owner(store: Store) -> None:
    await store.ensure_sanctuary("garden")
    first = await store.claim("garden")
    await store.append("garden", entries(1, 2), epoch=first)
    second = await store.claim("garden")
    assert second > first
    # The paused former owner wakes up and commits the next seq: refused, nothing written.
    with pytest.raises(Fenced):
        await store.append("garden", entries(3, 1), epoch=first)
    assert [e.seq for e in await store.read_ops("garden", 0)] == [1, 2]
    await store.append("garden", entries(3, 2), epoch=second)
    assert [e.seq for e in await store.read_ops("garden", 0)] == [1, 2, 3, 4]
    # Epochs are per sanctuary; an append without an epoch checks no owner (one node).
    assert await store.claim("other") >= 1
    await store.append("garden", entries(5, 1))


async def test_S7_a_seq_is_never_given_twice_even_by_the_current_owner(store: Store) -> None:
    await store.ensure_sanctuary("garden")
    epoch = await store.claim("garden")
    await store.append("garden", entries(1, 3), epoch=epoch)
    with pytest.raises(StoreError):
        await store.append("garden", entries(3, 1, replica="r2"), epoch=epoch)
    assert [e.seq for e in await store.read_ops("garden", 0)] == [1, 2, 3]


async def test_S8_a_kept_epoch_is_taken_once_and_per_sanctuary(store: Store) -> None:
    await store.ensure_sanctuary("garden")
    assert await store.take_epoch("garden") is None
    await store.keep_epoch("garden", "e-first", 4)
    await store.keep_epoch("garden", "e-later", 7)  # the latest clean end is the one kept
    await store.keep_epoch("meadow", "e-meadow", 1)
    assert await store.take_epoch("garden") == ("e-later", 7)
    assert await store.take_epoch("garden") is None  # a run that takes it and crashes leaves none
    assert await store.take_epoch("meadow") == ("e-meadow", 1)


async def test_S8_a_taken_epoch_is_gone_for_a_store_opened_afresh(tmp_path: Path) -> None:
    path = str(tmp_path / "kept.db")
    first = SqliteStore(path)
    await first.open()
    await first.ensure_sanctuary("garden")
    await first.keep_epoch("garden", "e-1", 0)
    await first.close()
    second = SqliteStore(path)
    await second.open()
    assert await second.take_epoch("garden") == ("e-1", 0)
    await second.close()  # as if this run crashed now
    third = SqliteStore(path)
    await third.open()
    try:
        assert await third.take_epoch("garden") is None
    finally:
        await third.close()


async def test_postgres_migrations_are_recorded_and_applied_once(pg_url: str) -> None:
    from dreamloom.server.store.postgres import MIGRATIONS, PostgresStore

    first, second = PostgresStore(pg_url), PostgresStore(pg_url)
    await first.open()
    await second.open()  # a second node starting on the same database applies nothing again
    try:
        await first.ensure_sanctuary("garden")
        await first.append("garden", entries(1, 3))
        assert await second.read_ops("garden", 0) == entries(1, 3)
        assert await second.migrations() == [v for v, _ in MIGRATIONS]
    finally:
        await first.close()
        await second.close()
