"""SPEC W38: a stroke's pressure on the wire: one number in [0, 1] a point, in geom and preview."""

from __future__ import annotations

import math
from typing import Any

import msgpack
import pytest

from dreamloom.protocol import DEFAULT_LIMITS, DecodeError, JsonCodec, MsgpackCodec, Stamp, Tapestry, ops
from dreamloom.protocol.canon import pack
from dreamloom.protocol.validate import check_op

L = DEFAULT_LIMITS


def create(geom: dict[str, Any], kind: str = "stroke") -> dict[str, Any]:
    return {"t": "c", "id": "f", "s": [1, "r"], "f": {"kind": kind, "geom": geom, "z": "V"}}


def test_W38_a_stroke_may_carry_one_pressure_a_point() -> None:
    op = check_op(create({"pts": [0, 0, 5, 5, 9, 2], "pressure": [0, 0.5, 1]}), L)
    assert op.fields["geom"]["pressure"] == [0, 0.5, 1]


@pytest.mark.parametrize(
    ("geom", "why"),
    [
        ({"pts": [0, 0, 5, 5], "pressure": [0.5]}, "one value for each point"),
        ({"pts": [0, 0, 5, 5], "pressure": [0.5, 0.5, 0.5]}, "one value for each point"),
        ({"pts": [0, 0], "pressure": [1.5]}, "[0, 1]"),
        ({"pts": [0, 0], "pressure": [-0.01]}, "[0, 1]"),
        ({"pts": [0, 0], "pressure": ["0.5"]}, "numbers"),
        ({"pts": [0, 0], "pressure": [True]}, "numbers"),
        ({"pts": [0, 0], "pressure": 0.5}, "list"),
    ],
)
def test_W38_bad_pressure_is_bad_message(geom: dict[str, Any], why: str) -> None:
    with pytest.raises(DecodeError) as err:
        check_op(create(geom), L)
    assert why in str(err.value)


def test_W38_nan_pressure_is_refused() -> None:
    with pytest.raises(DecodeError):
        check_op(create({"pts": [0, 0], "pressure": [math.nan]}), L)


def test_W38_pressure_only_on_strokes_and_only_with_points() -> None:
    with pytest.raises(DecodeError, match="pressure"):
        check_op(create({"shape": "rect", "w": 1, "h": 1, "pressure": []}, kind="shape"), L)
    with pytest.raises(DecodeError, match="one value for each point"):
        check_op({"t": "s", "id": "f", "s": [2, "r"], "f": {"geom": {"pressure": [0.5]}}}, L)


def test_W38_at_the_point_limit_passes_one_over_fails() -> None:
    n = L.max_points_per_stroke
    check_op(create({"pts": [1] * (2 * n), "pressure": [0.5] * n}), L)
    with pytest.raises(DecodeError):
        check_op(create({"pts": [1] * (2 * n + 2), "pressure": [0.5] * (n + 1)}), L)


@pytest.mark.parametrize("codec", [MsgpackCodec(), JsonCodec()], ids=["msgpack", "json"])
def test_W38_preview_pressure_in_presence(codec: Any) -> None:
    good = {"type": "presence", "preview": {"pts": [0, 0, 3, 4], "pressure": [0.2, 0.8]}}
    msg = codec.decode_client(codec.dumps(good))
    assert msg.state.preview is not None
    assert msg.state.preview["pressure"] == [0.2, 0.8]
    bad = {"type": "presence", "preview": {"pts": [0, 0, 3, 4], "pressure": [0.2]}}
    with pytest.raises(DecodeError):
        codec.decode_client(codec.dumps(bad))


def test_W38_pressure_is_canonical_and_survives_a_move() -> None:
    t = Tapestry()
    op = check_op(create({"pts": [0, 0, 4, 4], "pressure": [1.0, 0.25]}), L)
    t.apply(op)
    t.apply(ops.set_fields("f", Stamp(2, "r"), x=40, y=7))
    frag = t.get("f")
    assert frag is not None
    assert frag.geom["pressure"] == [1.0, 0.25]
    # M9: 1.0 packs as the integer 1, as any other number.
    assert pack({"pressure": [1.0, 0.25]}) == pack({"pressure": [1, 0.25]})
    assert msgpack.unpackb(pack([1.0]))[0] == 1
