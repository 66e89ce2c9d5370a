"""The tapestry's storage: what a big tapestry costs the process beyond its bytes.

A fragment is one dict of atoms (container fields packed) and its stamps plain tuples,
so the cyclic garbage collector has nothing of it to walk (see Tapestry's docstring).
"""

from __future__ import annotations

import gc

import msgpack
import pytest

from dreamloom.protocol import DecodeError, Stamp, Tapestry, ops


def _stroke(n: int, stamp: Stamp) -> ops.Op:
    pts = [float(i % 50) + 0.5 for i in range(40)]
    return ops.create(
        f"f{n:05d}",
        stamp,
        kind="stroke",
        x=n,
        y=-n,
        geom={"pts": pts},
        style={"color": "#aabbcc", "width": 3},
        inspired_by=["f00000"] if n else [],
        z="V",
    )


def _tracked_after_collect(t: Tapestry) -> int:
    gc.collect()
    return sum(gc.is_tracked(obj) for obj in (*t._values.values(), *t._base.values(), *t._later.values()))


def test_fragments_leave_nothing_for_the_cycle_collector_to_walk() -> None:
    t = Tapestry()
    for n in range(500):
        t.apply(_stroke(n, Stamp(n + 1, "r1")))
    for n in range(0, 500, 7):  # later writes under other stamps: _later entries
        t.apply(ops.set_fields(f"f{n:05d}", Stamp(1000 + n, "r2"), x=1.5, geom={"pts": [1, 2, 3, 4]}))
    assert len(t) == 500
    assert _tracked_after_collect(t) == 0


def test_values_read_back_as_written_and_changes_report_them() -> None:
    t = Tapestry()
    t.apply(_stroke(1, Stamp(1, "r1")))
    frag = t.get("f00001")
    assert frag is not None
    assert frag.geom == {"pts": [float(i % 50) + 0.5 for i in range(40)]}
    assert frag.style == {"color": "#aabbcc", "width": 3}
    assert frag.inspired_by == ("f00000",)
    change = t.apply(ops.set_fields("f00001", Stamp(2, "r2"), geom={"pts": [0, 0, 1, 1]}, style={"width": 1}))
    assert change is not None
    assert change.before["geom"] == (Stamp(1, "r1"), {"pts": [float(i % 50) + 0.5 for i in range(40)]})
    assert t.registers("f00001")["geom"] == (Stamp(2, "r2"), {"pts": [0, 0, 1, 1]})
    # A read is a fresh value: changing it changes nothing in the tapestry.
    t.get("f00001").geom["pts"].append(9)  # type: ignore[union-attr]
    assert t.get("f00001").geom == {"pts": [0, 0, 1, 1]}  # type: ignore[union-attr]


def test_count_follows_creates_that_arrive_after_other_writes() -> None:
    t = Tapestry()
    t.apply(ops.set_fields("a", Stamp(5, "r1"), x=3))
    assert len(t) == 0
    assert "a" not in t
    t.apply(ops.create("a", Stamp(1, "r1"), kind="symbol", geom={"sym": "moon", "size": 4}, z="V"))
    t.apply(ops.delete("a", Stamp(6, "r1")))
    assert len(t) == 1
    assert t.get("a").x == 3  # type: ignore[union-attr]
    assert t.copy().encode() == t.encode()
    assert len(Tapestry.decode(t.encode())) == 1


def test_S10_own_snapshot_loads_to_the_same_state_as_a_validated_load() -> None:
    t = Tapestry()
    for n in range(50):
        t.apply(_stroke(n, Stamp(n + 1, "r1")))
    t.apply(ops.set_fields("f00003", Stamp(99, "r2"), x=7, style={"width": 2}))
    t.apply(ops.delete("f00004", Stamp(100, "r2")))
    trusted = Tapestry()
    trusted.load_trusted(msgpack.unpackb(t.encode(), raw=False))
    validated = Tapestry.decode(t.encode())
    assert trusted.encode() == validated.encode() == t.encode()
    assert len(trusted) == 50
    assert trusted.live_counts == validated.live_counts == t.live_counts
    assert trusted.max_counter == 100
    assert trusted.registers("f00003") == t.registers("f00003")


@pytest.mark.parametrize(
    "entries",
    [
        ["not an entry"],
        [["a"]],
        [[1, {"x": [1, "r", 0]}]],
        [["a", {"colour": [1, "r", 0]}]],
        [["a", {"x": [1, "r"]}]],
        [["a", {}]],
        [["a", {"x": [1, "r", 0]}], ["a", {"x": [1, "r", 0]}]],
    ],
)
def test_S10_own_snapshot_of_a_broken_structure_is_refused(entries: list[object]) -> None:
    with pytest.raises(DecodeError):
        Tapestry().load_trusted(entries)


def test_value_reads_one_register() -> None:
    t = Tapestry()
    t.apply(_stroke(1, Stamp(1, "r1")))
    assert t.value("f00001", "geom") == t.get("f00001").geom  # type: ignore[union-attr]
    assert t.value("f00001", "x") == 1
    assert t.value("f00001", "nothing") is None
    assert t.value("nobody", "geom") is None


def test_text_with_a_lone_surrogate_is_kept_as_written() -> None:
    t = Tapestry()
    geom = {"text": "odd \ud800 char", "size": 12}
    t.apply(ops.create("t1", Stamp(1, "r1"), kind="text", geom=geom, z="V"))
    assert t.get("t1").geom == geom  # type: ignore[union-attr]
    assert t.copy().value("t1", "geom") == geom
