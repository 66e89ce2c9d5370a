"""A raw WebSocket client and steward HTTP helpers for the policy tests.

The client speaks the JSON subprotocol by hand, keeps a replica of the
tapestry, and records acks, rejects, errors, policy updates, joins and leaves
and the close code. Every wait is bounded.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
from collections.abc import Callable
from typing import Any

import aiohttp
import orjson
from kit.timing import WAIT
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from dreamloom.protocol import CLIENT_SIDE_LIMITS, Clock, Op, Stamp, Tapestry, ops
from dreamloom.protocol.validate import check_op

_replicas = itertools.count(1)
_z = itertools.count(100)


class Client:
    """One connection to ``/ws/{sanctuary}`` (JSON subprotocol)."""

    def __init__(self, ws: ClientConnection, replica: str) -> None:
        self.ws = ws
        self.replica = replica
        self.clock = Clock(replica)
        self.tapestry = Tapestry()
        self.welcome: dict[str, Any] | None = None
        self.acks: dict[int, int] = {}
        self.rejects: dict[int, dict[str, Any]] = {}
        self.errors: list[dict[str, Any]] = []
        self.policies: list[dict[str, Any]] = []
        self.joins: list[dict[str, Any]] = []
        self.leaves: list[str] = []
        self.seqs: dict[tuple[int, str], int] = {}  # stamp -> seq of every broadcast op
        self.close_code: int | None = None
        self.closed = asyncio.Event()
        self._changed = asyncio.Condition()
        self._reader = asyncio.create_task(self._read())

    @classmethod
    async def join(
        cls,
        url: str,
        *,
        token: str | None = None,
        name: str = "dreamer",
        replica: str | None = None,
        client: str | None = None,
        seq: int | None = None,
    ) -> Client:
        """Connect and send hello; does not wait for the welcome (see :meth:`welcomed`).

        ``client`` is what the hello says it is (``person`` or ``weaver``; absent: a person).
        """
        ws = await connect(url, subprotocols=["dreamloom.v1.json"], compression=None, proxy=None, open_timeout=WAIT)  # type: ignore[list-item]
        member = cls(ws, replica or f"t{next(_replicas)}")
        hello: dict[str, Any] = {"type": "hello", "v": 1, "name": name, "replica": member.replica, "seq": seq}
        if token is not None:
            hello["token"] = token
        if client is not None:
            hello["client"] = client
        await ws.send(orjson.dumps(hello).decode())
        return member

    async def welcomed(self) -> dict[str, Any]:
        await self.wait_for(lambda: self.welcome is not None, "welcome")
        assert self.welcome is not None
        return self.welcome

    @property
    def identity(self) -> dict[str, Any]:
        assert self.welcome is not None
        return dict(self.welcome["identity"])

    async def _read(self) -> None:
        try:
            async for data in self.ws:
                self._take(orjson.loads(data))
                async with self._changed:
                    self._changed.notify_all()
        except ConnectionClosed:
            pass
        finally:
            self.close_code = self.ws.close_code or 1006
            self.closed.set()
            async with self._changed:
                self._changed.notify_all()

    def _take(self, m: dict[str, Any]) -> None:
        t = m["type"]
        if t == "welcome":
            self.welcome = m
            if m.get("snapshot") is not None:
                self.tapestry = Tapestry.from_data(m["snapshot"])
            self.clock.observe_counter(self.tapestry.max_counter)
        elif t == "ops":
            for i, wire in enumerate(m["ops"]):
                op = _op(wire)
                self.tapestry.apply(op)
                self.seqs[(op.stamp[0], op.stamp[1])] = m["seq"] + i
        elif t == "ack":
            for counter, seq in m["acks"]:
                self.acks[counter] = seq
        elif t == "reject":
            self.rejects[m["s"][0]] = m
        elif t == "error":
            self.errors.append(m)
        elif t == "policy":
            self.policies.append(m["policy"])
        elif t == "join":
            self.joins.append(m["peer"])
        elif t == "leave":
            self.leaves.append(m["sid"])
        elif t == "roster":  # W24: leaves first, then joins
            self.leaves.extend(m["left"])
            self.joins.extend(m["joined"])

    async def wait_for(self, predicate: Callable[[], bool], what: str, within: float = WAIT) -> None:
        async def until() -> None:
            async with self._changed:
                while not predicate():
                    if self.closed.is_set():
                        if predicate():
                            return
                        raise AssertionError(f"closed ({self.close_code}) while waiting for {what}")
                    await self._changed.wait()

        try:
            await asyncio.wait_for(until(), within)
        except TimeoutError:
            raise AssertionError(f"timed out waiting for {what} (errors: {self.errors})") from None

    async def wait_closed(self) -> int:
        await asyncio.wait_for(self.closed.wait(), WAIT)
        assert self.close_code is not None
        return self.close_code

    # -- writing ------------------------------------------------------------
    def stamp(self) -> Stamp:
        self.clock.observe_counter(self.tapestry.max_counter)
        return self.clock.tick()

    def symbol(self, fid: str, **kw: Any) -> Op:
        return ops.create(fid, self.stamp(), kind="symbol", geom={"sym": "moon", "size": 40}, z=f"V{next(_z)}V", **kw)

    def set(self, fid: str, **fields: Any) -> Op:
        return ops.set_fields(fid, self.stamp(), **fields)

    def delete(self, fid: str) -> Op:
        return ops.delete(fid, self.stamp())

    def restore(self, fid: str) -> Op:
        return ops.restore(fid, self.stamp())

    async def send(self, *batch: Op) -> list[int]:
        await self.ws.send(orjson.dumps({"type": "ops", "ops": [op.to_wire() for op in batch]}).decode())
        return [op.stamp[0] for op in batch]

    async def outcome(self, counter: int) -> dict[str, Any] | int:
        """The seq an op was acked with, or its reject."""
        await self.wait_for(lambda: counter in self.acks or counter in self.rejects, f"the fate of op {counter}")
        return self.acks[counter] if counter in self.acks else self.rejects[counter]

    async def write(self, op: Op) -> dict[str, Any] | int:
        """Send one op and wait for its ack (seq) or reject."""
        (counter,) = await self.send(op)
        return await self.outcome(counter)

    async def close(self) -> None:
        with contextlib.suppress(Exception):
            await self.ws.close()
        with contextlib.suppress(Exception):
            await asyncio.wait_for(self._reader, WAIT)


def _op(wire: dict[str, Any]) -> Op:
    # Validated like any client validates what it receives (W3, W8): the server's ops must pass too.
    return check_op(wire, CLIENT_SIDE_LIMITS)


def rejected(outcome: dict[str, Any] | int, code: str) -> dict[str, Any]:
    """Assert an outcome is a reject with ``code`` naming its rule and what is allowed; return it."""
    assert isinstance(outcome, dict), f"expected a {code} reject, got ack seq {outcome}"
    assert outcome["code"] == code, outcome
    assert outcome["rule"], outcome
    assert outcome["allowed"], outcome
    return outcome


def acked(outcome: dict[str, Any] | int) -> int:
    assert isinstance(outcome, int), f"expected an ack, got {outcome}"
    return outcome


class Steward:
    """HTTP calls of a steward (or of anyone holding ``token``)."""

    def __init__(self, http: aiohttp.ClientSession, base: str, sanctuary: str, token: str | None) -> None:
        self.http = http
        self.base = base
        self.sanctuary = sanctuary
        self.token = token

    async def call(self, method: str, path: str, body: Any = None, expect: int = 200) -> Any:
        headers = {"Authorization": f"Bearer {self.token}"} if self.token else {}
        url = f"{self.base}/api/sanctuaries/{self.sanctuary}{path}"
        async with self.http.request(method, url, json=body, headers=headers) as resp:
            data = await resp.json()
            assert resp.status == expect, (resp.status, data)
            return data

    async def policy(self, **changes: Any) -> dict[str, Any]:
        return (await self.call("PATCH", "/policy", changes))["policy"]  # type: ignore[no-any-return]

    async def act(self, action: str, expect: int = 200, **fields: Any) -> dict[str, Any]:
        return await self.call("POST", "/moderation", {"action": action, **fields}, expect=expect)  # type: ignore[no-any-return]

    async def audit(self) -> list[dict[str, Any]]:
        return (await self.call("GET", "/audit?limit=1000"))["audit"]  # type: ignore[no-any-return]
