"""Decoder fuzzing (SPEC W3): whatever the bytes or structure, decode_client and decode_server
return a message or raise DecodeError; nothing else escapes. Fed whole and truncated byte by byte."""

from __future__ import annotations

import copy
from typing import Any

import msgpack
import orjson
import pytest
from hypothesis import given
from hypothesis import strategies as st
from protocol_samples import CLIENT, SERVER

from dreamloom.protocol import Codec, DecodeError, JsonCodec, MsgpackCodec, Tapestry

CODECS = [MsgpackCodec(), JsonCodec()]
KEYS = [
    "type",
    "t",
    "id",
    "s",
    "f",
    "ops",
    "seq",
    "v",
    "name",
    "replica",
    "token",
    "kind",
    "geom",
    "pts",
    "z",
    "style",
    "color",
    "x",
    "y",
    "sel",
    "cursor",
    "view",
    "preview",
    "peers",
    "sid",
    "acks",
    "code",
    "reason",
    "snapshot",
    "identity",
    "policy",
    "peer",
    "since",
    "sanctuary",
    "role",
    "origin",
    "size",
    "sym",
    "text",
]
TYPES = ["hello", "ops", "presence", "ping", "pong", "welcome", "ack", "reject", "error", "join", "leave", "policy"]

scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(2**63), 2**64 - 1),
    st.floats(),
    st.text(max_size=8),
    st.sampled_from([*TYPES, "c", "s", "d", "r", "#000000", "V", "moon", "rect", "organic", "ai"]),
    st.binary(max_size=8),
)
trees = st.recursive(
    scalars,
    lambda children: st.one_of(
        st.lists(children, max_size=5),
        st.dictionaries(st.one_of(st.sampled_from(KEYS), st.text(max_size=5)), children, max_size=6),
    ),
    max_leaves=40,
)
messages = st.fixed_dictionaries({"type": st.sampled_from(TYPES)}, optional={k: trees for k in KEYS[1:20]}) | trees


def _decode_everything(data: bytes) -> None:
    for codec in CODECS:
        for decode in (codec.decode_client, codec.decode_server):
            try:
                decode(data)
            except DecodeError:
                pass


@given(st.binary(max_size=512))
def test_W3_random_bytes_only_raise_decode_error(data: bytes) -> None:
    _decode_everything(data)


@given(messages)
def test_W3_random_structures_only_raise_decode_error(tree: Any) -> None:
    _decode_everything(msgpack.packb(tree, use_bin_type=True))
    try:
        text = orjson.dumps(tree)
    except (TypeError, orjson.JSONEncodeError):
        return  # bytes, NaN-free... not representable in JSON
    _decode_everything(text)


@st.composite
def mutated(draw: st.DrawFn) -> Any:
    """A valid message with one value somewhere replaced by junk: well-formed but wrong."""
    # A copy: a wire form may share its maps and lists with the message (to_wire does not copy, for
    # speed), and the samples are shared by every test.
    wire = copy.deepcopy(draw(st.sampled_from(CLIENT + SERVER)).to_wire())
    node: Any = wire
    for _ in range(draw(st.integers(0, 6))):
        if isinstance(node, dict) and node:
            key = draw(st.sampled_from(sorted(node)))
            if not isinstance(node[key], (dict, list)) or not node[key] or draw(st.booleans()):
                node[key] = draw(trees)
                return wire
            node = node[key]
        elif isinstance(node, list) and node:
            i = draw(st.integers(0, len(node) - 1))
            if not isinstance(node[i], (dict, list)) or not node[i] or draw(st.booleans()):
                node[i] = draw(trees)
                return wire
            node = node[i]
    if isinstance(node, dict):
        node[draw(st.sampled_from(KEYS))] = draw(trees)
    return wire


@given(mutated())
def test_W3_mutated_valid_messages_only_raise_decode_error(wire: Any) -> None:
    _decode_everything(msgpack.packb(wire, use_bin_type=True))
    try:
        _decode_everything(orjson.dumps(wire))
    except (TypeError, orjson.JSONEncodeError):
        pass


@pytest.mark.parametrize("codec", CODECS, ids=["msgpack", "json"])
def test_W3_every_prefix_of_every_message_decodes_or_raises_decode_error(codec: Codec) -> None:
    for msg in CLIENT + SERVER:
        data = codec.encode(msg)
        for n in range(len(data)):
            _decode_everything(data[:n])


@given(trees)
def test_S1_snapshot_loader_only_raises_decode_error(tree: Any) -> None:
    try:
        Tapestry.from_data(tree)
    except DecodeError:
        pass
    try:
        Tapestry.decode(msgpack.packb(tree, use_bin_type=True))
    except DecodeError:
        pass
