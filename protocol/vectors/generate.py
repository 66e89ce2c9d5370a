"""Generate the shared merge vectors (``python protocol/vectors/generate.py``).

Each vector is one JSON file::

    {"name": str, "rule": "M3", "description": str,
     "initial": <Tapestry.to_data()>, "orders": [[<wire op>, ...], ...],
     "expected": <to_data() of the final state>, "digest": "<sha256 hex of the canonical bytes>",
     "live_counts": {"organic": n, "ai": n}}

Every order is one delivery sequence (duplicates included) applied to a fresh
copy of ``initial``; every order must end in ``expected``. The Python test suite
and the browser port's ``node --test`` suite both run every file. The generator
checks that property itself before writing, and ``--check`` only compares.

Binding vectors (SPEC M14) live in ``bindings/``, one JSON file per case::

    {"name": str, "rule": "M14", "description": str, "initial": <Tapestry.to_data()>,
     "ends": {<line or arrow id>: [[x1, y1], [x2, y2]], ...}}

where ``ends`` are the drawn ends of every live line and arrow of ``initial``
(``bindings.ends``); runners compare them within 1e-9.

Undo vectors (SPEC M10) live in ``undo/``, one JSON file per case::

    {"name": str, "rule": "M10", "description": str, "replica": "r-me",
     "initial": <Tapestry.to_data()>,
     "steps": [{"do": "edit", "label": str, "ops": [...]},   one undo step of ours
               {"do": "remote", "ops": [...]},               someone else's writes
               {"do": "undo" | "redo", "ops": [...]}],       the writes it must make
     "expected": ..., "digest": ..., "live_counts": ...}

A runner applies the steps in order to ``initial`` with one ``History``: an
edit's ops are applied and recorded as one step; an undo or redo runs with a
clock at ``Clock(replica, max_counter)`` and must write exactly ``ops`` (an
empty list: nothing left to undo).

Compact-form vectors (SPEC M15, M16) live in ``compact/``: ``{"name", "rule", "description",
"compact", "canonical", "digest", "live_counts"}``: loading ``compact`` gives the state whose
canonical structure is ``canonical`` (and digest, live counts), and that state written in the
compact form is ``compact`` again. ``compact/invalid.json`` lists ``{"why", "compact"}`` cases a
loader must refuse (``{"name", "rule", "description", "invalid": [...]}``).

z-order vectors (SPEC M7) live in ``zorder/``: ``{"name", "rule": "M7", "description",
"calls": [{"a", "b", "replica", "key"}, ...]}``; ``zorder.between(a, b, replica)`` (``null`` for
an open end or no replica) must return exactly ``key``. A run's calls use the keys of the calls
before them, so one file pins how keys grow as well as each key.
"""

from __future__ import annotations

import argparse
import itertools
import json
import random
import sys
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

from dreamloom.protocol import Clock, History, Op, Stamp, Tapestry, bindings, ops, zorder
from dreamloom.protocol.limits import DEFAULT_LIMITS
from dreamloom.protocol.validate import check_op

HERE = Path(__file__).resolve().parent
Wire = dict[str, Any]
Vector = dict[str, Any]

GEOMS: dict[str, Callable[[random.Random], dict[str, Any]]] = {
    "stroke": lambda r: {"pts": [r.randint(-50, 50) for _ in range(2 * r.randint(1, 4))]},
    "shape": lambda r: {"shape": r.choice(["rect", "ellipse", "line", "arrow"]), "w": r.randint(1, 90), "h": 7.5},
    "symbol": lambda r: {"sym": r.choice(["moon", "eye", "key", "door"]), "size": r.choice([24, 32.0, 40.5])},
    "text": lambda r: {"text": r.choice(["dream", "夢の中で", "🌙 moon", "café"]), "size": 16},
}


DEFAULT_GEOMS: dict[str, dict[str, Any]] = {
    "stroke": {"pts": [0, 0, 10, 5]},
    "shape": {"shape": "rect", "w": 40, "h": 20},
    "symbol": {"sym": "moon", "size": 32},
    "text": {"text": "dream", "size": 16},
}


def s(counter: int, replica: str) -> Stamp:
    return Stamp(counter, replica)


def create(fid: str, stamp: Stamp, kind: Any = "symbol", **extra: Any) -> Wire:
    geom: dict[str, Any] = extra.pop("geom", None) or dict(DEFAULT_GEOMS[kind])
    z: str = extra.pop("z", "V")
    return ops.create(fid, stamp, kind=kind, geom=geom, z=z, **extra).to_wire()


def set_(fid: str, stamp: Stamp, **fields: Any) -> Wire:
    return ops.set_fields(fid, stamp, **fields).to_wire()


def delete(fid: str, stamp: Stamp) -> Wire:
    return ops.delete(fid, stamp).to_wire()


def restore(fid: str, stamp: Stamp) -> Wire:
    return ops.restore(fid, stamp).to_wire()


def replay(initial: list[Any], order: Sequence[Wire]) -> Tapestry:
    """Apply one order of wire ops (validated as a server would) to a copy of ``initial``."""
    t = Tapestry.from_data(json.loads(json.dumps(initial)))
    for wire in order:
        t.apply(check_op(json.loads(json.dumps(wire)), DEFAULT_LIMITS))
    return t


def orders_of(batch: Sequence[Wire], rng: random.Random, count: int = 12) -> list[list[Wire]]:
    """Delivery orders: as written, reversed, every permutation (or a sample), and with duplicates."""
    out: list[list[Wire]] = [list(batch), list(reversed(batch))]
    if len(batch) <= 5:
        perms = [list(p) for p in itertools.permutations(batch)]
        rng.shuffle(perms)
        out += perms[:count]
    else:
        for _ in range(count):
            perm = list(batch)
            rng.shuffle(perm)
            out.append(perm)
    # Every op twice, the copies at random later positions; then everything doubled.
    dup = list(batch)
    for op in batch:
        dup.insert(rng.randint(dup.index(op) + 1, len(dup)), op)
    out.append(dup)
    out.append(list(batch) + list(reversed(batch)))
    unique: list[list[Wire]] = []
    seen: set[str] = set()
    for order in out:
        key = json.dumps(order, sort_keys=True)
        if key not in seen:
            seen.add(key)
            unique.append(order)
    return unique


def vector(
    name: str, rule: str, description: str, batch: Sequence[Wire], initial: list[Any] | None = None, seed: int = 0
) -> Vector:
    initial = initial or []
    orders = orders_of(batch, random.Random(f"{name}:{seed}"), count=12 if len(batch) <= 50 else 4)
    finals = [replay(initial, order) for order in orders]
    first = finals[0]
    for i, t in enumerate(finals):
        if t.encode() != first.encode():
            raise AssertionError(f"vector {name}: order {i} diverges")
    return {
        "name": name,
        "rule": rule,
        "description": description,
        "initial": initial,
        "orders": orders,
        "expected": first.to_data(),
        "digest": first.digest(),
        "live_counts": dict(first.live_counts),
    }


def state(*wires: Wire) -> list[Any]:
    t = Tapestry()
    for w in wires:
        t.apply(check_op(w, DEFAULT_LIMITS))
    return t.to_data()


# -- the cases ------------------------------------------------------------------
def cases() -> Iterator[Vector]:
    a, b, c = "r-ana", "r-ben", "r-cy"
    yield vector(
        "create",
        "M3",
        "One create writes every register; a duplicate changes nothing.",
        [create("f1", s(1, a)), create("f2", s(2, a), "stroke", origin="ai", author="w1")],
    )
    yield vector(
        "create_defaults",
        "W8",
        "A create that omits author, origin, x, y, style, inspired_by and remixable gets the defaults.",
        [{"t": "c", "id": "f1", "s": [3, a], "f": {"kind": "text", "geom": {"text": "hi", "size": 12}, "z": "V"}}],
    )
    yield vector(
        "set_after_create",
        "M3",
        "A set with a higher stamp wins over the create's values, in either delivery order.",
        [create("f1", s(1, a), x=10, y=10), set_("f1", s(2, b), x=20, style={"color": "#112233"})],
    )
    yield vector(
        "concurrent_set_same_field",
        "M3",
        "Three replicas set x concurrently: the highest stamp (counter, then replica) wins.",
        [
            create("f1", s(1, a)),
            set_("f1", s(5, a), x=1),
            set_("f1", s(5, b), x=2),
            set_("f1", s(4, c), x=3, y=3),
        ],
    )
    yield vector(
        "concurrent_set_different_fields",
        "M3",
        "Concurrent sets of different fields of one fragment both survive: LWW is per field.",
        [create("f1", s(1, a)), set_("f1", s(2, a), x=7), set_("f1", s(2, b), y=8), set_("f1", s(2, c), z="k")],
    )
    yield vector(
        "delete_races_set",
        "M5",
        "A delete concurrent with a set: the fragment stays deleted and keeps the set's value; no resurrection.",
        [create("f1", s(1, a)), delete("f1", s(3, a)), set_("f1", s(4, b), x=99)],
    )
    yield vector(
        "delete_races_restore",
        "M5",
        "Delete and restore are writes of one register: the higher stamp decides liveness.",
        [delete("f1", s(5, a)), restore("f1", s(5, b)), delete("f1", s(4, c))],
        initial=state(create("f1", s(1, a), origin="ai", author="w1")),
    )
    yield vector(
        "restore_after_delete",
        "M5",
        "Undo of a delete is an ordinary restore write with a later stamp.",
        [restore("f1", s(3, a)), set_("f1", s(4, a), remixable=True)],
        initial=state(create("f1", s(1, a)), delete("f1", s(2, b))),
    )
    yield vector(
        "writes_before_create",
        "M6",
        "Sets and a delete that arrive before their create are kept; the fragment exists once the create arrives.",
        [
            set_("f1", s(3, b), x=5),
            delete("f1", s(4, c)),
            create("f1", s(2, a), "shape", x=1, y=1),
            set_("f1", s(1, c), y=-4),
        ],
    )
    yield vector(
        "writes_without_create",
        "M6",
        "Writes to a fragment whose create never arrives: registers kept, but it does not exist and is not counted.",
        [set_("ghost", s(3, b), x=5), delete("ghost", s(4, c)), restore("ghost", s(5, a))],
    )
    yield vector(
        "equal_stamp_tie_break",
        "M4",
        "Two different values under one stamp (a misbehaving client): the larger canonical bytes win, in any order.",
        [create("f1", s(1, a)), set_("f1", s(6, b), x=3, y=100), set_("f1", s(6, b), x=-7, y=2.5)],
    )
    yield vector(
        "integral_float_is_int",
        "M9",
        "1.0 and 1 are one value: canonical form writes integral floats as integers; 0.5 stays a float64.",
        [
            create("f1", s(1, a), "stroke", geom={"pts": [0.0, 1.0, 2.5, -3.0]}, x=1.0, y=2),
            set_("f1", s(2, a), x=1),
            set_("f1", s(2, a), x=1.0),
            set_("f1", s(3, b), style={"width": 2.0, "opacity": 0.5}),
        ],
    )
    yield vector(
        "unicode_text",
        "M9",
        "Text is any Unicode (CJK, emoji, combining marks); a tie between texts compares their UTF-8 bytes.",
        [
            create("t1", s(1, a), "text", geom={"text": "夢の糸 🌙 cafe\u0301", "size": 18}),
            set_("t1", s(4, a), geom={"text": "ünïcödé ✨", "size": 18}),
            set_("t1", s(4, a), geom={"text": "𝔡𝔯𝔢𝔞𝔪", "size": 18}),
        ],
    )
    yield vector(
        "z_ties",
        "M7",
        "Two fragments on one z key (both kept, painted by id); concurrent bring-to-front keys from two replicas.",
        [
            create("f1", s(1, a), z="V"),
            create("f2", s(1, b), z="V"),
            # Bring-to-front keys as writers made them before integer cells (SPEC M7): still plain keys.
            set_("f1", s(2, a), z="W" + zorder.replica_tag(a)),
            set_("f2", s(2, b), z="W" + zorder.replica_tag(b)),
            set_("f1", s(2, c), z="VV"),
        ],
    )
    yield vector(
        "live_counts_by_origin",
        "M5",
        "Live counts follow creates, deletes and restores per origin.",
        [
            create("o1", s(1, a)),
            create("a1", s(1, "weaver-1"), origin="ai", author="w1"),
            create("a2", s(2, "weaver-1"), "text", origin="ai", author="w1"),
            delete("a1", s(3, a)),
            restore("a1", s(2, b)),
        ],
    )
    yield vector(
        "inspired_by_and_style",
        "M3",
        "List and map registers are replaced whole, never merged element-wise.",
        [
            create("f1", s(1, a), inspired_by=["f0"], style={"color": "#aabbcc", "fill": "none"}),
            set_("f1", s(2, a), inspired_by=["f0", "f9"]),
            set_("f1", s(2, b), style={"color": "#aabbccdd"}),
        ],
    )
    yield vector(
        "dashes_and_caption_alignment",
        "W8",
        "A dashed or dotted line is a style key, a caption's alignment a text geom key; sets replace them whole.",
        [
            create("l1", s(1, a), "shape", geom={"shape": "line", "w": 40, "h": 0}, style={"dash": "dashed"}),
            create("t1", s(2, a), "text", geom={"text": "centre", "size": 16, "align": "center"}),
            set_("l1", s(3, b), style={"dash": "dotted", "width": 2}),
            set_("t1", s(3, c), geom={"text": "right", "size": 16, "align": "right"}),
        ],
    )
    yield vector(
        "groups_concurrent",
        "M13",
        "group is a register per fragment: concurrent group, regroup and ungroup settle by stamp, member by member.",
        [
            create("a", s(1, a), "shape", geom={"shape": "rect", "w": 40, "h": 20}),
            create("b", s(2, a), group="g-old"),
            set_("a", s(3, a), group="g1"),
            set_("b", s(3, a), group="g1"),
            set_("a", s(4, b), group="g2"),
            set_("b", s(3, c), group=None),
        ],
    )
    yield vector(
        "bindings_concurrent",
        "M14",
        "start and end are registers of their own: binding one end and unbinding the other never interfere.",
        [
            create("r1", s(1, a), "shape", geom={"shape": "rect", "w": 40, "h": 20}),
            create("ar", s(2, a), "shape", geom={"shape": "arrow", "w": 90, "h": 10}, start="r1"),
            set_("ar", s(3, b), end="r1"),
            set_("ar", s(3, c), start=None),
            set_("ar", s(4, b), x=5, geom={"shape": "arrow", "w": 80, "h": 0}),
            delete("r1", s(5, c)),
        ],
    )
    yield random_vector("random_300", seed=20240611, n_ops=300)


def random_vector(name: str, seed: int, n_ops: int) -> Vector:
    """Five replicas writing concurrently to a pool of ids, with partial knowledge of each other."""
    rng = random.Random(seed)
    replicas = [f"r{i}" for i in range(5)]
    clocks = {r: Clock(r) for r in replicas}
    kinds = {f"p{i}": rng.choice(list(GEOMS)) for i in range(24)}
    batch: list[Wire] = []
    for _ in range(n_ops):
        r = rng.choice(replicas)
        clock = clocks[r]
        if batch and rng.random() < 0.5:  # learn of a random earlier write
            seen = rng.choice(batch)["s"]
            clock.observe(Stamp(seen[0], seen[1]))
        fid = rng.choice(list(kinds))
        kind = kinds[fid]
        roll = rng.random()
        if roll < 0.25:
            batch.append(
                create(
                    fid,
                    clock.tick(),
                    kind,
                    geom=GEOMS[kind](rng),
                    origin=rng.choice(["organic", "ai"]),
                    x=rng.choice([0, 1.0, 2.5, rng.randint(-999, 999)]),
                    z="V" + zorder.replica_tag(r),
                )
            )
        elif roll < 0.75:
            field = rng.choice(["x", "y", "geom", "style", "z", "remixable", "inspired_by"])
            value: Any = {
                "x": rng.choice([rng.randint(-500, 500), rng.random() * 100, 3.0]),
                "y": rng.randint(-500, 500),
                "geom": GEOMS[kind](rng),
                "style": {"color": rng.choice(["#ff0000", "#00ff0080"]), "width": rng.choice([1, 2.0, 0.5])},
                "z": "V" + zorder.replica_tag(r) if rng.random() < 0.5 else rng.choice(["A", "Vx", "k"]),
                "remixable": rng.random() < 0.5,
                "inspired_by": rng.sample(list(kinds), rng.randint(0, 3)),
            }[field]
            batch.append(set_(fid, clock.tick(), **{field: value}))
        elif roll < 0.9:
            batch.append(delete(fid, clock.tick()))
        else:
            batch.append(restore(fid, clock.tick()))
    return vector(
        name,
        "M5",
        f"{n_ops} random creates, sets, deletes and restores from 5 replicas over 24 ids (seed {seed}).",
        batch,
        seed=seed,
    )


# -- undo (M10) --------------------------------------------------------------------
ME = "r-me"
Build = Callable[[Stamp], Wire]


class UndoScript:
    """Build an undo vector by running it: each step records the writes it made."""

    def __init__(self, name: str, description: str, initial: list[Any] | None = None) -> None:
        self.name, self.description = name, description
        self.initial = initial or []
        self.t = Tapestry.from_data(json.loads(json.dumps(self.initial)))
        self.history = History()
        self.steps: list[dict[str, Any]] = []

    def _apply(self, batch: Sequence[Op]) -> list[Any]:
        return [c for c in (self.t.apply(op) for op in batch) if c is not None]

    def _run(self, builders: Sequence[Build], replica: str) -> tuple[list[Wire], list[Any]]:
        wires, changes = [], []
        for build in builders:
            wire = build(Stamp(self.t.max_counter + 1, replica))
            wires.append(wire)
            changes += self._apply([check_op(json.loads(json.dumps(wire)), DEFAULT_LIMITS)])
        return wires, changes

    def edit(self, label: str, *builders: Build) -> UndoScript:
        wires, changes = self._run(builders, ME)
        self.history.record(label, changes)
        self.steps.append({"do": "edit", "label": label, "ops": wires})
        return self

    def remote(self, *builders: Build, replica: str = "r-zoe") -> UndoScript:
        wires, _ = self._run(builders, replica)
        self.steps.append({"do": "remote", "ops": wires})
        return self

    def undo(self, times: int = 1, do: str = "undo") -> UndoScript:
        for _ in range(times):
            run = self.history.undo if do == "undo" else self.history.redo
            step = run(self.t, Clock(ME, self.t.max_counter), self._apply)
            written = [op.to_wire() for op, _ in step.changes] if step else []
            self.steps.append({"do": do, "ops": written})
        return self

    def redo(self, times: int = 1) -> UndoScript:
        return self.undo(times, "redo")

    def vector(self) -> Vector:
        return {
            "name": self.name,
            "rule": "M10",
            "description": self.description,
            "replica": ME,
            "initial": self.initial,
            "steps": self.steps,
            "expected": self.t.to_data(),
            "digest": self.t.digest(),
            "live_counts": dict(self.t.live_counts),
        }


def rect(fid: str = "f1", **extra: Any) -> Build:
    return lambda st: create(fid, st, "shape", geom={"shape": "rect", "w": 120, "h": 80}, **extra)


def put(fid: str, **fields: Any) -> Build:
    return lambda st: set_(fid, st, **fields)


def gone(fid: str) -> Build:
    return lambda st: delete(fid, st)


def back(fid: str) -> Build:
    return lambda st: restore(fid, st)


def undo_cases() -> Iterator[Vector]:
    yield (
        UndoScript(
            "undo_drag_then_nudge",
            "Draw a rectangle, drag it, nudge it: each undo reaches the edit before it (drag, then the draw).",
        )
        .edit("add shape", rect(x=10, y=10))
        .edit("move", put("f1", x=200, y=150))
        .edit("move", put("f1", x=201, y=150))
        .undo(3)
        .redo(3)
        .vector()
    )
    yield (
        UndoScript(
            "undo_recolour_then_width",
            "Recolour, then change the width (style is one register): undo twice restores the first style.",
        )
        .edit("add shape", rect(style={"color": "#ece8ff", "width": 3}))
        .edit("restyle", put("f1", style={"color": "#ff7a90", "width": 3}))
        .edit("restyle", put("f1", style={"color": "#ff7a90", "width": 12}))
        .undo(2)
        .redo()
        .undo(2)
        .vector()
    )
    yield (
        UndoScript(
            "undo_keeps_a_later_write_of_others",
            "Someone moves x after our move: undo puts back our y only; x keeps their value; the next undo deletes.",
        )
        .edit("add shape", rect(x=0, y=0))
        .edit("move", put("f1", x=50, y=60))
        .remote(put("f1", x=-5))
        .undo(2)
        .redo(2)
        .vector()
    )
    yield (
        UndoScript(
            "undo_puts_back_what_others_wrote_before",
            "We move a fragment someone else made: undo restores their position (under our stamp).",
            initial=state(create("f1", s(1, "r-zoe"), "symbol", x=5, y=5)),
        )
        .edit("move", put("f1", x=40, y=40))
        .edit("move", put("f1", x=41, y=40))
        .undo(2)
        .undo()
        .vector()
    )
    yield (
        UndoScript(
            "undo_delete_then_create",
            "Create, delete; undo restores, the next undo deletes again (the create holds it through the restore).",
        )
        .edit("add shape", rect())
        .edit("delete", gone("f1"))
        .undo(2)
        .redo(2)
        .undo()
        .vector()
    )
    yield (
        UndoScript(
            "undo_skips_a_step_others_overwrote",
            "Our move is overwritten whole by someone: undo drops that step and undoes the create before it.",
        )
        .edit("add shape", rect(), rect("f2"))
        .edit("move", put("f1", x=9))
        .remote(put("f1", x=99))
        .undo()
        .undo()
        .vector()
    )
    yield (
        UndoScript(
            "undo_redo_cycles",
            "Three edits of one field, undo and redo back and forth: every undo reaches the value before.",
        )
        .edit("add shape", rect(x=1))
        .edit("move", put("f1", x=2))
        .edit("move", put("f1", x=3))
        .edit("move", put("f1", x=4))
        .undo(2)
        .redo()
        .undo(3)
        .redo(2)
        .undo()
        .redo(3)
        .undo(4)
        .vector()
    )
    yield (
        UndoScript(
            "undo_z_and_fields_of_two_fragments",
            "One step writes two fragments (bring to front); others edit another field meanwhile.",
        )
        .edit("add shape", rect("a", z="V"), rect("b", z="W"))
        .edit("bring to front", put("a", z="X"), put("b", z="Y"))
        .remote(put("a", remixable=True), put("b", z="Z"))
        .edit("move", put("a", x=30, y=30))
        .undo(2)
        .redo()
        .undo(3)
        .vector()
    )
    yield (
        UndoScript(
            "undo_group_and_ungroup",
            "M13: group two fragments, ungroup them; undo puts the groups back step by step"
            " (null where the create left group out).",
        )
        .edit("add shape", rect("a"), rect("b"))
        .edit("group", put("a", group="g1"), put("b", group="g1"))
        .edit("ungroup", put("a", group=None), put("b", group=None))
        .undo(2)
        .redo(2)
        .undo()
        .vector()
    )
    yield (
        UndoScript(
            "undo_bind_keeps_a_later_rebind",
            "M14: we bind an arrow's end; someone rebinds its start: undo unbinds our end only.",
        )
        .edit("add shape", rect("r1"), lambda st: create("ar", st, "shape", geom={"shape": "arrow", "w": 50, "h": 0}))
        .edit("bind", put("ar", end="r1"))
        .remote(put("ar", start="r1"))
        .undo()
        .redo()
        .vector()
    )
    yield random_undo_vector("undo_random_200", seed=20260301, n=200)


def random_undo_vector(name: str, seed: int, n: int) -> Vector:
    """Our edits, others' writes (some to our fields), undos and redos at random, over five fragments."""
    rng = random.Random(seed)
    script = UndoScript(name, f"{n} random edits, remote writes, undos and redos over five fragments (seed {seed}).")
    made: list[str] = []
    for _ in range(n):
        roll = rng.random()
        fid = rng.choice(made) if made else ""
        value: dict[str, Any] = rng.choice(
            [{"x": rng.randint(-99, 99)}, {"y": rng.randint(-99, 99), "x": 1}, {"style": {"width": rng.randint(1, 9)}}]
        )
        if not made or (roll < 0.12 and len(made) < 5):
            fid = f"f{len(made)}"
            made.append(fid)
            script.edit("add", rect(fid, x=rng.randint(0, 50)))
        elif roll < 0.45:
            script.edit("set", put(fid, **value))
        elif roll < 0.5:
            script.edit("delete", gone(fid) if rng.random() < 0.6 else back(fid))
        elif roll < 0.62:
            script.remote(put(fid, **value) if rng.random() < 0.8 else gone(fid), replica=rng.choice(["r-zoe", "r-ab"]))
        elif roll < 0.85:
            script.undo()
        else:
            script.redo()
    return script.vector()


# -- bindings (M14) ------------------------------------------------------------------
def arrow(fid: str, x: float, y: float, w: float, h: float, **extra: Any) -> Wire:
    return create(
        fid, s(50, "r-a"), "shape", geom={"shape": extra.pop("shape", "arrow"), "w": w, "h": h}, x=x, y=y, **extra
    )


def box(fid: str, x: float, y: float, w: float, h: float, shape: str = "rect", rot: float = 0) -> Wire:
    geom: dict[str, Any] = {"shape": shape, "w": w, "h": h}
    if rot:
        geom["rot"] = rot
    return create(fid, s(1, "r-a"), "shape", geom=geom, x=x, y=y)


def binding_vector(name: str, description: str, *wires: Wire) -> Vector:
    t = replay([], wires)
    ends = {f.id: [list(p) for p in bindings.ends(f, t.get)] for f in t.fragments() if bindings.is_connector(f)}
    return {"name": name, "rule": "M14", "description": description, "initial": t.to_data(), "ends": ends}


def binding_cases() -> Iterator[Vector]:
    yield binding_vector(
        "end_to_rect",
        "An arrow's end bound to a rectangle stops GAP short of its left side; the loose start stays stored.",
        box("r", 0, 0, 100, 60),
        arrow("a", -200, 30, 150, 40, end="r"),
    )
    yield binding_vector(
        "rect_to_ellipse",
        "Both ends bound: each aims at the other target's centre; an ellipse's outline is the ellipse.",
        box("r", 0, 0, 100, 60),
        box("e", 300, 200, 80, 120, "ellipse"),
        arrow("a", 0, 0, 10, 10, start="r", end="e"),
        arrow("l", 0, 0, 10, 10, shape="line", start="e", end="r"),
    )
    yield binding_vector(
        "rotated_target_and_arrow",
        "A rotated target turns its outline around its anchor; a rotated arrow's loose end turns around its start.",
        box("r", 40, -20, 120, 50, rot=0.7),
        arrow("a", -150, 100, 80, 0, end="r"),
        create(
            "b", s(51, "r-a"), "shape", geom={"shape": "arrow", "w": 90, "h": 10, "rot": -1.2}, x=400, y=50, start="r"
        ),
    )
    yield binding_vector(
        "loose_when_target_unusable",
        "A deleted, missing, connector or self target leaves the end where the geometry stores it.",
        box("r", 0, 0, 50, 50),
        delete("r", s(60, "r-b")),
        arrow("x", 10, 10, 40, 40, start="r", end="nowhere"),
        arrow("y", 100, 100, 40, 0, start="x", end="y"),
    )
    yield binding_vector(
        "aim_inside_target",
        "When the aim lies inside the target, the end sits on the target's centre.",
        box("big", 0, 0, 400, 400),
        arrow("a", 100, 100, 50, 50, end="big"),
    )
    yield binding_vector(
        "symbol_caption_stroke_targets",
        "Symbols attach to their square, captions to their estimated box (by alignment), strokes to their point box.",
        create("m", s(1, "r-a"), "symbol", geom={"sym": "moon", "size": 48, "rot": 0.3}, x=500, y=0),
        create(
            "t", s(2, "r-a"), "text", geom={"text": "夢の中で\nwide caption", "size": 20, "align": "center"}, x=0, y=300
        ),
        create("k", s(3, "r-a"), "stroke", geom={"pts": [0, 0, 30, 80, -20, 40]}, x=-300, y=-300),
        arrow("a", 0, 0, 1, 1, start="m", end="t"),
        arrow("b", 0, 0, 1, 1, start="k"),
    )
    yield random_binding_vector("random_bindings", seed=20261127, n=40)


def random_binding_vector(name: str, seed: int, n: int) -> Vector:
    rng = random.Random(seed)
    wires: list[Wire] = []
    ids: list[str] = []
    for i in range(n):
        fid = f"f{i}"
        kind = rng.choice(["shape", "shape", "symbol", "text", "stroke"])
        geom = GEOMS[kind](rng)
        if rng.random() < 0.4:
            geom["rot"] = round(rng.uniform(-3.1, 3.1), 4)
        extra: dict[str, Any] = {}
        if kind == "shape" and geom["shape"] in ("line", "arrow") and ids:
            for end in ("start", "end"):
                if rng.random() < 0.7:
                    extra[end] = rng.choice(ids)
        wires.append(
            create(fid, s(i + 1, "r-a"), kind, geom=geom, x=rng.randint(-500, 500), y=rng.randint(-500, 500), **extra)
        )
        ids.append(fid)
    for fid in rng.sample(ids, 4):
        wires.append(delete(fid, s(n + 1, "r-b")))
    return binding_vector(
        name, f"{n} random fragments, lines and arrows bound at random, four deleted (seed {seed}).", *wires
    )


# -- z keys (M7) ------------------------------------------------------------------
Call = dict[str, Any]
OLDER_KEYS = ["V", "Vx", "VV", "W1ab", "k", "A", "0z", "00z1", "zzzV", "zzzzV3kQ", "1", "z"]


def zorder_cases() -> Iterator[Vector]:
    """Calls of ``zorder.between`` (``a``, ``b``, ``replica``) and the key each must return."""

    def run(name: str, description: str, calls: list[Call]) -> Vector:
        for c in calls:
            c["key"] = zorder.between(c["a"], c["b"], c["replica"])
        return {"name": name, "rule": "M7", "description": description, "calls": calls}

    edges: list[tuple[str | None, str | None]] = [
        (None, None),
        ("a1", None),
        (None, "a1"),
        ("az", None),
        ("Z1", None),
        (None, "b01"),
        ("a1", "a5"),
        ("a1", "a2"),
        ("a1", "a3"),
        ("b01", "bzz"),
        ("b0z", "b11"),
        ("Zz", "b01"),
        ("a1xyz", "a1xz1"),
        ("a1Qxy", "a1Qxya1"),
        ("z" * 27, None),
        ("z" * 27 + "abc", None),
        (None, "0" * 26 + "1"),
        (None, "0" * 30 + "1"),
    ]
    edges += [(k, None) for k in OLDER_KEYS] + [(None, k) for k in OLDER_KEYS]
    edges += [(a, b) for a, b in itertools.combinations(sorted(OLDER_KEYS), 2)]
    yield run(
        "z_edges",
        "Single calls: the first key, the ends of one-digit integers, the largest and smallest integers, "
        "neighbouring and equal integers, and keys written before integer cells (plain base-62 fractions).",
        [{"a": a, "b": b, "replica": r} for a, b in edges for r in (None, "r-ana")],
    )
    rng = random.Random(20261127)
    replicas = ["r-ana", "r-ben", "weaver-1", None]

    def chain(n: int, start: list[str], pick: Callable[[list[str]], int]) -> list[Call]:
        keys, calls = list(start), []
        for _ in range(n):
            i = pick(keys)  # the new key goes at position i
            a, b = (keys[i - 1] if i else None), (keys[i] if i < len(keys) else None)
            call = {"a": a, "b": b, "replica": rng.choice(replicas)}
            calls.append(call)
            keys.insert(i, zorder.between(a, b, call["replica"]))
        return calls

    yield run(
        "z_runs",
        "Runs of calls, each on the keys the ones before made: on top, at the bottom, just above and just "
        "below one fragment, between random neighbours, and on top of an older key.",
        chain(150, ["a1"], len)
        + chain(150, ["a1"], lambda _: 0)
        + chain(150, ["a5Qxy", "b01"], lambda _: 1)
        + chain(150, ["a5Qxy", "a6Qxy"], lambda keys: len(keys) - 1)
        + chain(300, [], lambda keys: rng.randrange(len(keys) + 1))
        + chain(60, ["zzzV", "zzzz"], lambda _: 1),
    )


def dumps_zorder(vec: Vector) -> str:
    """Stable, diff-friendly JSON: one call per line."""
    lines = ["{"]
    for key in ("name", "rule", "description"):
        lines.append(f"  {json.dumps(key)}: {json.dumps(vec[key], ensure_ascii=False)},")
    lines.append('  "calls": [')
    lines.append(",\n".join(f"    {json.dumps(c)}" for c in vec["calls"]))
    lines.append("  ]")
    lines.append("}")
    return "\n".join(lines) + "\n"


def compact_vector(name: str, description: str, canonical: list[Any]) -> Vector:
    t = Tapestry.from_data(canonical)
    items = t.to_compact()
    if Tapestry.from_compact(items).encode() != t.encode():
        raise AssertionError(f"compact vector {name}: the compact form loads another state")
    return {
        "name": name,
        "rule": "M15",
        "description": description,
        "compact": items,
        "canonical": t.to_data(),
        "digest": t.digest(),
        "live_counts": dict(t.live_counts),
    }


def compact_cases() -> Iterator[Vector]:
    """The compact form of every merge vector's final state, and a few states built for M15's ties."""
    for vec in cases():
        yield compact_vector(vec["name"], f"The final state of the merge vector {vec['name']}.", vec["expected"])
    a, b, c = "r-ana", "r-ben", "r-cy"
    yield compact_vector(
        "tie_goes_to_the_greatest_stamp",
        "Two stamps hold two registers each: the greater stamp is the shared one.",
        state(set_("f1", s(1, b), x=1, y=2), set_("f1", s(2, a), z="A", remixable=True)),
    )
    yield compact_vector(
        "equal_counters_tie_on_replica",
        "Same counter, two replicas, two registers each: the greater replica id wins the tie.",
        state(set_("f1", s(3, a), x=1, y=2), set_("f1", s(3, c), z="A", remixable=True)),
    )
    yield compact_vector(
        "most_registers_rewritten",
        "Most of a create's registers written again by one later stamp: that stamp is the shared one.",
        state(
            create("f1", s(1, a), x=5, y=6),
            set_("f1", s(4, b), x=1, y=2, z="W", style={"color": "#112233"}, geom={"sym": "eye", "size": 24}),
            set_("f1", s(5, c), remixable=True, inspired_by=["f0"]),
            delete("f1", s(6, c)),
        ),
    )


def invalid_compact() -> Vector:
    good = ["f1", 1, "r-ana", {"kind": "symbol", "x": 0}, {"y": [2, "r-ben", 5]}]

    def bad(why: str, item: Any) -> dict[str, Any]:
        return {"why": why, "compact": [item]}

    invalid = [
        {"why": "not a list", "compact": {"f1": good}},
        bad("an item of four", good[:4]),
        bad("an id that is not an id", ["f 1", *good[1:]]),
        bad("a counter below 1", ["f1", 0, *good[2:]]),
        bad("a float counter", ["f1", 1.5, *good[2:]]),
        bad("a counter past 2**53 - 1", ["f1", 2**53, *good[2:]]),
        bad("a replica that is not a string", ["f1", 1, 7, *good[3:]]),
        bad("values not a map", ["f1", 1, "r-ana", [["kind", "symbol"]], {}]),
        bad("no register holds the shared stamp", ["f1", 1, "r-ana", {}, {"y": [2, "r-ben", 5]}]),
        bad("an unknown field in values", ["f1", 1, "r-ana", {"kind": "symbol", "colour": "red"}, {}]),
        bad("an unknown field in others", ["f1", 1, "r-ana", {"kind": "symbol"}, {"colour": [2, "r-ben", "red"]}]),
        bad("a bad value in values", ["f1", 1, "r-ana", {"kind": "symbol", "x": "far"}, {}]),
        bad("a bad value in others", ["f1", 1, "r-ana", {"kind": "symbol"}, {"x": [2, "r-ben", "far"]}]),
        bad("a field in both maps", ["f1", 1, "r-ana", {"kind": "symbol", "x": 0}, {"x": [2, "r-ben", 5]}]),
        bad("an other register of two", ["f1", 1, "r-ana", {"kind": "symbol"}, {"x": [2, "r-ben"]}]),
        bad("an other register with the shared stamp", ["f1", 1, "r-ana", {"kind": "symbol"}, {"x": [1, "r-ana", 5]}]),
        {"why": "an id listed twice", "compact": [good, good]},
    ]
    for case in invalid:
        try:
            Tapestry.from_compact(case["compact"])
        except Exception:
            continue
        raise AssertionError(f"invalid compact case loads: {case['why']}")
    return {
        "name": "invalid",
        "rule": "M15",
        "description": "Compact snapshots a loader must refuse, as it refuses a canonical one that breaks W8.",
        "invalid": invalid,
    }


def dumps_compact(vec: Vector) -> str:
    """Stable, diff-friendly JSON: one fragment per line."""
    lines = ["{"]
    for key in ("name", "rule", "description"):
        lines.append(f"  {json.dumps(key)}: {json.dumps(vec[key], ensure_ascii=False)},")
    for key in ("compact", "canonical", "invalid"):
        if key in vec:
            rows = ",\n".join(f"    {json.dumps(entry, ensure_ascii=False)}" for entry in vec[key])
            last = key == "invalid"
            lines.append(f'  "{key}": [' + ("\n" + rows + "\n  " if rows else "") + "]" + ("" if last else ","))
    if "digest" in vec:
        lines.append(f'  "digest": {json.dumps(vec["digest"])},')
        lines.append(f'  "live_counts": {json.dumps(vec["live_counts"])}')
    lines.append("}")
    return "\n".join(lines) + "\n"


# -- writing ----------------------------------------------------------------------
def dumps(vec: Vector) -> str:
    """Stable, diff-friendly JSON: one op per line."""
    lines = ["{"]
    for key in ("name", "rule", "description"):
        lines.append(f"  {json.dumps(key)}: {json.dumps(vec[key], ensure_ascii=False)},")
    lines.append(f'  "initial": {json.dumps(vec["initial"], ensure_ascii=False)},')
    lines.append('  "orders": [')
    for i, order in enumerate(vec["orders"]):
        body = ",\n".join(f"    {json.dumps(op, ensure_ascii=False)}" for op in order)
        lines.append("   [\n" + body + "\n   ]" + ("," if i < len(vec["orders"]) - 1 else ""))
    lines.append("  ],")
    lines.append(f'  "expected": {json.dumps(vec["expected"], ensure_ascii=False)},')
    lines.append(f'  "digest": {json.dumps(vec["digest"])},')
    lines.append(f'  "live_counts": {json.dumps(vec["live_counts"])}')
    lines.append("}")
    return "\n".join(lines) + "\n"


def dumps_undo(vec: Vector) -> str:
    """Stable, diff-friendly JSON: one step per line."""
    lines = ["{"]
    for key in ("name", "rule", "description", "replica", "initial"):
        lines.append(f"  {json.dumps(key)}: {json.dumps(vec[key], ensure_ascii=False)},")
    lines.append('  "steps": [')
    steps = [f"    {json.dumps(step, ensure_ascii=False)}" for step in vec["steps"]]
    lines.append(",\n".join(steps))
    lines.append("  ],")
    lines.append(f'  "expected": {json.dumps(vec["expected"], ensure_ascii=False)},')
    lines.append(f'  "digest": {json.dumps(vec["digest"])},')
    lines.append(f'  "live_counts": {json.dumps(vec["live_counts"])}')
    lines.append("}")
    return "\n".join(lines) + "\n"


def dumps_bindings(vec: Vector) -> str:
    """Stable, diff-friendly JSON: one fragment, and one line's drawn ends, per line."""
    lines = ["{"]
    for key in ("name", "rule", "description"):
        lines.append(f"  {json.dumps(key)}: {json.dumps(vec[key], ensure_ascii=False)},")
    frags = ",\n".join(f"    {json.dumps(entry, ensure_ascii=False)}" for entry in vec["initial"])
    lines.append('  "initial": [\n' + frags + "\n  ],")
    ends = ",\n".join(f"    {json.dumps(fid)}: {json.dumps(e)}" for fid, e in vec["ends"].items())
    lines.append('  "ends": {\n' + ends + "\n  }")
    lines.append("}")
    return "\n".join(lines) + "\n"


def rendered() -> dict[str, str]:
    """File name (relative to this folder) -> contents of every vector."""
    out = {f"{vec['name']}.json": dumps(vec) for vec in cases()}
    out.update({f"undo/{vec['name']}.json": dumps_undo(vec) for vec in undo_cases()})
    out.update({f"bindings/{vec['name']}.json": dumps_bindings(vec) for vec in binding_cases()})
    out.update({f"zorder/{vec['name']}.json": dumps_zorder(vec) for vec in zorder_cases()})
    out.update({f"compact/{vec['name']}.json": dumps_compact(vec) for vec in compact_cases()})
    out["compact/invalid.json"] = dumps_compact(invalid_compact())
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--check", action="store_true", help="fail if a file is missing or differs")
    args = parser.parse_args(argv)
    stale = []
    for fname, text in rendered().items():
        path = HERE / fname
        if args.check:
            if not path.exists() or path.read_text(encoding="utf-8") != text:
                stale.append(fname)
        else:
            path.parent.mkdir(exist_ok=True)
            path.write_text(text, encoding="utf-8")
    if stale:
        print("stale vectors: " + ", ".join(stale), file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
