"""A ``welcome`` frame with its snapshot and peers spliced in already encoded (SPEC W23, W36).

A map in either codec is its keys and values one after the other: the welcome
is encoded field by field, and the ``snapshot`` field's value is the tapestry's
whole encoding kept by :mod:`.encodings`, in the form the welcome names (the
canonical one, or the compact one of W37), not a structure encoded again for
every join (the ``peers`` field's, when given, is the list of kept entries of
:class:`~.roster.PeerEntries`). The final copy of tens of megabytes runs in a worker thread
(``bytes.join`` releases the GIL while it copies).
"""

from __future__ import annotations

import asyncio
from typing import Any

import msgpack
import orjson

from dreamloom.protocol import SnapshotPart
from dreamloom.protocol.codec import MSGPACK


async def welcome_frame(
    codec: str, wire: dict[str, Any], snapshot: bytes | None, *, peers: bytes | None = None
) -> bytes:
    """Encode ``wire`` (a welcome's map) with ``snapshot`` and ``peers``, when given, as those fields' bytes."""
    pieces = _spliced(codec, wire, {"snapshot": snapshot, "peers": peers})
    if snapshot is None or len(snapshot) < 1 << 20:
        return b"".join(pieces)
    return await asyncio.to_thread(b"".join, pieces)


def part_frame(codec: str, seq: int, part: int, parts: int, fragments: bytes) -> bytes:
    """A ``snapshot`` frame of a welcome in parts (W36), its ``fragments`` an encoded list spliced in."""
    wire = SnapshotPart(seq, part, parts, []).to_wire()
    return b"".join(_spliced(codec, wire, {"fragments": fragments}))


def _spliced(codec: str, wire: dict[str, Any], spliced: dict[str, bytes | None]) -> list[bytes]:
    """The pieces of ``wire`` encoded in ``codec``, with the bytes in ``spliced`` as those fields' values."""
    parts: list[bytes] = []
    if codec == MSGPACK:
        packer = msgpack.Packer(use_bin_type=True)
        parts.append(packer.pack_map_header(len(wire)))
        for key, value in wire.items():
            parts.append(packer.pack(key))
            kept = spliced.get(key)
            parts.append(kept if kept is not None else packer.pack(value))
    else:
        for i, (key, value) in enumerate(wire.items()):
            parts.append((b"{" if i == 0 else b",") + orjson.dumps(key) + b":")
            kept = spliced.get(key)
            parts.append(kept if kept is not None else orjson.dumps(value))
        parts.append(b"}")
    return parts


__all__ = ["part_frame", "welcome_frame"]
