"""A welcome's snapshot cut into parts (SPEC W36) from the kept items, in the welcome's form (W37)."""

from __future__ import annotations

import random

import msgpack
import orjson
import pytest
from test_sanctuary_unit import symbol

from dreamloom.protocol import CLIENT_SIDE_LIMITS, JSON, MSGPACK, SnapshotPart, Stamp, Tapestry, codec_for, ops
from dreamloom.server.encodings import CANONICAL, COMPACT, TapestryEncodings
from dreamloom.server.welcome_frame import part_frame
from dreamloom.server.welcome_parts import cut, welcome_parts


async def _assembled(
    kept: TapestryEncodings, tapestry: Tapestry, codec: str, form: str, seq: int
) -> tuple[list[object], int]:
    """The fragments of every part of the snapshot, concatenated, and how many parts."""
    c = codec_for(codec, CLIENT_SIDE_LIMITS)

    def frame(i: int, k: int, fragments: bytes) -> bytes:
        return part_frame(codec, seq, i, k, fragments)

    parts = await welcome_parts(kept, tapestry, codec, form, 2048, 4096, frame)
    fragments = list(c.loads(await parts.take(0)))
    for i in range(1, parts.count):
        message = c.decode_server(await parts.take(i))
        assert message == SnapshotPart(seq, i, parts.count, message.fragments)
        fragments += message.fragments
    return fragments, parts.count


def test_w36_cuts_end_at_the_item_that_reaches_the_size_and_never_split_one() -> None:
    assert cut([], 10, 20) == [slice(0, 0)]
    assert cut([3, 3], 10, 20) == [slice(0, 2)]  # fits in the first part: one part
    assert cut([4, 4, 4, 4, 30, 1], 10, 20) == [slice(0, 3), slice(3, 5), slice(5, 6)]
    assert cut([50, 1], 10, 20) == [slice(0, 1), slice(1, 2)]  # an item larger than a part is one part
    assert cut([10, 20], 10, 20) == [slice(0, 1), slice(1, 2)]  # nothing left: no empty part after


@pytest.mark.parametrize("form", [CANONICAL, COMPACT])
@pytest.mark.parametrize("codec", [MSGPACK, JSON])
async def test_w36_parts_cut_from_the_kept_items_are_the_whole_snapshot_after_any_writes(codec: str, form: str) -> None:
    rng = random.Random(36)
    tapestry, kept = Tapestry(), TapestryEncodings()
    ids: list[str] = []
    for seq in range(1, 600):
        stamp = Stamp(seq, f"r{rng.randrange(3)}")
        if not ids or rng.random() < 0.5:
            op = symbol(f"f{rng.randrange(10_000):05d}", stamp)
            if op.id in ids:
                continue
            ids.append(op.id)
        elif rng.random() < 0.8:
            op = ops.set_fields(rng.choice(ids), stamp, x=rng.randrange(100), z=rng.choice("abc"))
        else:
            op = ops.delete(rng.choice(ids), stamp)
        tapestry.apply(op)
        kept.touch(op.id)
        if rng.random() < 0.05:
            fragments, count = await _assembled(kept, tapestry, codec, form, seq)
            data = tapestry.to_data() if form == CANONICAL else tapestry.to_compact()
            assert fragments == orjson.loads(orjson.dumps(data))
            if len(tapestry) > 40:
                assert count > 1
            # The same cut again at the same seq; the whole structure in that form agrees.
            assert await _assembled(kept, tapestry, codec, form, seq) == (fragments, count)
            whole = await kept.whole(tapestry, codec, seq, form)
            decode = (lambda b: msgpack.unpackb(b, raw=False)) if codec == MSGPACK else orjson.loads
            assert decode(whole) == fragments


@pytest.mark.parametrize("form", [CANONICAL, COMPACT])
async def test_w36_w37_compact_parts_load_to_the_digest_of_the_canonical_whole(form: str) -> None:
    tapestry, kept = Tapestry(), TapestryEncodings()
    for n in range(200):
        tapestry.apply(symbol(f"f{n:03d}", Stamp(n + 1, "r")))
    for n in range(0, 200, 9):
        tapestry.apply(ops.set_fields(f"f{n:03d}", Stamp(500 + n, "q"), x=n))
    fragments, count = await _assembled(kept, tapestry, MSGPACK, form, 9)
    assert count > 2
    loaded = Tapestry.from_compact(fragments) if form == COMPACT else Tapestry.from_data(fragments)
    assert loaded.digest() == Tapestry.from_data(msgpack.unpackb(tapestry.encode(), raw=False)).digest()
