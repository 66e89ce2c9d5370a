"""Fixtures of the policy tests: a real server, token minting, raw clients and a steward over HTTP."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest
from harmony_kit import FakeClock, Harmony

from dreamloom.server.testing import serve_in_process


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
async def harmony(tmp_path: Path, clock: FakeClock) -> AsyncIterator[Harmony]:
    async with (
        serve_in_process(data_dir=tmp_path / "data", clock=clock) as server,
        aiohttp.ClientSession() as http,
    ):
        h = Harmony(server, http, tmp_path / "data")
        try:
            yield h
        finally:
            for c in h.clients:
                await c.close()
