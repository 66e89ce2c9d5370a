"""Every limit of Limits (SPEC W4): at the limit passes, one over fails; plus NaN/Infinity,
msgpack extension types, trailing bytes and deep nesting in both codecs."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import msgpack
import pytest
from client_refusal import client_refusal

from dreamloom.protocol import DEFAULT_LIMITS, Codec, DecodeError, ErrorCode, JsonCodec, MsgpackCodec

L = DEFAULT_LIMITS
CODECS = [MsgpackCodec(), JsonCodec()]
IDS = ["msgpack", "json"]


def create_op(fid: str = "a", **f: Any) -> dict[str, Any]:
    fields = {"kind": "symbol", "geom": {"sym": "moon", "size": 3}, "z": "V", **f}
    return {"t": "c", "id": fid, "s": [1, "r"], "f": fields}


def ops_msg(*ops: dict[str, Any]) -> dict[str, Any]:
    return {"type": "ops", "ops": list(ops)}


def stroke(n_points: int) -> dict[str, Any]:
    return ops_msg(create_op(kind="stroke", geom={"pts": [1] * (2 * n_points)}))


def text(n: int) -> dict[str, Any]:
    return ops_msg(create_op(kind="text", geom={"text": "字" * n, "size": 12}))


def hello(**f: Any) -> dict[str, Any]:
    return {"type": "hello", "v": 1, "name": "n", "replica": "r", **f}


def presence(**f: Any) -> dict[str, Any]:
    return {"type": "presence", **f}


#: (name, build(n), the limit): build(limit) must decode, build(limit + 1) must not.
CASES: list[tuple[str, Callable[[int], dict[str, Any]], int]] = [
    ("ops_per_batch", lambda n: ops_msg(*[create_op(f"f{i}") for i in range(n)]), L.max_ops_per_batch),
    ("points_per_stroke", stroke, L.max_points_per_stroke),
    ("op_id_len", lambda n: ops_msg(create_op("i" * n)), L.max_id_len),
    ("replica_len", lambda n: ops_msg({"t": "d", "id": "a", "s": [1, "r" * n]}), L.max_id_len),
    ("author_len", lambda n: ops_msg(create_op(author="u" * n)), L.max_id_len),
    ("hello_name_len", lambda n: hello(name="名" * n), L.max_name_len),
    ("hello_replica_len", lambda n: hello(replica="r" * n), L.max_id_len),
    ("token_len", lambda n: hello(token="t" * n), L.max_token_len),
    ("text_len", text, L.max_text_len),
    ("z_len", lambda n: ops_msg(create_op(z="V" * n)), L.max_z_len),
    ("symbol_len", lambda n: ops_msg(create_op(geom={"sym": "m" * n, "size": 1})), L.max_symbol_len),
    ("inspired_by", lambda n: ops_msg(create_op(inspired_by=[f"f{i}" for i in range(n)])), L.max_inspired_by),
    ("selection", lambda n: presence(sel=[f"f{i}" for i in range(n)]), L.max_selection),
    ("preview_points", lambda n: presence(preview={"pts": [0] * (2 * n)}), L.max_points_per_stroke),
]


@pytest.mark.parametrize("codec", CODECS, ids=IDS)
@pytest.mark.parametrize(("name", "build", "limit"), CASES, ids=[c[0] for c in CASES])
def test_W4_limit_at_passes_one_over_fails(
    codec: Codec, name: str, build: Callable[[int], dict[str, Any]], limit: int
) -> None:
    assert client_refusal(codec, codec.dumps(build(limit))) is None
    # W10a: an op over a limit that still names its stamp and id is refused alone.
    assert client_refusal(codec, codec.dumps(build(limit + 1))) is not None


def _padded_ping(codec: Codec, size: int) -> bytes:
    """A valid client message of exactly ``size`` bytes (a presence with a padded selection)."""
    base = codec.dumps(presence(sel=["x"]))
    pad = size - len(base)
    data = codec.dumps(presence(sel=["x" * (1 + pad)]))
    assert len(data) >= size
    # Adjust for msgpack str headers growing; trim until exact.
    k = 1 + pad - (len(data) - size)
    data = codec.dumps(presence(sel=["x" * k]))
    assert len(data) == size
    return data


@pytest.mark.parametrize("codec", CODECS, ids=IDS)
def test_W4_message_bytes_limit(codec: Codec) -> None:
    small = type(codec)(L.__class__(max_message_bytes=200, max_id_len=300))
    small.decode_client(_padded_ping(small, 200))
    with pytest.raises(DecodeError) as err:
        small.decode_client(_padded_ping(small, 201))
    assert err.value.code is ErrorCode.TOO_LARGE
    with pytest.raises(DecodeError) as err:
        codec.decode_client(b" " * (L.max_message_bytes + 1))
    assert err.value.code is ErrorCode.TOO_LARGE


def test_W4_batch_over_limit_is_too_large() -> None:
    codec = MsgpackCodec()
    with pytest.raises(DecodeError) as err:
        codec.decode_client(codec.dumps(ops_msg(*[create_op(f"f{i}") for i in range(L.max_ops_per_batch + 1)])))
    assert err.value.code is ErrorCode.TOO_LARGE


@pytest.mark.parametrize("codec", CODECS, ids=IDS)
@pytest.mark.parametrize("where", ["x", "w", "pts", "cursor", "view", "size", "width", "opacity"])
def test_W4_coordinates_at_bound_pass_beyond_fail(codec: Codec, where: str) -> None:
    bound = L.max_coordinate

    def build(v: float) -> dict[str, Any]:
        if where == "x":
            return ops_msg(create_op(x=v))
        if where == "w":
            return ops_msg(create_op(kind="shape", geom={"shape": "rect", "w": v, "h": -v}))
        if where == "pts":
            return ops_msg(create_op(kind="stroke", geom={"pts": [v, -v]}))
        if where == "cursor":
            return presence(cursor=[v, -v])
        if where == "view":
            return presence(view=[v, -v, 1])
        if where == "size":
            return ops_msg(create_op(geom={"sym": "moon", "size": v}))
        if where == "width":
            return ops_msg(create_op(style={"width": v * 200 / bound}))
        return ops_msg(create_op(style={"opacity": v / bound}))

    assert client_refusal(codec, codec.dumps(build(bound))) is None
    assert client_refusal(codec, codec.dumps(build(int(bound)))) is None
    assert client_refusal(codec, codec.dumps(build(bound * 1.000001))) is ErrorCode.BAD_MESSAGE
    over = build(int(bound) + 1) if where not in ("width", "opacity") else build(2 * bound)
    assert client_refusal(codec, codec.dumps(over)) is ErrorCode.BAD_MESSAGE


@pytest.mark.parametrize("bad", [float("nan"), float("inf"), float("-inf")])
@pytest.mark.parametrize(
    "build",
    [
        lambda v: ops_msg(create_op(x=v)),
        lambda v: ops_msg(create_op(kind="stroke", geom={"pts": [0, v]})),
        lambda v: ops_msg(create_op(geom={"sym": "moon", "size": v})),
        lambda v: ops_msg(create_op(geom={"sym": "moon", "size": 1, "rot": v})),
        lambda v: ops_msg(create_op(style={"opacity": v})),
        lambda v: presence(cursor=[v, 0]),
        lambda v: presence(view=[0, 0, v]),
    ],
)
def test_W4_nan_and_infinity_are_refused_in_msgpack(bad: float, build: Callable[[float], dict[str, Any]]) -> None:
    assert client_refusal(MsgpackCodec(), msgpack.packb(build(bad))) is ErrorCode.BAD_MESSAGE


@pytest.mark.parametrize("token", [b"NaN", b"Infinity", b"-Infinity", b"1e400", b"-1e999"])
def test_W4_nan_and_infinity_are_refused_in_json(token: bytes) -> None:
    data = b'{"type":"ops","ops":[{"t":"s","id":"a","s":[1,"r"],"f":{"x":' + token + b"}}]}"
    with pytest.raises(DecodeError):
        JsonCodec().decode_client(data)


def test_W4_msgpack_extension_types_are_refused() -> None:
    raw_timestamp = b"\x82\xa4type\xa4ping\xa1t\xd6\xff\x00\x00\x00\x01"  # fixext4, type -1
    packed = [msgpack.packb({"type": "ping", "t": e}) for e in (msgpack.ExtType(1, b"x"), msgpack.Timestamp(1, 0))]
    for data in [*packed, raw_timestamp]:
        with pytest.raises(DecodeError) as err:
            MsgpackCodec().decode_client(data)
        assert err.value.code is ErrorCode.BAD_ENCODING


@pytest.mark.parametrize("codec", CODECS, ids=IDS)
def test_W4_trailing_bytes_are_refused(codec: Codec) -> None:
    data = codec.dumps({"type": "ping", "t": 1})
    codec.decode_client(data)
    for tail in (b"\x00", b" x", data):
        with pytest.raises(DecodeError) as err:
            codec.decode_client(data + tail)
        assert err.value.code is ErrorCode.BAD_ENCODING


@pytest.mark.parametrize("codec", CODECS, ids=IDS)
@pytest.mark.parametrize("depth", [100, 2_000, 100_000])
def test_W4_deep_nesting_is_a_decode_error(codec: Codec, depth: int) -> None:
    if isinstance(codec, JsonCodec):
        data = b'{"type":"ping","t":' + b"[" * depth + b"]" * depth + b"}"
    else:
        data = b"\x82\xa4type\xa4ping\xa1t" + b"\x91" * depth + b"\xc0"
    with pytest.raises(DecodeError):
        codec.decode_client(data)


def test_W4_msgpack_binary_and_non_string_keys_are_refused() -> None:
    codec = MsgpackCodec()
    with pytest.raises(DecodeError):
        codec.decode_client(msgpack.packb({b"type": b"ping", b"t": 1}, use_bin_type=True))
    with pytest.raises(DecodeError):
        codec.decode_client(msgpack.packb({"type": "ping", 1: 1}, strict_types=False))
    with pytest.raises(DecodeError):
        codec.decode_client(msgpack.packb(hello(name=b"bytes"), use_bin_type=True))


def test_W4_invalid_utf8_and_lone_surrogates_are_encoding_errors() -> None:
    with pytest.raises(DecodeError) as err:
        JsonCodec().decode_client(b'{"type":"ping","t":1,"\xff":2}')
    assert err.value.code is ErrorCode.BAD_ENCODING
    with pytest.raises(DecodeError) as err:
        MsgpackCodec().decode_client(b"\x81\xa4type\xa2\xff\xfe")
    assert err.value.code is ErrorCode.BAD_ENCODING
    with pytest.raises(DecodeError) as err:
        JsonCodec().decode_client('{"type":"ping","t":1,"x":"\ud800"}')
    assert err.value.code is ErrorCode.BAD_ENCODING


def test_W8_dashes_and_caption_alignment() -> None:
    from dreamloom.protocol import DEFAULT_LIMITS, DecodeError
    from dreamloom.protocol.validate import check_op

    def create(kind: str, geom: dict[str, object], style: dict[str, object] | None = None) -> object:
        f = {"kind": kind, "geom": geom, "z": "V", "style": style or {}}
        return check_op({"t": "c", "id": "a", "s": [1, "r"], "f": f}, DEFAULT_LIMITS)

    create("stroke", {"pts": [0, 0, 1, 1]}, {"dash": "dotted"})
    create("text", {"text": "x", "size": 9, "align": "right"})
    bad = [
        ("stroke", {"pts": [0, 0]}, {"dash": "wavy"}),
        ("stroke", {"pts": [0, 0]}, {"dash": True}),
        ("text", {"text": "x", "size": 9, "align": "justify"}),
        ("shape", {"shape": "rect", "w": 1, "h": 1, "align": "center"}),
    ]
    for kind, geom, *style in bad:
        with pytest.raises(DecodeError):
            create(kind, geom, *style)  # type: ignore[arg-type]
