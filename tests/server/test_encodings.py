"""Whole-tapestry encodings kept up to date as ops land (SPEC W23, S1, S3a): always equal to encoding
the tapestry afresh, spliced into welcomes that decode as the welcome itself, and loaded in slices."""

from __future__ import annotations

import random
from dataclasses import replace

import msgpack
import orjson
import pytest
from test_sanctuary_unit import person, running, settle, symbol

from dreamloom.protocol import (
    CLIENT_SIDE_LIMITS,
    JSON,
    MSGPACK,
    Hello,
    Identity,
    Op,
    Stamp,
    Tapestry,
    Welcome,
    codec_for,
    ops,
)
from dreamloom.server.encodings import CANONICAL, COMPACT, KEPT, TapestryEncodings, concatenate
from dreamloom.server.loading import decode_snapshot
from dreamloom.server.store import MemoryStore, Snapshot
from dreamloom.server.welcome_frame import welcome_frame


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


def fresh_compact(tapestry: Tapestry, codec: str) -> bytes:
    items = tapestry.to_compact()
    return msgpack.packb(items, use_bin_type=True) if codec == MSGPACK else orjson.dumps(items)  # type: ignore[no-any-return]


@pytest.mark.parametrize("codec", [MSGPACK, JSON])
async def test_W37_kept_compact_encodings_equal_a_fresh_encoding_after_any_writes(codec: str) -> None:
    rng = random.Random(37)
    tapestry, kept = Tapestry(), TapestryEncodings()
    ids: list[str] = []
    for counter in range(1, 400):
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
            # Either form first: the compact items derive from the canonical ones, kept apart.
            forms = [CANONICAL, COMPACT] if rng.random() < 0.5 else [COMPACT, CANONICAL]
            for form in forms:
                want = fresh(tapestry, codec) if form == CANONICAL else fresh_compact(tapestry, codec)
                assert await kept.whole(tapestry, codec, counter, form) == want
        if rng.random() < 0.01:
            kept.forget()
    assert await kept.whole(tapestry, codec, 10_000, COMPACT) == fresh_compact(tapestry, codec)


@pytest.mark.parametrize("form", [CANONICAL, COMPACT])
@pytest.mark.parametrize("codec", [MSGPACK, JSON])
async def test_W37_per_fragment_items_concatenate_to_the_whole_and_slice_into_lists(codec: str, form: str) -> None:
    tapestry, kept = Tapestry(), TapestryEncodings()
    for n in range(50):
        tapestry.apply(symbol(f"f{n:02d}", Stamp(n + 1, "r")))
    tapestry.apply(ops.set_fields("f07", Stamp(99, "q"), x=3))
    items = await kept.items(tapestry, codec, form)
    assert concatenate(codec, items) == await kept.whole(tapestry, codec, 51, form)
    data = tapestry.to_data() if form == CANONICAL else tapestry.to_compact()
    decode = (lambda b: msgpack.unpackb(b, raw=False)) if codec == MSGPACK else orjson.loads
    # Any run of items, concatenated, is the list of those fragments: what parts are cut from.
    assert decode(concatenate(codec, items[10:27])) == data[10:27]
    assert decode(concatenate(codec, [])) == []


KINDS = [(CANONICAL, MSGPACK), (COMPACT, MSGPACK), (CANONICAL, JSON), (COMPACT, JSON)]


def fresh_kind(tapestry: Tapestry, form: str, codec: str) -> bytes:
    return fresh(tapestry, codec) if form == CANONICAL else fresh_compact(tapestry, codec)


def random_op(rng: random.Random, ids: list[str], counter: int) -> Op | None:
    stamp = Stamp(counter, f"r{rng.randrange(3)}")
    if not ids or rng.random() < 0.4:
        op = symbol(f"f{rng.randrange(10_000):05d}", stamp)
        if op.id in ids:
            return None
        ids.append(op.id)
        return op
    if rng.random() < 0.5:
        return ops.set_fields(rng.choice(ids), stamp, x=rng.randrange(100), z=rng.choice("abc"))
    return ops.delete(rng.choice(ids), stamp) if rng.random() < 0.5 else ops.restore(rng.choice(ids), stamp)


@pytest.mark.parametrize("seed", [13, 14, 15])
async def test_S13_S14_every_kind_kept_equals_a_fresh_encoding_whatever_brings_it_up_to_date(seed: int) -> None:
    """Writes, refreshes, slices of warm-up, welcomes of any kind, loads and forget(), in a random order."""
    rng = random.Random(seed)
    tapestry, kept = Tapestry(), TapestryEncodings()
    ids: list[str] = []
    for counter in range(1, 600):
        op = random_op(rng, ids, counter)
        if op is not None:
            tapestry.apply(op)
            kept.touch(op.id)
        roll = rng.random()
        if roll < 0.08:
            await kept.refresh(tapestry)  # what ops bring about (S13)
            assert kept.written == 0
        elif roll < 0.16:
            await kept.warm(tapestry, rng.randrange(1, 40))  # a slice of idle work (S14)
        elif roll < 0.24:
            form, codec = rng.choice(KINDS)
            assert await kept.whole(tapestry, codec, counter, form) == fresh_kind(tapestry, form, codec)
        elif roll < 0.25:
            kept.forget()
        elif roll < 0.26:
            # A load: the canonical msgpack items are the snapshot's own bytes, the rest is pending.
            loaded = Tapestry()
            raw = await decode_snapshot(tapestry.encode(), loaded)
            tapestry, kept = loaded, TapestryEncodings()
            kept.seed_msgpack(raw)
            assert kept.pending
    for form, codec in KINDS:
        assert await kept.whole(tapestry, codec, 10_000, form) == fresh_kind(tapestry, form, codec)
    # Every kind asked for is kept from then on, and warm-up leaves nothing to do.
    assert sorted(kept.kinds()) == sorted(KINDS)
    while kept.pending or kept.written:
        await kept.warm(tapestry)
    for form, codec in KINDS:
        assert await kept.whole(tapestry, codec, 10_001, form) == fresh_kind(tapestry, form, codec)


async def test_S13_the_snapshots_and_the_compact_msgpack_items_are_kept_from_the_start() -> None:
    tapestry, kept = Tapestry(), TapestryEncodings()
    assert kept.kinds() == list(KEPT)
    assert (COMPACT, MSGPACK) in KEPT
    assert (COMPACT, JSON) in KEPT
    for n in range(40):
        tapestry.apply(symbol(f"f{n:02d}", Stamp(n + 1, "r")))
        kept.touch(f"f{n:02d}")
    assert kept.written == 40
    await kept.refresh(tapestry)
    assert kept.written == 0
    assert not kept.pending
    # Both kinds are made from one pass: a compact welcome now only concatenates.
    items = await kept.items(tapestry, MSGPACK, COMPACT)
    assert concatenate(MSGPACK, items) == fresh_compact(tapestry, MSGPACK)


async def test_S14_after_a_load_the_compact_items_are_made_a_slice_at_a_time_and_follow_writes_meanwhile() -> None:
    tapestry = Tapestry()
    for n in range(100):
        tapestry.apply(symbol(f"f{n:03d}", Stamp(n + 1, "r")))
    tapestry.apply(ops.set_fields("f007", Stamp(500, "q"), x=3))
    loaded, kept = Tapestry(), TapestryEncodings()
    kept.seed_msgpack(await decode_snapshot(tapestry.encode(), loaded))
    assert kept.pending
    slices = 0
    while kept.pending:
        await kept.warm(loaded, 30)
        slices += 1
        if slices == 2:  # a write between two slices: its fragment is encoded again, in every kind
            loaded.apply(ops.set_fields("f050", Stamp(501, "q"), y=4))
            kept.touch("f050")
            loaded.apply(symbol("g1", Stamp(502, "q")))
            kept.touch("g1")
    assert slices >= 4  # 101 fragments, 30 at a time
    assert await kept.whole(loaded, MSGPACK, 502, COMPACT) == fresh_compact(loaded, MSGPACK)
    assert await kept.whole(loaded, MSGPACK, 502) == loaded.encode()


async def test_S14_a_welcome_of_a_kind_still_pending_finishes_it_at_once() -> None:
    tapestry = Tapestry()
    for n in range(50):
        tapestry.apply(symbol(f"f{n:02d}", Stamp(n + 1, "r")))
    loaded, kept = Tapestry(), TapestryEncodings()
    kept.seed_msgpack(await decode_snapshot(tapestry.encode(), loaded))
    await kept.warm(loaded, 10)
    assert await kept.whole(loaded, JSON, 50, COMPACT) == fresh_compact(loaded, JSON)
    assert await kept.whole(loaded, MSGPACK, 50, COMPACT) == fresh_compact(loaded, MSGPACK)
    # A snapshot does not wait for a kind still to build: only the canonical msgpack items are needed.
    again, other = Tapestry(), TapestryEncodings()
    other.seed_msgpack(await decode_snapshot(tapestry.encode(), again))
    assert await other.whole(again, MSGPACK, 50) == tapestry.encode()
    assert other.pending
