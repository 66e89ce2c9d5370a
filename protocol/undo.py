"""Undo as inverse writes (SPEC M10).

Theory of operation:

1. Undo is per user: it writes, with new stamps, the values an op's
   registers held before it, and only for the registers the op still
   *holds*. A register someone overwrote later keeps that later write.
2. An op holds a register while the register's stamp is the op's own stamp,
   or the stamp of an undo or redo write that put back the value this op
   wrote (its *holder*, followed transitively). Undoing a nudge writes the
   drag's position back under a new stamp; that write now holds the field for
   the drag, so the next undo reaches the drag. Without holders, the undo's
   own write would take the field away from every earlier edit of it, and
   undo would skip them.
3. Redo is the undo of the undo, through the same holders.
   An optional register (``group``, ``start``, ``end``) that a create left
   out held ``None``: undo of a set that wrote it first writes ``None`` back.
4. :class:`History` keeps one user's undo and redo steps and their holders;
   it is pure (no I/O): the caller hands it a function that applies ops.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from .canon import pack
from .ops import OPTIONAL, Op, delete, restore
from .stamps import Clock, Stamp
from .tapestry import Change, Register, Tapestry

#: What :meth:`History.undo` applies ops with: it returns the changes they made.
Apply = Callable[[list[Op]], list[Change]]


class Holders:
    """Which write now holds the value an earlier write put into a register (M10 rule 2)."""

    __slots__ = ("_next",)

    def __init__(self) -> None:
        self._next: dict[tuple[str, str, Stamp], Stamp] = {}

    def holder(self, fragment_id: str, name: str, stamp: Stamp) -> Stamp:
        """The stamp that holds, in register ``name``, the value written under ``stamp``."""
        seen = stamp
        while (nxt := self._next.get((fragment_id, name, seen))) is not None:
            seen = nxt
        return seen

    def hand(self, fragment_id: str, name: str, old: Stamp, new: Stamp) -> None:
        """The write ``new`` put back the value written under ``old``: it holds it now."""
        self._next[(fragment_id, name, old)] = new

    def __len__(self) -> int:
        return len(self._next)


def inverse(
    op: Op,
    before: Mapping[str, Register | None],
    now: Tapestry,
    clock: Clock,
    holders: Holders | None = None,
) -> list[Op]:
    """The ops that undo ``op``, given its registers ``before`` it and the state ``now``.

    Returns an empty list when nothing of ``op`` is left to undo. With
    ``holders``, an op also holds what undo and redo writes put back for it,
    and the returned ops are recorded there as the new holders: apply them.

    >>> from dreamloom.protocol import ops, Stamp, Tapestry, Clock
    >>> t, clock = Tapestry(), Clock("r1")
    >>> change = t.apply(ops.create("f1", clock.tick(), kind="symbol",
    ...     geom={"sym": "eye", "size": 30}, z="V"))
    >>> [u.t for u in inverse(change.op, change.before, t, clock)]
    ['d']
    """
    regs = now.registers(op.id)

    def holds(name: str) -> bool:
        reg = regs.get(name)
        mine = op.stamp if holders is None else holders.holder(op.id, name, op.stamp)
        return reg is not None and reg[0] == mine

    out: Op | None = None
    if op.t in ("c", "r"):
        # A create is undone only while it holds ``deleted``: a later delete or
        # restore by anyone took the fragment's life out of this op's hands.
        out = delete(op.id, clock.tick()) if holds("deleted") else None
    elif op.t == "d":
        out = restore(op.id, clock.tick()) if holds("deleted") else None
    else:
        fields: dict[str, Any] = {}
        for name in op.fields:
            prev = before.get(name)
            if not holds(name):
                continue
            if prev is not None:
                fields[name] = prev[1]
            elif name in OPTIONAL and now.get(op.id) is not None:
                # An optional register a create left out read as None before this op (M13).
                fields[name] = None
        out = Op("s", op.id, clock.tick(), fields) if fields else None
    if out is None:
        return []
    if holders is not None:
        for name, value in out.fields.items():
            prev = before.get(name)
            if prev is not None and pack(prev[1]) == pack(value):
                holders.hand(op.id, name, prev[0], out.stamp)
    return [out]


@dataclass(slots=True)
class Step:
    """One undoable action: the changes of its ops, in the order they were applied."""

    label: str
    changes: list[tuple[Op, Mapping[str, Register | None]]] = field(default_factory=list)


class History:
    """One user's undo and redo steps (SPEC M10).

    Call :meth:`record` after each local action with the changes its ops made;
    :meth:`undo` and :meth:`redo` compute inverse writes, apply them through
    the given function, and move the step to the other stack. A step with
    nothing left to undo (others overwrote all of it) is dropped, and the one
    before it is undone instead.
    """

    __slots__ = ("holders", "limit", "redo_steps", "undo_steps")

    def __init__(self, limit: int = 500) -> None:
        self.limit = limit
        self.undo_steps: list[Step] = []
        self.redo_steps: list[Step] = []
        self.holders = Holders()

    def record(self, label: str, changes: Iterable[Change]) -> None:
        """Remember a local action as one step; a new action clears what could be redone."""
        step = Step(label, [(c.op, c.before) for c in changes])
        if not step.changes:
            return
        self.undo_steps.append(step)
        del self.undo_steps[: -self.limit]
        self.redo_steps.clear()

    def undo(self, now: Tapestry, clock: Clock, apply: Apply) -> Step | None:
        """Undo the latest step that has something left to undo; return the step written."""
        return self._reverse(self.undo_steps, self.redo_steps, now, clock, apply)

    def redo(self, now: Tapestry, clock: Clock, apply: Apply) -> Step | None:
        """Redo the latest undone step (the undo of its undo)."""
        return self._reverse(self.redo_steps, self.undo_steps, now, clock, apply)

    def _reverse(self, src: list[Step], dst: list[Step], now: Tapestry, clock: Clock, apply: Apply) -> Step | None:
        while src:
            step = src.pop()
            written = Step(step.label)
            # Latest change first, each applied before the next is computed: an
            # earlier change of the same register holds it only once the later
            # one is undone.
            for op, before in reversed(step.changes):
                for change in apply(inverse(op, before, now, clock, self.holders)):
                    written.changes.append((change.op, change.before))
            if written.changes:
                dst.append(written)
                return written
        return None
