"""The SDK asks for a welcome in parts (W36) in the compact form (W37) and is welcomed once, after the
last part."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest
from client_kit import WAIT

from dreamloom.client import Ready, Weaver
from dreamloom.client import session as session_module
from dreamloom.client.testing import dreamer, fast_backoff, serve_in_process
from dreamloom.protocol import Hello, ServerMessage, SnapshotPart, Tapestry, Welcome
from dreamloom.protocol.connection import ClientConnection

SMALL_PARTS = {
    "welcome_first_part_bytes": 2048,
    "welcome_part_bytes": 8192,
    "ops_rate": 10_000.0,
    "ops_burst": 10_000.0,
}


class Recorder(Weaver):
    """Records the ready events it is given."""

    def __init__(self) -> None:
        super().__init__(**fast_backoff())
        self.events: list[Ready] = []

    async def on_ready(self, event: Ready) -> None:
        self.events.append(event)


class Spy:
    """Records the hellos the SDK sends and the messages it decodes."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.hellos: list[Hello] = []
        self.received: list[ServerMessage] = []
        hello, decode = ClientConnection.hello, session_module.Session._decode

        def spy_hello(conn: ClientConnection, token: str | None = None, *, guest: bool = False) -> Hello:
            self.hellos.append(hello(conn, token, guest=guest))
            return self.hellos[-1]

        def spy_decode(session: Any, raw: str | bytes) -> ServerMessage | None:
            message = decode(session, raw)
            if message is not None:
                self.received.append(message)
            return message

        monkeypatch.setattr(ClientConnection, "hello", spy_hello)
        monkeypatch.setattr(session_module.Session, "_decode", spy_decode)

    @property
    def welcomes(self) -> list[Welcome]:
        return [m for m in self.received if isinstance(m, Welcome)]

    @property
    def parts(self) -> list[SnapshotPart]:
        return [m for m in self.received if isinstance(m, SnapshotPart)]


async def _fill(url: str, sanctuary: str, n: int) -> None:
    async with dreamer(url, sanctuary, name="filler") as person:
        for i in range(n):
            person.add_symbol("star", i, -i)
        await person.flush(WAIT)


async def test_w36_w37_the_sdk_joins_a_tapestry_in_compact_parts_and_is_ready_once_with_all_of_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    async with serve_in_process(data_dir=tmp_path, **SMALL_PARTS) as server:
        await _fill(server.url, "parts", 300)
        spy = Spy(monkeypatch)
        rec = Recorder()
        async with rec.connect(server.url, "parts"):
            await rec.wait_until(lambda: rec.connected, WAIT)
            assert spy.hellos[-1].features == ("parts", "compact")
            assert len(spy.parts) >= 2  # the server did send it in parts
            assert [w.form for w in spy.welcomes] == ["compact"]  # ... of compact items (W37)
            assert all(len(item) == 5 for p in spy.parts for item in p.fragments)
            live: Tapestry = (await server.hub.sanctuary("parts")).tapestry
            assert rec.tapestry.confirmed.encode() == live.encode()
            assert [e.resumed for e in rec.events] == [False]
            # Live as usual after it: a write lands and is confirmed.
            assert await asyncio.wait_for(rec.add_symbol("moon", 1, 1), WAIT) > 0


async def test_w36_a_connection_lost_mid_parts_starts_over_with_a_fresh_hello(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    async with serve_in_process(data_dir=tmp_path, **SMALL_PARTS) as server:
        await _fill(server.url, "parts", 300)
        spy = Spy(monkeypatch)
        load, converse = session_module.Session._snapshot_part, session_module.Session._converse
        sockets: list[Any] = []
        lost: list[int] = []

        async def spy_converse(session: Any, ws: Any) -> None:
            sockets.append(ws)
            await converse(session, ws)

        def lose_the_first_connection_at_its_second_part(
            snapshot: Tapestry, fragments: list[Any], form: str | None
        ) -> Tapestry:
            if len(spy.parts) == 2 and not lost:
                lost.append(len(snapshot))
                sockets[-1].transport.abort()  # the connection is lost: the next read finds it so
            return load(snapshot, fragments, form)

        monkeypatch.setattr(session_module.Session, "_converse", spy_converse)
        monkeypatch.setattr(
            session_module.Session, "_snapshot_part", staticmethod(lose_the_first_connection_at_its_second_part)
        )
        rec = Recorder()
        async with rec.connect(server.url, "parts"):
            await rec.wait_until(lambda: rec.connected, WAIT)
            assert lost  # the first attempt was cut after its welcome and a part
            assert len(spy.hellos) == 2
            assert [h.seq for h in spy.hellos] == [None, None]  # nothing was applied: a fresh start
            live: Tapestry = (await server.hub.sanctuary("parts")).tapestry
            assert rec.tapestry.confirmed.encode() == live.encode()
            assert [e.resumed for e in rec.events] == [False]
