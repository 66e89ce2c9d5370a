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
from types import MappingProxyType
from typing import Any, NamedTuple

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
    #: The group it belongs to (M13), or None.
    group: str | None = None
    #: The fragments a line's or an arrow's start and end are bound to (M14), or None.
    start: str | None = None
    end: str | None = None

    @property
    def live(self) -> bool:
        """Whether the fragment is shown (exists and is not deleted)."""
        return not self.deleted


class Change(NamedTuple):
    """What applying one op changed: the fields it won and their registers before.

    A named tuple rather than a frozen dataclass: one is built per applied op,
    and tuple construction is several times cheaper on this hot path.
    """

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


_new_change = tuple.__new__
_NOTHING_BEFORE: dict[tuple[str, ...], Mapping[str, None]] = {}


def _nothing_before(names: tuple[str, ...]) -> Mapping[str, None]:
    """A read-only ``{name: None}`` map, shared between changes with the same names.

    Creates all write the same eleven names: sharing one immutable map saves
    building a dict per create. The cache is bounded by the few name sets that
    occur (creates, and writes that reach a fragment before its create).
    """
    found = _NOTHING_BEFORE.get(names)
    if found is None:
        found = MappingProxyType(dict.fromkeys(names))
        if len(_NOTHING_BEFORE) < 512:
            _NOTHING_BEFORE[names] = found
    return found


def _tie_wins(new: Any, old: Any) -> bool:
    return new != old and pack(new) > pack(old)


def _live_origin(values: dict[str, Any]) -> str | None:
    if "kind" not in values or values.get("deleted"):
        return None
    return values.get("origin")


#: One fragment's registers as ``(base, stamps, values)``: ``values`` maps each
#: written field to its value; its stamp is ``stamps.get(field, base)``. A create
#: writes every field under one stamp, so most fragments need no per-field
#: stamps at all: three objects per fragment instead of one tuple per register
#: keeps memory and the garbage collector's work low.
_Slot = tuple[Stamp, dict[str, Stamp], dict[str, Any]]


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
        self._frags: dict[str, _Slot] = {}
        self.live_counts: dict[str, int] = {"organic": 0, "ai": 0}
        self.max_counter = 0

    # -- applying ---------------------------------------------------------
    def apply(self, op: Op) -> Change | None:
        """Apply ``op``; return what changed, or ``None`` if it changed nothing."""
        stamp = op.stamp
        if stamp[0] > self.max_counter:
            self.max_counter = stamp[0]
        fields = op.fields
        if not fields:
            return None
        slot = self._frags.get(op.id)
        before: dict[str, Register | None]
        if slot is None:
            # First write to this id: every write wins, nothing to compare.
            values = dict(fields)
            self._frags[op.id] = (stamp, {}, values)
            if op.t != "s":
                now = _live_origin(values)
                if now is not None:
                    self.live_counts[now] += 1
            names = tuple(values)
            return _new_change(Change, (op, names, _nothing_before(names)))
        base, stamps, values = slot
        # Only c, d and r write kind/origin/deleted, so only they can change liveness.
        counted = op.t != "s"
        was = _live_origin(values) if counted else None
        before = {}
        for name, value in fields.items():
            if name in values:
                cur = stamps.get(name, base)
                if stamp > cur or (stamp == cur and _tie_wins(value, values[name])):
                    before[name] = (cur, values[name])
                else:
                    continue
            else:
                before[name] = None
            stamps[name] = stamp
            values[name] = value
        if not before:
            return None
        if counted:
            now = _live_origin(values)
            if now != was:
                if was is not None:
                    self.live_counts[was] -= 1
                if now is not None:
                    self.live_counts[now] += 1
        return _new_change(Change, (op, tuple(before), before))

    def apply_many(self, ops: Iterable[Op]) -> list[Change]:
        """Apply ops in order; return the changes of those that changed something."""
        apply = self.apply
        return [c for c in map(apply, ops) if c is not None]

    # -- reading ----------------------------------------------------------
    def __contains__(self, fragment_id: object) -> bool:
        slot = self._frags.get(fragment_id)  # type: ignore[call-overload]
        return slot is not None and "kind" in slot[2]

    def __len__(self) -> int:
        """Number of fragments that exist, deleted ones included."""
        return sum(1 for _, _, values in self._frags.values() if "kind" in values)

    def registers(self, fragment_id: str) -> Mapping[str, Register]:
        """The raw registers of a fragment (empty if unknown); a fresh map, safe to keep."""
        slot = self._frags.get(fragment_id)
        if slot is None:
            return {}
        base, stamps, values = slot
        return {name: (stamps.get(name, base), value) for name, value in values.items()}

    def get(self, fragment_id: str) -> Fragment | None:
        """The fragment with this id, deleted or not; ``None`` if it does not exist."""
        slot = self._frags.get(fragment_id)
        if slot is None or "kind" not in slot[2]:
            return None
        return _view(fragment_id, slot[2])

    def fragments(self, include_deleted: bool = False) -> Iterator[Fragment]:
        """Every existing fragment (live ones only unless ``include_deleted``)."""
        for fid, (_, _, values) in self._frags.items():
            if "kind" in values and (include_deleted or not values.get("deleted")):
                yield _view(fid, values)

    def ordered(self) -> list[Fragment]:
        """Live fragments bottom to top: by ``z``, ties broken by id (SPEC M7)."""
        return sorted(self.fragments(), key=lambda f: (f.z, f.id))

    def ids(self) -> Iterator[str]:
        """Ids of every existing fragment."""
        return (fid for fid, (_, _, values) in self._frags.items() if "kind" in values)

    def copy(self) -> Tapestry:
        """An independent copy (values are never mutated in place, so a shallow copy per fragment)."""
        other = Tapestry()
        other._frags = {fid: (base, dict(stamps), dict(values)) for fid, (base, stamps, values) in self._frags.items()}
        other.live_counts = dict(self.live_counts)
        other.max_counter = self.max_counter
        return other

    # -- canonical form ---------------------------------------------------
    def to_data(self) -> list[Any]:
        """The canonical structure: ``[[id, {field: [counter, replica, value]}], ...]``."""
        out = []
        for fid in sorted(self._frags):
            base, stamps, values = self._frags[fid]
            regs = {}
            for f in sorted(values):
                s = stamps.get(f, base)
                regs[f] = [s[0], s[1], canon(values[f])]
            out.append([fid, regs])
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
        t.load_entries(data, limits)
        return t

    def load_entries(self, entries: Iterable[Any], limits: Limits = DEFAULT_LIMITS) -> None:
        """Add entries of a canonical structure (validated, as :meth:`from_data` does).

        A large snapshot can be loaded a slice of entries at a time this way; ids must not
        repeat across the slices, as they must not within one structure.
        """
        t = self
        for entry in entries:
            if type(entry) is not list or len(entry) != 2:
                fail("snapshot entry must be [id, registers]")
            fid = check_id(entry[0], "fragment id", limits)
            stamps: dict[str, Stamp] = {}
            values: dict[str, Any] = {}
            for name, reg in check_dict(entry[1], "registers").items():
                if name not in FIELDS:
                    fail(f"unknown register {name!r}")
                if type(reg) is not list or len(reg) != 3:
                    fail("register must be [counter, replica, value]")
                counter = check_int(reg[0], "register counter", 1)
                stamps[name] = Stamp(counter, check_id(reg[1], "register replica", limits))
                values[name] = check_field(name, reg[2], limits)
                if counter > t.max_counter:
                    t.max_counter = counter
            if not stamps:
                fail(f"fragment {fid!r} has no registers")
            if fid in t._frags:
                fail(f"fragment {fid!r} listed twice")
            base = next(iter(stamps.values()))
            t._frags[fid] = (base, {f: s for f, s in stamps.items() if s != base}, values)
            origin = _live_origin(values)
            if origin is not None:
                t.live_counts[origin] += 1

    @classmethod
    def decode(cls, data: bytes, limits: Limits = DEFAULT_LIMITS) -> Tapestry:
        """Load canonical bytes written by :meth:`encode`."""
        try:
            structure = msgpack.unpackb(data, raw=False, strict_map_key=True)
        except Exception as exc:  # msgpack raises many types; all mean the same here
            raise DecodeError(ErrorCode.BAD_ENCODING, f"snapshot is not msgpack: {exc}") from None
        return cls.from_data(structure, limits)


def _view(fid: str, values: dict[str, Any]) -> Fragment:
    get = values.get
    return Fragment(
        id=fid,
        kind=values["kind"],
        x=get("x", 0),
        y=get("y", 0),
        geom=get("geom", {}),
        style=get("style", {}),
        z=get("z", ""),
        author=get("author", ""),
        origin=get("origin", "organic"),
        inspired_by=tuple(get("inspired_by", ())),
        remixable=get("remixable", False),
        deleted=get("deleted", False),
        group=get("group"),
        start=get("start"),
        end=get("end"),
    )
