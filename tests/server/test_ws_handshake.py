"""The handshake on /ws/{sanctuary} (SPEC W5-W6): hello -> welcome, and each way it can go wrong."""

from __future__ import annotations

import pytest
from server_kit import StartServer, Wire
from websockets.asyncio.client import connect
from websockets.exceptions import InvalidStatus
from wire import CODECS, JSON, MSGPACK

from dreamloom.protocol import CloseCode, Error, ErrorCode, Hello, Join, Ops, Welcome
from dreamloom.server.testing import InProcessServer


@pytest.mark.parametrize("codec", CODECS)
async def test_W5_welcome_for_each_codec(server: InProcessServer, wire: Wire, codec: str) -> None:
    client = await wire.open(server.ws_url("garden"), codec=codec, name="Ada")
    welcome = await client.hello()
    assert welcome.sanctuary == "garden"
    assert (welcome.seq, welcome.since, welcome.snapshot, welcome.ops) == (0, 0, [], ())
    assert (welcome.identity.name, welcome.identity.role, welcome.identity.origin) == ("Ada", "dreamer", "organic")
    assert welcome.peers == ()
    assert client.errors == []
    # The frame type follows the codec: binary for msgpack, text for JSON.
    await client.ping_roundtrip()


async def test_W5_no_subprotocol_is_refused_before_the_upgrade(server: InProcessServer) -> None:
    with pytest.raises(InvalidStatus) as info:
        async with connect(server.ws_url("garden"), proxy=None):
            pass
    assert info.value.response.status_code == 400


async def test_W6_message_before_hello_gets_handshake_required_and_4000(server: InProcessServer, wire: Wire) -> None:
    client = await wire.open(server.ws_url("garden"))
    await client.send(Ops((client.symbol("f1"),)))
    assert await client.wait_closed() == CloseCode.PROTOCOL_ERROR
    assert [e.code for e in client.errors] == [ErrorCode.HANDSHAKE_REQUIRED]
    assert client.welcome is None


@pytest.mark.parametrize("codec", CODECS)
async def test_W6_unsupported_version_gets_4002(server: InProcessServer, wire: Wire, codec: str) -> None:
    client = await wire.open(server.ws_url("garden"), codec=codec)
    await client.send_wire({**Hello(name="a", replica="r9").to_wire(), "v": 2, "future_field": True})
    assert await client.wait_closed() == CloseCode.UNSUPPORTED_VERSION
    assert [e.code for e in client.errors] == [ErrorCode.UNSUPPORTED_VERSION]


async def test_W6_undecodable_hello_gets_handshake_required(server: InProcessServer, wire: Wire) -> None:
    client = await wire.open(server.ws_url("garden"), codec=JSON)
    await client.send_raw("{not json")
    assert await client.wait_closed() == CloseCode.PROTOCOL_ERROR
    assert [e.code for e in client.errors] == [ErrorCode.HANDSHAKE_REQUIRED]


async def test_W6_no_hello_within_the_timeout_gets_4005(start_server: StartServer, wire: Wire) -> None:
    server = await start_server(handshake_timeout=0.3)
    client = await wire.open(server.ws_url("garden"))
    assert await client.wait_closed(within=3) == CloseCode.HANDSHAKE_TIMEOUT
    assert [e.code for e in client.errors] == [ErrorCode.HANDSHAKE_REQUIRED]
    assert server.hub.loaded("garden") is None  # nothing was loaded for it


async def test_W6_hello_twice_gets_already_joined_and_stays(server: InProcessServer, wire: Wire) -> None:
    client = await wire.join(server.ws_url("garden"))
    await client.send(Hello(name="again", replica=client.replica))
    error = await client.wait_message(Error)
    assert error.code == ErrorCode.ALREADY_JOINED
    await client.ping_roundtrip()
    acked = await client.wait_acked(await client.send_ops(client.symbol("f1")))
    assert list(acked.values()) == [1]
    assert len(client.of(Welcome)) == 1


async def test_W5_clients_of_both_codecs_share_one_sanctuary(server: InProcessServer, wire: Wire) -> None:
    packed = await wire.join(server.ws_url("garden"), codec=MSGPACK)
    texted = await wire.join(server.ws_url("garden"), codec=JSON)
    await packed.wait_acked(await packed.send_ops(packed.symbol("moon", x=5), packed.symbol("sun", x=9)))
    await texted.wait_acked(await texted.send_ops(texted.set("moon", x=-3.25, style={"color": "#112233"})))
    await packed.wait_seq(3)
    await texted.wait_seq(3)
    live = (await server.hub.sanctuary("garden")).tapestry.encode()
    assert packed.tapestry.encode() == texted.tapestry.encode() == live
    moon = texted.tapestry.get("moon")
    assert moon is not None
    assert (moon.x, moon.style["color"], moon.author) == (-3.25, "#112233", packed.welcome.identity.id)  # type: ignore[union-attr]
    await packed.wait_message(Join)  # announced with the next tick (W24)
    assert [j.peer.sid for j in packed.joins] == [texted.welcome.sid]  # type: ignore[union-attr]
