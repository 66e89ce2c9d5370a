"""What the policy tests share: a fake clock and a server with token minting, raw clients and a steward."""

from __future__ import annotations

import itertools
import time
from pathlib import Path
from typing import Any

import aiohttp
from harmony_client import Client, Steward

from dreamloom.server.stewardship import Stewardship
from dreamloom.server.testing import InProcessServer


class FakeClock:
    """Wall time the tests move by hand (mutes, AI rates)."""

    def __init__(self) -> None:
        self.now = time.time()

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


class Harmony:
    """One server and everything the tests need around it."""

    def __init__(self, server: InProcessServer, http: aiohttp.ClientSession, data_dir: Path) -> None:
        self.server = server
        self.http = http
        self.data_dir = data_dir
        self.clients: list[Client] = []
        self._names = itertools.count(1)

    @property
    def stewardship(self) -> Stewardship:
        return self.server.services.stewardship

    def token(self, role: str, sanctuary: str = "garden", name: str = "", **kw: Any) -> str:
        token, _ = self.stewardship.authority.issue(role=role, sanctuary=sanctuary, name=name or role, **kw)
        return token

    def steward(self, sanctuary: str = "garden", token: str | None = None) -> Steward:
        if token is None:
            token = self.token("steward", sanctuary, sub="steward-ana", name="Ana")
        return Steward(self.http, self.server.url, sanctuary, token)

    async def connect(self, role: str | None = None, sanctuary: str = "garden", **kw: Any) -> Client:
        """A member: with a fresh token of ``role`` (None: a guest dreamer). Waits for the welcome."""
        token = kw.pop("token", None)
        hello = {k: kw.pop(k) for k in ("replica", "client", "seq") if k in kw}
        if token is None and role is not None:
            token = self.token(role, sanctuary, name=kw.pop("name", f"{role}{next(self._names)}"), **kw)
        client = await Client.join(self.server.ws_url(sanctuary), token=token, **hello)
        self.clients.append(client)
        await client.welcomed()
        return client

    async def refused(
        self, token: str | None, sanctuary: str = "garden", replica: str | None = None, client_kind: str | None = None
    ) -> Client:
        """A hello that must be refused: returns the closed client (its errors and close code)."""
        client = await Client.join(self.server.ws_url(sanctuary), token=token, replica=replica, client=client_kind)
        self.clients.append(client)
        await client.wait_closed()
        assert client.welcome is None
        return client
