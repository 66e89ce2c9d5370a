"""One WebSocket connection: handshake, reading, rate limits, heartbeat, errors (SPEC W5-W12).

States: ``handshake`` (waiting for hello) -> ``member`` (joined a room)
-> ``closed``. Reading happens here; sending goes through the send buffer;
all changes to the sanctuary go through its :class:`~.member.Room`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
import time
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from aiohttp import WSMsgType, web

from dreamloom.protocol import (
    CloseCode,
    DecodeError,
    Error,
    ErrorCode,
    Hello,
    Identity,
    Ops,
    Peer,
    PeersRequest,
    Presence,
    PresenceState,
    Reject,
)
from dreamloom.protocol.codec import Codec
from dreamloom.protocol.connection import Admit, Close, Deliver, Reply, ServerAction, ServerConnection, ServerState
from dreamloom.protocol.validate import InvalidOp

from . import heartbeat
from .budgets import ConnectionBudget, Refusal, SharedBudgets
from .identity import colour_for
from .rate import TokenBucket
from .send_buffer import FRAGMENT_BYTES, SendBuffer, last_wire, wire_fragment, wire_frame

if TYPE_CHECKING:
    from .auth import Claims
    from .config import ServerConfig
    from .member import Room
    from .metrics import Metrics

log = logging.getLogger("dreamloom.connection")

#: Seconds a slow consumer has to read up to its close frame before its connection is aborted.
SLOW_CONSUMER_GRACE = 2.0


class Connection:
    """Server side of one connection: a :class:`~.member.Member` of the sanctuary it joins."""

    def __init__(
        self,
        ws: web.WebSocketResponse,
        request: web.Request,
        codec: Codec,
        config: ServerConfig,
        metrics: Metrics,
        shared: SharedBudgets | None = None,
    ) -> None:
        self.ws = ws
        self.request = request
        self.codec = codec
        self.config = config
        self.metrics = metrics
        self.sid = secrets.token_hex(8)
        self.identity = Identity(id=f"anon-{self.sid}", name="", role="dreamer", origin="organic")
        self.replica = ""
        self.issued_token: str | None = None  # a guest token to hand over in the welcome
        self.peer = Peer(self.sid, "", "dreamer", "organic", colour_for(self.sid))
        self.presence = PresenceState()
        self.room: Room | None = None
        self.claims: Claims | None = None
        self.budget = ConnectionBudget(config, shared or SharedBudgets(config), str(request.remote or "?"))
        self._size = 0  # bytes of the message being handled (budgets count bytes, W17, W18)
        self.presence_bucket = TokenBucket(config.presence_rate, config.presence_rate)
        #: The session rules (W5, W10): what each message means, and when errors close.
        self.session = ServerConnection(config.error_limit, config.error_window)
        self._limited_since: float | None = None
        self._last_limited = 0.0
        self.buffer = SendBuffer(
            self._send_raw, self._close_raw, config.send_buffer_bytes, self._overflow, write_now=self._write_now
        )
        # Fixed once the upgrade is done; a lost connection's transport says so by is_closing().
        self._transport = request.transport
        self._opcode = WSMsgType.BINARY if codec.binary else WSMsgType.TEXT
        self._binary = codec.binary
        #: The subprotocol's codec name; a plain attribute, read once per member by every broadcast.
        self.codec_name = codec.name
        self._closer: asyncio.Task[None] | None = None
        # The heartbeat is one sweep for every connection (heartbeat.py), not a task or timer each.
        self._pinging: asyncio.Task[None] | None = None
        self._pinged = float("-inf")
        self.last_heard = time.monotonic()
        self.closed = False

    # -- sending ----------------------------------------------------------
    async def _send_raw(self, frame: bytes) -> None:
        if len(frame) > FRAGMENT_BYTES:
            await self._send_fragmented(frame)
        else:
            await self.ws.send_frame(frame, self._opcode)

    async def _send_fragmented(self, payload: bytes) -> None:
        # A welcome to a big tapestry is tens of megabytes: handed to the transport whole, it would
        # be copied on the loop in one go, stalling every sanctuary. In fragments, each copy is
        # small and the writer waits for the socket between them (pings may come between
        # fragments, as RFC 6455 allows; nothing else is written meanwhile: this is the writer).
        transport = self.request.transport
        view = memoryview(payload)
        for start in range(0, len(payload), FRAGMENT_BYTES):
            if transport is None or transport.is_closing():
                raise ConnectionResetError("connection closed while sending")
            piece = view[start : start + FRAGMENT_BYTES]
            transport.write(wire_fragment(piece, self.codec.binary, start == 0, start + FRAGMENT_BYTES >= len(payload)))
            await self.request.writer.drain()

    def _write_now(self, payload: bytes) -> bool:
        # The fast path of fan-out: when nothing waits in the socket's buffer, hand the whole
        # frame (built once per broadcast) to the transport synchronously. Frames are written
        # whole, so they interleave safely with aiohttp's own pings and close frames. Anything
        # buffered means the peer is behind: then the writer task and aiohttp's drain take over.
        transport = self.request.transport
        if transport is None or transport.get_write_buffer_size() or transport.is_closing() or self.ws.closed:
            return False
        if len(payload) > FRAGMENT_BYTES:
            return False  # the writer sends it in fragments
        transport.write(wire_frame(payload, self._binary))
        return True

    async def _close_raw(self, code: int, reason: str) -> None:
        await asyncio.wait_for(self.ws.close(code=code, message=reason.encode()), timeout=2.0)

    def send(self, message: Any) -> None:
        """Encode and queue a message for this connection only."""
        self.send_frame(self.codec.encode(message))  # an ack, a reject: written in place like a broadcast
        self.metrics.frames_sent.inc()

    def send_frame(self, frame: bytes, *, droppable: bool = False) -> None:
        """Queue bytes already encoded with this connection's codec."""
        if droppable:
            if not self.buffer.put(frame, droppable=True):
                self.metrics.presence_dropped.inc()
            return
        # Every broadcast, to every connection: the common case (nothing waits, the socket takes
        # it) is written here in place, without going through the buffer's and _write_now's calls.
        transport = self._transport
        if (
            self.buffer.idle
            and transport is not None
            and not transport.get_write_buffer_size()
            and not transport.is_closing()
            and not self.ws.closed
            and len(frame) <= FRAGMENT_BYTES
        ):
            # The frame is the one every member of the broadcast gets: framed once (wire_frame's cache).
            last = last_wire[self._binary]
            transport.write(last[1] if last[0] is frame else wire_frame(frame, self._binary))
            self.buffer.sent += 1
        else:
            self.buffer.put(frame)

    def close(self, code: int, reason: str) -> None:
        """Close after what is queued (used for 1001, kicks, replacement)."""
        self.buffer.close(code, reason)

    def _overflow(self) -> None:
        # The peer stopped reading: do not wait for its socket, cut it off (F4).
        if self.closed:
            return
        self.closed = True
        self.metrics.slow_consumers_closed.inc()
        log.info("closing slow consumer %s", self.sid)
        self.buffer.close(CloseCode.SLOW_CONSUMER, "send buffer full: reconnect and resume", drain=False)
        if self.room is not None:
            self.room.leave(self)  # free its place and tell the others now, not when its socket ends
        self._closer = asyncio.get_running_loop().create_task(self._hard_close(CloseCode.SLOW_CONSUMER))

    async def _hard_close(self, code: int, reason: str = "send buffer full") -> None:
        transport = self.request.transport
        with contextlib.suppress(Exception):
            await asyncio.wait_for(self.ws.close(code=code, message=reason.encode()), timeout=1.0)
        # The close frame waits behind what the peer has not read yet (closing the transport only
        # flushes, which a stalled peer never lets finish): give it a moment to read up to the code
        # that tells it to resume, then drop the connection whatever it does.
        if transport is not None:
            await asyncio.sleep(SLOW_CONSUMER_GRACE)
            transport.abort()

    def error(self, code: ErrorCode, reason: str) -> None:
        """Send an ``error``; close if its code or the count of invalid input says so (W5, W10)."""
        self._act(self.session.refuse(code, reason, time.monotonic()))

    def _act(self, actions: list[ServerAction]) -> None:
        """Carry out what the session rules decided."""
        room = self.room
        for action in actions:
            match action:
                case Reply(message=message):
                    self.send(message)
                case Close(code=code, reason=reason):
                    self.close(code, reason)
                case Deliver(message=Ops() as ops):
                    assert room is not None
                    self._deliver_ops(room, ops)
                case Deliver(message=PeersRequest() as request):
                    assert room is not None
                    self._request_peers(room, request)
                case Deliver(message=Presence(state=state)):
                    assert room is not None
                    if self.budget.take_presence(self._size) is not None:
                        self._presence_over_budget()  # W18: dropped, not stored: bytes are the cost
                        continue
                    if not self.presence_bucket.take():
                        self.metrics.presence_dropped.inc()
                        # latest wins: keep the newest state, it goes out with the next tick
                    self.presence = state
                    room.presence_changed(self)
                case Admit():
                    pass  # the handshake answers it (serve)

    # -- the connection's life ----------------------------------------------
    async def serve(self, join: Callable[[Connection, Hello], Awaitable[Room | None]]) -> None:
        """Run the connection: handshake, join a room via ``join(self, hello)``, then read until closed."""
        heartbeat.register(self, self.config.heartbeat, self.config.heartbeat_timeout)
        try:
            hello = await self._handshake()
            if hello is None:
                return
            # What is queued while joining is the welcome: its parts (W36) are not held to the bound.
            self.buffer.welcoming = True
            try:
                self.room = await join(self, hello)
            finally:
                self.buffer.welcoming = False
            if self.room is None:
                return
            self.session.joined()
            await self._read_loop()
        finally:
            self.closed = True
            heartbeat.unregister(self, self.config.heartbeat, self.config.heartbeat_timeout)
            if self.room is not None:
                self.room.leave(self)
            self.buffer.close(CloseCode.NORMAL, "bye")
            writer = self.buffer.writer
            if writer is not None:
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await asyncio.wait_for(asyncio.shield(writer), timeout=3.0)
                if not writer.done():
                    writer.cancel()
            for task in (self._closer, self._pinging):  # every task this connection started ends with it
                if task is not None:
                    with contextlib.suppress(asyncio.CancelledError, Exception):
                        await asyncio.wait_for(task, timeout=SLOW_CONSUMER_GRACE + 2.0)
            if not self.ws.closed:
                with contextlib.suppress(Exception):
                    await asyncio.wait_for(self.ws.close(), timeout=1.0)

    def quiet(self, silent: float) -> None:
        """Silent ``silent`` seconds, past ``heartbeat``: ping; past ``heartbeat_timeout``, drop with 4011 (W12)."""
        if self.closed:
            return
        if silent >= self.config.heartbeat_timeout:
            log.info("dropping silent peer %s after %.1f s", self.sid, silent)
            self.closed = True
            heartbeat.unregister(self, self.config.heartbeat, self.config.heartbeat_timeout)
            if self.room is not None:
                self.room.leave(self)  # free its place and tell the others now
            self._closer = asyncio.get_running_loop().create_task(
                self._hard_close(CloseCode.HEARTBEAT_TIMEOUT, "heartbeat timeout: reconnect and resume")
            )
            return
        now = time.monotonic()
        if now - self._pinged >= self.config.heartbeat and (self._pinging is None or self._pinging.done()):
            self._pinged = now  # again after another heartbeat of silence
            self._pinging = asyncio.get_running_loop().create_task(self._ping())

    async def _ping(self) -> None:
        with contextlib.suppress(Exception):
            await self.ws.ping()

    async def _receive(self) -> Any:
        """The next data message (or close), answering pings; every frame counts as a sign of life."""
        while True:
            msg = await self.ws.receive()
            self.last_heard = time.monotonic()
            if msg.type == WSMsgType.PING:
                with contextlib.suppress(Exception):
                    await self.ws.pong(msg.data)
                continue
            if msg.type == WSMsgType.PONG:
                continue
            return msg

    async def _handshake(self) -> Hello | None:
        try:
            async with asyncio.timeout(self.config.handshake_timeout):
                msg = await self._receive()
        except TimeoutError:
            self.send(Error(ErrorCode.HANDSHAKE_REQUIRED, "no hello within the handshake timeout"))
            self.close(CloseCode.HANDSHAKE_TIMEOUT, "handshake timeout")
            return None
        if msg.type not in (WSMsgType.BINARY, WSMsgType.TEXT):
            return None
        try:
            first = self.codec.decode_client(msg.data)
        except DecodeError as exc:
            self._act(self.session.undecodable(exc.code, exc.reason, time.monotonic()))
            return None
        actions = self.session.receive(first, time.monotonic())
        if actions and isinstance(actions[0], Admit):
            return actions[0].hello
        self._act(actions)
        return None

    def set_identity(self, identity: Identity, replica: str, *, issued_token: str | None = None) -> None:
        """Called once the hello is accepted (and again when a steward changes the role)."""
        # A new role keeps the colour its identity has here (SPEC W11a); a new identity gets its own.
        same = identity.id == self.identity.id
        colour = self.peer.color if same else colour_for(identity.id)
        self.identity = identity
        self.replica = replica
        if issued_token is not None:
            self.issued_token = issued_token
        self.peer = Peer(self.sid, identity.name, identity.role, identity.origin, colour)

    async def _read_loop(self) -> None:
        ws = self.ws
        while True:
            # _receive, written out: one coroutine less to pass through for every message.
            msg = await ws.receive()
            self.last_heard = time.monotonic()
            if msg.type == WSMsgType.PING:
                with contextlib.suppress(Exception):
                    await ws.pong(msg.data)
                continue
            if msg.type == WSMsgType.PONG:
                continue
            if self.closed:
                break
            if msg.type not in (WSMsgType.BINARY, WSMsgType.TEXT):
                break
            pause = self.budget.read(len(msg.data))
            if pause > 0:
                # W17: past the reading pace, what the peer sends waits in its own socket, undecoded.
                self.metrics.refused.labels(limit="reading_paused").inc()
                await asyncio.sleep(pause)
            try:
                message = self.codec.decode_client(msg.data)
            except DecodeError as exc:
                self._act(self.session.undecodable(exc.code, exc.reason, time.monotonic()))
                continue
            self._size = len(msg.data)
            if type(message) is Ops and self.session.state is ServerState.MEMBER and self.room is not None:
                # The message of every op, decided as the session rules decide it (W5): delivered,
                # without building the action list that says so.
                self._deliver_ops(self.room, message)
                continue
            self._act(self.session.receive(message, time.monotonic()))

    def _deliver_ops(self, room: Room, batch: Ops) -> None:
        ops, invalid = batch.ops, batch.invalid
        refusal = self.budget.take_ops(self.identity.id, len(ops) + len(invalid), self._size)
        if refusal is not None:
            self._rate_limited((*ops, *invalid), refusal)  # both name a stamp and an id
            return
        if invalid:
            self._reject_invalid(invalid)
        if ops:
            room.submit(self, ops)

    def _request_peers(self, room: Room, request: PeersRequest) -> None:
        # A page is a read of up to max_peers_page members: bounded like presence (W23).
        if self.presence_bucket.take():
            room.request_peers(self, request)
        else:
            self.error(ErrorCode.RATE_LIMITED, "too many peers requests: wait and ask again")

    def _reject_invalid(self, invalid: tuple[InvalidOp, ...]) -> None:
        # W10a: each is refused alone and the rest of the batch stands; the message still
        # counts once toward the error limit, like any other invalid input (W10).
        for bad in invalid:
            self.send(Reject(bad.stamp, bad.id, bad.code, bad.reason, rule="W8"))
        self.metrics.ops_rejected.labels(code=ErrorCode.BAD_MESSAGE.value).inc(len(invalid))
        if self.session.count_error(time.monotonic()):
            self.close(CloseCode.PROTOCOL_ERROR, "too many invalid messages")

    def _presence_over_budget(self) -> None:
        self.metrics.presence_dropped.inc()
        if self.budget.notice_due():
            allowed = self.budget.presence.allowed
            self.send(Error(ErrorCode.RATE_LIMITED, f"presence_bytes_rate: {allowed}; presence dropped"))

    def _rate_limited(self, ops: tuple[Any, ...], refusal: Refusal) -> None:
        # W9a, W17: the rule names the budget; retry_after is when this batch fits it.
        wait, reason = refusal.retry_after, refusal.reason
        for op in ops:
            self.send(
                Reject(
                    op.stamp,
                    op.id,
                    ErrorCode.RATE_LIMITED,
                    reason,
                    rule=refusal.limit,
                    allowed=refusal.allowed,
                    retry_after=wait,
                )
            )
        self.metrics.ops_rejected.labels(code=ErrorCode.RATE_LIMITED.value).inc(len(ops))
        now = time.monotonic()
        # An episode of limiting ends after a quiet second; a flood is one long episode.
        if self._limited_since is None or now - self._last_limited > 1.0:
            self._limited_since = now
        self._last_limited = now
        if now - self._limited_since > self.config.flood_close_after:
            self.close(CloseCode.RATE_LIMITED, "rate limit exceeded for too long")
