"""Undo as inverse writes (SPEC M10).

Undoing an op writes, with new stamps, the values its registers held before
it, but only for registers the op still owns: a register someone overwrote
later keeps that later write. Redo is the undo of the undo.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from .ops import Op, delete, restore
from .stamps import Clock
from .tapestry import Register, Tapestry


def inverse(op: Op, before: Mapping[str, Register | None], now: Tapestry, clock: Clock) -> list[Op]:
    """The ops that undo ``op``, given its registers ``before`` it and the state ``now``.

    Returns an empty list when nothing of ``op`` is left to undo.

    >>> from dreamloom.protocol import ops, Stamp, Tapestry, Clock
    >>> t, clock = Tapestry(), Clock("r1")
    >>> change = t.apply(ops.create("f1", clock.tick(), kind="symbol",
    ...     geom={"sym": "eye", "size": 30}, z="V"))
    >>> [u.t for u in inverse(change.op, change.before, t, clock)]
    ['d']
    """
    regs = now.registers(op.id)

    def owned(name: str) -> bool:
        reg = regs.get(name)
        return reg is not None and reg[0] == op.stamp

    if op.t == "c":
        # Only while the create still owns ``deleted``: a later delete or restore
        # by anyone took the fragment's life out of this create's hands.
        return [delete(op.id, clock.tick())] if owned("deleted") else []
    if op.t == "d":
        return [restore(op.id, clock.tick())] if owned("deleted") else []
    if op.t == "r":
        return [delete(op.id, clock.tick())] if owned("deleted") else []
    fields: dict[str, Any] = {}
    for name in op.fields:
        prev = before.get(name)
        if prev is not None and owned(name):
            fields[name] = prev[1]
    return [Op("s", op.id, clock.tick(), fields)] if fields else []
