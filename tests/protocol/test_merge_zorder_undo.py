"""z-order keys (SPEC M7), undo (M10), canonical form (M9), stamps (M1, M2, M8) and the tapestry API."""

from __future__ import annotations

import bisect
import json
import random
from pathlib import Path
from typing import Any

import msgpack
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from protocol_strategies import build_ops, recount, replay, scripts

from dreamloom.protocol import (
    DEFAULT_LIMITS,
    Clock,
    DecodeError,
    ErrorCode,
    OpError,
    Stamp,
    Tapestry,
    UsageError,
    inverse,
    ops,
    zorder,
)
from dreamloom.protocol.canon import canon, pack

keys = st.from_regex(r"[0-9A-Za-z]{0,6}[1-9A-Za-z]", fullmatch=True)
replicas = st.from_regex(r"[A-Za-z0-9_.:\-]{1,12}", fullmatch=True)


# -- M7 z-order ----------------------------------------------------------------------
@given(a=st.none() | keys, b=st.none() | keys, replica=st.none() | replicas)
def test_M7_between_is_strictly_between_and_valid(a: str | None, b: str | None, replica: str | None) -> None:
    if a is not None and b is not None:
        assume(a != b)
        a, b = min(a, b), max(a, b)
    key = zorder.between(a, b, replica)
    zorder.validate_key(key)
    assert a is None or a < key
    assert b is None or key < b


@given(a=st.none() | keys, b=st.none() | keys, r1=replicas, r2=replicas)
def test_M7_concurrent_inserts_from_two_replicas_differ(a: str | None, b: str | None, r1: str, r2: str) -> None:
    if a is not None and b is not None:
        assume(a != b)
        a, b = min(a, b), max(a, b)
    assume(zorder.replica_tag(r1) != zorder.replica_tag(r2))  # 3 base-62 digits: 1 in 238,328 collide
    assert zorder.between(a, b, r1) != zorder.between(a, b, r2)


@given(st.lists(st.tuples(st.booleans(), st.integers(0, 1000)), min_size=1, max_size=60))
def test_M7_repeated_inserts_keep_order_and_stay_valid(steps: list[tuple[bool, int]]) -> None:
    order: list[str] = [zorder.between(None, None)]
    for front, pos in steps:
        if front:
            order.append(zorder.after_last(order[-1], "r1"))
            continue
        i = pos % (len(order) + 1)
        lo = order[i - 1] if i else None
        hi = order[i] if i < len(order) else None
        order.insert(i, zorder.between(lo, hi, "r2"))
    assert order == sorted(order)
    assert len(set(order)) == len(order)
    for key in order:
        zorder.validate_key(key)


def test_M7_examples_and_errors() -> None:
    assert zorder.between(None, None) == "a1"
    assert zorder.before_first("a1") == "Zz"
    assert zorder.after_last("a1") == "a2"
    assert zorder.after_last("az") == "b01"  # b00 ends in 0: skipped
    assert zorder.before_first("Z1") == "Yzz"
    assert zorder.before_first(None) == zorder.after_last(None) == "a1"
    assert zorder.between("a1", "a5") == "a3"
    assert zorder.between("a1", "a2") == "a1000a1"  # neighbouring integers: one cell deeper
    assert zorder.between("V", "W") == "V00001"  # an older key reads as padded cells
    assert zorder.after_last("zzz") == "zzz" + "0" * 23 + "1"
    assert zorder.after_last("z" * 27 + "abc") == "z" * 27 + "abca1"  # the largest integer: go on in the next cell
    assert len(zorder.replica_tag("r1")) == 3
    assert not zorder.replica_tag("r1").endswith("0")
    for bad in [("W", "V"), ("V", "V"), ("V0", None), (None, "W0"), ("", None), ("V-", None)]:
        with pytest.raises(UsageError):
            zorder.between(*bad)
    with pytest.raises(UsageError):
        zorder.midpoint("V", "V0")


def test_M7_M11_the_shared_key_vectors() -> None:
    files = sorted((Path(__file__).resolve().parents[2] / "protocol" / "vectors" / "zorder").glob("*.json"))
    assert len(files) >= 2
    for path in files:
        vec = json.loads(path.read_text(encoding="utf-8"))
        assert vec["rule"] == "M7"
        assert vec["calls"]
        for call in vec["calls"]:
            assert zorder.between(call["a"], call["b"], call["replica"]) == call["key"], call


def _stack(moves: list[str], rng: random.Random, older: list[str]) -> list[str]:
    """Insert one key per move into a z-ordered list (starting from ``older`` keys) and check each."""
    order = sorted(older) or [zorder.between(None, None)]
    replicas = ["r-ana", "r-ben", "weaver-1", None]
    fixed = order[len(order) // 2]
    for move in moves:
        i = {
            "top": len(order),
            "bottom": 0,
            "random": rng.randrange(len(order) + 1),
            "above": bisect.bisect_right(order, fixed),  # just above one fragment, again and again
            "below": bisect.bisect_left(order, fixed),  # just below it
        }[move]
        lo, hi = (order[i - 1] if i else None), (order[i] if i < len(order) else None)
        key = zorder.between(lo, hi, rng.choice(replicas))
        zorder.validate_key(key)
        assert len(key) <= DEFAULT_LIMITS.max_z_len
        assert lo is None or lo < key, (lo, key)
        assert hi is None or key < hi, (key, hi)
        order.insert(i, key)
    return order


@settings(max_examples=6, deadline=None)
@given(
    mix=st.lists(st.sampled_from(["top", "bottom", "random", "above", "below"]), min_size=1, max_size=5),
    seed=st.integers(0, 2**32),
    older=st.lists(keys, max_size=8, unique=True),
)
def test_M7_M11_twenty_thousand_inserts_stay_valid_short_and_ordered(
    mix: list[str], seed: int, older: list[str]
) -> None:
    """Any mix of creates on top, at the bottom, between random neighbours, just above or just below one
    fragment, around older keys: every key is valid, within the limit, strictly where it was put."""
    rng = random.Random(seed)
    order = _stack([rng.choice(mix) for _ in range(20_000)], rng, older)
    assert len(set(order)) == len(order)


@pytest.mark.parametrize("move", ["top", "bottom", "above", "below"])
def test_M7_M11_runs_at_one_spot_keep_keys_short(move: str) -> None:
    order = _stack([move] * 20_000, random.Random(1), [])
    assert max(map(len, order)) <= 16  # an integer of at most 4 digits, nested once, and a tag


def test_M7_ties_paint_by_id() -> None:
    t = Tapestry()
    for fid in ("b", "a", "c"):
        t.apply(ops.create(fid, Stamp(1, "r"), kind="symbol", geom={"sym": "eye", "size": 1}, z="V"))
    t.apply(ops.create("d", Stamp(1, "r"), kind="symbol", geom={"sym": "eye", "size": 1}, z="A"))
    assert [f.id for f in t.ordered()] == ["d", "a", "b", "c"]


# -- M10 undo ------------------------------------------------------------------------
def _create(t: Tapestry, clock: Clock, fid: str = "f1") -> Any:
    return t.apply(ops.create(fid, clock.tick(), kind="symbol", geom={"sym": "eye", "size": 30}, z="V", x=1, y=2))


@given(
    script=scripts(min_size=0, max_size=30),
    fields=st.lists(st.sampled_from(["x", "y", "z", "remixable"]), min_size=1, max_size=4, unique=True),
    others=st.lists(st.sampled_from(["x", "y", "z", "remixable", "del", "res"]), max_size=4),
)
def test_M10_undo_never_touches_registers_written_later_by_others(
    script: list[Any], fields: list[str], others: list[str]
) -> None:
    t = replay(build_ops(script))
    me, other = Clock("me"), Clock("zz-other")
    me.observe_counter(t.max_counter)
    other.observe_counter(t.max_counter)
    _create(t, me, "mine")
    values = {"x": 77, "y": 78.5, "z": "k", "remixable": True}
    op = ops.set_fields("mine", me.tick(), **{f: values[f] for f in fields})
    change = t.apply(op)
    assert change is not None
    other.observe(op.stamp)
    for what in others:  # someone else writes later
        if what == "del":
            t.apply(ops.delete("mine", other.tick()))
        elif what == "res":
            t.apply(ops.restore("mine", other.tick()))
        else:
            t.apply(
                ops.set_fields("mine", other.tick(), **{what: {"x": 5, "y": 6, "z": "a", "remixable": False}[what]})
            )
    before_undo = dict(t.registers("mine"))
    me.observe_counter(t.max_counter)
    for u in inverse(op, change.before, t, me):
        t.apply(u)
    after = t.registers("mine")
    for name, reg in before_undo.items():
        if reg[0] != op.stamp:
            assert after[name] == reg, f"undo changed {name}, which it did not own"
        else:
            assert after[name][1] == change.before[name][1], f"undo did not restore {name}"  # type: ignore[index]
    assert t.live_counts == recount(t)


@pytest.mark.parametrize("verb", ["create", "set", "delete", "restore"])
def test_M10_undo_then_redo_restores(verb: str) -> None:
    t, me = Tapestry(), Clock("me")
    change = _create(t, me)
    if verb == "set":
        change = t.apply(ops.set_fields("f1", me.tick(), x=50, style={"color": "#ffffff"}))
    elif verb == "delete":
        change = t.apply(ops.delete("f1", me.tick()))
    elif verb == "restore":
        t.apply(ops.delete("f1", me.tick()))
        change = t.apply(ops.restore("f1", me.tick()))
    after_op = t.get("f1")
    undo = inverse(change.op, change.before, t, me)
    assert undo
    undo_changes = [t.apply(u) for u in undo]
    assert t.get("f1") != after_op
    redo = [r for c in undo_changes if c is not None for r in inverse(c.op, c.before, t, me)]
    assert redo
    for r in redo:
        t.apply(r)
    assert t.get("f1") == after_op
    assert t.live_counts == recount(t)


def test_M10_nothing_left_to_undo() -> None:
    t, me, other = Tapestry(), Clock("me"), Clock("zz")
    created = _create(t, me)
    other.observe_counter(5)
    t.apply(ops.delete("f1", other.tick()))
    assert inverse(created.op, created.before, t, me) == []  # someone else decided its life since
    me.observe_counter(t.max_counter)
    dele = t.apply(ops.delete("f1", me.tick()))
    t.apply(ops.restore("f1", Stamp(999, "zz")))
    assert inverse(dele.op, dele.before, t, me) == []
    res = t.apply(ops.restore("f1", Stamp(1000, "me")))
    t.apply(ops.delete("f1", Stamp(1001, "zz")))
    assert inverse(res.op, res.before, t, me) == []
    # A set that reached a fragment before its create has no previous value to restore.
    t2 = Tapestry()
    early = t2.apply(ops.set_fields("g", Stamp(5, "me"), x=3))
    assert early is not None
    assert early.before == {"x": None}
    assert inverse(early.op, early.before, t2, me) == []


# -- M9 canonical form ---------------------------------------------------------------
@given(script=scripts(min_size=0, max_size=80))
def test_M9_canonical_encode_decode_round_trip(script: list[Any]) -> None:
    t = replay(build_ops(script))
    data = t.encode()
    back = Tapestry.decode(data)
    assert back.encode() == data
    assert Tapestry.from_data(t.to_data()).encode() == data
    assert back.live_counts == t.live_counts == recount(t)
    assert back.max_counter == t.max_counter
    assert len(back) == len(t)
    assert sorted(back.ids()) == sorted(t.ids())
    assert back.copy().encode() == data
    assert msgpack.unpackb(data, raw=False) == t.to_data()


def test_M9_canon_rules() -> None:
    assert canon({"b": 1.0, "a": [2.0, 0.5, -0.0, True, None, "s"]}) == {"a": [2, 0.5, 0, True, None, "s"], "b": 1}
    assert list(canon({"b": 1, "a": 2})) == ["a", "b"]
    assert pack(1.0) == pack(1) == b"\x01"
    assert pack(0.5) == b"\xcb" + (0.5).hex().encode()[:0] + bytes.fromhex("3fe0000000000000")
    assert type(canon(2.0**53)) is float
    assert canon(2.0**53 - 1) == 2**53 - 1
    assert canon((1.0, 2)) == [1, 2]
    with pytest.raises(TypeError):
        canon(b"bytes")


# -- M1, M2, M8 stamps and the tapestry API -------------------------------------------
def test_M1_M2_M8_stamps_and_clock() -> None:
    assert Stamp(3, "a") < Stamp(3, "b") < Stamp(4, "a")
    c = Clock("r")
    assert c.tick() == Stamp(1, "r")
    c.observe(Stamp(10, "x"))
    c.observe(Stamp(2, "x"))
    assert c.tick() == Stamp(11, "r")
    c.observe_counter(20)
    c.observe_counter(3)
    assert c.tick() == Stamp(21, "r")
    c.check(Stamp(21 + 1_000_000, "x"), 1_000_000)
    with pytest.raises(OpError) as err:
        c.check(Stamp(21 + 1_000_001, "x"), 1_000_000)
    assert err.value.code is ErrorCode.STAMP_AHEAD


def test_tapestry_reading_api() -> None:
    t, c = Tapestry(), Clock("r")
    change = _create(t, c)
    assert change.created
    assert change.id == "f1"
    assert set(change.fields) == set(change.before)
    assert "f1" in t
    assert "nope" not in t
    assert len(t) == 1
    frag = t.get("f1")
    assert frag is not None
    assert frag.live
    assert frag.geom == {"sym": "eye", "size": 30}
    t.apply(ops.set_fields("ghost", c.tick(), x=1))
    assert "ghost" not in t
    assert t.get("ghost") is None
    assert t.registers("ghost")["x"][1] == 1
    assert t.registers("none") == {}
    t.apply(ops.delete("f1", c.tick()))
    assert [f.id for f in t.fragments()] == []
    assert [f.id for f in t.fragments(include_deleted=True)] == ["f1"]
    assert list(t.ids()) == ["f1"]
    assert t.live_counts == {"organic": 0, "ai": 0}
    assert t.apply(ops.delete("f1", Stamp(1, "a"))) is None  # loses to the later delete
    assert t.apply(ops.Op("s", "f1", c.tick(), {})) is None
    assert [fid for fid, _ in t.to_data()] == ["f1", "ghost"]
    changes = t.apply_many([ops.set_fields("f1", c.tick(), x=2), ops.set_fields("f1", Stamp(1, "r"), x=3)])
    assert len(changes) == 1
    assert changes[0].before["x"] == (Stamp(1, "r"), 1)
    assert ops.Op("d", "f1", Stamp(1, "r"), {"deleted": True}).with_fields({"deleted": False}).fields == {
        "deleted": False
    }


@pytest.mark.parametrize(
    "data",
    [
        {},
        [["a"]],
        [["a b", {}]],
        [["a", {"x": [1, "r", 1]}], ["a", {"x": [1, "r", 1]}]],
        [["a", {"bogus": [1, "r", 1]}]],
        [["a", {"x": [1, "r"]}]],
        [["a", {"x": [0, "r", 1]}]],
        [["a", {"x": [1, "r", "one"]}]],
        [["a", {}]],
        [["a", []]],
    ],
)
def test_S1_invalid_snapshots_are_decode_errors(data: Any) -> None:
    with pytest.raises(DecodeError):
        Tapestry.from_data(data)


def test_S1_undecodable_snapshot_bytes() -> None:
    with pytest.raises(DecodeError) as err:
        Tapestry.decode(b"\xc1")
    assert err.value.code is ErrorCode.BAD_ENCODING
