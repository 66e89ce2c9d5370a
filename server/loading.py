"""Loading a sanctuary from the store without stalling the event loop (SPEC S3, S3a, S11).

A snapshot of a 100,000-fragment tapestry is tens of megabytes: decoded in one
call it would hold the loop for seconds, and every connection of every
sanctuary with it. Loading is two steps:

- :func:`read_state` reads the snapshot and the tail of the log. The stored
  snapshot's bytes are the tapestry's canonical msgpack encoding at its seq: a
  join can be welcomed with them at once (S11).
- :func:`decode_state` then builds the tapestry a slice of fragments at a time,
  yielding to the loop between slices, and replays the tail the same way. Each
  fragment's bytes in the snapshot are kept as they are: they are its canonical
  msgpack item, which the next welcome and snapshot reuse unchanged.
"""

from __future__ import annotations

import io
from dataclasses import dataclass

import msgpack

from dreamloom.protocol import DecodeError, ErrorCode, Tapestry

from .encodings import Pacer, TapestryEncodings
from .store import LogEntry, Store


@dataclass(slots=True)
class LoadedState:
    """What a sanctuary starts from: ``tapestry`` is whole once :func:`decode_state` returned."""

    tapestry: Tapestry
    seq: int
    replicas: dict[str, int]
    recent: list[LogEntry]
    snapshot_seq: int
    encodings: TapestryEncodings
    snapshot: bytes | None = None  # the stored snapshot, until decoded
    tail: list[LogEntry] | None = None  # the log after the snapshot, until replayed


async def read_state(name: str, store: Store, resume_window: int) -> LoadedState:
    """Latest snapshot (its bytes, not decoded) + the tail of the log, and the ops a resume may need (W5a)."""
    await store.ensure_sanctuary(name)
    snap = await store.latest_snapshot(name)
    seq, replicas, data = 0, {}, None
    if snap is not None:
        seq, replicas, data = snap.seq, dict(snap.replicas), snap.data
    snapshot_seq = seq
    tail = await store.read_ops(name, seq)
    for entry in tail:
        stamp = entry.op.stamp
        if stamp[0] > replicas.get(stamp[1], 0):
            replicas[stamp[1]] = stamp[0]
        seq = entry.seq
    recent = tail[-resume_window:]
    if len(recent) < resume_window and snapshot_seq > 0:
        earlier = await store.read_ops(name, max(0, snapshot_seq - (resume_window - len(recent))), upto=snapshot_seq)
        recent = earlier + recent
    return LoadedState(Tapestry(), seq, replicas, recent, snapshot_seq, TapestryEncodings(), data, tail)


async def decode_state(state: LoadedState) -> None:
    """Build ``state.tapestry`` from the snapshot and the tail, in slices that yield to the loop."""
    data, tail = state.snapshot, state.tail or []
    if data is not None:
        state.encodings.seed_msgpack(await decode_snapshot(data, state.tapestry))
    pacer = Pacer()
    for entry in tail:
        await pacer.pace()
        state.tapestry.apply(entry.op)
    for entry in tail:
        state.encodings.touch(entry.op.id)
    state.snapshot = state.tail = None


async def load_state(name: str, store: Store, resume_window: int) -> LoadedState:
    """:func:`read_state` and :func:`decode_state` in one."""
    state = await read_state(name, store, resume_window)
    await decode_state(state)
    return state


#: Fragments decoded between two looks at the clock: about a millisecond of work.
LOAD_SLICE = 64
#: The longest a slice of the decode holds the loop. Shorter than other slices: the decode runs
#: while the sanctuary's first welcomes are sent (S11), whose writes get a turn between slices.
DECODE_SLICE_SECONDS = 0.001


def _unpacker(data: bytes) -> msgpack.Unpacker:
    # Read from the bytes a megabyte at a time: fed whole, the unpacker would first copy tens of
    # megabytes in one call on the loop.
    return msgpack.Unpacker(io.BytesIO(data), read_size=1 << 20, raw=False, strict_map_key=True)


async def decode_snapshot(data: bytes, tapestry: Tapestry) -> list[tuple[str, bytes]]:
    """Load canonical snapshot bytes into ``tapestry`` in slices; returns each fragment's own bytes."""
    unpacker = _unpacker(data)
    raw: list[tuple[str, bytes]] = []
    pacer = Pacer(DECODE_SLICE_SECONDS)
    try:
        count = unpacker.read_array_header()
        start = unpacker.tell()
        unpack, tell = unpacker.unpack, unpacker.tell
        for first in range(0, count, LOAD_SLICE):
            entries = []
            for _ in range(min(LOAD_SLICE, count - first)):
                entry = unpack()
                end = tell()
                entries.append(entry)
                raw.append((entry[0] if type(entry) is list and entry else "", data[start:end]))
                start = end
            tapestry.load_trusted(entries)  # our own store's: validated as ops before (S10)
            await pacer.pace()
    except DecodeError:
        raise
    except Exception as exc:  # msgpack raises many types; all mean the same here
        raise DecodeError(ErrorCode.BAD_ENCODING, f"snapshot is not msgpack: {exc}") from None
    return raw


__all__ = ["LoadedState", "decode_snapshot", "decode_state", "load_state", "read_state"]
