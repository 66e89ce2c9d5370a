"""The compact snapshot form (SPEC M15, M16): expanded, it is the canonical form exactly, in both
codecs; loaded, it is the same state; the shared vectors under protocol/vectors/compact hold."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import msgpack
import orjson
import pytest
from hypothesis import given
from protocol_strategies import build_ops, replay, scripts

from dreamloom.protocol import JSON, MSGPACK, DecodeError, Hello, Tapestry, codec_for
from dreamloom.protocol.compact import compact, expand, shared_stamp

VECTORS = Path(__file__).resolve().parents[2] / "protocol" / "vectors" / "compact"
VALID = sorted(p for p in VECTORS.glob("*.json") if p.stem != "invalid")
INVALID: list[dict[str, Any]] = json.loads((VECTORS / "invalid.json").read_text(encoding="utf-8"))["invalid"]


def _through(codec: str, structure: Any) -> Any:
    """A structure as a client of that codec decodes it from the wire."""
    if codec == MSGPACK:
        return msgpack.unpackb(msgpack.packb(structure, use_bin_type=True), raw=False)
    return orjson.loads(orjson.dumps(structure))


@given(script=scripts(min_size=1, max_size=80, rich=True))
def test_M16_expanding_the_compact_form_gives_the_canonical_form(script: list[Any]) -> None:
    t = replay(build_ops(script))
    for codec in (MSGPACK, JSON):
        items = _through(codec, t.to_compact())
        assert items == _through(codec, compact(t.to_data()))
        assert expand(items) == _through(codec, t.to_data())
        loaded = Tapestry.from_compact(items)
        assert loaded.digest() == t.digest()
        assert loaded.live_counts == t.live_counts
        assert loaded.max_counter == Tapestry.from_data(_through(codec, t.to_data())).max_counter
        assert loaded.to_compact() == t.to_compact()


@given(script=scripts(min_size=1, max_size=80, rich=True))
def test_M15_S13_both_items_of_a_fragment_at_once_are_its_canonical_and_compact_items(script: list[Any]) -> None:
    """What the server's kept encodings make every kind from (S13): one pass over the fragment's values."""
    t = replay(build_ops(script))
    for entry, item in zip(t.to_data(), t.to_compact(), strict=True):
        assert t.entries(entry[0]) == (entry, item)
    assert t.entries("never-written") is None


@given(script=scripts(min_size=1, max_size=60))
def test_M15_the_shared_stamp_is_held_by_the_most_registers(script: list[Any]) -> None:
    t = replay(build_ops(script))
    for (_fid, regs), item in zip(t.to_data(), t.to_compact(), strict=True):
        held: dict[tuple[int, str], int] = {}
        for reg in regs.values():
            held[(reg[0], reg[1])] = held.get((reg[0], reg[1]), 0) + 1
        stamp = (item[1], item[2])
        assert stamp == shared_stamp(regs)
        assert held[stamp] == max(held.values()) == len(item[3])
        assert all(stamp > s for s, n in held.items() if n == held[stamp] and s != stamp)
        assert sorted([*item[3], *item[4]]) == list(regs)
        assert not set(item[3]) & set(item[4])


@pytest.mark.parametrize("path", VALID, ids=[p.stem for p in VALID])
def test_M15_compact_vector(path: Path) -> None:
    vec = json.loads(path.read_text(encoding="utf-8"))
    assert set(vec) == {"name", "rule", "description", "compact", "canonical", "digest", "live_counts"}
    t = Tapestry.from_compact(vec["compact"])
    assert t.to_data() == vec["canonical"]
    assert t.digest() == vec["digest"] == hashlib.sha256(msgpack.packb(vec["canonical"])).hexdigest()
    assert dict(t.live_counts) == {"organic": 0, "ai": 0, **vec["live_counts"]}
    assert expand(vec["compact"]) == vec["canonical"]
    assert Tapestry.from_data(vec["canonical"]).to_compact() == vec["compact"]


@pytest.mark.parametrize("case", INVALID, ids=[c["why"] for c in INVALID])
def test_M15_an_invalid_compact_snapshot_is_refused(case: dict[str, Any]) -> None:
    with pytest.raises(DecodeError):
        Tapestry.from_compact(case["compact"])


def test_M15_the_compact_vectors_are_there() -> None:
    # That they are what protocol/vectors/generate.py writes: test_merge_vectors.py.
    assert len(VALID) >= 20
    assert len(INVALID) >= 15


@pytest.mark.parametrize("codec", [MSGPACK, JSON])
def test_W37_a_compact_welcome_decodes_with_its_form(codec: str) -> None:
    assert Tapestry().to_compact() == []
    wire = {
        "type": "welcome",
        "v": 1,
        "sanctuary": "garden",
        "sid": "s-1",
        "identity": {"id": "u-ana", "name": "Ana", "role": "dreamer", "origin": "organic"},
        "seq": 3,
        "since": 3,
        "snapshot": [["f1", 1, "r-ana", {"kind": "symbol"}, {}]],
        "ops": [],
        "peers": [],
        "policy": {},
        "form": "compact",
    }
    c = codec_for(codec)
    welcome = c.decode_server(c.dumps(wire))
    assert welcome.form == "compact"  # type: ignore[union-attr]
    for bad in ({**wire, "form": "terse"}, {**wire, "snapshot": None}):
        with pytest.raises(DecodeError):
            c.decode_server(c.dumps(bad))


@pytest.mark.parametrize(
    "features",
    [["compact"] * 17, "compact", [""], ["x" * 33], [7], None],
    ids=["17", "str", "empty", "long", "int", "null"],
)
def test_W37_hello_features_are_at_most_16_short_strings(features: Any) -> None:
    c = codec_for(MSGPACK)
    wire = {"type": "hello", "v": 1, "name": "a", "replica": "r9", "seq": None, "features": features}
    if features is None:
        assert c.decode_client(c.dumps(wire)).features == ()  # type: ignore[union-attr]
        return
    with pytest.raises(DecodeError) as info:
        c.decode_client(c.dumps(wire))
    assert info.value.code.value == "bad_message"
    assert info.value.reason == "hello.features must be a list of at most 16 short strings"


def test_W37_hello_features_unknown_ones_are_kept_and_ignored_and_empty_is_omitted() -> None:
    c = codec_for(JSON)
    hello = c.decode_client(
        c.dumps({"type": "hello", "v": 1, "name": "a", "replica": "r9", "seq": None, "features": ["x" * 32, "compact"]})
    )
    assert hello.features == ("x" * 32, "compact")  # type: ignore[union-attr]
    assert "features" not in Hello(name="a", replica="r9").to_wire()
    assert Hello(name="a", replica="r9", features=("compact",)).to_wire()["features"] == ["compact"]
