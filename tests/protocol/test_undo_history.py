"""Undo and redo of one user's edits (SPEC M10): the shared undo vectors, and the properties.

The properties, over random sequences of one user's edits interleaved with
other people's writes:

- undone step by step, the edits return the tapestry to the state before
  each of them, when nobody else touched those fields; redone, they come back;
- an undo or a redo never changes a register whose current write is someone
  else's: nothing others wrote later is ever reverted.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dreamloom.protocol import DEFAULT_LIMITS, Change, Clock, History, Holders, Op, Stamp, Tapestry, ops
from dreamloom.protocol.canon import pack
from dreamloom.protocol.validate import check_op

UNDO_VECTORS = Path(__file__).resolve().parents[2] / "protocol" / "vectors" / "undo"
FILES = sorted(UNDO_VECTORS.glob("*.json"))
SHAPE = {"name", "rule", "description", "replica", "initial", "steps", "expected", "digest", "live_counts"}
ME, ZOE = "me", "zoe"
#: The fields our edits write in the first property; others write only ``remixable``.
MY_FIELDS = ("x", "y", "geom", "style", "z", "inspired_by")
GEOMS: list[dict[str, Any]] = [
    {"shape": "rect", "w": 40, "h": 20},
    {"shape": "ellipse", "w": 10.5, "h": 3},
    {"shape": "line", "w": -4, "h": 1.0},
]
STYLES: list[dict[str, Any]] = [{}, {"color": "#ff7a90"}, {"color": "#ff7a90", "width": 12}, {"opacity": 0.5}]


def _apply(t: Tapestry) -> Any:
    def apply(batch: list[Op]) -> list[Change]:
        return [c for c in (t.apply(op) for op in batch) if c is not None]

    return apply


# -- the shared vectors -------------------------------------------------------------
def test_undo_vectors_exist() -> None:
    assert len(FILES) >= 8
    names = {p.stem for p in FILES}
    assert {"undo_drag_then_nudge", "undo_recolour_then_width"} <= names


@pytest.mark.parametrize("path", FILES, ids=[p.stem for p in FILES])
def test_M10_undo_vector(path: Path) -> None:
    vec = json.loads(path.read_text(encoding="utf-8"))
    assert set(vec) == SHAPE, "the undo vector format is shared with the browser port: keep exactly this shape"
    assert vec["rule"] == "M10"
    t = Tapestry.from_data(vec["initial"])
    history = History()
    for i, step in enumerate(vec["steps"]):
        if step["do"] in ("edit", "remote"):
            changes = _apply(t)([check_op(w, DEFAULT_LIMITS) for w in step["ops"]])
            if step["do"] == "edit":
                history.record(step["label"], changes)
            continue
        run = history.undo if step["do"] == "undo" else history.redo
        done = run(t, Clock(vec["replica"], t.max_counter), _apply(t))
        written = [op.to_wire() for op, _ in done.changes] if done else []
        assert written == step["ops"], f"step {i} ({step['do']})"
    assert t.to_data() == vec["expected"]
    assert t.digest() == vec["digest"]
    assert t.live_counts == {"organic": 0, "ai": 0, **vec["live_counts"]}


# -- the two sequences, spelled out ------------------------------------------------
def test_M10_drag_then_nudge_undoes_the_nudge_then_the_drag() -> None:
    t, me, history = Tapestry(), Clock(ME), History()
    apply = _apply(t)
    rect = ops.create("r", me.tick(), kind="shape", geom=GEOMS[0], z="V", x=10, y=10)
    history.record("add", apply([rect]))
    history.record("drag", apply([ops.set_fields("r", me.tick(), x=200, y=150)]))
    history.record("nudge", apply([ops.set_fields("r", me.tick(), x=201)]))
    assert history.undo(t, me, apply)
    assert (t.get("r").x, t.get("r").y) == (200, 150)  # type: ignore[union-attr]
    assert history.undo(t, me, apply)
    assert (t.get("r").x, t.get("r").y) == (10, 10)  # type: ignore[union-attr]
    assert history.undo(t, me, apply)
    assert t.get("r").deleted  # type: ignore[union-attr]
    assert history.undo(t, me, apply) is None


def test_M10_recolour_then_width_undoes_both() -> None:
    t, me, history = Tapestry(), Clock(ME), History()
    apply = _apply(t)
    history.record("add", apply([ops.create("r", me.tick(), kind="shape", geom=GEOMS[0], z="V", style={})]))
    history.record("colour", apply([ops.set_fields("r", me.tick(), style={"color": "#ff7a90"})]))
    history.record("width", apply([ops.set_fields("r", me.tick(), style={"color": "#ff7a90", "width": 12})]))
    history.undo(t, me, apply)
    assert t.get("r").style == {"color": "#ff7a90"}  # type: ignore[union-attr]
    history.undo(t, me, apply)
    assert t.get("r").style == {}  # type: ignore[union-attr]
    assert not t.get("r").deleted  # type: ignore[union-attr]


def test_M10_holders_follow_chains_and_history_is_bounded() -> None:
    h = Holders()
    a, b, c = Stamp(1, ME), Stamp(2, ME), Stamp(3, ME)
    h.hand("f", "x", a, b)
    h.hand("f", "x", b, c)
    assert h.holder("f", "x", a) == c
    assert h.holder("f", "y", a) == a
    assert len(h) == 2
    t, me, history = Tapestry(), Clock(ME), History(limit=3)
    apply = _apply(t)
    history.record("nothing", [])
    assert history.undo_steps == []
    history.record("add", apply([ops.create("r", me.tick(), kind="shape", geom=GEOMS[0], z="V")]))
    for x in range(5):
        history.record("move", apply([ops.set_fields("r", me.tick(), x=x)]))
    assert len(history.undo_steps) == 3
    history.undo(t, me, apply)
    assert history.redo_steps
    history.record("move", apply([ops.set_fields("r", me.tick(), x=9)]))
    assert history.redo_steps == []


# -- the properties -------------------------------------------------------------------
class Scene:
    """A tapestry, our history, and a deterministic reading of Hypothesis' integers as actions."""

    def __init__(self) -> None:
        self.t = Tapestry()
        self.me, self.zoe = Clock(ME), Clock(ZOE)
        self.history = History()
        self.made = 0
        self.zoe_made = 0
        # Three fragments of someone else's, there before our first edit.
        for i in range(3):
            self.remote(ops.create(f"z{i}", self.zoe.tick(), kind="shape", geom=GEOMS[i], z="V", x=i))
        self.tracked = [f"z{i}" for i in range(3)]

    def tick(self) -> Stamp:
        self.me.observe_counter(self.t.max_counter)
        return self.me.tick()

    def remote(self, op: Op) -> None:
        self.t.apply(op)

    def zoe_stamp(self, concurrent: bool) -> Stamp:
        # A concurrent write has not seen ours yet: its stamp may be lower.
        if not concurrent:
            self.zoe.observe_counter(self.t.max_counter)
        return self.zoe.tick()

    def live(self) -> list[str]:
        return [fid for fid in self.tracked if (f := self.t.get(fid)) is not None and not f.deleted]

    def deleted(self) -> list[str]:
        return [fid for fid in self.tracked if (f := self.t.get(fid)) is not None and f.deleted]

    def edit(self, a: int, b: int) -> bool:
        """One of our edits, as the browser makes them (only of live fragments, restores of deleted ones)."""
        live, gone = self.live(), self.deleted()
        verb = a % 6
        batch: list[Op] = []
        if verb == 0 or not live:
            fid = f"m{self.made}"
            self.made += 1
            self.tracked.append(fid)
            batch = [ops.create(fid, self.tick(), kind="shape", geom=GEOMS[b % 3], z="V", x=b % 50, y=b % 7)]
        elif verb == 1 and gone:
            batch = [ops.restore(gone[b % len(gone)], self.tick())]
        elif verb == 2:
            batch = [ops.delete(live[b % len(live)], self.tick())]
        elif verb == 3:  # one step over several fragments, as bring-to-front does
            batch = [ops.set_fields(fid, self.tick(), z=f"W{b % 9 + 1}") for fid in live[: 1 + b % 3]]
        else:
            name = MY_FIELDS[b % len(MY_FIELDS)]
            value: Any = {
                "x": b % 97,
                "y": 0.5 * (b % 13),
                "geom": GEOMS[b % 3],
                "style": STYLES[b % 4],
                "z": f"k{b % 5 + 1}",
                "inspired_by": [f"z{b % 3}"] if b % 2 else [],
            }[name]
            extra = {"x": b % 31} if name == "y" else {}
            batch = [ops.set_fields(live[b % len(live)], self.tick(), **{name: value, **extra})]
        changes = _apply(self.t)(batch)
        self.history.record("edit", changes)
        return bool(changes)

    def view(self) -> dict[str, bytes]:
        """What our edits decide: our fields of every tracked fragment that is live."""
        out = {}
        for fid in self.tracked:
            f = self.t.get(fid)
            if f is not None and not f.deleted:
                out[fid] = pack([getattr(f, name) for name in MY_FIELDS])
        return out

    def undo(self) -> Any:
        return self.history.undo(self.t, self.me, _apply(self.t))

    def redo(self) -> Any:
        return self.history.redo(self.t, self.me, _apply(self.t))


actions = st.lists(st.tuples(st.integers(0, 99), st.integers(0, 999)), min_size=1, max_size=25)


@settings(max_examples=150, deadline=None)
@given(mine=actions, theirs=st.lists(st.tuples(st.integers(0, 99), st.integers(0, 999)), max_size=25))
def test_M10_undo_step_by_step_returns_to_each_earlier_state(
    mine: Sequence[tuple[int, int]], theirs: Sequence[tuple[int, int]]
) -> None:
    """Others only create their own fragments and mark ours remixable: never a field our edits write."""
    scene = Scene()
    views = [scene.view()]

    def meanwhile(i: int) -> None:
        if i >= len(theirs):
            return
        a, b = theirs[i]
        if a % 3 == 0:
            fid = f"zz{scene.zoe_made}"
            scene.zoe_made += 1
            scene.remote(ops.create(fid, scene.zoe_stamp(False), kind="shape", geom=GEOMS[b % 3], z="V"))
        else:
            target = scene.tracked[b % len(scene.tracked)]
            scene.remote(ops.set_fields(target, scene.zoe_stamp(a % 2 == 0), remixable=bool(b % 2)))

    for i, (a, b) in enumerate(mine):
        meanwhile(i)
        assert scene.edit(a, b)
        views.append(scene.view())
    n = len(mine)
    for j in range(1, n + 1):
        meanwhile(n + j)
        assert scene.undo() is not None, f"undo {j} of {n} found nothing to undo"
        assert scene.view() == views[n - j], f"after undo {j} of {n}"
    assert scene.undo() is None
    for j in range(1, n + 1):
        assert scene.redo() is not None
        assert scene.view() == views[j], f"after redo {j} of {n}"
    assert scene.redo() is None


def _registers(t: Tapestry) -> dict[tuple[str, str], Any]:
    return {(fid, name): reg for fid in list(t.ids()) for name, reg in t.registers(fid).items()}


@settings(max_examples=200, deadline=None)
@given(script=st.lists(st.tuples(st.integers(0, 99), st.integers(0, 999)), min_size=1, max_size=60))
def test_M10_undo_and_redo_never_revert_what_others_wrote_later(script: Sequence[tuple[int, int]]) -> None:
    """Our edits, others' writes to any field (deletes and restores too, some concurrent), undos and redos."""
    scene = Scene()
    for a, b in script:
        kind = a % 10
        if kind < 4:
            scene.edit(a // 10, b)
        elif kind < 7:
            target = scene.tracked[b % len(scene.tracked)]
            stamp = scene.zoe_stamp(concurrent=b % 4 == 0)
            if kind == 4:
                op = ops.set_fields(target, stamp, **{MY_FIELDS[b % 3]: b % 50 if b % 3 < 2 else GEOMS[b % 3]})
            elif kind == 5:
                op = ops.delete(target, stamp) if b % 2 else ops.restore(target, stamp)
            else:
                op = ops.set_fields(target, stamp, style=STYLES[b % 4], z="Zz")
            scene.remote(op)
        else:
            before = _registers(scene.t)
            done = scene.undo() if kind < 9 else scene.redo()
            after = _registers(scene.t)
            for key, reg in before.items():
                if reg[0].replica != ME:
                    assert after[key] == reg, f"{'undo' if kind < 9 else 'redo'} reverted {key}, written by {ZOE}"
            for op, _ in done.changes if done else []:
                assert op.stamp.replica == ME
