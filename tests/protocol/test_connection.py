"""The session rules as sans-I/O state machines (SPEC W5, W5a, W10, W14), and the shared vectors that
the browser's port runs too."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from dreamloom.protocol import (
    CLIENT_SIDE_LIMITS,
    CloseCode,
    ErrorCode,
    Hello,
    Ops,
    Ping,
    Pong,
    Stamp,
    ops,
)
from dreamloom.protocol.codec import JsonCodec
from dreamloom.protocol.connection import (
    Admit,
    Broadcast,
    CannotResume,
    ClientConnection,
    ClientEvent,
    Close,
    CloseAction,
    Deliver,
    Gap,
    PartReceived,
    Received,
    Reply,
    ServerConnection,
    ServerState,
    Violation,
    Welcomed,
    close_action,
)

ROOT = Path(__file__).resolve().parents[2] / "protocol"
VECTORS = ROOT / "vectors" / "connection"
SERVER_SIDE = JsonCodec(CLIENT_SIDE_LIMITS)


def _load(name: str) -> dict[str, Any]:
    return json.loads((VECTORS / name).read_text())


def _event(e: ClientEvent) -> list[Any]:
    match e:
        case Welcomed(resumed=resumed):
            return ["welcomed", resumed]
        case CannotResume(asked=asked, since=since):
            return ["cannot_resume", asked, since]
        case Broadcast(ops=batch, first_seq=first):
            return ["broadcast", first, [op.id for op in batch]]
        case Gap(expected=expected, received=received):
            return ["gap", expected, received]
        case PartReceived(part=part, last=last):
            return ["part", part.part, last, [f[0] for f in part.fragments]]
        case Received(message=message):
            return ["received", message.type]
        case Violation(message=message, state=state):
            return ["violation", message.type, state.value]


SESSIONS = _load("client_sessions.json")["cases"]


@pytest.mark.parametrize("case", SESSIONS, ids=[c["name"] for c in SESSIONS])
def test_W5_client_session_vectors(case: dict[str, Any]) -> None:
    conn = ClientConnection(replica="r-ana", name="Ana", seq=case["seq"], epoch=case.get("epoch"))
    guest = bool(case.get("guest_token"))
    hello = conn.hello("t.o.k" if guest else None, guest=guest)
    assert (hello.seq, hello.epoch) == (case["seq"], case.get("hello_epoch"))
    for step in case["steps"]:
        if "close" in step:
            assert conn.close(step["close"]).value == step["action"]
            continue
        message = SERVER_SIDE.decode_server(json.dumps(step["receive"]))
        assert [_event(e) for e in conn.receive(message)] == step["events"]
        assert (conn.state.value, conn.seq) == (step["state"], step["seq"])
        if "epoch" in step:
            assert conn.epoch == step["epoch"]


CLOSES = _load("close_codes.json")["cases"]


@pytest.mark.parametrize("case", CLOSES, ids=[f"{c['code']}-{c['error']}-{c['sent_guest_token']}" for c in CLOSES])
def test_W14_close_code_vectors(case: dict[str, Any]) -> None:
    error = ErrorCode(case["error"]) if case["error"] else None
    assert close_action(case["code"], error, sent_guest_token=case["sent_guest_token"]).value == case["action"]


def test_W14_the_close_policy_agrees_with_the_specs_table() -> None:
    spec = (ROOT / "SPEC.md").read_text()
    table = dict(re.findall(r"^\| (\d{4}) \| [A-Z_]+ \| [^|]+ \| \*{0,2}(yes|no)", spec, re.MULTILINE))
    assert len(table) == 17, table  # every close code of W14
    for code, reconnect in table.items():
        action = close_action(int(code))
        assert (action is CloseAction.RECONNECT) == (reconnect == "yes"), (code, action)


def test_W5_a_hello_is_sent_once_and_carries_what_the_client_is() -> None:
    conn = ClientConnection(replica="w-1", name="Moth", client="weaver", seq=None)
    hello = conn.hello("tok")
    assert (hello.client, hello.token, hello.replica) == ("weaver", "tok", "w-1")
    assert not conn.sent_guest_token
    with pytest.raises(ValueError, match="once"):
        conn.hello(None)


def _create(fid: str, counter: int) -> Any:
    return ops.create(fid, Stamp(counter, "r"), kind="symbol", geom={"sym": "moon", "size": 4}, z="V")


def test_W5_server_session_admits_a_hello_first_and_only_once() -> None:
    session = ServerConnection()
    hello = Hello(name="Ana", replica="r")
    assert session.receive(hello, 0.0) == [Admit(hello)]
    session.joined()
    assert session.state is ServerState.MEMBER
    [reply] = session.receive(hello, 0.0)
    assert isinstance(reply, Reply)
    assert reply.message.type == "error"
    assert session.receive(Ping(7), 0.0) == [Reply(Pong(7))]
    batch = Ops((_create("a", 1),))
    assert session.receive(batch, 0.0) == [Deliver(batch)]


def test_W5_anything_but_hello_first_is_refused_and_closes_with_4000() -> None:
    session = ServerConnection()
    actions = session.receive(Ping(1), 0.0)
    assert [type(a) for a in actions] == [Reply, Close]
    assert actions[1] == Close(CloseCode.PROTOCOL_ERROR, "the first message must be hello, not ping")
    assert session.receive(Ping(2), 0.0) == []  # closed: nothing more is acted on
    version = ServerConnection().undecodable(ErrorCode.UNSUPPORTED_VERSION, "v2", 0.0)
    assert version[-1] == Close(CloseCode.UNSUPPORTED_VERSION, "v2")
    garbage = ServerConnection().undecodable(ErrorCode.BAD_ENCODING, "not msgpack", 0.0)
    assert garbage[-1] == Close(CloseCode.PROTOCOL_ERROR, "not msgpack")


def test_W10_ten_invalid_messages_within_the_window_close_and_older_ones_age_out() -> None:
    session = ServerConnection(error_limit=10, error_window=60.0)
    session.joined()
    for t in range(9):
        assert [type(a) for a in session.undecodable(ErrorCode.BAD_MESSAGE, "bad", float(t))] == [Reply]
    late = session.undecodable(ErrorCode.BAD_MESSAGE, "bad", 100.0)  # the first nine are older than 60 s
    assert [type(a) for a in late] == [Reply]
    for t in range(8):
        session.undecodable(ErrorCode.BAD_MESSAGE, "bad", 101.0 + t)
    tenth = session.undecodable(ErrorCode.BAD_MESSAGE, "bad", 110.0)
    assert tenth[-1] == Close(CloseCode.PROTOCOL_ERROR, "too many invalid messages")


def test_W5a_ops_of_a_broadcast_keep_their_seqs_across_overlap() -> None:
    conn = ClientConnection(replica="r", name="", seq=None)
    conn.hello()
    welcome = SERVER_SIDE.decode_server(
        json.dumps(
            {
                "type": "welcome",
                "v": 1,
                "sanctuary": "g",
                "sid": "s",
                "seq": 2,
                "since": 2,
                "snapshot": [],
                "ops": [],
                "peers": [],
                "policy": {},
                "identity": {"id": "u", "name": "", "role": "dreamer", "origin": "organic"},
            }
        )
    )
    conn.receive(welcome)
    batch = Ops(tuple(_create(f"f{i}", i + 1) for i in range(4)), seq=1)
    [event] = conn.receive(batch)
    assert event == Broadcast(batch.ops[2:], 3)
    assert conn.seq == 4
