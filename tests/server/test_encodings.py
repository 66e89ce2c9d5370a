"""Whole-tapestry encodings kept up to date as ops land (SPEC W23, S1, S3a): always equal to encoding
the tapestry afresh, spliced into welcomes that decode as the welcome itself, and loaded in slices."""

from __future__ import annotations

import random
from dataclasses import replace

import orjson
import pytest
from test_sanctuary_unit import person, running, settle, symbol

from dreamloom.protocol import (
    CLIENT_SIDE_LIMITS,
    JSON,
    MSGPACK,
    Hello,
    Identity,
    SnapshotPart,
    Stamp,
    Tapestry,
    Welcome,
    codec_for,
    ops,
)
from dreamloom.server.encodings import TapestryEncodings
from dreamloom.server.loading import decode_snapshot
from dreamloom.server.store import MemoryStore, Snapshot
from dreamloom.server.welcome_frame import part_frame, welcome_frame


def fresh(tapestry: Tapestry, codec: str) -> bytes:
    return tapestry.encode() if codec == MSGPACK else orjson.dumps(tapestry.to_data())


@pytest.mark.parametrize("codec", [MSGPACK, JSON])
async def test_S1_kept_encodings_equal_a_fresh_encoding_after_any_writes(codec: str) -> None:
    rng = random.Random(16)
    tapestry, kept = Tapestry(), TapestryEncodings()
    counter = 0
    ids: list[str] = []
    for seq in range(1, 400):
        counter += 1
        stamp = Stamp(counter, f"r{rng.randrange(3)}")
        if not ids or rng.random() < 0.4:
            op = symbol(f"f{rng.randrange(10_000):05d}", stamp)
            if op.id in ids:
                continue
            ids.append(op.id)
        elif rng.random() < 0.5:
            op = ops.set_fields(rng.choice(ids), stamp, x=rng.randrange(100), z=rng.choice("abc"))
        else:
            op = ops.delete(rng.choice(ids), stamp) if rng.random() < 0.5 else ops.restore(rng.choice(ids), stamp)
        tapestry.apply(op)
        kept.touch(op.id)
        if rng.random() < 0.1:
            assert await kept.whole(tapestry, codec, seq) == fresh(tapestry, codec)
        if rng.random() < 0.01:
            kept.forget()
    assert await kept.whole(tapestry, codec, 10_000) == fresh(tapestry, codec)


@pytest.mark.parametrize("codec", [MSGPACK, JSON])
async def test_W23_a_welcome_with_a_spliced_snapshot_decodes_as_the_welcome(codec: str) -> None:
    tapestry = Tapestry()
    for n in range(30):
        tapestry.apply(symbol(f"f{n}", Stamp(n + 1, "r")))
    kept = TapestryEncodings()
    snapshot = await kept.whole(tapestry, codec, 30)
    welcome = Welcome(
        sanctuary="garden",
        sid="s1",
        identity=Identity("u1", "Ana", "dreamer", "organic"),
        seq=30,
        since=30,
        snapshot=None,
        policy={"locked": False},
        token="t",
        peer_count=None,
    )
    frame = await welcome_frame(codec, welcome.to_wire(), snapshot)
    decoded = codec_for(codec, CLIENT_SIDE_LIMITS).decode_server(frame)
    assert decoded == replace(welcome, snapshot=tapestry.to_data())
    without = await welcome_frame(codec, welcome.to_wire(), None)
    assert codec_for(codec, CLIENT_SIDE_LIMITS).decode_server(without) == welcome


async def test_S3a_a_snapshot_loads_in_slices_with_each_fragment_bytes_kept() -> None:
    tapestry = Tapestry()
    for n in range(5000):  # more than one slice
        tapestry.apply(symbol(f"f{n:05d}", Stamp(n + 1, "r")))
    loaded = Tapestry()
    raw = await decode_snapshot(tapestry.encode(), loaded)
    assert loaded.encode() == tapestry.encode()
    assert loaded.max_counter == tapestry.max_counter
    assert loaded.live_counts == tapestry.live_counts
    kept = TapestryEncodings()
    kept.seed_msgpack(raw)
    assert await kept.whole(loaded, MSGPACK, 5000) == tapestry.encode()


class RecordingStore(MemoryStore):
    """Remembers the seq of every snapshot saved."""

    def __init__(self) -> None:
        super().__init__()
        self.saved: list[int] = []

    async def save_snapshot(self, sanctuary: str, snapshot: Snapshot) -> None:
        self.saved.append(snapshot.seq)
        await super().save_snapshot(sanctuary, snapshot)


async def test_S3a_snapshots_are_spaced_by_a_quarter_of_the_fragments() -> None:
    store = RecordingStore()
    async with running(store, snapshot_every=10) as garden:
        ana = person(1)
        await garden.join(ana, Hello(name="ana", replica=ana.replica, seq=None))
        for n in range(400):
            garden.submit(ana, (symbol(f"f{n:03d}", Stamp(n + 1, ana.replica)),))
            await settle(garden)  # one op per commit: a snapshot is due exactly at its spacing
    # Each op creates a fragment: at seq b there are b fragments, and a snapshot is due when the ops
    # since the last one (at a) reach max(10, b // 4).
    expected, last = [], 0
    for b in range(1, 401):
        if b - last >= max(10, b // 4):
            expected.append(b)
            last = b
    assert store.saved[: len(expected)] == expected
    assert store.saved[len(expected) :] == [400]  # the unload's own snapshot


async def _assembled(kept: TapestryEncodings, tapestry: Tapestry, codec: str, seq: int) -> tuple[list[object], int]:
    """The fragments of every part of the snapshot at ``seq``, concatenated, and how many parts."""
    c = codec_for(codec, CLIENT_SIDE_LIMITS)

    def frame(i: int, k: int, fragments: bytes) -> bytes:
        return part_frame(codec, seq, i, k, fragments)

    parts = await kept.parts(tapestry, codec, seq, 2048, 4096, frame)
    fragments = list(c.loads(await parts.take(0)))
    for i in range(1, parts.count):
        message = c.decode_server(await parts.take(i))
        assert message == SnapshotPart(seq, i, parts.count, message.fragments)
        fragments += message.fragments
    return fragments, parts.count


@pytest.mark.parametrize("codec", [MSGPACK, JSON])
async def test_w36_parts_encoded_as_they_are_taken_are_the_whole_snapshot_after_any_writes(codec: str) -> None:
    rng = random.Random(36)
    tapestry, kept = Tapestry(), TapestryEncodings()
    counter = 0
    ids: list[str] = []
    for seq in range(1, 600):
        counter += 1
        stamp = Stamp(counter, "r")
        if not ids or rng.random() < 0.5:
            op = symbol(f"f{rng.randrange(10_000):05d}", stamp)
            if op.id in ids:
                continue
            ids.append(op.id)
        else:
            op = ops.set_fields(rng.choice(ids), stamp, x=rng.randrange(100), z=rng.choice("abc"))
        tapestry.apply(op)
        kept.touch(op.id)
        if rng.random() < 0.05:
            fragments, count = await _assembled(kept, tapestry, codec, seq)
            assert fragments == orjson.loads(orjson.dumps(tapestry.to_data()))
            if len(tapestry) > 40:
                assert count > 1
            # Kept for the seq: the same bytes again, and the whole structure agrees.
            assert await _assembled(kept, tapestry, codec, seq) == (fragments, count)
            assert await kept.whole(tapestry, codec, seq) == fresh(tapestry, codec)
