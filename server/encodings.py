"""A sanctuary's whole-tapestry encodings, kept up to date as ops land (SPEC W23, W37, S1, S13, S14).

The canonical structure (M9) is a list of ``[id, registers]`` sorted by id. In
msgpack a list is its header followed by its packed items, and in JSON it is
``[`` + items joined by ``,`` + ``]``: so each codec's encoding of the whole
tapestry is its fragments' encoded items, concatenated. This module keeps those
items per codec, in the canonical form and in the compact one (W37: the same
list, each item in the form of SPEC M15). It re-encodes only the fragments
written since the last pass, which is what lets a snapshot (every
``snapshot_every`` ops) and a welcome to a 100,000-fragment tapestry cost in
proportion to what changed. The sanctuary runs a pass every :data:`REFRESH_AT`
fragments written, so what a join finds to encode stays small even right after
a long fill (S13), and builds kinds still to build while it is idle (S14).

The re-encoding and the concatenation (tens of megabytes) run in a worker
thread: ``bytes.join`` releases the GIL while it copies, and Python code gives
it back every switch interval, so the event loop keeps serving every other
connection meanwhile. :class:`Pacer` slices work that must stay on the loop.
"""

from __future__ import annotations

import asyncio
import itertools
import time
from collections.abc import Callable, Iterable
from typing import Any

import msgpack
import orjson

from dreamloom.protocol import Tapestry
from dreamloom.protocol.codec import JSON, MSGPACK
from dreamloom.protocol.compact import compact_entry

#: Longest the loop is held by a slice of work before it yields to the others (seconds).
SLICE_SECONDS = 0.005


class Pacer:
    """Yields to the event loop whenever the work since the last yield took ``seconds``."""

    def __init__(self, seconds: float = SLICE_SECONDS) -> None:
        self._since = time.perf_counter()
        self._seconds = seconds

    async def pace(self) -> None:
        if time.perf_counter() - self._since >= self._seconds:
            await asyncio.sleep(0)
            self._since = time.perf_counter()


#: The snapshot forms kept: the canonical structure (M9) and the compact one (W37, M15).
CANONICAL = "canonical"
COMPACT = "compact"
FORMS = (CANONICAL, COMPACT)


#: A kind of kept items: (form, codec).
Kind = tuple[str, str]
#: The canonical msgpack items: snapshots are made of them, and every other kind is made beside them.
_ROOT: Kind = (CANONICAL, MSGPACK)
#: Kinds kept from the start, before any connection asks (SPEC S13): the snapshots' own, and the
#: compact items every first-party client's welcome is cut from (the SDK asks for the compact form
#: in msgpack, the browser app in JSON). Any other kind is kept from the first time it is asked for.
KEPT: tuple[Kind, ...] = (_ROOT, (COMPACT, MSGPACK), (COMPACT, JSON))
#: Fragments written since the kept items were last brought up to date at which the sanctuary
#: brings them up to date at once (S13): what a join or a snapshot still finds to encode is at
#: most about this many fragments, and each refresh's hop to a worker thread serves as many ops.
REFRESH_AT = 1024
#: Fragments encoded per turn of the work done while a sanctuary is idle (S14): tens of
#: milliseconds in a worker thread, after which ops that came meanwhile are merged first.
WARM_CHUNK = 1024


_MISSING = object()  # not made yet


class _Items:
    """One kind's encoded items, by fragment id, and the ids in canonical (sorted) order."""

    def __init__(self, pending: set[str] | None) -> None:
        self.items: dict[str, bytes] = {}
        self.order: list[str] = []
        self.added: list[str] = []  # ids new since ``order`` was last sorted
        self.removed = False  # an id left ``items`` since then
        self.whole: tuple[int, bytes] | None = None  # (seq, bytes) of the last concatenation
        # Fragments whose item is still to make from their canonical msgpack item (a kind built
        # after those were): None for every one of them, listed in the worker thread.
        self.pending = pending

    def put(self, fid: str, item: bytes | None) -> None:
        self.whole = None
        if item is None:
            self.removed |= self.items.pop(fid, None) is not None
            return
        if fid not in self.items:
            self.added.append(fid)
        self.items[fid] = item

    def ordered(self) -> list[bytes]:
        """Every item, in id order (once up to date)."""
        if self.removed:
            self.order = [fid for fid in self.order if fid in self.items]
            self.removed = False
        if self.added:
            # Two sorted runs: Timsort merges them in linear time.
            self.added.sort()
            self.order += self.added
            self.order.sort()
            self.added = []
        return [self.items[fid] for fid in self.order]


def concatenate(codec: str, items: list[bytes]) -> bytes:
    """The encoding of a list whose items are already encoded: what a snapshot, or a part of one, is."""
    if codec == MSGPACK:
        return b"".join([msgpack.Packer().pack_array_header(len(items)), *items])
    return b"".join((b"[", b",".join(items), b"]"))


class TapestryEncodings:
    """The whole tapestry in each form and codec, re-encoding only the fragments written since last asked.

    Called from the sanctuary's actor only. Every method that encodes does it in a worker thread
    while the actor waits for it: nothing writes the tapestry meanwhile (only the actor does),
    and the thread gives the GIL back to the event loop every switch interval, so the loop keeps
    serving everyone else.

    Every kind kept is brought up to date together (SPEC S13): a fragment written since is
    made into its canonical structure once, from the tapestry (the Python work: canonicalising
    its values), and that structure, and its compact form, packed or dumped once per kind (calls
    into C). A kind built later than the canonical msgpack items, which are always kept (after
    a load they are the snapshot's own bytes), is made from them: unpacking an item that is
    already canonical is cheaper than canonicalising the fragment's values again. Until that is
    done for every fragment, the kind is *pending*: :meth:`warm` does it a slice at a time while
    the sanctuary is idle, and a welcome that needs the kind at once finishes it.
    """

    def __init__(self) -> None:
        self._kinds: dict[Kind, _Items] = {}
        self._dirty: set[str] = set()  # fragments written since the kinds were last brought up to date
        self._start()

    def _start(self) -> None:
        # Nothing built: every fragment of the tapestry is to encode (listed in the worker thread),
        # every kind at once, so none is pending.
        self._unbuilt = True
        self._kinds = {kind: _Items(set()) for kind in KEPT}

    def touch(self, fragment_id: str) -> None:
        """A write to this fragment was merged."""
        self._dirty.add(fragment_id)

    def forget(self) -> None:
        """The tapestry changed in ways not told through :meth:`touch`: rebuild every kind kept from the start."""
        self._dirty = set()
        self._start()

    def seed_msgpack(self, raw_items: Iterable[tuple[str, bytes]]) -> None:
        """Start the canonical msgpack items from a loaded snapshot's own bytes (sorted by id, as stored).

        The other kinds kept from the start are then pending: made from these items by :meth:`warm`.
        """
        root = _Items(set())
        root.items = dict(raw_items)
        root.order = list(root.items)  # a dict keeps its keys in the order given
        self._unbuilt = False
        self._kinds = {kind: root if kind == _ROOT else _Items(None) for kind in KEPT}

    @property
    def written(self) -> int:
        """Fragments written since the kinds kept were last brought up to date."""
        return len(self._dirty)

    @property
    def pending(self) -> bool:
        """Whether a kind kept is still to build (work for :meth:`warm`)."""
        return self._unbuilt or any(items.pending is None or items.pending for items in self._kinds.values())

    def kinds(self) -> list[Kind]:
        """The kinds kept now."""
        return list(self._kinds)

    def _kind(self, form: str, codec: str) -> _Items:
        if form not in FORMS:
            raise ValueError(f"unknown snapshot form {form!r}")
        if codec not in (MSGPACK, JSON):
            raise ValueError(f"unknown codec {codec!r}")
        items = self._kinds.get((form, codec))
        if items is None:
            # Built with the others if nothing is built yet; else from the canonical msgpack items.
            items = self._kinds[(form, codec)] = _Items(set() if self._unbuilt else None)
        return items

    # -- the work, in a worker thread --------------------------------------------------
    def _encoders(self, kinds: list[_Items]) -> list[tuple[_Items, bool, Callable[[Any], bytes]]]:
        """Each kind's items, whether it is compact, and what encodes a structure into its item."""
        out: list[tuple[_Items, bool, Callable[[Any], bytes]]] = []
        for (form, codec), items in self._kinds.items():
            if any(items is kind for kind in kinds):
                out.append((items, form == COMPACT, _pack if codec == MSGPACK else _dumps))
        return out

    def _work(self, tapestry: Tapestry, derive: Iterable[_Items], limit: int | None = None) -> None:
        """Encode the fragments written since last time into every kind, then make ``derive``'s pending items.

        At most ``limit`` fragments in all (``None``: every one): what is left stays to do.
        """
        if self._unbuilt:
            self._dirty.update(tapestry.ids())
            self._unbuilt = False
        if self._dirty:
            take = self._dirty
            if limit is not None and len(take) > limit:
                take = set(itertools.islice(take, limit))
                self._dirty -= take
            else:
                self._dirty = set()
            self._encode(tapestry, take)
            if limit is not None:
                limit -= len(take)
                if limit <= 0:
                    return
        root = self._kinds[_ROOT]
        derived = []
        for items in derive:
            if items.pending is None:
                items.pending = set(root.items)
            if items.pending:
                derived.append(items)
        if derived:
            self._derive(root, derived, limit)

    def _encode(self, tapestry: Tapestry, fids: Iterable[str]) -> None:
        """Every kind's item of each fragment, from the tapestry: canonicalised once for all."""
        encoders = self._encoders(list(self._kinds.values()))
        pending = [items.pending for items in self._kinds.values() if items.pending]
        compact = any(is_compact for _, is_compact, _ in encoders)
        root, short_kind = self._kinds[_ROOT], self._kinds.get((COMPACT, MSGPACK))
        rest = [e for e in encoders if e[0] is not root and e[0] is not short_kind]
        packer = msgpack.Packer(use_bin_type=True)  # this thread's own
        entry_of, both_of = tapestry.entry, tapestry.entries
        for fid in fids:
            for waiting in pending:
                waiting.discard(fid)  # made here: nothing to derive
            short: Any = None
            if compact:
                both = both_of(fid)
                entry, short = (None, None) if both is None else both
            else:
                entry = entry_of(fid)
            if entry is None:
                for items, _, _ in encoders:
                    items.put(fid, None)
                continue
            if short_kind is not None and not short[4]:
                # Written under one stamp (nearly every fragment): both msgpack items spliced from
                # each value packed once.
                whole, brief = _pack_both(packer, fid, short[1], short[2], short[3])
                root.put(fid, whole)
                short_kind.put(fid, brief)
                for items, is_compact, encode in rest:
                    items.put(fid, encode(short if is_compact else entry))
                continue
            for items, is_compact, encode in encoders:
                items.put(fid, encode(short if is_compact else entry))

    def _derive(self, root: _Items, kinds: list[_Items], limit: int | None) -> None:
        """Pending items of ``kinds`` made from items already current (nothing is dirty meanwhile).

        A fragment's canonical structure is unpacked from its canonical msgpack item, and its compact
        one from its compact msgpack item when those are all made (cheaper than compacting again).
        """
        encoders = self._encoders(kinds)
        fids: set[str] = set()
        for items in kinds:  # the next ``limit`` of them, without listing every pending one again
            want = None if limit is None else limit - len(fids)
            if want is not None and want <= 0:
                break
            pending = items.pending or set()
            fids.update(pending if want is None else itertools.islice(pending, want))
        made = root.items
        compact = self._kinds.get((COMPACT, MSGPACK))
        shorts = compact.items if compact is not None and compact.pending == set() else None
        for fid in fids:
            item = made.get(fid)
            entry: Any = _MISSING
            short: Any = _MISSING
            for items, is_compact, encode in encoders:
                if items.pending is None or fid not in items.pending:
                    continue
                items.pending.discard(fid)
                if item is None:  # no longer in the tapestry
                    items.put(fid, None)
                    continue
                if is_compact:
                    if short is _MISSING:
                        if shorts is not None and items is not compact:
                            short = msgpack.unpackb(shorts[fid], raw=False)
                        else:
                            if entry is _MISSING:
                                entry = msgpack.unpackb(item, raw=False)
                            short = compact_entry(entry)
                    items.put(fid, encode(short))
                else:
                    if entry is _MISSING:
                        entry = msgpack.unpackb(item, raw=False)
                    items.put(fid, encode(entry))

    # -- asked for by the sanctuary --------------------------------------------------------
    def _current(self, items: _Items) -> bool:
        return not self._dirty and not self._unbuilt and items.pending is not None and not items.pending

    async def whole(self, tapestry: Tapestry, codec: str, seq: int, form: str = CANONICAL) -> bytes:
        """The tapestry (at ``seq``) in ``form`` and ``codec``: msgpack or JSON bytes of the whole list."""
        items = self._kind(form, codec)
        if items.whole is not None and items.whole[0] == seq and self._current(items):
            return items.whole[1]

        def work() -> bytes:
            self._work(tapestry, [items])
            return concatenate(codec, items.ordered())

        data = await asyncio.to_thread(work)
        items.whole = (seq, data)
        return data

    async def items(self, tapestry: Tapestry, codec: str, form: str = CANONICAL) -> list[bytes]:
        """Each fragment's encoded item in ``form`` and ``codec``, in id order: the list's items.

        :func:`concatenate` of them is what :meth:`whole` returns; a slice of them, concatenated,
        is a list of those fragments (never a fragment cut in two).
        """
        items = self._kind(form, codec)

        def work() -> list[bytes]:
            self._work(tapestry, [items])
            return items.ordered()

        return await asyncio.to_thread(work)

    async def refresh(self, tapestry: Tapestry) -> None:
        """Bring every kind kept up to date with the fragments written since (S13): what ops cost."""
        if self._dirty or self._unbuilt:
            await asyncio.to_thread(self._work, tapestry, ())

    async def warm(self, tapestry: Tapestry, limit: int = WARM_CHUNK) -> None:
        """Up to ``limit`` fragments of the work left: fragments written since, then pending kinds (S14)."""
        await asyncio.to_thread(self._work, tapestry, list(self._kinds.values()), limit)


#: Field names as msgpack strings: a fragment's registers are named from a handful of them.
_NAMES: dict[str, bytes] = {}


def _pack_both(
    packer: msgpack.Packer, fid: str, counter: int, replica: str, values: dict[str, Any]
) -> tuple[bytes, bytes]:
    """The canonical and the compact msgpack items of a fragment whose registers all hold one stamp.

    Exactly what packing ``[fid, {name: [counter, replica, value]}]`` and
    ``[fid, counter, replica, {name: value}, {}]`` gives (``values`` sorted by name, canonical), with
    each value packed once for both: ``0x92`` and ``0x95`` are the headers of arrays of 2 and of 5,
    ``0x93`` of a register's array of 3, ``0x80`` an empty map.
    """
    pack = packer.pack
    head = pack(fid)
    stamp = pack(counter) + pack(replica)
    count = packer.pack_map_header(len(values))
    whole = [b"\x92", head, count]
    brief = [b"\x95", head, stamp, count]
    register = b"\x93" + stamp
    for name, value in values.items():
        key = _NAMES.get(name)
        if key is None:
            key = _NAMES[name] = pack(name)
        packed = pack(value)
        whole += (key, register, packed)
        brief += (key, packed)
    brief.append(b"\x80")
    return b"".join(whole), b"".join(brief)


def _dumps(obj: Any) -> bytes:
    # Copied to a bytes object of its own size: orjson returns its output in a buffer it started
    # at several KiB and shrank, and a kept item of a few hundred bytes would pin that whole
    # stride of the heap (100,000 kept JSON items took 780 MB instead of 50).
    return bytes(memoryview(orjson.dumps(obj)))


def _pack(obj: Any) -> bytes:
    return msgpack.packb(obj, use_bin_type=True)  # type: ignore[no-any-return]


__all__ = [
    "CANONICAL",
    "COMPACT",
    "FORMS",
    "KEPT",
    "REFRESH_AT",
    "WARM_CHUNK",
    "Kind",
    "Pacer",
    "TapestryEncodings",
    "concatenate",
]
