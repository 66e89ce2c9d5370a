"""Connection caps and the header timeout (SPEC W16): one client cannot hold every descriptor."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Callable

import aiohttp
import orjson
from server_kit import StartServer
from wire import scaled

from dreamloom.server.limits import FD_RESERVE, connection_cap, raise_fd_limit

HALF_SENT = b"GET /healthz HTTP/1.1\r\nHost: dreamloom\r\n"  # no blank line: the head never ends


async def _hold(port: int, source: str = "127.0.0.1") -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    reader, writer = await asyncio.open_connection("127.0.0.1", port, local_addr=(source, 0))
    writer.write(HALF_SENT)
    await writer.drain()
    return reader, writer


async def _refusal(port: int, source: str) -> tuple[int, dict[str, str], dict[str, object]]:
    reader, writer = await asyncio.open_connection("127.0.0.1", port, local_addr=(source, 0))
    try:
        raw = await asyncio.wait_for(reader.read(), scaled(5))  # the server answers and closes
    finally:
        writer.close()
    head, _, body = raw.partition(b"\r\n\r\n")
    lines = head.decode().split("\r\n")
    headers = dict(line.split(": ", 1) for line in lines[1:])
    return int(lines[0].split()[1]), headers, orjson.loads(body)


@contextlib.asynccontextmanager
async def _held(port: int, n: int, source: str = "127.0.0.1") -> AsyncIterator[list[asyncio.StreamWriter]]:
    pairs = [await _hold(port, source) for _ in range(n)]
    try:
        yield [w for _, w in pairs]
    finally:
        for _, w in pairs:
            w.close()


async def _until(condition: Callable[[], bool], within: float = 5.0) -> None:
    """Poll a condition of the server's own state (no event to wait on: the kernel tells it of a close)."""
    deadline = time.monotonic() + scaled(within)
    while not condition():
        assert time.monotonic() < deadline, "condition never held"
        await asyncio.sleep(0.005)


async def _healthz(url: str, source: str) -> int:
    connector = aiohttp.TCPConnector(local_addr=(source, 0), force_close=True)
    async with aiohttp.ClientSession(connector=connector) as http, http.get(url + "/healthz") as resp:
        return resp.status


async def test_W16_the_connection_over_the_per_client_cap_gets_429_and_other_clients_are_served(
    start_server: StartServer,
) -> None:
    server = await start_server(max_connections_per_client=3, header_timeout=30.0)
    port = server.config.port
    async with _held(port, 2):
        assert await _healthz(server.url, "127.0.0.1") == 200  # the third (at the cap) is served
        async with _held(port, 1):
            status, headers, body = await _refusal(port, "127.0.0.1")  # the fourth
            assert status == 429
            assert headers["Retry-After"] == "5"
            assert body["error"]["code"] == "too_many_connections"  # type: ignore[index]
            assert "max_connections_per_client" in body["error"]["message"]  # type: ignore[index]
            assert await _healthz(server.url, "127.0.0.2") == 200  # another address is not affected
        await _until(lambda: server.services.caps.by_client["127.0.0.1"] == 2)
        assert await _healthz(server.url, "127.0.0.1") == 200  # a place freed is a place again
    assert server.services.caps.refused["too_many_connections"] == 1


async def test_W16_the_connection_over_the_total_cap_gets_503(start_server: StartServer) -> None:
    server = await start_server(max_connections=3, max_connections_per_client=100, header_timeout=30.0)
    port = server.config.port
    async with _held(port, 2, "127.0.0.3"):
        assert await _healthz(server.url, "127.0.0.2") == 200  # the third, at the cap
        async with _held(port, 1, "127.0.0.3"):
            status, headers, body = await _refusal(port, "127.0.0.2")
            assert status == 503
            assert headers["Retry-After"] == "5"
            assert body["error"]["code"] == "server_full"  # type: ignore[index]
            assert "max_connections" in body["error"]["message"]  # type: ignore[index]


async def test_W16_a_request_head_not_finished_within_the_header_timeout_is_closed(
    start_server: StartServer,
) -> None:
    server = await start_server(header_timeout=0.5)
    reader, writer = await _hold(server.config.port)
    started = time.monotonic()
    try:
        assert await asyncio.wait_for(reader.read(), scaled(10)) == b""  # closed without an answer
    finally:
        writer.close()
    assert time.monotonic() - started >= 0.4
    await _until(lambda: server.services.caps.total == 0)  # and its place is free
    # A whole head within the timeout is answered.
    assert await _healthz(server.url, "127.0.0.1") == 200


def test_W16_the_total_cap_stays_below_the_descriptor_limit() -> None:
    soft = raise_fd_limit()
    assert soft >= 1024
    assert connection_cap(4096, 1024) == 1024 - FD_RESERVE
    assert connection_cap(100, 1024) == 100
    assert connection_cap(4096, soft) <= soft - FD_RESERVE


async def test_W16_a_body_not_sent_within_the_header_timeout_is_408(start_server: StartServer) -> None:
    server = await start_server(header_timeout=0.5)
    reader, writer = await asyncio.open_connection("127.0.0.1", server.config.port)
    writer.write(
        b"POST /api/sanctuaries HTTP/1.1\r\nHost: dreamloom\r\nContent-Type: application/json\r\n"
        b'Content-Length: 20\r\n\r\n{"id": '  # the rest never comes
    )
    try:
        answer = await asyncio.wait_for(reader.readuntil(b"}}"), scaled(10))  # the end of the JSON error
    finally:
        writer.close()
    assert answer.startswith(b"HTTP/1.1 408 ")
    assert b'"code":"request_timeout"' in answer
    assert await server.services.store.list_sanctuaries() == []


async def test_W16_a_body_in_several_segments_within_the_timeout_is_read_whole(start_server: StartServer) -> None:
    server = await start_server(header_timeout=5.0)
    reader, writer = await asyncio.open_connection("127.0.0.1", server.config.port)
    body = b'{"id": "garden"}'
    writer.write(
        b"POST /api/sanctuaries HTTP/1.1\r\nHost: dreamloom\r\nContent-Type: application/json\r\n"
        b"Content-Length: %d\r\n\r\n" % len(body) + body[:7]
    )
    await writer.drain()
    await asyncio.sleep(0.05)  # a second TCP segment, as a slow network would deliver it
    writer.write(body[7:])
    try:
        answer = await asyncio.wait_for(reader.readuntil(b"}"), scaled(10))
    finally:
        writer.close()
    assert answer.startswith(b"HTTP/1.1 201 ")
    assert await server.services.store.get_sanctuary("garden") is not None
