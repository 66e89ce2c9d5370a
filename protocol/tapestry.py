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
from .compact import compact_entry
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


#: Fields whose values are containers (maps, lists): kept packed, see the storage note below.
_PACKED: frozenset[str] = frozenset({"geom", "style", "inspired_by"})
_KNOWN: frozenset[str] = frozenset(FIELDS)
# Strings held in a tapestry are Python strings, lone surrogates included (a text may hold one):
# stored values keep them both ways.
_packb = msgpack.Packer(use_bin_type=True, unicode_errors="surrogatepass").pack


def _unpack(stored: bytes) -> Any:
    return msgpack.unpackb(stored, raw=False, unicode_errors="surrogatepass")


def _stored(name: str, value: Any) -> Any:
    return _packb(value) if name in _PACKED else value


def _value(name: str, stored: Any) -> Any:
    return _unpack(stored) if name in _PACKED else stored


def _live_origin(values: dict[str, Any]) -> str | None:
    if "kind" not in values or values.get("deleted"):
        return None
    return values.get("origin")


#: A stamp as stored: a plain tuple of an int and a str. CPython stops tracking such a tuple in
#: its cyclic garbage collector after one collection; a :class:`Stamp` (a tuple subclass) stays
#: tracked for as long as it lives.
_Stamped = tuple[int, str]


class Tapestry:
    """The merged state of one sanctuary: fragment id -> registers.

    >>> from dreamloom.protocol import ops, Stamp
    >>> t = Tapestry()
    >>> _ = t.apply(ops.create("f1", Stamp(1, "r1"), kind="symbol",
    ...     geom={"sym": "moon", "size": 40}, z="V"))
    >>> t.get("f1").geom["sym"]
    'moon'

    Storage: a tapestry of 100,000 fragments must not hold a million objects that the
    cyclic garbage collector walks at every full collection (each walk would hold the
    process for a large fraction of a second, however little changed). So a fragment is
    one dict of atoms: numbers, strings, booleans, and the container fields (geom, style,
    inspired_by) as their msgpack bytes, unpacked when read. A dict holding only atoms is
    never tracked by the collector. Stamps are kept apart: the stamp of a fragment's first
    write as a plain tuple (``_base``), and the stamps of fields written since under
    another stamp (``_later``). A create writes every field under one stamp, so most
    fragments have no ``_later`` entry at all.
    """

    __slots__ = ("_base", "_count", "_later", "_values", "live_counts", "max_counter")

    def __init__(self) -> None:
        self._values: dict[str, dict[str, Any]] = {}
        self._base: dict[str, _Stamped] = {}
        self._later: dict[str, dict[str, _Stamped]] = {}
        self._count = 0  # fragments that exist (their kind is written), deleted ones included
        self.live_counts: dict[str, int] = {"organic": 0, "ai": 0}
        self.max_counter = 0

    # -- applying ---------------------------------------------------------
    def apply(self, op: Op) -> Change | None:
        """Apply ``op``; return what changed, or ``None`` if it changed nothing."""
        return self._apply(op, True)

    def merge(self, op: Op) -> None:
        """Apply ``op`` like :meth:`apply`, without telling what changed.

        The same registers win; only the values ``op`` replaces are not read (a container
        value is stored packed: reading it means unpacking it). The server merges this way.
        """
        self._apply(op, False)

    def stamp(self, fragment_id: str, field: str) -> tuple[int, str] | None:
        """The stamp of one register's last winning write (``None`` if unwritten)."""
        values = self._values.get(fragment_id)
        if values is None or field not in values:
            return None
        later = self._later.get(fragment_id)
        return later.get(field, self._base[fragment_id]) if later is not None else self._base[fragment_id]

    def _apply(self, op: Op, report: bool) -> Change | None:
        stamp = op.stamp
        if stamp[0] > self.max_counter:
            self.max_counter = stamp[0]
        fields = op.fields
        if not fields:
            return None
        fid = op.id
        values = self._values.get(fid)
        before: dict[str, Register | None]
        if values is None:
            # First write to this id: every write wins, nothing to compare.
            values = {name: _packb(v) if name in _PACKED else v for name, v in fields.items()}
            self._values[fid] = values
            self._base[fid] = (stamp[0], stamp[1])
            if "kind" in values:
                self._count += 1
            if op.t != "s":
                now = _live_origin(values)
                if now is not None:
                    self.live_counts[now] += 1
            names = tuple(values)
            return _new_change(Change, (op, names, _nothing_before(names)))
        base = self._base[fid]
        later = self._later.get(fid)
        # Only c, d and r write kind/origin/deleted, so only they can change liveness.
        counted = op.t != "s"
        was = _live_origin(values) if counted else None
        existed = "kind" in values
        before = {}
        for name, value in fields.items():
            if name in values:
                cur = later.get(name, base) if later is not None else base
                if stamp > cur:
                    # The value it replaces is read only for the change to tell it (a merge skips it).
                    before[name] = (Stamp(cur[0], cur[1]), _value(name, values[name]) if report else None)
                elif stamp == cur and _tie_wins(value, old := _value(name, values[name])):
                    before[name] = (Stamp(cur[0], cur[1]), old)
                else:
                    continue
            else:
                before[name] = None
            if later is None:
                later = self._later[fid] = {}
            later[name] = (stamp[0], stamp[1])
            values[name] = _stored(name, value)
        if not before:
            return None
        if not existed and "kind" in values:
            self._count += 1
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
        values = self._values.get(fragment_id)  # type: ignore[call-overload]
        return values is not None and "kind" in values

    def __len__(self) -> int:
        """Number of fragments that exist, deleted ones included."""
        return self._count

    def registers(self, fragment_id: str) -> Mapping[str, Register]:
        """The raw registers of a fragment (empty if unknown); a fresh map, safe to keep."""
        values = self._values.get(fragment_id)
        if values is None:
            return {}
        base = self._base[fragment_id]
        later = self._later.get(fragment_id, {})
        out: dict[str, Register] = {}
        for name, stored in values.items():
            s = later.get(name, base)
            out[name] = (Stamp(s[0], s[1]), _value(name, stored))
        return out

    def get(self, fragment_id: str) -> Fragment | None:
        """The fragment with this id, deleted or not; ``None`` if it does not exist."""
        values = self._values.get(fragment_id)
        if values is None or "kind" not in values:
            return None
        return _view(fragment_id, values)

    def value(self, fragment_id: str, field: str) -> Any:
        """One register's value (``None`` if unwritten): cheaper than :meth:`get` for one field."""
        values = self._values.get(fragment_id)
        if values is None or field not in values:
            return None
        return _value(field, values[field])

    def fragments(self, include_deleted: bool = False) -> Iterator[Fragment]:
        """Every existing fragment (live ones only unless ``include_deleted``)."""
        for fid, values in self._values.items():
            if "kind" in values and (include_deleted or not values.get("deleted")):
                yield _view(fid, values)

    def ordered(self) -> list[Fragment]:
        """Live fragments bottom to top: by ``z``, ties broken by id (SPEC M7)."""
        return sorted(self.fragments(), key=lambda f: (f.z, f.id))

    def ids(self) -> Iterator[str]:
        """Ids of every existing fragment."""
        return (fid for fid, values in self._values.items() if "kind" in values)

    def copy(self) -> Tapestry:
        """An independent copy (stored values are immutable, so a shallow copy per fragment)."""
        other = Tapestry()
        other._values = {fid: dict(values) for fid, values in self._values.items()}
        other._base = dict(self._base)
        other._later = {fid: dict(later) for fid, later in self._later.items()}
        other._count = self._count
        other.live_counts = dict(self.live_counts)
        other.max_counter = self.max_counter
        return other

    # -- canonical form ---------------------------------------------------
    def to_data(self) -> list[Any]:
        """The canonical structure: ``[[id, {field: [counter, replica, value]}], ...]``."""
        return [self.entry(fid) for fid in sorted(self._values)]

    def entry(self, fragment_id: str) -> list[Any] | None:
        """One fragment's item of :meth:`to_data` (``None`` if nothing was written to it)."""
        values = self._values.get(fragment_id)
        if values is None:
            return None
        base = self._base[fragment_id]
        later = self._later.get(fragment_id, {})
        regs = {}
        for f in sorted(values):
            s = later.get(f, base)
            regs[f] = [s[0], s[1], canon(_value(f, values[f]))]
        return [fragment_id, regs]

    def entries(self, fragment_id: str) -> tuple[list[Any], list[Any]] | None:
        """One fragment's item of :meth:`to_data` and of :meth:`to_compact`, its values made canonical once.

        ``None`` if nothing was written to it. A fragment whose fields were all written under one
        stamp (nearly all: a create writes every field) is compacted without counting stamps.
        """
        values = self._values.get(fragment_id)
        if values is None:
            return None
        if fragment_id in self._later:
            entry = self.entry(fragment_id)
            assert entry is not None
            return entry, compact_entry(entry)
        counter, replica = self._base[fragment_id]
        regs: dict[str, list[Any]] = {}
        shared: dict[str, Any] = {}
        for f in sorted(values):
            value = shared[f] = canon(_value(f, values[f]))
            regs[f] = [counter, replica, value]
        return [fragment_id, regs], [fragment_id, counter, replica, shared, {}]

    def to_compact(self) -> list[Any]:
        """The compact structure (SPEC M15): :meth:`to_data` with each fragment's shared stamp written once."""
        return [compact_entry(self.entry(fid)) for fid in sorted(self._values)]  # type: ignore[arg-type]

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
            stamps: dict[str, _Stamped] = {}
            values: dict[str, Any] = {}
            for name, reg in check_dict(entry[1], "registers").items():
                if name not in FIELDS:
                    fail(f"unknown register {name!r}")
                if type(reg) is not list or len(reg) != 3:
                    fail("register must be [counter, replica, value]")
                counter = check_int(reg[0], "register counter", 1)
                stamps[name] = (counter, check_id(reg[1], "register replica", limits))
                values[name] = _stored(name, check_field(name, reg[2], limits))
                if counter > t.max_counter:
                    t.max_counter = counter
            if not stamps:
                fail(f"fragment {fid!r} has no registers")
            if fid in t._values:
                fail(f"fragment {fid!r} listed twice")
            base = next(iter(stamps.values()))
            t._add_loaded(fid, values, base, {f: s for f, s in stamps.items() if s != base})

    def _add_loaded(self, fid: str, values: dict[str, Any], base: _Stamped, later: dict[str, _Stamped]) -> None:
        """Store one loaded fragment (its id checked unused) and count it: every loader ends here."""
        self._values[fid] = values
        self._base[fid] = base
        if later:
            self._later[fid] = later
        if "kind" in values:
            self._count += 1
        origin = _live_origin(values)
        if origin is not None:
            self.live_counts[origin] += 1

    def load_compact(self, items: Iterable[Any], limits: Limits = DEFAULT_LIMITS) -> None:
        """Add the items of a compact structure (SPEC M15), validated as :meth:`load_entries` validates.

        Straight into the tapestry's own storage, whose shape the compact form shares: the item's
        stamp is the fragment's base stamp and ``others`` its later ones. Like :meth:`load_entries`,
        a large snapshot can be loaded a slice at a time.
        """
        known = _KNOWN
        for item in items:
            if type(item) is not list or len(item) != 5:
                fail("compact snapshot entry must be [id, counter, replica, values, others]")
            fid = check_id(item[0], "fragment id", limits)
            counter = check_int(item[1], "register counter", 1)
            base: _Stamped = (counter, check_id(item[2], "register replica", limits))
            values: dict[str, Any] = {}
            for name, value in check_dict(item[3], "values").items():
                if name not in known:
                    fail(f"unknown register {name!r}")
                values[name] = _stored(name, check_field(name, value, limits))
            if not values:
                fail(f"fragment {fid!r}: no register holds its shared stamp")
            top = counter
            later: dict[str, _Stamped] = {}
            for name, reg in check_dict(item[4], "others").items():
                if name not in known:
                    fail(f"unknown register {name!r}")
                if name in values:
                    fail(f"fragment {fid!r}: {name!r} is both in values and in others")
                if type(reg) is not list or len(reg) != 3:
                    fail("register must be [counter, replica, value]")
                stamp = (check_int(reg[0], "register counter", 1), check_id(reg[1], "register replica", limits))
                if stamp == base:
                    fail(f"fragment {fid!r}: {name!r} holds the shared stamp but is in others")
                later[name] = stamp
                values[name] = _stored(name, check_field(name, reg[2], limits))
                if stamp[0] > top:
                    top = stamp[0]
            if fid in self._values:
                fail(f"fragment {fid!r} listed twice")
            if top > self.max_counter:
                self.max_counter = top
            self._add_loaded(fid, values, base, later)

    @classmethod
    def from_compact(cls, data: Any, limits: Limits = DEFAULT_LIMITS) -> Tapestry:
        """Load (and validate) a compact structure (SPEC M15), e.g. a ``welcome`` snapshot in that form."""
        t = cls()
        if type(data) is not list:
            fail("snapshot must be a list of [id, counter, replica, values, others]")
        t.load_compact(data, limits)
        return t

    def load_trusted(self, entries: Iterable[Any]) -> None:
        """Add entries of a canonical structure this state's own store wrote (SPEC S10).

        Their values were validated as ops before they were merged, so only the structure is
        checked (entries, registers, known field names, ids not repeated), not every value again:
        a server loads its own 100,000-fragment snapshot about four times faster this way. A
        snapshot from anyone else goes through :meth:`load_entries`.
        """
        all_values = self._values
        packed, known = _PACKED, _KNOWN
        for entry in entries:
            if type(entry) is not list or len(entry) != 2 or type(entry[0]) is not str or type(entry[1]) is not dict:
                fail("snapshot entry must be [id, registers]")
            fid, regs = entry
            if fid in all_values:
                fail(f"fragment {fid!r} listed twice")
            values: dict[str, Any] = {}
            base: _Stamped | None = None
            later: dict[str, _Stamped] = {}
            for name, reg in regs.items():
                if name not in known or type(reg) is not list or len(reg) != 3:
                    fail(f"register {name!r} must be [counter, replica, value] of a known field")
                counter, replica, value = reg
                values[name] = _packb(value) if name in packed else value
                if base is None:
                    base = (counter, replica)
                elif counter != base[0] or replica != base[1]:
                    later[name] = (counter, replica)
                if counter > self.max_counter:
                    self.max_counter = counter
            if base is None:
                fail(f"fragment {fid!r} has no registers")
            self._add_loaded(fid, values, base, later)

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
    geom, style, inspired_by = get("geom"), get("style"), get("inspired_by")
    return Fragment(
        id=fid,
        kind=values["kind"],
        x=get("x", 0),
        y=get("y", 0),
        geom={} if geom is None else _unpack(geom),
        style={} if style is None else _unpack(style),
        z=get("z", ""),
        author=get("author", ""),
        origin=get("origin", "organic"),
        inspired_by=() if inspired_by is None else tuple(_unpack(inspired_by)),
        remixable=get("remixable", False),
        deleted=get("deleted", False),
        group=get("group"),
        start=get("start"),
        end=get("end"),
    )
