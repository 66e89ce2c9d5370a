"""Rollback as a property: for any log and any point, rolling one author back leaves exactly the
tapestry replayed without that author's ops since the point, and undoing the rollback restores
the tapestry as it was."""

from __future__ import annotations

from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from dreamloom.protocol import Clock, Op, Stamp, Tapestry, inverse, ops
from dreamloom.server.stewardship import SERVER_REPLICA, rollback_ops
from dreamloom.server.store import LogEntry

AUTHORS = ("p1", "p2", "w")
IDS = tuple(f"f{i}" for i in range(5))


def view(t: Tapestry) -> dict[str, tuple[Any, ...]]:
    return {f.id: (f.x, f.y, dict(f.style), f.z, f.author, f.remixable) for f in t.fragments()}


@st.composite
def logs(draw: st.DrawFn) -> tuple[list[LogEntry], int]:
    """A log of creates, sets, deletes and restores by three authors, with concurrent (out-of-order) stamps."""
    n = draw(st.integers(1, 40))
    created: set[str] = set()
    entries: list[LogEntry] = []
    counter = 0
    for i in range(n):
        author = draw(st.sampled_from(AUTHORS))
        fid = draw(st.sampled_from(IDS))
        # Mostly increasing counters, sometimes a write that loses to one already merged.
        counter += draw(st.integers(1, 3))
        stamp = Stamp(max(1, counter - draw(st.sampled_from([0, 0, 0, 4]))), f"{author}.{i}")
        if fid not in created:
            op: Op = ops.create(fid, stamp, kind="symbol", geom={"sym": "moon", "size": 9}, z="V", author=author)
            created.add(fid)
        else:
            kind = draw(st.sampled_from(["s", "s", "d", "r"]))
            if kind == "s":
                fields = draw(
                    st.fixed_dictionaries(
                        {},
                        optional={
                            "x": st.integers(-50, 50),
                            "y": st.integers(-50, 50),
                            "style": st.sampled_from([{}, {"color": "#ff0000"}, {"width": 3}]),
                            "remixable": st.booleans(),
                            "z": st.sampled_from(["V", "W", "a1"]),
                        },
                    )
                )
                if not fields:
                    fields = {"x": i}
                op = ops.set_fields(fid, stamp, **fields)
            else:
                op = (ops.delete if kind == "d" else ops.restore)(fid, stamp)
        entries.append(LogEntry(i + 1, op, author, float(i)))
    point = draw(st.integers(0, n))
    return entries, point


def replay(entries: list[LogEntry]) -> Tapestry:
    t = Tapestry()
    for e in entries:
        t.apply(e.op)
    return t


@given(logs())
def test_rollback_is_exact_and_undoable(case: tuple[list[LogEntry], int]) -> None:
    entries, point = case
    now = replay(entries)
    expected = replay(entries[:point] + [e for e in entries[point:] if e.author != "w"])
    untouched = {e.op.id for e in entries} - {e.op.id for e in entries[point:] if e.author == "w"}
    before_view = view(now)

    clock = Clock(SERVER_REPLICA, now.max_counter)
    written, touched = rollback_ops(replay(entries[:point]), entries[point:], "w", now, clock)
    assert set(touched) == {e.op.id for e in entries[point:] if e.author == "w"}
    changes = [now.apply(op) for op in written]
    assert view(now) == view(expected)
    for fid in untouched:  # nothing else was written
        assert all(op.id != fid for op in written)

    # The undo: inverse writes of what the rollback wrote.
    undo_clock = Clock(SERVER_REPLICA, now.max_counter)
    undo: list[Op] = []
    for op, change in zip(written, changes, strict=True):
        if change is not None:
            undo.extend(inverse(op, change.before, now, undo_clock))
    for op in undo:
        now.apply(op)
    assert view(now) == before_view
