"""A sanctuary's whole-tapestry encodings, kept up to date as ops land (SPEC W23, S1).

The canonical structure (M9) is a list of ``[id, registers]`` sorted by id. In
msgpack a list is its header followed by its packed items, and in JSON it is
``[`` + items joined by ``,`` + ``]``: so each codec's encoding of the whole
tapestry is its fragments' encoded items, concatenated. This module keeps those
items per codec and re-encodes only the fragments written since the last time
they were asked for, which is what lets a snapshot (every ``snapshot_every`` ops)
and a welcome to a 100,000-fragment tapestry cost in proportion to what changed.

The re-encoding and the concatenation (tens of megabytes) run in a worker
thread: ``bytes.join`` releases the GIL while it copies, and Python code gives
it back every switch interval, so the event loop keeps serving every other
connection meanwhile. :class:`Pacer` slices work that must stay on the loop.
"""

from __future__ import annotations

import asyncio
import heapq
import io
import itertools
import time
from collections.abc import Callable, Iterable
from typing import Any

import msgpack
import orjson

from dreamloom.protocol import Tapestry
from dreamloom.protocol.codec import JSON, MSGPACK

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


class _Items:
    """One codec's encoded items, by fragment id, and the ids in canonical (sorted) order."""

    def __init__(self) -> None:
        self.items: dict[str, bytes] = {}
        self.order: list[str] = []
        self.added: list[str] = []  # ids new since ``order`` was last sorted
        self.removed = False  # an id left ``items`` since then
        self.dirty: set[str] = set()
        self.whole: tuple[int, bytes] | None = None  # (seq, bytes) of the last concatenation
        # ((seq, first, rest), bytes of each part) of the last cut into parts (W36); kept instead of
        # ``whole``, not beside it: either is as large as the tapestry, and is remade in one copy.
        self.parts: tuple[tuple[int, int, int], list[bytes]] | None = None
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
            self.whole = self.parts = None
        for fid in dirty:
            self.put(fid, encode(fid))

    def ordered(self, encode: _Encoder) -> list[bytes]:
        """Re-encode the dirty fragments; every item, in id order (in a worker thread)."""
        self.refresh(encode)
        if self.removed:
            self.order = [fid for fid in self.order if fid in self.items]
            self.removed = False
        if self.added:
            # Two sorted runs: Timsort merges them in linear time (the new ids sorted in runs).
            self.order += _sorted(self.added)
            self.order.sort()
            self.added = []
        return [self.items[fid] for fid in self.order]


def array(codec: str, items: list[bytes]) -> bytes:
    """The list of these encoded items, in ``codec``: the items are copied once, never re-encoded."""
    if codec == MSGPACK:
        return b"".join([msgpack.Packer().pack_array_header(len(items)), *items])
    return b"".join((b"[", b",".join(items), b"]"))


def cut(sizes: list[int], first: int, rest: int) -> list[slice]:
    """Where a list of items of these sizes is cut into parts (W36): the first about ``first`` bytes,
    the others about ``rest`` each.

    A part ends at the item that takes it to its size or past it, so no item is split and a part
    holds at least one item. One slice when the whole list fits in the first part.
    """
    cuts: list[slice] = []
    start, size, bound = 0, 0, first
    for i, n in enumerate(sizes):
        size += n
        if size >= bound:
            cuts.append(slice(start, i + 1))
            start, size, bound = i + 1, 0, rest
    if start < len(sizes) or not cuts:
        cuts.append(slice(start, len(sizes)))
    return cuts


#: What an item not encoded yet is taken to weigh when no item is known to go by (bytes).
GUESS_ITEM_BYTES = 600

#: Builds part ``i`` of ``k``, from its encoded list of fragments, as it is sent (a ``snapshot`` frame).
Framer = Callable[[int, int, bytes], bytes]


class Parts:
    """A snapshot cut into parts (W36): how many, and each in turn, encoded only when taken.

    Part 0 is the list of the welcome's first fragments, the others whole ``snapshot`` frames
    (built by the framer given to :meth:`TapestryEncodings.parts`). Taken in order, each in a worker
    thread: the first part goes out before the rest of a tapestry written since the last join is
    encoded. Taken to the end, they are kept for every later join at the same seq.
    """

    def __init__(self, count: int, build: Callable[[int], bytes], keep: Callable[[list[bytes]], None]) -> None:
        self.count = count
        self._build = build
        self._keep = keep
        self._built: list[bytes] = []

    @classmethod
    def kept(cls, built: list[bytes]) -> Parts:
        """Parts built and kept for an earlier join at the same seq."""
        parts = cls(len(built), built.__getitem__, lambda _: None)
        parts._built = built
        return parts

    async def take(self, i: int) -> bytes:
        """Part ``i``: 0 first, then 1, 2, ... in order."""
        if i < len(self._built):
            return self._built[i]
        if i != len(self._built):
            raise ValueError(f"part {i} taken before part {len(self._built)}")
        data = await asyncio.to_thread(self._build, i)
        self._built.append(data)
        if len(self._built) == self.count:
            self._keep(self._built)
        return data


class TapestryEncodings:
    """The whole tapestry in each codec, re-encoding only the fragments written since last asked.

    Called from the sanctuary's actor only. :meth:`whole` does its work in a worker thread while
    the actor waits for it: nothing writes the tapestry meanwhile (only the actor does), and the
    thread gives the GIL back to the event loop every switch interval, so the loop keeps serving
    everyone else.

    A JSON item is made from the fragment's msgpack item, not from the tapestry: the msgpack item
    is already canonical (sorted keys, integral floats as integers), so unpacking it and dumping
    it as JSON is two calls into C, where canonicalising the fragment's values again is Python
    work per stroke point. After a load, the msgpack items are the snapshot's own bytes.
    """

    def __init__(self) -> None:
        self._codecs: dict[str, _Items] = {}

    def touch(self, fragment_id: str) -> None:
        """A write to this fragment was merged."""
        for items in self._codecs.values():
            items.dirty.add(fragment_id)

    def forget(self) -> None:
        """The tapestry changed in ways not told through :meth:`touch`: rebuild next time."""
        self._codecs.clear()

    def seed_msgpack(self, raw_items: Iterable[tuple[str, bytes]]) -> None:
        """Start the msgpack items from a loaded snapshot's own bytes (sorted by id, as stored)."""
        items = _Items()
        items.items = dict(raw_items)
        items.order = list(items.items)  # a dict keeps its keys in the order given
        self._codecs[MSGPACK] = items

    def _items(self, codec: str) -> _Items:
        items = self._codecs.get(codec)
        if items is None:
            items = self._codecs[codec] = _Items()
            items.fresh = True  # every fragment is to encode: listed in the worker thread, not here
        return items

    def _ordered(self, tapestry: Tapestry, codec: str) -> Callable[[], list[bytes]]:
        """The work (for a worker thread) that lists every fragment's item in ``codec``, in id order."""
        if codec not in (MSGPACK, JSON):
            raise ValueError(f"unknown codec {codec!r}")
        packed = self._items(MSGPACK)
        items = packed if codec == MSGPACK else self._items(JSON)
        pack, dump = _encoders(tapestry, packed)

        def work() -> list[bytes]:
            if packed.fresh:
                packed.dirty |= set(tapestry.ids())
                packed.fresh = False
            if codec == MSGPACK:
                return packed.ordered(pack)
            packed.refresh(pack)
            if items.fresh:
                # From the msgpack items, not the tapestry: a sanctuary still decoding its snapshot
                # (S11) has them all already, and its tapestry not yet.
                items.dirty |= set(packed.items)
                items.fresh = False
            return items.ordered(dump)

        return work

    def _kept(self, codec: str) -> _Items | None:
        """This codec's items when nothing was written since they were last listed."""
        items = self._codecs.get(codec)
        packed = self._codecs.get(MSGPACK)
        if items is None or packed is None or items.fresh or items.dirty or packed.fresh or packed.dirty:
            return None
        return items

    async def items(self, tapestry: Tapestry, codec: str, seq: int) -> list[bytes]:
        """Each fragment's encoded item in ``codec`` (msgpack or JSON), in canonical (id) order, at ``seq``.

        The per-fragment item API: the whole snapshot (:meth:`whole`) and its parts (:meth:`parts`)
        are cut from this list, never from a decoded and re-encoded structure.
        """
        return await asyncio.to_thread(self._ordered(tapestry, codec))

    async def whole(self, tapestry: Tapestry, codec: str, seq: int) -> bytes:
        """The canonical structure of ``tapestry`` (at ``seq``) in ``codec``: msgpack or JSON bytes."""
        kept = self._kept(codec)
        if kept is not None and kept.whole is not None and kept.whole[0] == seq:
            return kept.whole[1]
        work = self._ordered(tapestry, codec)
        data = await asyncio.to_thread(lambda: array(codec, work()))
        kept_whole = self._codecs[codec]
        kept_whole.whole, kept_whole.parts = (seq, data), None  # one form kept per codec: memory
        return data

    async def parts(self, tapestry: Tapestry, codec: str, seq: int, first: int, rest: int, frame: Framer) -> Parts:
        """The canonical structure at ``seq`` in ``codec``, cut into parts (W36).

        The first part holds about ``first`` bytes of items, the others about ``rest`` each; their
        items concatenated are :meth:`whole`'s. One part (the whole structure) when it all fits in
        the first. Where fragments were written since they were last encoded, the cuts are made
        from their earlier items' sizes (or a guess) and the items encoded part by part, as each
        is taken. Kept per seq like :meth:`whole`: every later join at that seq gets the same bytes.
        """
        kept = self._kept(codec)
        shape = (seq, first, rest)
        if kept is not None and kept.parts is not None and kept.parts[0] == shape:
            return Parts.kept(kept.parts[1])
        if codec not in (MSGPACK, JSON):
            raise ValueError(f"unknown codec {codec!r}")
        packed = self._items(MSGPACK)
        items = packed if codec == MSGPACK else self._items(JSON)
        pack, dump = _encoders(tapestry, packed)

        def plan() -> tuple[list[str], list[slice]]:
            if packed.fresh:
                packed.dirty |= set(tapestry.ids())
                packed.fresh = False
            if items.fresh:
                items.dirty |= set(packed.items) | packed.dirty  # as in _ordered: from the msgpack items
                items.fresh = False
            for each in (packed, items):
                if each.dirty:
                    each.whole = each.parts = None
            if items.removed:
                items.order = [fid for fid in items.order if fid in items.items]
                items.removed = False
            # The kept order, with what is new merged in (Timsort merges two sorted runs in linear
            # time); what is new sorted in runs: one sort of 100,000 ids holds the GIL for 50 ms.
            ids = items.order + _sorted({*items.added, *(fid for fid in items.dirty if fid not in items.items)})
            ids.sort()
            known = [len(items.items[fid]) for fid in ids if fid in items.items and fid not in items.dirty]
            guess = sum(known) // len(known) if known else GUESS_ITEM_BYTES
            sizes = []
            for fid in ids:
                old = items.items.get(fid) or packed.items.get(fid)  # a dirty item weighs about what it did
                sizes.append(len(old) if old is not None else guess)
            return ids, cut(sizes, first, rest)

        ids, cuts = await asyncio.to_thread(plan)
        count = len(cuts)

        def build(i: int) -> bytes:
            chunk: list[bytes] = []
            for fid in ids[cuts[i]]:
                if fid in packed.dirty:
                    packed.dirty.discard(fid)
                    packed.put(fid, pack(fid))
                if items is not packed and fid in items.dirty:
                    items.dirty.discard(fid)
                    items.put(fid, dump(fid))
                item = items.items.get(fid)
                if item is not None:
                    chunk.append(item)
            data = array(codec, chunk)
            if i == count - 1:  # every item listed: ``ids`` is the order, nothing left to merge in
                for each in {id(packed): packed, id(items): items}.values():
                    order = [fid for fid in ids if fid in each.items]
                    if len(order) == len(each.items) and not each.dirty:
                        each.order, each.added, each.removed = order, [], False
            return data if i == 0 else frame(i, count, data)

        def keep(built: list[bytes]) -> None:
            if not items.dirty and not packed.dirty:
                items.parts, items.whole = (shape, built), None  # one form kept per codec: memory

        return Parts(count, build, keep)


def stored_parts(data: bytes, first: int, rest: int, frame: Framer) -> list[bytes]:
    """A stored snapshot's bytes (a msgpack list of canonical items, S11) cut into parts (W36).

    Each item's end is found by skipping it, not decoding it; a part is the items' bytes as they
    lie, after its list header. Part 0 is a list, the others frames built by ``frame``, as in
    :meth:`TapestryEncodings.parts`. Tens of megabytes: call it in a worker thread.
    """
    unpacker = msgpack.Unpacker(io.BytesIO(data), read_size=1 << 20)
    count = unpacker.read_array_header()
    ends = [unpacker.tell()]
    for _ in range(count):
        unpacker.skip()
        ends.append(unpacker.tell())
    cuts = cut([b - a for a, b in itertools.pairwise(ends)], first, rest)
    header = msgpack.Packer().pack_array_header
    parts = [header(at.stop - at.start) + data[ends[at.start] : ends[at.stop]] for at in cuts]
    return [parts[0], *(frame(i, len(parts), part) for i, part in enumerate(parts) if i)]


#: Ids sorted in one call at most: sorting runs of this many holds the GIL a few milliseconds.
SORT_RUN = 8192


def _sorted(ids: Iterable[str]) -> list[str]:
    """``sorted(ids)``, in runs merged in Python, so that a thread sorting many lets the loop in."""
    every = list(ids)
    if len(every) <= SORT_RUN:
        return sorted(every)
    runs = [sorted(every[at : at + SORT_RUN]) for at in range(0, len(every), SORT_RUN)]
    return list(heapq.merge(*runs))


def _encoders(tapestry: Tapestry, packed: _Items) -> tuple[_Encoder, _Encoder]:
    """A fragment's msgpack item from the tapestry, and its JSON item from its msgpack item."""

    def pack(fid: str) -> bytes | None:
        entry = tapestry.entry(fid)
        return None if entry is None else _pack(entry)

    def dump(fid: str) -> bytes | None:
        item = packed.items.get(fid)
        return None if item is None else orjson.dumps(msgpack.unpackb(item, raw=False))

    return pack, dump


def _pack(obj: Any) -> bytes:
    return msgpack.packb(obj, use_bin_type=True)  # type: ignore[no-any-return]


__all__ = ["Pacer", "Parts", "TapestryEncodings", "array", "cut", "stored_parts"]
