"""Groups and bound ends (SPEC M13, M14): registers that converge, undo that reaches them,
and drawn ends that match the shared vectors and sit GAP outside their target."""

from __future__ import annotations

import json
import math
import random
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from protocol_strategies import delivery, replay

from dreamloom.protocol import DEFAULT_LIMITS, Clock, DecodeError, History, Op, Stamp, Tapestry, bindings, ops
from dreamloom.protocol.validate import check_op

BINDINGS = Path(__file__).resolve().parents[2] / "protocol" / "vectors" / "bindings"
FILES = sorted(BINDINGS.glob("*.json"))
MEMBERS = ("a", "b", "c", "ar")
GROUPS = (None, "g1", "g2", "g-x.y:z")
TARGETS = (None, "a", "b", "c", "ar", "gone")


def _base() -> list[Op]:
    rect = {"shape": "rect", "w": 80, "h": 40}
    return [
        ops.create("a", Stamp(1, "r0"), kind="shape", geom=rect, z="V"),
        ops.create("b", Stamp(2, "r0"), kind="symbol", geom={"sym": "moon", "size": 40}, x=200, z="W"),
        ops.create("c", Stamp(3, "r0"), kind="shape", geom={"shape": "ellipse", "w": 60, "h": 90}, x=-150, y=90, z="X"),
        ops.create("ar", Stamp(4, "r0"), kind="shape", geom={"shape": "arrow", "w": 90, "h": 30}, x=10, y=200, z="Y"),
    ]


writes = st.lists(
    st.tuples(
        st.sampled_from(MEMBERS),
        st.sampled_from(("group", "start", "end", "x", "delete", "restore")),
        st.integers(0, 5),
        st.sampled_from(("r1", "r2", "r3")),
        st.integers(5, 40),
    ),
    min_size=1,
    max_size=40,
)


def _op(fid: str, what: str, pick: int, replica: str, counter: int) -> Op:
    stamp = Stamp(counter, replica)
    if what == "delete":
        return ops.delete(fid, stamp)
    if what == "restore":
        return ops.restore(fid, stamp)
    if what == "group":
        return ops.set_fields(fid, stamp, group=GROUPS[pick % len(GROUPS)])
    if what == "x":
        return ops.set_fields(fid, stamp, x=pick * 37)
    return ops.set_fields(fid, stamp, **{what: TARGETS[pick]})


@given(script=writes, seed=st.integers(0, 2**32))
def test_M13_M14_concurrent_group_and_bind_edits_converge(script: list[Any], seed: int) -> None:
    """Three replicas write groups, bindings, moves and deletes concurrently: every delivery order agrees,
    on the state and on where the arrow is drawn."""
    rng = random.Random(seed)
    log = _base() + [_op(*w) for w in script]
    for op in log:  # every generated op is a valid wire op
        check_op(json.loads(json.dumps(op.to_wire())), DEFAULT_LIMITS)
    stored = replay(log)
    drawn = bindings.resolve(stored.get("ar"), stored.get)  # type: ignore[arg-type]
    for _ in range(4):
        other = replay(delivery(rng, log))
        assert other.encode() == stored.encode()
        assert bindings.resolve(other.get("ar"), other.get) == drawn  # type: ignore[arg-type]


@given(
    script=st.lists(
        st.tuples(st.sampled_from(MEMBERS), st.sampled_from(("group", "start", "end")), st.integers(0, 5)),
        min_size=1,
        max_size=12,
    )
)
def test_M13_undo_of_our_group_and_bind_edits_returns_to_the_state_before(script: list[Any]) -> None:
    """One user's group and bind edits, undone step by step, give back every register as it read before
    (an optional register a create left out reads as None), and redo replays them."""
    t = Tapestry()
    t.apply_many(_base())
    clock = Clock("me", t.max_counter)
    history = History()

    def apply(batch: list[Op]) -> list[Any]:
        return t.apply_many(batch)

    def reading() -> list[Any]:
        return [(f.id, f.group, f.start, f.end) for f in t.fragments()]

    before = reading()
    for fid, name, pick in script:
        value = GROUPS[pick % len(GROUPS)] if name == "group" else TARGETS[pick]
        history.record(name, apply([ops.set_fields(fid, clock.tick(), **{name: value})]))
    after = reading()
    while history.undo(t, clock, apply):
        pass
    assert reading() == before
    while history.redo(t, clock, apply):
        pass
    assert reading() == after


@pytest.mark.parametrize("name", ["group", "start", "end"])
def test_W35_optional_registers_take_an_id_or_null_only(name: str) -> None:
    ok = {"t": "s", "id": "f1", "s": [2, "r1"], "f": {name: "g-1"}}
    assert check_op(ok, DEFAULT_LIMITS).fields == {name: "g-1"}
    assert check_op({**ok, "f": {name: None}}, DEFAULT_LIMITS).fields == {name: None}
    for bad in ("", "has space", 7, ["g"], "x" * 65):
        with pytest.raises(DecodeError):
            check_op({**ok, "f": {name: bad}}, DEFAULT_LIMITS)


def test_W35_a_create_writes_the_optional_registers_only_when_given() -> None:
    plain = check_op(
        ops.create("f1", Stamp(1, "r"), kind="symbol", geom={"sym": "eye", "size": 9}, z="V").to_wire(), DEFAULT_LIMITS
    )
    assert not {"group", "start", "end"} & set(plain.fields)
    grouped = ops.create("f2", Stamp(2, "r"), kind="symbol", geom={"sym": "eye", "size": 9}, z="V", group="g1")
    assert check_op(grouped.to_wire(), DEFAULT_LIMITS).fields["group"] == "g1"
    t = Tapestry()
    t.apply(plain)
    f = t.get("f1")
    assert f is not None
    assert (f.group, f.start, f.end) == (None, None, None)
    assert Tapestry.decode(t.encode()).encode() == t.encode()


@pytest.mark.parametrize("path", FILES, ids=[p.stem for p in FILES])
def test_M14_binding_vectors(path: Path) -> None:
    vec = json.loads(path.read_text(encoding="utf-8"))
    assert set(vec) == {"name", "rule", "description", "initial", "ends"}
    t = Tapestry.from_data(vec["initial"])
    got = {f.id: bindings.ends(f, t.get) for f in t.fragments() if bindings.is_connector(f)}
    assert set(got) == set(vec["ends"])
    for fid, want in vec["ends"].items():
        for p, q in zip(got[fid], want, strict=True):
            assert p == pytest.approx(q, abs=1e-9), fid


def test_M14_binding_vectors_cover_the_cases() -> None:
    assert len(FILES) >= 7


coords = st.floats(-500, 500, allow_nan=False)
sizes = st.floats(1, 300, allow_nan=False)


@given(x=coords, y=coords, w=sizes, h=sizes, rot=st.floats(-3.2, 3.2), ellipse=st.booleans(), ax=coords, ay=coords)
def test_M14_an_attached_end_sits_gap_outside_its_target_on_the_line_to_the_aim(
    x: float, y: float, w: float, h: float, rot: float, ellipse: bool, ax: float, ay: float
) -> None:
    t = Tapestry()
    shape = "ellipse" if ellipse else "rect"
    t.apply(
        ops.create("t", Stamp(1, "r"), kind="shape", geom={"shape": shape, "w": w, "h": h, "rot": rot}, x=x, y=y, z="V")
    )
    t.apply(
        ops.create(
            "ar", Stamp(2, "r"), kind="shape", geom={"shape": "arrow", "w": 1, "h": 1}, x=ax, y=ay, z="W", end="t"
        )
    )
    o = bindings.outline(t.get("t"))  # type: ignore[arg-type]
    assert o is not None
    (sx, sy), (ex, ey) = bindings.ends(t.get("ar"), t.get)  # type: ignore[arg-type]
    assert (sx, sy) == (ax, ay)
    cx, cy = bindings.centre(o)
    # Back in the target's frame: inside the outline the end falls on the centre ...
    c, s = math.cos(-rot), math.sin(-rot)
    lx, ly = (ax - x) * c - (ay - y) * s + x - o.cx, (ax - x) * s + (ay - y) * c + y - o.cy
    reach = math.hypot(lx / o.hw, ly / o.hh) if ellipse else max(abs(lx) / o.hw, abs(ly) / o.hh)
    if reach <= 1:
        assert (ex, ey) == pytest.approx((cx, cy))
        return
    # ... outside, it lies on the segment from the centre to the aim, GAP beyond the outline.
    d_aim = math.hypot(ax - cx, ay - cy)
    d_end = math.hypot(ex - cx, ey - cy)
    assert d_end == pytest.approx(d_aim / reach + bindings.GAP, rel=1e-6, abs=1e-6)
    cross = (ex - cx) * (ay - cy) - (ey - cy) * (ax - cx)
    assert abs(cross) <= 1e-6 * max(1.0, d_aim * d_end)
