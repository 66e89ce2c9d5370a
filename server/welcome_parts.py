"""A welcome's snapshot cut into parts (SPEC W36), in the welcome's form (W37).

A snapshot is a list of per-fragment items, and any run of them, concatenated
(:func:`~.encodings.concatenate`), is a list of those fragments: so a welcome in
parts is the kept items of :mod:`.encodings` cut into runs, never a structure
decoded and encoded again. Part 0 is the list the welcome carries in its
``snapshot`` field; the others go out as ``snapshot`` frames built by a framer
(:func:`~.welcome_frame.part_frame`).

Nothing is kept between joins: the items are kept up to date as ops land, so
listing and cutting them per join costs a pass over references and sizes, and
each part is copied once, as it is taken. Keeping the built frames would hold a
second copy of the tapestry beside the items.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from dreamloom.protocol import Tapestry

from .encodings import TapestryEncodings, concatenate

#: Builds part ``i`` of ``k``, from its encoded list of fragments, as it is sent (a ``snapshot`` frame).
Framer = Callable[[int, int, bytes], bytes]


def cut(sizes: list[int], first: int, rest: int) -> list[slice]:
    """Where a list of items of these sizes is cut into parts (W36): the first about ``first`` bytes,
    the others about ``rest`` each.

    A part ends at the item that takes it to its size or past it, so no item is split and a part
    holds at least one item. One slice when the whole list fits in the first part.

    >>> cut([100, 100, 100, 100], 150, 200)
    [slice(0, 2, None), slice(2, 4, None)]
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


class Parts:
    """A snapshot's items cut into parts (W36): how many, and each in turn, copied only when taken.

    Part 0 is the encoded list of the welcome's first fragments, the others whole ``snapshot``
    frames built by the framer.
    """

    def __init__(self, codec: str, items: list[bytes], cuts: list[slice], frame: Framer) -> None:
        self.count = len(cuts)
        self._codec = codec
        self._items = items
        self._cuts = cuts
        self._frame = frame

    async def take(self, i: int) -> bytes:
        """Part ``i`` (0 .. ``count`` - 1): a list for the welcome (0), else a ``snapshot`` frame."""
        chunk = self._items[self._cuts[i]]
        if i == 0:
            return concatenate(self._codec, chunk)
        # About a megabyte copied twice (the list, then the frame): a worker thread, off the loop.
        return await asyncio.to_thread(lambda: self._frame(i, self.count, concatenate(self._codec, chunk)))


async def welcome_parts(
    encodings: TapestryEncodings,
    tapestry: Tapestry,
    codec: str,
    form: str,
    first: int,
    rest: int,
    frame: Framer,
) -> Parts:
    """The tapestry's snapshot in ``form`` and ``codec``, cut into parts (W36).

    The first part holds about ``first`` bytes of items, the others about ``rest`` each; their
    items concatenated are :meth:`~.encodings.TapestryEncodings.whole`'s. One part when it all
    fits in the first.
    """
    items = await encodings.items(tapestry, codec, form)
    cuts = await asyncio.to_thread(lambda: cut([len(item) for item in items], first, rest))
    return Parts(codec, items, cuts, frame)


__all__ = ["Framer", "Parts", "cut", "welcome_parts"]
