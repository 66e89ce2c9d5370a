"""Bad input (SPEC W2-W4, W10): each gets its typed error, the connection stays or closes as the code says,
nothing changes, the server still serves, and another sanctuary sees nothing."""

from __future__ import annotations

import math
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import msgpack
import pytest
from server_kit import StartServer, Wire
from wire import JSON, MSGPACK, WireClient

from dreamloom.protocol import CloseCode, Error, ErrorCode, Leave, Stamp, ops
from dreamloom.server.testing import InProcessServer

Send = Callable[[WireClient], Awaitable[object]]


@dataclass(frozen=True)
class Case:
    send: Send
    error: ErrorCode | None = None  # an ``error`` message with this code
    reject: ErrorCode | None = None  # a ``reject`` of the op with this code
    close: int | None = None  # the connection is closed with this code (else it stays open)
    codec: str = MSGPACK


def op_wire(**over: object) -> dict[str, object]:
    return {"t": "s", "id": "moon", "s": [900, "victim"], "f": {"x": 1}} | over


async def far_future(c: WireClient) -> object:
    return await c.send_ops(ops.set_fields("moon", Stamp(c.clock.counter + 1001, c.replica), x=5))


CASES: dict[str, Case] = {
    "oversized frame": Case(lambda c: c.send_raw(b"\x00" * (256 * 1024 + 1)), close=CloseCode.MESSAGE_TOO_BIG),
    "oversized text frame": Case(
        lambda c: c.send_raw('"' + "x" * (256 * 1024) + '"'), close=CloseCode.MESSAGE_TOO_BIG, codec=JSON
    ),
    "undecodable msgpack": Case(lambda c: c.send_raw(b"\xc1\xff\x00"), error=ErrorCode.BAD_ENCODING),
    "undecodable json": Case(lambda c: c.send_raw("{'type': 'ops'"), error=ErrorCode.BAD_ENCODING, codec=JSON),
    "msgpack ext type": Case(
        lambda c: c.send_raw(msgpack.packb({"type": "ops", "ops": msgpack.ExtType(1, b"x")})),
        error=ErrorCode.BAD_ENCODING,
    ),
    "trailing bytes": Case(
        lambda c: c.send_raw(c.codec.dumps({"type": "ping", "t": 1}) + b"\x00"), error=ErrorCode.BAD_ENCODING
    ),
    "not a map": Case(lambda c: c.send_wire([1, 2, 3]), error=ErrorCode.BAD_MESSAGE),
    "ops not a list": Case(lambda c: c.send_wire({"type": "ops", "ops": "moon"}), error=ErrorCode.BAD_MESSAGE),
    "type not a string": Case(lambda c: c.send_wire({"type": 7}), error=ErrorCode.UNKNOWN_TYPE, codec=JSON),
    "unknown message type": Case(lambda c: c.send_wire({"type": "dance"}), error=ErrorCode.UNKNOWN_TYPE),
    "server-only message type": Case(lambda c: c.send_wire({"type": "ack", "acks": []}), error=ErrorCode.UNKNOWN_TYPE),
    # W10a: an op breaking a field rule but naming its stamp and id is rejected alone.
    "unknown op field": Case(
        lambda c: c.send_wire({"type": "ops", "ops": [op_wire(f={"kind": "text"})]}), reject=ErrorCode.BAD_MESSAGE
    ),
    "wrong field type": Case(
        lambda c: c.send_wire({"type": "ops", "ops": [op_wire(f={"x": "far"})]}),
        reject=ErrorCode.BAD_MESSAGE,
        codec=JSON,
    ),
    "op without a readable stamp": Case(
        lambda c: c.send_wire({"type": "ops", "ops": [op_wire(s=[0, "victim"])]}), error=ErrorCode.BAD_MESSAGE
    ),
    "unknown top-level field": Case(
        lambda c: c.send_wire({"type": "ping", "t": 1, "extra": 1}), error=ErrorCode.BAD_MESSAGE
    ),
    "bad colour": Case(
        lambda c: c.send_wire({"type": "ops", "ops": [op_wire(f={"style": {"color": "red"}})]}),
        reject=ErrorCode.BAD_MESSAGE,
    ),
    "NaN coordinate": Case(
        lambda c: c.send_wire({"type": "ops", "ops": [op_wire(f={"x": math.nan})]}), reject=ErrorCode.BAD_MESSAGE
    ),
    "infinite coordinate": Case(
        lambda c: c.send_wire({"type": "ops", "ops": [op_wire(f={"y": -math.inf})]}), reject=ErrorCode.BAD_MESSAGE
    ),
    "NaN in json": Case(
        lambda c: c.send_raw('{"type":"ops","ops":[{"t":"s","id":"moon","s":[900,"victim"],"f":{"x":NaN}}]}'),
        error=ErrorCode.BAD_ENCODING,
        codec=JSON,
    ),
    "too many ops in a batch": Case(
        lambda c: c.send_ops(*(c.set("moon", x=i) for i in range(257))), error=ErrorCode.TOO_LARGE
    ),
    "stamp far in the future": Case(far_future, reject=ErrorCode.STAMP_AHEAD),
    "stamp of another replica": Case(
        lambda c: c.send_ops(ops.set_fields("moon", Stamp(c.clock.counter + 500, "someone-else"), x=5)),
        reject=ErrorCode.BAD_STAMP,
    ),
    "set on unknown fragment": Case(lambda c: c.send_ops(c.set("nowhere", x=1)), reject=ErrorCode.UNKNOWN_FRAGMENT),
    "delete of unknown fragment": Case(lambda c: c.send_ops(c.delete("nowhere")), reject=ErrorCode.UNKNOWN_FRAGMENT),
    "create of an existing id": Case(
        lambda c: c.send_ops(c.symbol("moon", sym="sun")), reject=ErrorCode.FRAGMENT_EXISTS, codec=JSON
    ),
    "create with geom of another kind": Case(
        lambda c: c.send_wire(
            {
                "type": "ops",
                "ops": [
                    {
                        "t": "c",
                        "id": "x1",
                        "s": [c.stamp().counter, c.replica],
                        "f": {"kind": "symbol", "geom": {"pts": [0, 0]}, "z": "V"},
                    }
                ],
            }
        ),
        reject=ErrorCode.BAD_MESSAGE,
    ),
    "set of geom of another kind": Case(
        lambda c: c.send_ops(c.set("moon", geom={"pts": [0, 0, 5, 5]})), reject=ErrorCode.BAD_MESSAGE
    ),
}


@pytest.mark.parametrize("name", list(CASES))
async def test_W10_bad_input_gets_its_code_and_harms_nobody(start_server: StartServer, wire: Wire, name: str) -> None:
    case = CASES[name]
    server = await start_server(max_stamp_ahead=1000)
    victim = await wire.join(server.ws_url("garden"), codec=case.codec, replica="victim")
    await victim.wait_acked(await victim.send_ops(victim.symbol("moon", x=3), victim.stroke("line", [0, 0, 9, 9])))
    witness = await wire.join(server.ws_url("garden"))
    elsewhere = await wire.join(server.ws_url("other"), codec=JSON)
    garden = await server.hub.sanctuary("garden")
    before = (garden.seq, garden.tapestry.encode())
    heard_elsewhere = len(elsewhere.messages)

    counter = victim.clock.counter
    await case.send(victim)
    if case.close is not None:
        assert await victim.wait_closed() == case.close
    if case.error is not None:
        error = await victim.wait_message(Error)
        assert error.code == case.error, error
    if case.reject is not None:
        await victim.wait_for(lambda: len(victim.rejects) > 0, "reject")
        [reject] = victim.rejects.values()
        assert reject.code == case.reject, reject
        assert reject.id in ("moon", "nowhere", "x1")
    if case.close is None:
        assert not victim.closed.is_set()
        await victim.ping_roundtrip()  # the connection still serves
    # The state is byte-identical to before: the error or reject was sent after the input was handled.
    assert server.hub.loaded("garden") is garden  # the sanctuary did not fail and reload
    assert (garden.seq, garden.tapestry.encode()) == before
    if case.close is None:
        await victim.wait_acked(await victim.send_ops(victim.set("line", x=counter)))  # ops still go through
        if case.error is not None:
            assert victim.rejects == {}
    assert len(victim.errors) <= 1

    # Nothing of the bad input was broadcast: the witness saw the good write only.
    await witness.wait_seq(before[0] + (case.close is None))
    assert witness.gaps == []
    assert [op.id for b in witness.broadcasts for op in b.ops] == (["line"] if case.close is None else [])
    assert witness.tapestry.encode() == garden.tapestry.encode()

    # The server still serves, and the other sanctuary heard nothing.
    newcomer = await wire.join(server.ws_url("garden"), codec=JSON)
    await newcomer.wait_acked(await newcomer.send_ops(newcomer.symbol("late")))
    await elsewhere.ping_roundtrip()
    assert [type(m).__name__ for m in elsewhere.messages[heard_elsewhere:]] == ["Pong"]
    assert elsewhere.tapestry.encode() == (await server.hub.sanctuary("other")).tapestry.encode()


@pytest.mark.parametrize("codec", [MSGPACK, JSON])
async def test_W10_ten_errors_close_the_connection_with_4000(server: InProcessServer, wire: Wire, codec: str) -> None:
    client = await wire.join(server.ws_url("garden"), codec=codec)
    others = await wire.join(server.ws_url("garden"))
    for _ in range(9):
        await client.send_wire({"type": "dance"})
    await client.wait_for(lambda: len(client.errors) == 9, "nine errors")
    await client.ping_roundtrip()  # nine is still tolerated
    await client.send_wire({"type": "dance"})
    assert await client.wait_closed() == CloseCode.PROTOCOL_ERROR
    assert [e.code for e in client.errors] == [ErrorCode.UNKNOWN_TYPE] * 10
    await others.wait_message(Leave, lambda m: m.sid == client.welcome.sid)  # type: ignore[union-attr]
    await others.ping_roundtrip()
    assert not others.closed.is_set()


async def test_W10a_one_invalid_op_is_rejected_alone_and_the_rest_applied(server: InProcessServer, wire: Wire) -> None:
    client = await wire.join(server.ws_url("garden"), codec=JSON)
    good_before = client.symbol("sun", x=1)
    bad = {"t": "c", "id": "bad", "s": [client.stamp().counter, client.replica], "f": {"kind": "blob", "z": "V"}}
    good_after = client.symbol("star", x=2)
    await client.send_wire({"type": "ops", "ops": [good_before.to_wire(), bad, good_after.to_wire()]})
    await client.wait_acked([good_before.stamp.counter, good_after.stamp.counter])
    await client.wait_for(lambda: len(client.rejects) == 1, "the reject of the invalid op")
    [reject] = client.rejects.values()
    assert (reject.code, reject.id, list(reject.stamp)) == (ErrorCode.BAD_MESSAGE, "bad", bad["s"])
    garden = await server.hub.sanctuary("garden")
    assert "sun" in garden.tapestry
    assert "star" in garden.tapestry
    assert "bad" not in garden.tapestry
    assert client.errors == []
