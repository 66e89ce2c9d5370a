"""A small raw WebSocket client for server tests: the protocol spoken by hand, nothing hidden.

It connects with a subprotocol, sends ``hello`` and collects everything the
server says: the welcome, broadcasts, acks, rejects, errors, presence, joins
and leaves, and the close code. A local replica of the tapestry follows the
welcome (snapshot or missed ops) and every broadcast, checking that seqs arrive
contiguous. Every wait has a timeout, scaled by ``DREAMLOOM_TEST_TIMEOUT_FACTOR``
for slow machines.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import Callable, Iterable
from typing import Any
from urllib.parse import urlsplit

from kit.timing import scaled
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed
from websockets.frames import Opcode

from dreamloom.protocol import (
    CLIENT_SIDE_LIMITS,
    JSON,
    MSGPACK,
    Ack,
    Clock,
    Error,
    Hello,
    Join,
    Leave,
    Op,
    Ops,
    PeersPresence,
    Presence,
    PresenceState,
    Reject,
    Roster,
    SnapshotPart,
    Stamp,
    Tapestry,
    Welcome,
    ops,
)
from dreamloom.protocol.codec import Codec, codec_for


class WireTimeout(AssertionError):
    """What the test waited for did not happen in time."""


class WireClient:
    """One raw connection to ``/ws/{sanctuary}``. Build with :meth:`open`."""

    def __init__(self, ws: ClientConnection, codec: Codec, replica: str, name: str) -> None:
        self.ws = ws
        #: The token sent in hello: given, or the guest token of an earlier welcome (SPEC P3).
        self.token: str | None = None
        self.codec = codec
        self.replica = replica
        self.name = name
        self.clock = Clock(replica)
        self.tapestry = Tapestry()
        self.seq = 0
        self.welcome: Welcome | None = None
        #: The parts of a welcome in parts (W36) received so far, and the snapshot being assembled.
        self.parts: list[SnapshotPart] = []
        self.assembling: list[Any] | None = None
        #: Messages (by type) that came between a welcome in parts and its last part: none may (W36).
        self.between_parts: list[str] = []
        self.messages: list[Any] = []
        self.broadcasts: list[Ops] = []
        self.acks: dict[int, int] = {}  # stamp counter -> seq
        self.rejects: dict[int, Reject] = {}  # stamp counter -> reject
        self.errors: list[Error] = []
        self.gaps: list[tuple[int, int]] = []  # (expected seq, received seq)
        self.undecodable: list[bytes | str] = []
        self.close_code: int | None = None
        self.close_reason = ""
        self.closed = asyncio.Event()
        self.reading = asyncio.Event()
        self.reading.set()
        self._changed = asyncio.Condition()
        self._reader = asyncio.create_task(self._read(), name=f"wire-reader:{replica}")

    # -- connecting -------------------------------------------------------
    @classmethod
    async def open(
        cls,
        url: str,
        *,
        codec: str = MSGPACK,
        replica: str = "r1",
        name: str = "dreamer",
        origin: str | None = None,
        answer_pings: bool = True,
        rcvbuf: int | None = None,
        max_queue: int | None = 16,
    ) -> WireClient:
        """Connect (no hello yet). ``rcvbuf`` shrinks the kernel receive buffer for slow-consumer tests."""
        sock = None
        if rcvbuf is not None:
            parts = urlsplit(url)
            sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
            sock.setblocking(False)
            await asyncio.get_running_loop().sock_connect(sock, (parts.hostname, parts.port))
        ws = await connect(
            url,
            subprotocols=[codec],  # type: ignore[list-item]
            origin=origin,  # type: ignore[arg-type]
            compression=None,
            proxy=None,
            ping_interval=None,
            max_size=CLIENT_SIDE_LIMITS.max_message_bytes,
            max_queue=max_queue,
            open_timeout=scaled(5),
            close_timeout=scaled(2),
            sock=sock,
        )
        assert ws.subprotocol == codec, ws.subprotocol
        if not answer_pings:
            _drop_pongs(ws)
        return cls(ws, codec_for(codec, CLIENT_SIDE_LIMITS), replica, name)

    @classmethod
    async def join(
        cls,
        url: str,
        *,
        codec: str = MSGPACK,
        replica: str = "r1",
        name: str = "dreamer",
        seq: int | None = None,
        **kw: Any,
    ) -> WireClient:
        """Connect and complete the handshake."""
        client = await cls.open(url, codec=codec, replica=replica, name=name, **kw)
        await client.hello(seq=seq)
        return client

    async def hello(self, seq: int | None = None, **fields: Any) -> Welcome:
        """Send ``hello`` and wait for the welcome; keeps a guest token the server issues."""
        wire = Hello(name=self.name, replica=self.replica, seq=seq, token=self.token).to_wire()
        wire.update(fields)
        await self.send_wire(wire)
        await self.wait_for(lambda: self.welcome is not None and self.assembling is None, "welcome")
        assert self.welcome is not None
        if self.welcome.token is not None:
            self.token = self.welcome.token
        return self.welcome

    # -- sending ----------------------------------------------------------
    async def send(self, message: Any) -> None:
        await self.ws.send(self.codec.encode(message), text=not self.codec.binary)

    async def send_wire(self, obj: Any) -> None:
        """Encode any plain structure with this connection's codec (valid or not)."""
        await self.ws.send(self.codec.dumps(obj), text=not self.codec.binary)

    async def send_raw(self, data: bytes | str) -> None:
        await self.ws.send(data)

    async def send_ops(self, *batch: Op) -> list[int]:
        """Send ops in one frame; returns their stamp counters."""
        await self.send(Ops(tuple(batch)))
        return [op.stamp.counter for op in batch]

    async def presence(self, **state: Any) -> None:
        await self.send(Presence(PresenceState(**state)))

    # -- building ops -----------------------------------------------------
    def stamp(self) -> Stamp:
        return self.clock.tick()

    def symbol(self, fid: str, x: float = 0, y: float = 0, sym: str = "moon", z: str = "V", **kw: Any) -> Op:
        return ops.create(fid, self.stamp(), kind="symbol", geom={"sym": sym, "size": 40}, x=x, y=y, z=z, **kw)

    def stroke(self, fid: str, pts: list[float], z: str = "V", **kw: Any) -> Op:
        return ops.create(fid, self.stamp(), kind="stroke", geom={"pts": pts}, z=z, **kw)

    def set(self, fid: str, **fields: Any) -> Op:
        return ops.set_fields(fid, self.stamp(), **fields)

    def delete(self, fid: str) -> Op:
        return ops.delete(fid, self.stamp())

    def restore(self, fid: str) -> Op:
        return ops.restore(fid, self.stamp())

    # -- reading ----------------------------------------------------------
    async def _read(self) -> None:
        try:
            while True:
                await self.reading.wait()
                data = await self.ws.recv()
                try:
                    message = self.codec.decode_server(data)
                except Exception:
                    self.undecodable.append(data)
                    continue
                self._take(message)
                async with self._changed:
                    self._changed.notify_all()
        except ConnectionClosed:
            pass
        finally:
            self.close_code = self.ws.close_code if self.ws.close_code is not None else 1006
            self.close_reason = self.ws.close_reason or ""
            self.closed.set()
            async with self._changed:
                self._changed.notify_all()

    def _take(self, message: Any) -> None:
        self.messages.append(message)
        if self.assembling is not None and not isinstance(message, SnapshotPart):
            self.between_parts.append(message.type)
        match message:
            case Welcome(parts=int()):
                assert message.snapshot is not None
                self.welcome, self.seq, self.assembling = message, message.seq, list(message.snapshot)
            case SnapshotPart():
                assert self.assembling is not None, message
                assert message.seq == self.seq, message
                assert message.part == len(self.parts) + 1, (message.part, len(self.parts))
                self.parts.append(message)
                self.assembling.extend(message.fragments)
                if message.part == message.parts - 1:
                    # In the welcome's form (W37): a compact welcome's parts are compact items.
                    assert self.welcome is not None
                    if self.welcome.form == "compact":
                        self.tapestry = Tapestry.from_compact(self.assembling)
                    else:
                        self.tapestry = Tapestry.from_data(self.assembling)
                    self.assembling = None
                    self.clock.observe_counter(self.tapestry.max_counter)
            case Welcome():
                self.welcome = message
                if message.snapshot is not None and message.form == "compact":
                    self.tapestry = Tapestry.from_compact(message.snapshot)
                elif message.snapshot is not None:
                    self.tapestry = Tapestry.from_data(message.snapshot)
                else:
                    if message.since != self.seq and (message.ops or self.seq):
                        self.gaps.append((self.seq, message.since))
                    self.tapestry.apply_many(message.ops)
                self.seq = message.seq
                self.clock.observe_counter(self.tapestry.max_counter)
            case Ops(seq=first):
                assert first is not None
                if first != self.seq + 1:
                    self.gaps.append((self.seq + 1, first))
                self.broadcasts.append(message)
                self.tapestry.apply_many(message.ops)
                self.seq = first + len(message.ops) - 1
                self.clock.observe_counter(self.tapestry.max_counter)
            case Ack(acks=acks):
                self.acks.update(acks)
            case Reject():
                self.rejects[message.stamp.counter] = message
            case Error():
                self.errors.append(message)
            case Roster(joined=joined, left=left):
                # Also recorded as the leaves and joins it announces, in the order a client applies
                # them (W24), so that tests can wait for one of them.
                me = self.welcome.sid if self.welcome is not None else None
                self.messages.extend([*(Leave(sid) for sid in left), *(Join(p) for p in joined if p.sid != me)])

    def of(self, kind: type) -> list[Any]:
        """Every received message of one class, oldest first."""
        return [m for m in self.messages if isinstance(m, kind)]

    @property
    def joins(self) -> list[Join]:
        return self.of(Join)

    @property
    def leaves(self) -> list[Leave]:
        return self.of(Leave)

    @property
    def presences(self) -> list[PeersPresence]:
        return self.of(PeersPresence)

    # -- waiting ----------------------------------------------------------
    async def wait_for(self, predicate: Callable[[], bool], what: str, within: float = 5.0) -> None:
        """Wait until ``predicate()`` holds, checked after each message; fail after ``within``."""

        async def until() -> None:
            async with self._changed:
                while not predicate():
                    if self.closed.is_set():
                        # Nothing more can arrive: one last look, then give up.
                        if predicate():
                            return
                        raise WireTimeout(f"{self.replica}: closed ({self.close_code}) while waiting for {what}")
                    await self._changed.wait()

        try:
            await asyncio.wait_for(until(), scaled(within))
        except TimeoutError:
            raise WireTimeout(f"{self.replica}: no {what} within {scaled(within):g} s") from None

    async def wait_settled(self, counters: Iterable[int], within: float = 10.0) -> None:
        """Wait until each counter was acked or rejected."""
        pending = set(counters)
        await self.wait_for(lambda: all(c in self.acks or c in self.rejects for c in pending), "acks", within=within)

    async def wait_acked(self, counters: Iterable[int], within: float = 10.0) -> dict[int, int]:
        """Wait for acks of these counters; fail on a reject. Returns counter -> seq."""
        wanted = list(counters)
        await self.wait_settled(wanted, within)
        rejected = {c: self.rejects[c] for c in wanted if c in self.rejects}
        assert not rejected, rejected
        return {c: self.acks[c] for c in wanted}

    async def wait_seq(self, seq: int, within: float = 10.0) -> None:
        """Wait until the replica has applied every op up to ``seq``."""
        await self.wait_for(lambda: self.seq >= seq, f"seq {seq}", within=within)

    async def wait_message(self, kind: type, where: Callable[[Any], bool] = lambda m: True, within: float = 5.0) -> Any:
        """The first received message of ``kind`` matching ``where`` (waiting for it if needed)."""
        found: list[Any] = []

        def seen() -> bool:
            found[:] = [m for m in self.messages if isinstance(m, kind) and where(m)][:1]
            return bool(found)

        await self.wait_for(seen, kind.__name__, within=within)
        return found[0]

    async def wait_closed(self, within: float = 5.0) -> int:
        """Wait for the server to close the connection; returns the close code (1006: no close frame)."""
        try:
            await asyncio.wait_for(self.closed.wait(), scaled(within))
        except TimeoutError:
            raise WireTimeout(f"{self.replica}: still open after {scaled(within):g} s") from None
        assert self.close_code is not None
        return self.close_code

    async def ping_roundtrip(self, within: float = 5.0) -> None:
        """Prove the server still serves this connection: a protocol ping answered by a pong."""
        from dreamloom.protocol import Ping, Pong

        t = len(self.messages) + 1_000_000
        await self.send(Ping(t))
        await self.wait_message(Pong, lambda m: m.t == t, within=within)

    def pause(self) -> None:
        """Stop reading (the library keeps at most ``max_queue`` frames, then TCP backs up)."""
        self.reading.clear()

    def resume(self) -> None:
        self.reading.set()

    async def close(self) -> None:
        with contextlib.suppress(Exception):
            await asyncio.wait_for(self.ws.close(), scaled(3))
        self._reader.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await self._reader

    def abort(self) -> None:
        """Drop the TCP connection without a close handshake."""
        transport = self.ws.transport
        if transport is not None:
            transport.abort()

    async def __aenter__(self) -> WireClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()


def _drop_pongs(ws: ClientConnection) -> None:
    """Make the connection ignore the server's pings, like a peer that went away silently."""
    protocol = ws.protocol
    send_frame = protocol.send_frame

    def send_frame_but_pongs(frame: Any) -> None:
        if frame.opcode is Opcode.PONG:
            return
        send_frame(frame)

    protocol.send_frame = send_frame_but_pongs  # type: ignore[method-assign]


CODECS = (MSGPACK, JSON)

__all__ = ["CODECS", "JSON", "MSGPACK", "WireClient", "WireTimeout", "scaled"]
