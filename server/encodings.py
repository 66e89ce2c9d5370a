"""A sanctuary's whole-tapestry encodings, kept up to date as ops land (SPEC W23, W37, S1).

The canonical structure (M9) is a list of ``[id, registers]`` sorted by id. In
msgpack a list is its header followed by its packed items, and in JSON it is
``[`` + items joined by ``,`` + ``]``: so each codec's encoding of the whole
tapestry is its fragments' encoded items, concatenated. This module keeps those
items per codec, in the canonical form and, once a connection asks for it, in the
compact one (W37: the same list, each item in the form of SPEC M15). It re-encodes
only the fragments written since the last time they were asked for, which is what
lets a snapshot (every ``snapshot_every`` ops) and a welcome to a 100,000-fragment
tapestry cost in proportion to what changed.

The re-encoding and the concatenation (tens of megabytes) run in a worker
thread: ``bytes.join`` releases the GIL while it copies, and Python code gives
it back every switch interval, so the event loop keeps serving every other
connection meanwhile. :class:`Pacer` slices work that must stay on the loop.
"""

from __future__ import annotations

import asyncio
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


#: One fragment's item in a codec, from its id (``None``: no such fragment).
_Encoder = Callable[[str], bytes | None]

#: The snapshot forms kept: the canonical structure (M9) and the compact one (W37, M15).
CANONICAL = "canonical"
COMPACT = "compact"
FORMS = (CANONICAL, COMPACT)


class _Items:
    """One form's encoded items in one codec, by fragment id, and the ids in canonical (sorted) order."""

    def __init__(self) -> None:
        self.items: dict[str, bytes] = {}
        self.order: list[str] = []
        self.added: list[str] = []  # ids new since ``order`` was last sorted
        self.removed = False  # an id left ``items`` since then
        self.dirty: set[str] = set()
        self.whole: tuple[int, bytes] | None = None  # (seq, bytes) of the last concatenation
        self.fresh = False  # nothing encoded yet: every fragment of the tapestry is dirty

    def put(self, fid: str, item: bytes | None) -> None:
        if item is None:
            self.removed |= self.items.pop(fid, None) is not None
            return
        if fid not in self.items:
            self.added.append(fid)
        self.items[fid] = item

    def refresh(self, encode: _Encoder) -> None:
        """Re-encode the fragments written since the last time (in a worker thread)."""
        dirty, self.dirty = self.dirty, set()
        if dirty:
            self.whole = None
        for fid in dirty:
            self.put(fid, encode(fid))

    def ordered(self) -> list[bytes]:
        """Every item, in id order (after :meth:`refresh`)."""
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

    Called from the sanctuary's actor only. :meth:`whole` and :meth:`items` do their work in a
    worker thread while the actor waits for it: nothing writes the tapestry meanwhile (only the
    actor does), and the thread gives the GIL back to the event loop every switch interval, so
    the loop keeps serving everyone else.

    Only the canonical msgpack items are made from the tapestry; every other kind is derived
    from another kind's item of the same fragment, which is already canonical (sorted keys,
    integral floats as integers): unpacking it and packing or dumping it again is calls into C,
    where canonicalising the fragment's values again is Python work per stroke point. The
    compact msgpack item is made from the canonical one, each JSON item from its form's msgpack
    item. A kind is built the first time it is asked for, then kept up to date like the others.
    After a load, the canonical msgpack items are the snapshot's own bytes.
    """

    def __init__(self) -> None:
        self._kinds: dict[tuple[str, str], _Items] = {}

    def touch(self, fragment_id: str) -> None:
        """A write to this fragment was merged."""
        for items in self._kinds.values():
            items.dirty.add(fragment_id)

    def forget(self) -> None:
        """The tapestry changed in ways not told through :meth:`touch`: rebuild next time."""
        self._kinds.clear()

    def seed_msgpack(self, raw_items: Iterable[tuple[str, bytes]]) -> None:
        """Start the msgpack items from a loaded snapshot's own bytes (sorted by id, as stored)."""
        items = _Items()
        items.items = dict(raw_items)
        items.order = list(items.items)  # a dict keeps its keys in the order given
        self._kinds[(CANONICAL, MSGPACK)] = items

    def _kind(self, form: str, codec: str) -> _Items:
        if form not in FORMS:
            raise ValueError(f"unknown snapshot form {form!r}")
        if codec not in (MSGPACK, JSON):
            raise ValueError(f"unknown codec {codec!r}")
        items = self._kinds.get((form, codec))
        if items is None:
            items = self._kinds[(form, codec)] = _Items()
            items.fresh = True  # every fragment is to encode: listed in the worker thread, not here
        return items

    def _source(self, form: str, codec: str) -> tuple[str, str] | None:
        """The kind whose items this kind's are derived from (``None``: the tapestry)."""
        if codec == JSON:
            return (form, MSGPACK)
        return None if form == CANONICAL else (CANONICAL, MSGPACK)

    def _sync(self, tapestry: Tapestry, form: str, codec: str) -> _Items:
        """Bring one kind's items (and those it derives from) up to date (in a worker thread)."""
        items = self._kind(form, codec)
        source = self._source(form, codec)
        if source is None:
            if items.fresh:
                items.dirty |= set(tapestry.ids())
                items.fresh = False

            def pack(fid: str) -> bytes | None:
                entry = tapestry.entry(fid)
                return None if entry is None else _pack(entry)

            items.refresh(pack)
            return items
        made = self._sync(tapestry, *source).items
        if items.fresh:
            # From the source's items, not the tapestry: a sanctuary still decoding its snapshot
            # (S11) has them all already, and its tapestry not yet.
            items.dirty |= set(made)
            items.fresh = False
        derive = _dump if codec == JSON else _compact

        def encode(fid: str) -> bytes | None:
            item = made.get(fid)
            return None if item is None else derive(item)

        items.refresh(encode)
        return items

    def _ready(self, form: str, codec: str, seq: int) -> bytes | None:
        items = self._kind(form, codec)
        if items.whole is not None and items.whole[0] == seq and not items.dirty and not items.fresh:
            return items.whole[1]
        return None

    async def whole(self, tapestry: Tapestry, codec: str, seq: int, form: str = CANONICAL) -> bytes:
        """The tapestry (at ``seq``) in ``form`` and ``codec``: msgpack or JSON bytes of the whole list."""
        kept = self._ready(form, codec, seq)
        if kept is not None:
            return kept

        def work() -> bytes:
            return concatenate(codec, self._sync(tapestry, form, codec).ordered())

        data = await asyncio.to_thread(work)
        self._kind(form, codec).whole = (seq, data)
        return data

    async def items(self, tapestry: Tapestry, codec: str, form: str = CANONICAL) -> list[bytes]:
        """Each fragment's encoded item in ``form`` and ``codec``, in id order: the list's items.

        :func:`concatenate` of them is what :meth:`whole` returns; a slice of them, concatenated,
        is a list of those fragments (never a fragment cut in two).
        """
        return await asyncio.to_thread(lambda: self._sync(tapestry, form, codec).ordered())


def _dump(item: bytes) -> bytes:
    return orjson.dumps(msgpack.unpackb(item, raw=False))


def _compact(item: bytes) -> bytes:
    return _pack(compact_entry(msgpack.unpackb(item, raw=False)))


def _pack(obj: Any) -> bytes:
    return msgpack.packb(obj, use_bin_type=True)  # type: ignore[no-any-return]


__all__ = ["CANONICAL", "COMPACT", "FORMS", "Pacer", "TapestryEncodings", "concatenate"]
