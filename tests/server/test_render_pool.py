"""Renders and reads at a seq off the event loop (SPEC W20): one cache, one bound, worker processes
with a wall-time limit and size limits, typed 413/429/503 answers with Retry-After."""

from __future__ import annotations

import asyncio
from typing import Any

import aiohttp
from server_kit import StartServer, Wire
from wire import WireClient, scaled

from dreamloom.protocol import Tapestry
from dreamloom.server.store.base import LogEntry
from dreamloom.server.testing import InProcessServer


async def _get(server: InProcessServer, path: str) -> tuple[int, dict[str, str], Any]:
    async with aiohttp.ClientSession() as http, http.get(f"{server.url}/api/sanctuaries/{path}") as resp:
        body = await resp.read()
        kind = resp.headers.get("Content-Type", "")
        return resp.status, dict(resp.headers), (await resp.json() if kind.startswith("application/json") else body)


async def _strokes(client: WireClient, n: int, points: int, prefix: str = "s") -> None:
    pts = [float((i * 7) % 500) for i in range(2 * points)]
    for i in range(n):
        await client.wait_acked(await client.send_ops(client.stroke(f"{prefix}{i}", pts)))


async def test_W20_a_seq_is_rebuilt_from_the_nearest_snapshot_and_the_log_tail(
    start_server: StartServer, wire: Wire
) -> None:
    server = await start_server(snapshot_every=5)
    client = await wire.join(server.ws_url("garden"))
    for i in range(12):
        await client.wait_acked(await client.send_ops(client.symbol(f"m{i}", x=i * 10)))
    assert (await server.services.store.latest_snapshot("garden", at_most=7)) is not None
    entries = await server.services.store.read_ops("garden", 0, upto=7)
    expected = Tapestry()
    for entry in entries:
        expected.apply(LogEntry.op_from_bytes(entry.op_bytes()))
    status, headers, body = await _get(server, "garden/tapestry.json?at=7")
    assert status == 200
    assert body["seq"] == 7
    assert headers["X-Dreamloom-Seq"] == "7"
    assert body["digest"] == expected.digest()
    status, _, now = await _get(server, "garden/tapestry.json?at=999")  # past the end: now
    assert now["seq"] == 12
    assert now["digest"] == client.tapestry.digest()


async def test_W20_every_tapestry_route_shares_one_cache_by_sanctuary_seq_format_and_size(
    start_server: StartServer, wire: Wire
) -> None:
    server = await start_server()
    client = await wire.join(server.ws_url("garden"))
    await client.wait_acked(await client.send_ops(client.symbol("moon")))
    renders = server.services.renders
    # tapestry.json of now comes from the sanctuary's kept encoding (W20), never a render worker.
    for path in ("tapestry.json", "tapestry.json?at=1", "tapestry.svg", "tapestry.png?width=64"):
        assert (await _get(server, f"garden/{path}"))[0] == 200
    assert renders.hits == 0
    assert (await _get(server, "garden/tapestry.json?at=1"))[0] == 200
    assert renders.hits == 1
    assert (await _get(server, "garden/tapestry.png?width=64"))[0] == 200
    assert renders.hits == 2
    assert (await _get(server, "garden/tapestry.png?width=65"))[0] == 200  # another size is another entry
    assert renders.hits == 2
    # The sanctuary's summary is counted the same way, and cached the same way.
    for hits in (2, 3):
        status, _, info = await _get(server, "garden")
        assert status == 200
        assert info["fragments"]["total"] == 1
        assert renders.hits == hits


async def test_W20_a_tapestry_over_render_max_points_is_413_and_one_at_it_is_served(
    start_server: StartServer, wire: Wire
) -> None:
    server = await start_server(render_max_points=100)
    client = await wire.join(server.ws_url("garden"))
    await _strokes(client, 1, 100)
    assert (await _get(server, "garden/tapestry.json?at=999999"))[0] == 200  # exactly at the limit
    await _strokes(client, 1, 1, prefix="t")
    # (tapestry.json of now is the kept encoding, bounded by the live-bytes budget, not rendered)
    for path in ("tapestry.json?at=999999", "tapestry.svg", "tapestry.png"):
        status, _, body = await _get(server, f"garden/{path}")
        assert status == 413, path
        assert body["error"]["code"] == "render_too_large"
        assert "render_max_points" in body["error"]["message"]
    assert (await _get(server, "garden/tapestry.json?at=1"))[0] == 200  # the past stays readable


async def test_W20_a_png_over_render_max_pixels_is_413(start_server: StartServer, wire: Wire) -> None:
    server = await start_server(render_max_pixels=50 * 50)
    client = await wire.join(server.ws_url("garden"))
    square = client.symbol("sun", x=0, y=0)  # a square view box: W pixels wide is W x W
    await client.wait_acked(await client.send_ops(square))
    assert (await _get(server, "garden/tapestry.png?width=50"))[0] == 200
    status, _, body = await _get(server, "garden/tapestry.png?width=51")
    assert status == 413
    assert "render_max_pixels" in body["error"]["message"]


async def test_W20_a_render_past_its_wall_time_is_503_with_retry_after(start_server: StartServer, wire: Wire) -> None:
    server = await start_server(render_timeout=0.001)
    client = await wire.join(server.ws_url("garden"))
    await client.wait_acked(await client.send_ops(client.symbol("moon")))
    status, headers, body = await _get(server, "garden/tapestry.png")
    assert status == 503
    assert body["error"]["code"] == "render_timeout"
    assert int(headers["Retry-After"]) >= 1
    assert server.services.renders.pool.busy == 0


async def test_W20_past_the_bound_a_read_or_render_is_429_json_included(start_server: StartServer, wire: Wire) -> None:
    server = await start_server(render_workers=1, render_queue=0)
    client = await wire.join(server.ws_url("garden"))
    await _strokes(client, 3, 2000)
    answers = await asyncio.gather(
        _get(server, "garden/tapestry.png?width=2000"), _get(server, "garden/tapestry.json?at=2")
    )
    assert sorted(a[0] for a in answers) == [200, 429]
    [(_, headers, body)] = [a for a in answers if a[0] == 429]
    assert body["error"]["code"] == "render_busy"
    assert "render_queue" in body["error"]["message"]
    assert int(headers["Retry-After"]) >= 1


async def test_W20_the_event_loop_answers_while_a_dense_render_runs(start_server: StartServer, wire: Wire) -> None:
    server = await start_server(
        ops_bytes_burst=64 * 1024 * 1024, ops_bytes_rate=64 * 1024 * 1024, render_timeout=scaled(60)
    )
    client = await wire.join(server.ws_url("garden"))
    await _strokes(client, 12, 4096)
    render = asyncio.create_task(_get(server, "garden/tapestry.png?width=4096"))

    async def handed_over() -> None:
        while server.services.renders.pool.busy == 0:  # noqa: ASYNC110 - the pool has no event to offer
            await asyncio.sleep(0)  # yield until the request reaches the pool

    await asyncio.wait_for(handed_over(), scaled(10))
    for _ in range(3):
        await client.ping_roundtrip()
    assert not render.done(), "the render finished before the pings: make it denser"
    assert (await render)[0] == 200
