"""Ops: one change to one fragment (SPEC M3-M6).

On the wire an op is a short tagged map::

    {"t": "c", "id": "a1", "s": [7, "r1"], "f": {...all fields...}}   create
    {"t": "s", "id": "a1", "s": [8, "r1"], "f": {"x": 10, "y": 4}}    set fields
    {"t": "d", "id": "a1", "s": [9, "r1"]}                            delete
    {"t": "r", "id": "a1", "s": [10, "r1"]}                           restore

Every op is a list of register writes stamped with one stamp; delete and
restore are writes of the ``deleted`` register.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final, Literal

from .stamps import Stamp

OpType = Literal["c", "s", "d", "r"]
Origin = Literal["organic", "ai"]
FragmentKind = Literal["stroke", "shape", "symbol", "text"]

KINDS: Final = ("stroke", "shape", "symbol", "text")
ORIGINS: Final = ("organic", "ai")
SHAPES: Final = ("rect", "ellipse", "line", "arrow")

#: Every register of a fragment, in canonical order.
FIELDS: Final = (
    "author",
    "deleted",
    "end",
    "geom",
    "group",
    "inspired_by",
    "kind",
    "origin",
    "remixable",
    "start",
    "style",
    "x",
    "y",
    "z",
)
#: Registers a ``set`` op may write. kind, author and origin are fixed at create.
SETTABLE: Final = frozenset({"x", "y", "geom", "style", "z", "inspired_by", "remixable", "group", "start", "end"})
#: Registers a create need not write (SPEC M13, M14): an absent one reads as ``None``.
#: ``group`` names the group a fragment belongs to; ``start`` and ``end`` bind a
#: line's or an arrow's ends to other fragments.
OPTIONAL: Final = ("end", "group", "start")

_DELETE: Final[Mapping[str, Any]] = {"deleted": True}
_RESTORE: Final[Mapping[str, Any]] = {"deleted": False}


@dataclass(frozen=True, slots=True)
class Op:
    """One change to one fragment: the register writes ``fields`` under ``stamp``.

    Build ops with :func:`create`, :func:`set_fields`, :func:`delete` and
    :func:`restore`, or decode them with a codec; the constructor trusts its
    arguments. ``fields`` must not be mutated after construction.
    """

    t: OpType
    id: str
    stamp: Stamp
    fields: Mapping[str, Any]

    def to_wire(self) -> dict[str, Any]:
        """The op as the plain map that codecs encode."""
        wire: dict[str, Any] = {"t": self.t, "id": self.id, "s": [self.stamp[0], self.stamp[1]]}
        if self.t == "c" or self.t == "s":
            wire["f"] = dict(self.fields)
        return wire

    def with_fields(self, fields: Mapping[str, Any]) -> Op:
        """A copy with other writes (the server uses it to stamp provenance)."""
        return Op(self.t, self.id, self.stamp, fields)


def create(
    fragment_id: str,
    stamp: Stamp,
    *,
    kind: FragmentKind,
    geom: Mapping[str, Any],
    z: str,
    x: float = 0,
    y: float = 0,
    style: Mapping[str, Any] | None = None,
    author: str = "",
    origin: Origin = "organic",
    inspired_by: list[str] | None = None,
    remixable: bool = False,
    group: str | None = None,
    start: str | None = None,
    end: str | None = None,
) -> Op:
    """A create op writing every register of a new fragment.

    The optional registers (``group``, ``start``, ``end``) are written only when given.
    """
    fields = {
        "author": author,
        "deleted": False,
        "geom": dict(geom),
        "inspired_by": list(inspired_by or []),
        "kind": kind,
        "origin": origin,
        "remixable": remixable,
        "style": dict(style or {}),
        "x": x,
        "y": y,
        "z": z,
    }
    for name, value in (("group", group), ("start", start), ("end", end)):
        if value is not None:
            fields[name] = value
    return Op("c", fragment_id, stamp, fields)


def set_fields(fragment_id: str, stamp: Stamp, **fields: Any) -> Op:
    """A set op writing some of the :data:`SETTABLE` registers."""
    return Op("s", fragment_id, stamp, fields)


def delete(fragment_id: str, stamp: Stamp) -> Op:
    """A delete op: a write of ``deleted = True``."""
    return Op("d", fragment_id, stamp, _DELETE)


def restore(fragment_id: str, stamp: Stamp) -> Op:
    """A restore op: a write of ``deleted = False``."""
    return Op("r", fragment_id, stamp, _RESTORE)
