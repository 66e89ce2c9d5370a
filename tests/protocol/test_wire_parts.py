"""hello.features and the messages of a welcome in parts (W36): their bounds, at the limit and one over."""

from __future__ import annotations

from typing import Any

import pytest

from dreamloom.protocol import DEFAULT_LIMITS, DecodeError, Hello, JsonCodec, MsgpackCodec, SnapshotPart, Welcome
from dreamloom.protocol.codec import Codec
from dreamloom.protocol.messages import MAX_WELCOME_PARTS

CODECS = [JsonCodec(), MsgpackCodec()]
BAD_FEATURES = "hello.features must be a list of at most 16 short strings"


def hello(**fields: Any) -> dict[str, Any]:
    return {"type": "hello", "v": 1, "name": "Ana", "replica": "r-ana", "seq": None, **fields}


def welcome(**fields: Any) -> dict[str, Any]:
    identity = {"id": "u-ana", "name": "Ana", "role": "dreamer", "origin": "organic"}
    base = {"type": "welcome", "v": 1, "sanctuary": "g", "sid": "s-1", "identity": identity, "seq": 3, "since": 3}
    return {**base, "snapshot": [], "ops": [], "peers": [], "policy": {}, **fields}


def part(**fields: Any) -> dict[str, Any]:
    return {"type": "snapshot", "seq": 3, "part": 1, "parts": 2, "fragments": [], **fields}


@pytest.mark.parametrize("codec", CODECS, ids=lambda c: c.name)
def test_w36_hello_features_at_the_limit_pass_and_unknown_ones_are_kept_for_the_server_to_ignore(codec: Codec) -> None:
    features = ["parts", "compact", "x" * 32, *(f"later-{i}" for i in range(13))]
    assert len(features) == 16
    decoded = codec.decode_client(codec.dumps(hello(features=features)))
    assert isinstance(decoded, Hello)
    assert decoded.features == tuple(features)
    assert codec.decode_client(codec.dumps(hello())) == Hello(name="Ana", replica="r-ana")
    assert "features" not in Hello(name="Ana", replica="r-ana").to_wire()  # omitted when empty
    assert Hello(name="Ana", replica="r-ana", features=("parts",)).to_wire()["features"] == ["parts"]


@pytest.mark.parametrize("codec", CODECS, ids=lambda c: c.name)
@pytest.mark.parametrize(
    "features",
    [[f"f{i}" for i in range(17)], ["x" * 33], [""], [1], "parts", {"parts": True}],
    ids=["17 entries", "33 characters", "empty string", "not a string", "a string", "a map"],
)
def test_w36_hello_features_over_the_limit_are_bad_message(codec: Codec, features: Any) -> None:
    with pytest.raises(DecodeError) as info:
        codec.decode_client(codec.dumps(hello(features=features)))
    assert info.value.code.value == "bad_message"
    assert info.value.reason == BAD_FEATURES


@pytest.mark.parametrize("codec", CODECS, ids=lambda c: c.name)
def test_w36_welcome_parts_and_snapshot_parts_in_range_pass(codec: Codec) -> None:
    for parts in (2, MAX_WELCOME_PARTS):
        decoded = codec.decode_server(codec.dumps(welcome(parts=parts)))
        assert isinstance(decoded, Welcome)
        assert decoded.parts == parts
        for at in (1, parts - 1):
            got = codec.decode_server(codec.dumps(part(part=at, parts=parts)))
            assert got == SnapshotPart(3, at, parts, [])


@pytest.mark.parametrize("codec", CODECS, ids=lambda c: c.name)
@pytest.mark.parametrize(
    "message",
    [
        welcome(parts=1),
        welcome(parts=MAX_WELCOME_PARTS + 1),
        welcome(parts=2, snapshot=None),
        welcome(parts=2.0),
        part(part=0),
        part(part=2, parts=2),
        part(parts=1),
        part(parts=MAX_WELCOME_PARTS + 1),
        part(fragments={}),
        part(seq=-1),
        {k: v for k, v in part().items() if k != "fragments"},
        part(extra=1),
    ],
    ids=[
        "welcome of 1 part",
        "welcome of too many parts",
        "parts without a snapshot",
        "parts a float",
        "part 0",
        "part k of k",
        "1 part",
        "too many parts",
        "fragments a map",
        "seq below 0",
        "no fragments",
        "an unknown field",
    ],
)
def test_w36_parts_out_of_range_are_bad_message(codec: Codec, message: dict[str, Any]) -> None:
    with pytest.raises(DecodeError) as info:
        codec.decode_server(codec.dumps(message))
    assert info.value.code.value == "bad_message"


def test_w36_a_part_is_bounded_by_the_client_side_message_limit_like_any_message() -> None:
    codec = MsgpackCodec(DEFAULT_LIMITS)
    big = part(fragments=[["f", {"z": [1, "r", "V" * 100]}]] * (DEFAULT_LIMITS.max_message_bytes // 100))
    with pytest.raises(DecodeError) as info:
        codec.decode_server(codec.dumps(big))
    assert info.value.code.value == "too_large"
