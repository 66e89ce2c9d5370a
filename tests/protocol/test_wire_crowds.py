"""Messages of crowded sanctuaries at their limits (SPEC W4a, W23, W24), and the one table of limits
shared by the server, the SDK and the browser."""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path
from typing import Any

import pytest

from dreamloom.protocol import (
    CLIENT_SIDE_LIMITS,
    DEFAULT_LIMITS,
    Codec,
    DecodeError,
    JsonCodec,
    MsgpackCodec,
    PeersPage,
    PeersRequest,
    Roster,
    Welcome,
)

L = DEFAULT_LIMITS
CLIENT_CODECS = [MsgpackCodec(CLIENT_SIDE_LIMITS), JsonCodec(CLIENT_SIDE_LIMITS)]
IDS = ["msgpack", "json"]
VALIDATE_JS = Path(__file__).resolve().parents[2] / "client" / "web" / "protocol" / "validate.js"


def peer(n: int, presence: bool = True) -> dict[str, Any]:
    p: dict[str, Any] = {"sid": f"s-{n}", "name": f"p{n}", "role": "dreamer", "origin": "organic", "color": "#aabbcc"}
    if presence:
        p.update(cursor=[1, 2], sel=[], preview=None, view=None)
    return p


def welcome(n_peers: int, **extra: Any) -> dict[str, Any]:
    return {
        "type": "welcome",
        "v": 1,
        "sanctuary": "garden",
        "sid": "me",
        "identity": {"id": "u", "name": "U", "role": "dreamer", "origin": "organic"},
        "seq": 0,
        "since": 0,
        "snapshot": [],
        "ops": [],
        "peers": [peer(i) for i in range(n_peers)],
        "policy": {},
        **extra,
    }


def page(n_peers: int) -> dict[str, Any]:
    return {"type": "peers", "peers": [peer(i) for i in range(n_peers)], "next": None, "count": n_peers + 1}


def roster(n_joined: int, n_left: int) -> dict[str, Any]:
    return {
        "type": "roster",
        "joined": [peer(i, presence=False) for i in range(n_joined)],
        "left": [f"x-{i}" for i in range(n_left)],
        "count": 7,
    }


def presence(n_peers: int) -> dict[str, Any]:
    return {"type": "presence", "peers": [{"sid": f"s-{i}", "cursor": [0, 0]} for i in range(n_peers)]}


CASES = [
    ("welcome.peers", lambda n: welcome(n, peer_count=5000), L.max_peers_page),
    ("peers.peers", page, L.max_peers_page),
    ("roster.joined", lambda n: roster(n, 0), L.max_peers),
    ("roster.left", lambda n: roster(0, n), L.max_peers),
    ("presence.peers", presence, L.max_peers),
]


@pytest.mark.parametrize("codec", CLIENT_CODECS, ids=IDS)
@pytest.mark.parametrize(("what", "build", "limit"), CASES, ids=[c[0] for c in CASES])
def test_W4a_at_the_limit_a_client_decodes_one_over_it_refuses_saying_why(
    codec: Codec, what: str, build: Any, limit: int
) -> None:
    assert codec.decode_server(codec.dumps(build(limit))) is not None
    with pytest.raises(DecodeError) as info:
        codec.decode_server(codec.dumps(build(limit + 1)))
    assert f"at most {limit}" in info.value.reason  # not the misleading "must be a list"


@pytest.mark.parametrize("codec", CLIENT_CODECS, ids=IDS)
def test_W23_welcome_peer_count_and_pages_round_trip(codec: Codec) -> None:
    w = codec.decode_server(codec.dumps(welcome(2, peer_count=900)))
    assert isinstance(w, Welcome)
    assert (len(w.peers), w.peer_count) == (2, 900)
    plain = codec.decode_server(codec.dumps(welcome(2)))
    assert isinstance(plain, Welcome)
    assert plain.peer_count is None
    assert "peer_count" not in plain.to_wire()
    p = codec.decode_server(codec.dumps({**page(3), "next": "s-2"}))
    assert isinstance(p, PeersPage)
    assert (len(p.peers), p.next, p.count) == (3, "s-2", 4)
    r = codec.decode_server(codec.dumps(roster(2, 1)))
    assert isinstance(r, Roster)
    assert ([j.sid for j in r.joined], r.left, r.count) == (["s-0", "s-1"], ("x-0",), 7)


@pytest.mark.parametrize("codec", [MsgpackCodec(), JsonCodec()], ids=IDS)
def test_W23_the_peers_request_names_a_sid_or_null(codec: Codec) -> None:
    assert codec.decode_client(codec.dumps({"type": "peers", "after": None})) == PeersRequest(None)
    assert codec.decode_client(codec.dumps({"type": "peers", "after": "s-9"})) == PeersRequest("s-9")
    for bad in ({"type": "peers"}, {"type": "peers", "after": 3}, {"type": "peers", "after": "x" * 65}):
        with pytest.raises(DecodeError):
            codec.decode_client(codec.dumps(bad))


def _js_limits() -> dict[str, float]:
    text = VALIDATE_JS.read_text(encoding="utf-8")
    block = re.search(r"export const LIMITS = Object\.freeze\(\{(.*?)\}\);", text, re.S)
    assert block is not None
    return {k: float(v) for k, v in re.findall(r"(\w+):\s*([0-9.e]+)", block.group(1))}


def test_W4a_the_browser_holds_the_same_table_of_limits() -> None:
    def camel(name: str) -> str:
        head, *rest = name.split("_")
        return head + "".join(w.capitalize() for w in rest)

    python = {camel(f.name): float(getattr(L, f.name)) for f in dataclasses.fields(L)}
    assert _js_limits() == python


def test_W4a_a_client_accepts_a_welcome_far_beyond_64_MiB() -> None:
    # 100,000 fragments make a welcome of about 86 MB: the clients' one bound is well above it.
    assert CLIENT_SIDE_LIMITS.max_message_bytes >= 1 << 30
    assert dataclasses.replace(CLIENT_SIDE_LIMITS, max_message_bytes=L.max_message_bytes) == L
