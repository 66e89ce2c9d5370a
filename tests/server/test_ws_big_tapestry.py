"""A welcome (W23) and a tapestry.json (W20) far larger than one send: spliced from kept encodings, sent in slices."""

from __future__ import annotations

import aiohttp
import orjson
import pytest
from server_kit import StartServer, Wire
from wire import WireClient

from dreamloom.protocol import JSON, MSGPACK
from dreamloom.server.http.snapshot import WRITE_BYTES
from dreamloom.server.send_buffer import FRAGMENT_BYTES
from dreamloom.server.testing import InProcessServer


async def _vast(start_server: StartServer, wire: Wire) -> tuple[InProcessServer, WireClient]:
    """A server whose sanctuary "vast" holds 36 strokes of 4,000 points (several sends), and their writer."""
    server = await start_server(
        ops_rate=100_000.0,
        ops_burst=100_000.0,
        ops_bytes_rate=10**9,
        identity_bytes_rate=10**9,
        client_bytes_rate=10**9,
    )
    writer = await wire.join(server.ws_url("vast"))
    pts = [float(i % 97) + 0.25 for i in range(2 * 4000)]
    for n in range(0, 36, 3):  # three strokes of about 72 kB a message: under max_message_bytes
        await writer.wait_acked(await writer.send_ops(*(writer.stroke(f"s{n + i:03d}", pts) for i in range(3))))
    return server, writer


@pytest.mark.parametrize("codec", [MSGPACK, JSON])
async def test_W23_a_welcome_of_several_fragments_arrives_whole_and_equal_to_the_live_tapestry(
    start_server: StartServer, wire: Wire, codec: str
) -> None:
    server, writer = await _vast(start_server, wire)
    garden = await server.hub.sanctuary("vast")
    assert len(garden.tapestry.encode()) > 2 * FRAGMENT_BYTES  # more than two fragments on the wire
    late = await wire.join(server.ws_url("vast"), codec=codec)
    assert late.welcome is not None
    assert late.tapestry.encode() == garden.tapestry.encode()
    # Broadcasts queued behind the welcome still follow it, in order, without a gap.
    await writer.wait_acked(await writer.send_ops(writer.set("s000", x=5)))
    await late.wait_seq(garden.seq)
    assert late.gaps == []
    assert late.tapestry.encode() == garden.tapestry.encode()


async def test_W20_a_tapestry_json_of_several_write_slices_arrives_whole_plain_and_gzipped(
    start_server: StartServer, wire: Wire
) -> None:
    server, _ = await _vast(start_server, wire)
    live = (await server.hub.sanctuary("vast")).tapestry
    url = server.ws_url("vast").replace("ws://", "http://").replace("/ws/vast", "/api/sanctuaries/vast/tapestry.json")
    async with aiohttp.ClientSession() as http:
        async with http.get(url, headers={"Accept-Encoding": "identity"}) as resp:
            assert resp.status == 200
            plain = await resp.read()
            assert int(resp.headers["Content-Length"]) == len(plain) > WRITE_BYTES  # two slices at least
        async with http.get(url, headers={"Accept-Encoding": "gzip"}) as resp:
            assert resp.headers["Content-Encoding"] == "gzip"
            assert await resp.read() == plain  # aiohttp inflates it
    body = orjson.loads(plain)
    assert body["snapshot"] == live.to_data()
    assert body["digest"] == live.digest()
