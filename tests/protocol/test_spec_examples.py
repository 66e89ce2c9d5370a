"""SPEC.md cannot drift: its examples decode with the codecs and re-encode byte for byte, and it
lists every error code, close code, limit and message type of the code."""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path

import orjson
import pytest

from dreamloom.protocol import DEFAULT_LIMITS, CloseCode, ErrorCode, JsonCodec, MsgpackCodec
from dreamloom.protocol.messages import CLIENT_PARSERS, SERVER_PARSERS

SPEC = (Path(__file__).resolve().parents[2] / "protocol" / "SPEC.md").read_text(encoding="utf-8")
BLOCK = re.compile(r"```json (client|server)\n(.*?)\n```\s*```msgpack-hex\n(.*?)\n```", re.S)
EXAMPLES = BLOCK.findall(SPEC)


def test_spec_has_an_example_of_every_message_type() -> None:
    seen = {(d, orjson.loads(j)["type"]) for d, j, _ in EXAMPLES}
    assert {("client", t) for t in CLIENT_PARSERS} <= seen
    assert {("server", t) for t in SERVER_PARSERS} <= seen
    # Every json block is paired with its msgpack block.
    assert SPEC.count("```json ") == len(EXAMPLES)


@pytest.mark.parametrize(
    ("direction", "text", "hexdump"), EXAMPLES, ids=[f"{d}-{i}" for i, (d, *_) in enumerate(EXAMPLES)]
)
def test_W1_spec_example_matches_the_codecs(direction: str, text: str, hexdump: str) -> None:
    json_codec, mp_codec = JsonCodec(), MsgpackCodec()
    decode_json = json_codec.decode_server if direction == "server" else json_codec.decode_client
    decode_mp = mp_codec.decode_server if direction == "server" else mp_codec.decode_client
    msg = decode_json(text.encode())
    packed = bytes.fromhex("".join(hexdump.split()))
    assert mp_codec.encode(msg).hex() == packed.hex(), "the msgpack hex is encode() of the JSON example"
    assert decode_mp(packed) == msg
    assert json_codec.encode(msg) == text.encode(), "the JSON example is exactly what the encoder writes"


def test_spec_lists_every_error_code() -> None:
    for code in ErrorCode:
        assert f"`{code.value}`" in SPEC, code


def test_spec_lists_every_close_code() -> None:
    for code in CloseCode:
        assert re.search(rf"\| {code.value} \| {code.name} \|", SPEC), code


def test_spec_lists_every_limit_with_its_default() -> None:
    for f in dataclasses.fields(DEFAULT_LIMITS):
        value = getattr(DEFAULT_LIMITS, f.name)
        shown = f"{value:,}" if isinstance(value, int) else f"{value:.0e}".replace("e+0", "e")
        assert re.search(rf"\| `{f.name}` \| {re.escape(shown)}", SPEC), f.name


def test_spec_rule_ids_cited_by_the_code_exist() -> None:
    """Every rule the protocol package cites (SPEC M3, W10, ...) is defined in SPEC.md."""
    root = Path(__file__).resolve().parents[2] / "protocol"
    cited: set[str] = set()
    for path in root.glob("*.py"):
        for a, b in re.findall(r"SPEC ([WMFSP]\d+)(?:-([WMFSP]?\d+))?", path.read_text(encoding="utf-8")):
            cited.add(a)
            if b:
                lo, hi = int(a[1:]), int(b.lstrip("WMFSP"))
                cited.update(f"{a[0]}{n}" for n in range(lo, hi + 1))
    defined = set(re.findall(r"\*\*([WMFSP]\d+)[a-z]? — ", SPEC))
    assert cited
    assert cited <= defined, sorted(cited - defined)


POLICY_EXAMPLE = re.compile(r"^JSON +(\{.*\})\nmsgpack +([0-9a-f]+)$", re.M)


@pytest.mark.parametrize(("text", "hexdump"), POLICY_EXAMPLE.findall(SPEC))
def test_P_section_examples_match_the_codecs(text: str, hexdump: str) -> None:
    """Section P writes its examples as ``JSON ...`` / ``msgpack ...`` line pairs: same contract."""
    msg = JsonCodec().decode_server(text.encode())
    assert MsgpackCodec().encode(msg).hex() == hexdump
