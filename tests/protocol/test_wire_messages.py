"""Messages and codecs (SPEC W1-W12): round trips, determinism, strict validation."""

from __future__ import annotations

import msgpack
import orjson
import pytest
from client_refusal import client_refusal
from protocol_samples import CLIENT, SERVER

from dreamloom.protocol import (
    JSON,
    MSGPACK,
    SUBPROTOCOLS,
    Codec,
    DecodeError,
    ErrorCode,
    Hello,
    JsonCodec,
    Message,
    MsgpackCodec,
    Ops,
    Reject,
    Stamp,
    Welcome,
    codec_for,
)

CODECS = [MsgpackCodec(), JsonCodec()]
CODEC_IDS = ["msgpack", "json"]


def _id(msg: Message) -> str:
    return type(msg).__name__


@pytest.mark.parametrize("codec", CODECS, ids=CODEC_IDS)
@pytest.mark.parametrize("msg", CLIENT, ids=_id)
def test_W1_client_messages_round_trip(codec: Codec, msg: Message) -> None:
    data = codec.encode(msg)
    assert codec.decode_client(data) == msg
    assert codec.decode(data, from_server=False) == msg
    assert codec.encode(codec.decode_client(data)) == data, "re-encoding gives the same bytes"


@pytest.mark.parametrize("codec", CODECS, ids=CODEC_IDS)
@pytest.mark.parametrize("msg", SERVER, ids=_id)
def test_W1_server_messages_round_trip(codec: Codec, msg: Message) -> None:
    data = codec.encode(msg)
    assert codec.decode_server(data) == msg
    assert codec.decode(data, from_server=True) == msg
    assert codec.encode(codec.decode_server(data)) == data


@pytest.mark.parametrize("msg", CLIENT + SERVER, ids=_id)
def test_W2_encoding_is_deterministic_and_codecs_agree(msg: Message) -> None:
    packed = MsgpackCodec().encode(msg)
    text = JsonCodec().encode(msg)
    assert packed == MsgpackCodec().encode(msg)
    assert text == JsonCodec().encode(msg)
    assert msgpack.unpackb(packed, raw=False) == orjson.loads(text) == msg.to_wire()


def test_W2_json_codec_accepts_text_frames() -> None:
    msg = CLIENT[0]
    assert JsonCodec().decode_client(JsonCodec().encode(msg).decode()) == msg


def test_W2_subprotocols_and_codec_for() -> None:
    assert SUBPROTOCOLS == ("dreamloom.v1.msgpack", "dreamloom.v1.json")
    assert isinstance(codec_for(MSGPACK), MsgpackCodec)
    assert codec_for(MSGPACK).binary
    assert isinstance(codec_for(JSON), JsonCodec)
    assert not codec_for(JSON).binary
    with pytest.raises(DecodeError):
        codec_for("dreamloom.v2.json")


def test_W3_direction_matters() -> None:
    """A client may not send server messages, nor the server client-only ones."""
    codec = JsonCodec()
    with pytest.raises(DecodeError) as err:
        codec.decode_client(codec.encode(SERVER[0]))
    assert err.value.code is ErrorCode.UNKNOWN_TYPE
    with pytest.raises(DecodeError) as err:
        codec.decode_server(codec.encode(CLIENT[0]))
    assert err.value.code is ErrorCode.UNKNOWN_TYPE
    # ops from a client carry no seq; from the server they must.
    with pytest.raises(DecodeError):
        codec.decode_client(codec.encode(Ops(CLIENT[2].ops, seq=3)))  # type: ignore[union-attr]
    with pytest.raises(DecodeError):
        codec.decode_server(codec.encode(CLIENT[2]))


@pytest.mark.parametrize("codec", CODECS, ids=CODEC_IDS)
@pytest.mark.parametrize(
    ("wire", "code"),
    [
        ({"type": "hello", "v": 1, "name": "a", "replica": "r", "extra": 1}, ErrorCode.BAD_MESSAGE),
        ({"type": "hello", "v": 2, "name": "a", "replica": "r", "future": 1}, ErrorCode.UNSUPPORTED_VERSION),
        ({"type": "hello", "v": 0, "name": "a", "replica": "r"}, ErrorCode.UNSUPPORTED_VERSION),
        ({"type": "hello", "v": True, "name": "a", "replica": "r"}, ErrorCode.BAD_MESSAGE),
        ({"type": "hello", "name": "a", "replica": "r"}, ErrorCode.BAD_MESSAGE),
        ({"type": "hello", "v": 1, "name": "a"}, ErrorCode.BAD_MESSAGE),
        ({"type": "nope"}, ErrorCode.UNKNOWN_TYPE),
        ({"type": 3}, ErrorCode.UNKNOWN_TYPE),
        ({"no": "type"}, ErrorCode.UNKNOWN_TYPE),
        ([1, 2], ErrorCode.BAD_MESSAGE),
        ({"type": "ops", "ops": []}, ErrorCode.BAD_MESSAGE),
        ({"type": "ops", "ops": "x"}, ErrorCode.BAD_MESSAGE),
        ({"type": "ops", "ops": [{"t": "x", "id": "a", "s": [1, "r"]}]}, ErrorCode.BAD_MESSAGE),
        ({"type": "ops", "ops": [{"t": "d", "id": "a", "s": [0, "r"]}]}, ErrorCode.BAD_MESSAGE),
        ({"type": "ops", "ops": [{"t": "d", "id": "a", "s": [1.0, "r"]}]}, ErrorCode.BAD_MESSAGE),
        ({"type": "ops", "ops": [{"t": "d", "id": "a", "s": [1, "r"], "f": {}}]}, ErrorCode.BAD_MESSAGE),
        ({"type": "ops", "ops": [{"t": "d", "id": "a"}]}, ErrorCode.BAD_MESSAGE),
        ({"type": "ops", "ops": [{"t": "s", "id": "a", "s": [1, "r"], "f": {}}]}, ErrorCode.BAD_MESSAGE),
        ({"type": "ops", "ops": [{"t": "s", "id": "a", "s": [1, "r"], "f": {"kind": "text"}}]}, ErrorCode.BAD_MESSAGE),
        ({"type": "ops", "ops": [{"t": "s", "id": "a", "s": [1, "r"], "f": {"deleted": True}}]}, ErrorCode.BAD_MESSAGE),
        ({"type": "ops", "ops": [{"t": "s", "id": "a", "s": [1, "r"]}]}, ErrorCode.BAD_MESSAGE),
        ({"type": "ping", "t": -1}, ErrorCode.BAD_MESSAGE),
        ({"type": "presence", "cursor": [1]}, ErrorCode.BAD_MESSAGE),
        ({"type": "presence", "cursor": [1, 2, 3, 4]}, ErrorCode.BAD_MESSAGE),
        ({"type": "presence", "view": [0, 0, 0]}, ErrorCode.BAD_MESSAGE),
        ({"type": "presence", "view": [0, 0]}, ErrorCode.BAD_MESSAGE),
        ({"type": "presence", "preview": {"pts": [0, 0], "x": 1}}, ErrorCode.BAD_MESSAGE),
        ({"type": "presence", "preview": {"pts": [0, 0], "style": {"color": "red"}}}, ErrorCode.BAD_MESSAGE),
        ({"type": "presence", "sel": "f1"}, ErrorCode.BAD_MESSAGE),
    ],
)
def test_W3_invalid_client_messages_are_typed_errors(codec: Codec, wire: object, code: ErrorCode) -> None:
    assert client_refusal(codec, codec.dumps(wire)) is code


CREATE_F = {"kind": "symbol", "geom": {"sym": "moon", "size": 3}, "z": "V"}


def _create(**f: object) -> dict[str, object]:
    return {"type": "ops", "ops": [{"t": "c", "id": "a", "s": [1, "r"], "f": {**CREATE_F, **f}}]}


@pytest.mark.parametrize(
    "wire",
    [
        _create(kind="blob"),
        _create(geom={"sym": "moon"}),
        _create(geom={"sym": "moon", "size": 3, "pts": [0, 0]}),
        _create(geom={"sym": "Moon!", "size": 3}),
        _create(geom={"sym": "moon", "size": 0}),
        _create(geom={"sym": "moon", "size": 3, "bogus": 1}),
        _create(kind="shape", geom={"shape": "star", "w": 1, "h": 1}),
        _create(kind="stroke", geom={"pts": [0, 0, 1]}),
        _create(kind="stroke", geom={"pts": []}),
        _create(kind="stroke", geom={"pts": "0,0"}),
        _create(kind="stroke", geom={"pts": [0, "1"]}),
        _create(kind="text", geom={"text": 5, "size": 1}),
        _create(z=""),
        _create(z="V0"),
        _create(z="V-"),
        _create(origin="robot"),
        _create(author="has space"),
        _create(deleted=True),
        _create(remixable=1),
        _create(x=True),
        _create(x="1"),
        _create(inspired_by=["a", "a"]),
        _create(inspired_by="a"),
        _create(style={"color": "red"}),
        _create(style={"color": "#12345"}),
        _create(style={"fill": "nonee"}),
        _create(style={"width": -1}),
        _create(style={"width": 201}),
        _create(style={"opacity": 1.5}),
        _create(style={"opacity": -0.1}),
        _create(style={"font": "x"}),
        _create(style=[]),
        _create(geom=[]),
        _create(mood="x"),
        {"type": "ops", "ops": [{"t": "c", "id": "a", "s": [1, "r"], "f": {"kind": "symbol", "z": "V"}}]},
        {"type": "ops", "ops": [{"t": "c", "id": "a", "s": [1, "r"], "f": {"geom": {}, "z": "V"}}]},
        {"type": "ops", "ops": [{"t": "c", "id": "a", "s": [1, "r"], "f": {"kind": "text", "geom": {}}}]},
        {"type": "ops", "ops": [{"t": "c", "id": "a b", "s": [1, "r"], "f": CREATE_F}]},
        {"type": "ops", "ops": [{"t": "c", "id": "a", "s": [1, "r", 3], "f": CREATE_F}]},
        {"type": "ops", "ops": [{"t": "c", "id": "a", "s": [2**53, "r"], "f": CREATE_F}]},
        {"type": "ops", "ops": [{"t": "c", "id": "a", "s": [1, ""], "f": CREATE_F}]},
        {"type": "ops", "ops": [{"t": "c", "id": "a", "s": [1, "r"], "f": None}]},
        {"type": "ops", "ops": ["op"]},
    ],
)
@pytest.mark.parametrize("codec", CODECS, ids=CODEC_IDS)
def test_W8_field_rules_reject_invalid_creates(codec: Codec, wire: object) -> None:
    assert client_refusal(codec, codec.dumps(wire)) is ErrorCode.BAD_MESSAGE


def test_W8_create_defaults_and_largest_counter() -> None:
    msg = JsonCodec().decode_client(
        orjson.dumps({"type": "ops", "ops": [{"t": "c", "id": "a", "s": [2**53 - 1, "r"], "f": CREATE_F}]})
    )
    assert isinstance(msg, Ops)
    assert dict(msg.ops[0].fields) == {
        **CREATE_F,
        "author": "",
        "origin": "organic",
        "x": 0,
        "y": 0,
        "style": {},
        "inspired_by": [],
        "remixable": False,
        "deleted": False,
    }


@pytest.mark.parametrize(
    ("wire", "code"),
    [
        ({"type": "welcome", "v": 2}, ErrorCode.UNSUPPORTED_VERSION),
        ({"type": "welcome"}, ErrorCode.BAD_MESSAGE),
        ({"type": "ack", "acks": [[1]]}, ErrorCode.BAD_MESSAGE),
        ({"type": "ack", "acks": {}}, ErrorCode.BAD_MESSAGE),
        ({"type": "ack", "acks": [[1, 0]]}, ErrorCode.BAD_MESSAGE),
        ({"type": "error", "code": "no_such_code", "reason": ""}, ErrorCode.BAD_MESSAGE),
        ({"type": "error", "code": ["x"], "reason": ""}, ErrorCode.BAD_MESSAGE),
        ({"type": "reject", "s": [1, "r"], "id": "a", "code": "muted", "reason": 5}, ErrorCode.BAD_MESSAGE),
        ({"type": "policy", "policy": {"cap": float("inf")}}, ErrorCode.BAD_MESSAGE),
        ({"type": "policy", "policy": {"cap": {"nested": 1}}}, ErrorCode.BAD_MESSAGE),
        ({"type": "policy", "policy": {"list": [1]}}, ErrorCode.BAD_MESSAGE),
        ({"type": "policy", "policy": {"": 1}}, ErrorCode.BAD_MESSAGE),
        ({"type": "presence", "peers": {}}, ErrorCode.BAD_MESSAGE),
        ({"type": "presence", "peers": [{"cursor": None}]}, ErrorCode.BAD_MESSAGE),
        (
            {"type": "join", "peer": {"sid": "s", "name": "n", "role": "god", "origin": "ai", "color": "#000000"}},
            ErrorCode.BAD_MESSAGE,
        ),
        (
            {"type": "join", "peer": {"sid": "s", "name": "n", "role": "weaver", "origin": "x", "color": "#000000"}},
            ErrorCode.BAD_MESSAGE,
        ),
        ({"type": "leave", "sid": ""}, ErrorCode.BAD_MESSAGE),
        ({"type": "ops", "seq": 0, "ops": [{"t": "d", "id": "a", "s": [1, "r"]}]}, ErrorCode.BAD_MESSAGE),
    ],
)
def test_W3_invalid_server_messages_are_typed_errors(wire: object, code: ErrorCode) -> None:
    for codec in CODECS:
        if isinstance(codec, JsonCodec) and "inf" in repr(wire):
            continue  # JSON cannot carry Infinity at all (covered by the limits tests)
        with pytest.raises(DecodeError) as err:
            codec.decode_server(codec.dumps(wire))
        assert err.value.code is code


def _welcome_wire(**changes: object) -> dict[str, object]:
    wire = SERVER[1].to_wire()
    wire.update(changes)
    return wire


@pytest.mark.parametrize(
    "changes",
    [
        {"snapshot": "x"},
        {"ops": {}},
        {"peers": {}},
        {"peers": [{"sid": "s", "name": "n", "role": "weaver", "origin": "ai", "color": "#000000", "x": 1}]},
        {"identity": {"id": "a", "name": "b", "role": "king", "origin": "ai"}},
        {"identity": {"id": "a", "name": "b", "role": "weaver", "origin": "alien"}},
        {"seq": -1},
    ],
)
def test_W5_invalid_welcomes(changes: dict[str, object]) -> None:
    codec = MsgpackCodec()
    with pytest.raises(DecodeError):
        codec.decode_server(codec.dumps(_welcome_wire(**changes)))


def test_W5_welcome_ops_are_not_bounded_by_the_batch_limit_but_by_the_others() -> None:
    from dreamloom.protocol import Stamp, ops

    many = tuple(ops.delete(f"f{i}", Stamp(i + 1, "r")) for i in range(300))
    msg = Welcome("g", "s", SERVER[0].identity, 300, 0, None, many)  # type: ignore[union-attr]
    codec = MsgpackCodec()
    assert codec.decode_server(codec.encode(msg)) == msg
    wire = msg.to_wire()
    wire["ops"] = [{"t": "d", "id": "x" * 65, "s": [1, "r"]}]
    with pytest.raises(DecodeError):
        codec.decode_server(codec.dumps(wire))


def test_W6_hello_defaults() -> None:
    hello = JsonCodec().decode_client(b'{"type":"hello","v":1,"name":"n","replica":"r"}')
    assert hello == Hello(name="n", replica="r", seq=None, token=None)


def test_W8_geom_checked_against_a_kind() -> None:
    """What the server runs for a set of geom (W13): the keys must be those of the fragment's kind."""
    from dreamloom.protocol import DEFAULT_LIMITS
    from dreamloom.protocol.validate import check_geom

    assert check_geom({"sym": "moon", "size": 2}, DEFAULT_LIMITS, kind="symbol") == {"sym": "moon", "size": 2}
    with pytest.raises(DecodeError):
        check_geom({"sym": "moon", "size": 2}, DEFAULT_LIMITS, kind="text")


@pytest.mark.parametrize("codec", CODECS, ids=CODEC_IDS)
def test_W9_a_reject_may_say_when_to_retry(codec: Codec) -> None:
    refused = Reject(
        Stamp(9, "r-ana"), "f-1", ErrorCode.AI_RATE_LIMITED, "over the rate", "ai_rate_per_weaver", None, 59.9
    )
    assert codec.decode_server(codec.encode(refused)) == refused
    plain = Reject(Stamp(9, "r-ana"), "f-1", ErrorCode.UNKNOWN_FRAGMENT, "no fragment f-1")
    assert "retry_after" not in plain.to_wire()  # absent when the server has nothing to say
    for bad in (-1, "60", 86_401, True):
        wire = {**refused.to_wire(), "retry_after": bad}
        with pytest.raises(DecodeError) as err:
            codec.decode_server(codec.dumps(wire))
        assert err.value.code is ErrorCode.BAD_MESSAGE
