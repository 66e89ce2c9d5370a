"""The merge layer: fragments and the tapestry (SPEC M1-M10).

Theory of operation:

1. A fragment is a set of registers, one per field; a register is
   ``(stamp, value)``.
2. A write wins iff its stamp is greater than the register's (M3). Equal
   stamps with different values (only a misbehaving client can make them) are
   settled by comparing the canonical bytes of the values (M4), so the result
   never depends on delivery order.
3. Applying an op applies each of its writes independently. Each write is a
   join on a total order, so applying is commutative, associative and
   idempotent (M5).
4. A fragment exists once its ``kind`` register is written (by its create).
   Writes that arrive before the create are kept, so any delivery order ends
   in the same state (M6).
5. A fragment is *live* when it exists and ``deleted`` is false. The tapestry
   keeps live counts by origin incrementally (for the AI share cap).
6. The canonical encoding (M9) lists fragments by id and registers by field
   name, values in canonical form: same state, same bytes, on every replica.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

import msgpack

from .canon import canon, pack
from .errors import DecodeError, ErrorCode
from .limits import DEFAULT_LIMITS, Limits
from .ops import FIELDS, Op
from .stamps import Stamp
from .validate import check_dict, check_field, check_id, check_int, fail

Register = tuple[Stamp, Any]


@dataclass(frozen=True, slots=True)
class Fragment:
    """A read-only view of one fragment's current values."""

    id: str
    kind: str
    x: float
    y: float
    geom: Mapping[str, Any]
    style: Mapping[str, Any]
    z: str
    author: str
    origin: str
    inspired_by: tuple[str, ...]
    remixable: bool
    deleted: bool

    @property
    def live(self) -> bool:
        """Whether the fragment is shown (exists and is not deleted)."""
        return not self.deleted


@dataclass(frozen=True, slots=True)
class Change:
    """What applying one op changed: the fields it won and their registers before."""

    op: Op
    fields: tuple[str, ...]
    before: Mapping[str, Register | None]

    @property
    def id(self) -> str:
        return self.op.id

    @property
    def created(self) -> bool:
        """The op made the fragment exist (its create arrived)."""
        return "kind" in self.before and self.before["kind"] is None


def _tie_wins(new: Any, old: Any) -> bool:
    return new != old and pack(new) > pack(old)


def _live_origin(regs: dict[str, Register]) -> str | None:
    kind = regs.get("kind")
    if kind is None:
        return None
    deleted = regs.get("deleted")
    if deleted is not None and deleted[1]:
        return None
    origin = regs.get("origin")
    return origin[1] if origin is not None else None


class Tapestry:
    """The merged state of one sanctuary: fragment id -> registers.

    >>> from dreamloom.protocol import ops, Stamp
    >>> t = Tapestry()
    >>> _ = t.apply(ops.create("f1", Stamp(1, "r1"), kind="symbol",
    ...     geom={"sym": "moon", "size": 40}, z="V"))
    >>> t.get("f1").geom["sym"]
    'moon'
    """

    __slots__ = ("_frags", "live_counts", "max_counter")

    def __init__(self) -> None:
        self._frags: dict[str, dict[str, Register]] = {}
        self.live_counts: dict[str, int] = {"organic": 0, "ai": 0}
        self.max_counter = 0

    # -- applying ---------------------------------------------------------
    def apply(self, op: Op) -> Change | None:
        """Apply ``op``; return what changed, or ``None`` if it changed nothing."""
        regs = self._frags.get(op.id)
        if regs is None:
            regs = self._frags[op.id] = {}
        stamp = op.stamp
        if stamp[0] > self.max_counter:
            self.max_counter = stamp[0]
        counted = op.t != "s"
        was = _live_origin(regs) if counted else None
        before: dict[str, Register | None] = {}
        for name, value in op.fields.items():
            cur = regs.get(name)
            if cur is None or stamp > cur[0] or (stamp == cur[0] and _tie_wins(value, cur[1])):
                before[name] = cur
                regs[name] = (stamp, value)
        if not before:
            return None
        if counted:
            now = _live_origin(regs)
            if now != was:
                if was is not None:
                    self.live_counts[was] -= 1
                if now is not None:
                    self.live_counts[now] += 1
        return Change(op, tuple(before), before)

    def apply_many(self, ops: Iterable[Op]) -> list[Change]:
        """Apply ops in order; return the changes of those that changed something."""
        apply = self.apply
        return [c for c in map(apply, ops) if c is not None]

    # -- reading ----------------------------------------------------------
    def __contains__(self, fragment_id: object) -> bool:
        regs = self._frags.get(fragment_id)  # type: ignore[call-overload]
        return regs is not None and "kind" in regs

    def __len__(self) -> int:
        """Number of fragments that exist, deleted ones included."""
        return sum(1 for regs in self._frags.values() if "kind" in regs)

    def registers(self, fragment_id: str) -> Mapping[str, Register]:
        """The raw registers of a fragment (empty if unknown)."""
        return self._frags.get(fragment_id, {})

    def get(self, fragment_id: str) -> Fragment | None:
        """The fragment with this id, deleted or not; ``None`` if it does not exist."""
        regs = self._frags.get(fragment_id)
        if regs is None or "kind" not in regs:
            return None
        return _view(fragment_id, regs)

    def fragments(self, include_deleted: bool = False) -> Iterator[Fragment]:
        """Every existing fragment (live ones only unless ``include_deleted``)."""
        for fid, regs in self._frags.items():
            if "kind" in regs:
                frag = _view(fid, regs)
                if include_deleted or not frag.deleted:
                    yield frag

    def ordered(self) -> list[Fragment]:
        """Live fragments bottom to top: by ``z``, ties broken by id (SPEC M7)."""
        return sorted(self.fragments(), key=lambda f: (f.z, f.id))

    def ids(self) -> Iterator[str]:
        """Ids of every existing fragment."""
        return (fid for fid, regs in self._frags.items() if "kind" in regs)

    def copy(self) -> Tapestry:
        """An independent copy (registers are immutable, so a shallow copy per fragment)."""
        other = Tapestry()
        other._frags = {fid: dict(regs) for fid, regs in self._frags.items()}
        other.live_counts = dict(self.live_counts)
        other.max_counter = self.max_counter
        return other

    # -- canonical form ---------------------------------------------------
    def to_data(self) -> list[Any]:
        """The canonical structure: ``[[id, {field: [counter, replica, value]}], ...]``."""
        out = []
        for fid in sorted(self._frags):
            regs = self._frags[fid]
            out.append([fid, {f: [regs[f][0][0], regs[f][0][1], canon(regs[f][1])] for f in sorted(regs)}])
        return out

    def encode(self) -> bytes:
        """Canonical bytes: equal on every replica holding the same state."""
        return msgpack.packb(self.to_data(), use_bin_type=True)  # type: ignore[no-any-return]

    def digest(self) -> str:
        """SHA-256 (hex) of the canonical bytes."""
        return hashlib.sha256(self.encode()).hexdigest()

    @classmethod
    def from_data(cls, data: Any, limits: Limits = DEFAULT_LIMITS) -> Tapestry:
        """Load (and validate) a canonical structure, e.g. a ``welcome`` snapshot."""
        t = cls()
        if type(data) is not list:
            fail("snapshot must be a list of [id, registers]")
        for entry in data:
            if type(entry) is not list or len(entry) != 2:
                fail("snapshot entry must be [id, registers]")
            fid = check_id(entry[0], "fragment id", limits)
            regs: dict[str, Register] = {}
            for name, reg in check_dict(entry[1], "registers").items():
                if name not in FIELDS:
                    fail(f"unknown register {name!r}")
                if type(reg) is not list or len(reg) != 3:
                    fail("register must be [counter, replica, value]")
                counter = check_int(reg[0], "register counter", 1)
                replica = check_id(reg[1], "register replica", limits)
                regs[name] = (Stamp(counter, replica), check_field(name, reg[2], limits))
                if counter > t.max_counter:
                    t.max_counter = counter
            if fid in t._frags:
                fail(f"fragment {fid!r} listed twice")
            t._frags[fid] = regs
            origin = _live_origin(regs)
            if origin is not None:
                t.live_counts[origin] += 1
        return t

    @classmethod
    def decode(cls, data: bytes, limits: Limits = DEFAULT_LIMITS) -> Tapestry:
        """Load canonical bytes written by :meth:`encode`."""
        try:
            structure = msgpack.unpackb(data, raw=False, strict_map_key=True)
        except Exception as exc:  # msgpack raises many types; all mean the same here
            raise DecodeError(ErrorCode.BAD_ENCODING, f"snapshot is not msgpack: {exc}") from None
        return cls.from_data(structure, limits)


def _view(fid: str, regs: dict[str, Register]) -> Fragment:
    def val(name: str, default: Any) -> Any:
        reg = regs.get(name)
        return default if reg is None else reg[1]

    return Fragment(
        id=fid,
        kind=regs["kind"][1],
        x=val("x", 0),
        y=val("y", 0),
        geom=val("geom", {}),
        style=val("style", {}),
        z=val("z", ""),
        author=val("author", ""),
        origin=val("origin", "organic"),
        inspired_by=tuple(val("inspired_by", ())),
        remixable=val("remixable", False),
        deleted=val("deleted", False),
    )
