"""The connection engine of a weaver: handshake, resume, reconnect, send and receive.

Theory of operation:

1. One ``run`` loop owns the connection. Each attempt opens the socket, sends ``hello``
   (``seq`` = the last seq this replica saw, so the server sends only what was missed),
   waits for ``welcome``, then pumps with two owned tasks: a reader and a writer.
2. The reader decodes every server message and applies it to the :class:`Replica`, the
   :class:`Outbox` and the presence map, then emits events. Every stamp received is
   observed by the clock, so this replica's next write beats everything it has seen.
3. The writer sends queued ops (whole ``batch()`` groups per message when they fit) and
   the latest presence (throttled). After a back-off code it holds every op until the
   delay has passed.
4. A drop with a reconnectable close code (or a network failure) leads to a new attempt
   after a jittered exponential delay; unacknowledged ops are sent again after the next
   welcome. Any other close code, or a refused handshake (4xx), ends ``run`` with
   :class:`Closed`.
5. A gap in broadcast seqs (never expected on one connection) or a welcome that cannot
   resume makes the session reconnect and resynchronise rather than guess.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Mapping
from typing import Any, Final

from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidHandshake, InvalidStatus, InvalidURI
from websockets.typing import Subprotocol

from dreamloom.protocol import (
    CLIENT_SIDE_LIMITS,
    DEFAULT_LIMITS,
    JSON,
    MSGPACK,
    RECONNECTABLE,
    Ack,
    Clock,
    Codec,
    DecodeError,
    Error,
    Hello,
    Identity,
    Join,
    Leave,
    Op,
    Ops,
    PeersPresence,
    Ping,
    PolicyUpdate,
    Pong,
    Presence,
    PresenceState,
    Reject,
    ServerMessage,
    Stamp,
    Tapestry,
    Welcome,
    codec_for,
)
from dreamloom.protocol.messages import ClientKind

from .backoff import Backoff
from .errors import BACK_OFF, RETRYABLE, Closed, Rejected
from .events import Disconnect, FragmentEvent, PeerEvent, PeerState, PolicyChange, Ready, ServerError
from .outbox import Action, Outbox
from .replica import Replica

log = logging.getLogger("dreamloom.client")

Event = Ready | FragmentEvent | PeerEvent | PolicyChange | Disconnect | ServerError | Rejected

#: Close codes after which reconnecting makes sense besides the protocol's own list:
#: no close frame at all (1006), and the server's transient failures.
_TRANSIENT: Final = frozenset({1006, 1011, 1012, 1013, 1014})
#: Handshake statuses worth retrying (the server is starting, overloaded or throttling).
_RETRY_STATUS: Final = frozenset({408, 425, 429})
_MAX_BATCH_BYTES: Final = DEFAULT_LIMITS.max_message_bytes - 4096
#: Most ops in flight (sent, not yet answered). A rate refusal halves the window; acks reopen it.
_MAX_WINDOW: Final = 4 * DEFAULT_LIMITS.max_ops_per_batch


class _Dropped(Exception):
    """The connection ended in a way worth reconnecting after."""

    def __init__(self, code: int | None, reason: str) -> None:
        super().__init__(reason)
        self.code = code
        self.reason = reason


class Session:
    """The state and the connection loop behind a :class:`~dreamloom.client.Weaver`."""

    def __init__(
        self,
        *,
        replica_id: str,
        name: str,
        emit: Callable[[Event], None],
        codec: str = MSGPACK,
        reconnect: Backoff | None = None,
        retry: Backoff | None = None,
        max_retries: int = 8,
        open_timeout: float = 10.0,
        handshake_timeout: float = 10.0,
        presence_interval: float = 0.05,
    ) -> None:
        if codec not in (MSGPACK, JSON):
            raise ValueError(f"codec must be {MSGPACK!r} or {JSON!r}")
        self.replica_id = replica_id
        self.name = name
        self.replica = Replica(replica_id)
        self.clock = Clock(replica_id)
        self.outbox = Outbox()
        self.identity: Identity | None = None
        self.sid: str | None = None
        self.sanctuary = ""
        self.policy: Mapping[str, Any] = {}
        self.peers: dict[str, PeerState] = {}
        self.connected = False
        #: What the hello says this client is: always a weaver, but for the test helper standing in for a person.
        self.client_kind: ClientKind = "weaver"
        #: A guest token the server issued to this weaver (it came without one).
        self.guest_token: str | None = None
        self.welcomes = 0
        self._emit = emit
        self._preferred = codec
        self._codec: Codec = codec_for(codec, CLIENT_SIDE_LIMITS)
        self._reconnect = reconnect or Backoff(0.25, 15.0)
        self._retry = retry or Backoff(0.5, 30.0)
        self._max_retries = max_retries
        self._open_timeout = open_timeout
        self._handshake_timeout = handshake_timeout
        self._presence_interval = presence_interval
        self._presence: PresenceState | None = None
        self._presence_dirty = False
        self._presence_sent = 0.0
        self._pause_until = 0.0
        self._window = _MAX_WINDOW
        self._fresh = False
        self._last_error: Error | None = None
        self._wake = asyncio.Event()
        self._stop = asyncio.Event()
        self._abort = asyncio.Event()
        self._flush_timeout = 5.0
        self._changed = asyncio.Event()

    # -- what the weaver calls -------------------------------------------------
    def submit(self, ops: list[Op], group: int | None = None, *, held: bool = False) -> list[Action]:
        """Queue ops as one group, apply them optimistically, wake the writer."""
        sized = [(op, len(self._codec.dumps(op.to_wire()))) for op in ops]
        actions = self.outbox.add(sized, group, held=held)
        for op in ops:
            self.replica.apply_local(op)
        self._wake.set()
        self._notify()
        return actions

    def set_presence(self, state: PresenceState) -> None:
        """Show ``state`` to the others (latest wins; sent at most every presence interval)."""
        self._presence = state
        self._presence_dirty = True
        self._wake.set()

    @property
    def presence(self) -> PresenceState:
        """The presence last asked for."""
        return self._presence or PresenceState()

    @property
    def paused_for(self) -> float:
        """Seconds left before queued ops go out again after a back-off code."""
        return max(0.0, self._pause_until - asyncio.get_running_loop().time())

    def release(self, group: int) -> None:
        """Send the held ops of a group (the end of a weaver's ``batch()``)."""
        self.outbox.release(group)
        self._wake.set()

    def request_stop(self, flush_timeout: float = 5.0) -> None:
        """Ask ``run`` to send what is queued (up to ``flush_timeout`` s), close and return.

        A second request while the first is flushing stops at once.
        """
        if self._stop.is_set():
            self._abort.set()
        self._flush_timeout = flush_timeout
        self._stop.set()

    def reset_stop(self) -> None:
        """Allow ``run`` again after a stop."""
        self._stop, self._abort = asyncio.Event(), asyncio.Event()

    @property
    def stopping(self) -> bool:
        """Whether a stop was requested."""
        return self._stop.is_set()

    async def changed(self, within: float) -> None:
        """Wait until the next server message has been processed (at most ``within`` seconds)."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._changed.wait(), within)

    # -- the loop ---------------------------------------------------------------
    async def run(self, url: str, token: str | None) -> None:
        """Stay connected to ``url`` until stopped; raise :class:`Closed` on a final close."""
        while not self._stop.is_set():
            code: int | None = None
            try:
                await self._attempt(url, token)
            except _Dropped as exc:
                code, reason = exc.code, exc.reason
            except InvalidStatus as exc:
                status = exc.response.status_code
                if status < 500 and status not in _RETRY_STATUS:
                    raise Closed(status, f"handshake refused with HTTP {status}", http_status=status) from None
                reason = f"handshake refused with HTTP {status}"
            except InvalidURI as exc:
                raise Closed(1002, str(exc)) from None
            except (OSError, TimeoutError, InvalidHandshake) as exc:
                reason = f"{type(exc).__name__}: {exc}"
            if self._stop.is_set():
                break
            delay = self._reconnect.next()
            log.info("disconnected (%s %s); reconnecting in %.2fs", code, reason, delay)
            self._emit(Disconnect(code, reason, True, delay))
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stop.wait(), delay)

    async def _attempt(self, url: str, token: str | None) -> None:
        offered = [Subprotocol(self._preferred), Subprotocol(JSON if self._preferred == MSGPACK else MSGPACK)]
        async with connect(
            url,
            subprotocols=offered,
            max_size=CLIENT_SIDE_LIMITS.max_message_bytes,
            open_timeout=self._open_timeout,
            user_agent_header="dreamloom-weaver",
        ) as ws:
            try:
                await self._converse(ws, token)
            except ConnectionClosed as exc:
                self.connected = False
                raise self._closed(exc) from None
            finally:
                self.connected = False

    def _closed(self, exc: ConnectionClosed) -> Exception:
        rcvd = exc.rcvd
        code = rcvd.code if rcvd is not None else 1006
        reason = rcvd.reason if rcvd is not None else "connection lost"
        if self._last_error is not None and not reason:
            reason = f"{self._last_error.code.value}: {self._last_error.reason}"
        if code in RECONNECTABLE or code in _TRANSIENT:
            return _Dropped(code, reason)
        return Closed(code, reason)

    async def _converse(self, ws: ClientConnection, token: str | None) -> None:
        if ws.subprotocol is None:
            raise Closed(1002, "the server chose no dreamloom subprotocol")
        self._codec = codec_for(ws.subprotocol, CLIENT_SIDE_LIMITS)
        self._last_error = None
        hello_seq = None if self._fresh or self.welcomes == 0 else self.replica.seq
        # Without a token the server issues a guest one: reconnects present it to stay the same weaver.
        token = token or self.guest_token
        hello = Hello(name=self.name, replica=self.replica_id, seq=hello_seq, token=token, client=self.client_kind)
        await ws.send(self._frame(hello))
        async with asyncio.timeout(self._handshake_timeout):
            welcome = await self._await_welcome(ws)
        if welcome.token is not None:
            self.guest_token = welcome.token
        self._on_welcome(welcome, hello_seq)
        reader = asyncio.create_task(self._read(ws), name="dreamloom-reader")
        writer = asyncio.create_task(self._write(ws), name="dreamloom-writer")
        stopper = asyncio.create_task(self._stop.wait(), name="dreamloom-stop")
        tasks: tuple[asyncio.Task[Any], ...] = (reader, writer, stopper)
        try:
            done, _ = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
            if done == {stopper}:
                await self._flush_before_close(reader, writer)
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
        if stopper in done:
            await ws.close(1000, "weaver stopped")
            return
        for task in done:
            task.result()  # re-raises what ended the pump (a close, a gap)

    async def _flush_before_close(self, *pumps: asyncio.Task[None]) -> None:
        if not len(self.outbox) or self._flush_timeout <= 0:
            return
        waits = [asyncio.create_task(self.outbox.empty.wait()), asyncio.create_task(self._abort.wait())]
        try:
            await asyncio.wait([*pumps, *waits], timeout=self._flush_timeout, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for task in waits:
                task.cancel()
            await asyncio.gather(*waits, return_exceptions=True)

    async def _await_welcome(self, ws: ClientConnection) -> Welcome:
        while True:
            msg = self._decode(await ws.recv())
            if isinstance(msg, Welcome):
                return msg
            if isinstance(msg, Error):
                self._last_error = msg
                log.warning("server error before welcome: %s %s", msg.code.value, msg.reason)
            elif isinstance(msg, Ping):
                await ws.send(self._frame(Pong(msg.t)))

    def _decode(self, raw: str | bytes) -> ServerMessage | None:
        try:
            return self._codec.decode_server(raw)
        except DecodeError as exc:
            log.error("undecodable message from the server: %s", exc)
            return None

    def _frame(self, msg: Hello | Ops | Presence | Pong) -> bytes | str:
        data = self._codec.encode(msg)
        return data if self._codec.binary else data.decode()

    # -- welcome ------------------------------------------------------------------
    def _on_welcome(self, w: Welcome, hello_seq: int | None) -> None:
        resumed = self.welcomes > 0
        if w.snapshot is None and w.since != (hello_seq or 0):
            # The server cannot give what we missed op by op: start over from a snapshot.
            self._fresh = True
            raise _Dropped(None, f"cannot resume from seq {hello_seq} (server offers {w.since})")
        self._fresh = False
        self.identity, self.sid, self.sanctuary = w.identity, w.sid, w.sanctuary
        events: list[Event] = []
        if w.snapshot is not None:
            try:
                snapshot = Tapestry.from_data(w.snapshot, CLIENT_SIDE_LIMITS)
            except DecodeError as exc:
                raise Closed(1002, f"invalid snapshot in welcome: {exc}") from None
            self.clock.observe_counter(snapshot.max_counter)
            events += self.replica.load_snapshot(snapshot, w.since, diff=resumed)
        events += self._apply_ops(w.ops, w.since + 1)
        self.replica.seq = max(self.replica.seq, w.seq)
        events += self._welcome_peers(w, resumed)
        previous, self.policy = self.policy, w.policy
        if resumed and previous != w.policy:
            events.append(PolicyChange(w.policy, previous))
        self._stamp_provenance(w.identity)
        self.outbox.unsend_all()
        self.connected = True
        self.welcomes += 1
        self._reconnect.reset()
        for event in events:
            self._emit(event)
        self._emit(Ready(w.sanctuary, w.identity, w.seq, resumed, w.policy))
        self._wake.set()
        self._notify()

    def _welcome_peers(self, w: Welcome, resumed: bool) -> list[Event]:
        old = self.peers
        self.peers = {p.sid: PeerState(p, s) for p, s in w.peers if p.sid != w.sid}
        if not resumed:
            return []
        left: list[Event] = [PeerEvent("left", p) for sid, p in old.items() if sid not in self.peers]
        return left + [PeerEvent("joined", p) for sid, p in self.peers.items() if sid not in old]

    def _stamp_provenance(self, identity: Identity) -> None:
        # The server stamps author and origin of creates; doing the same locally keeps the
        # optimistic view equal to what will be confirmed.
        for entry in self.outbox:
            op = entry.op
            if op.t == "c" and (op.fields.get("author"), op.fields.get("origin")) != (identity.id, identity.origin):
                fixed = op.with_fields({**op.fields, "author": identity.id, "origin": identity.origin})
                self.outbox.replace(entry, fixed)
                self.replica.replace_local(op.stamp, fixed)

    def _apply_ops(self, ops: tuple[Op, ...], first_seq: int) -> list[Event]:
        events: list[Event] = []
        for i, op in enumerate(ops):
            seq = first_seq + i
            if seq <= self.replica.seq:
                continue
            self.clock.observe(op.stamp)
            event = self.replica.apply_remote(op, seq)
            if event is not None:
                events.append(event)
        return events

    # -- reading ------------------------------------------------------------------
    async def _read(self, ws: ClientConnection) -> None:
        while True:
            msg = self._decode(await ws.recv())
            if msg is not None:
                await self._handle(ws, msg)
            self._notify()

    async def _handle(self, ws: ClientConnection, msg: ServerMessage) -> None:
        match msg:
            case Ops():
                self._on_ops(msg)
            case Ack():
                self._on_ack(msg)
            case Reject():
                self._on_reject(msg)
            case PeersPresence():
                for pp in msg.peers:
                    known = self.peers.get(pp.sid)
                    if known is not None and pp.sid != self.sid:
                        self.peers[pp.sid] = moved = PeerState(known.peer, pp.state)
                        self._emit(PeerEvent("moved", moved))
            case Join():
                if msg.peer.sid != self.sid:
                    self.peers[msg.peer.sid] = joined = PeerState(msg.peer, PresenceState())
                    self._emit(PeerEvent("joined", joined))
            case Leave():
                gone = self.peers.pop(msg.sid, None)
                if gone is not None:
                    self._emit(PeerEvent("left", gone))
            case PolicyUpdate():
                previous, self.policy = self.policy, msg.policy
                self._emit(PolicyChange(msg.policy, previous))
            case Error():
                self._last_error = msg
                log.warning("server error: %s %s", msg.code.value, msg.reason)
                self._emit(ServerError(msg.code.value, msg.reason))
            case Ping():
                await ws.send(self._frame(Pong(msg.t)))
            case Pong():
                pass
            case Welcome():
                log.error("unexpected second welcome; ignored")

    def _on_ops(self, msg: Ops) -> None:
        first = msg.seq or 0
        if first > self.replica.seq + 1:
            raise _Dropped(None, f"missed ops {self.replica.seq + 1}..{first - 1}; resuming")
        for event in self._apply_ops(msg.ops, first):
            self._emit(event)

    def _on_ack(self, msg: Ack) -> None:
        for counter, seq in msg.acks:
            stamp = Stamp(counter, self.replica_id)
            entry = self.outbox.pop(stamp)
            if entry is None:
                continue
            self.replica.note_ack(stamp, seq)
            if not entry.future.done():
                entry.future.set_result(seq)
        self._window = min(_MAX_WINDOW, self._window + len(msg.acks))
        if asyncio.get_running_loop().time() >= self._pause_until:
            self._retry.reset()
        if self.outbox.has_unsent():
            self._wake.set()

    def _on_reject(self, msg: Reject) -> None:
        entry = self.outbox.pop(msg.stamp)
        if entry is None:
            return
        self.replica.drop_local(msg.stamp)
        if msg.code in BACK_OFF:
            self._hold(msg.code in RETRYABLE)
        if msg.code in RETRYABLE and entry.attempts < self._max_retries:
            entry.attempts += 1
            retry = Op(entry.op.t, entry.op.id, self.clock.tick(), entry.op.fields)
            self.outbox.requeue(entry, retry)
            self.replica.apply_local(retry)
            self._wake.set()
            log.info("%s on %s; retry %d after back-off", msg.code.value, msg.id, entry.attempts)
            return
        error = Rejected(msg.code, msg.reason, fragment_id=msg.id, stamp=msg.stamp, rule=msg.rule, allowed=msg.allowed)
        if not entry.future.done():
            entry.future.set_exception(error)
        self._emit(error)

    def _hold(self, rate: bool) -> None:
        now = asyncio.get_running_loop().time()
        if now >= self._pause_until:
            self._pause_until = now + self._retry.next()
            if rate:
                # Sending faster than the server admits only earns more refusals: keep fewer
                # ops in flight (and so smaller batches, which also fit a small burst).
                self._window = max(1, min(self._window, self.outbox.in_flight()) // 2)

    # -- writing ------------------------------------------------------------------
    async def _write(self, ws: ClientConnection) -> None:
        loop = asyncio.get_running_loop()
        while True:
            await self._wake.wait()
            self._wake.clear()
            if self.outbox.has_unsent():
                hold = self._pause_until - loop.time()
                if hold > 0:
                    await asyncio.sleep(hold)  # a back-off the server asked for, not a synchronisation
                while (room := self._window - self.outbox.in_flight()) > 0:
                    batch = self.outbox.take(min(room, DEFAULT_LIMITS.max_ops_per_batch), _MAX_BATCH_BYTES)
                    if not batch:
                        break
                    await ws.send(self._frame(Ops(tuple(e.op for e in batch))))
            if self._presence_dirty:
                wait = self._presence_sent + self._presence_interval - loop.time()
                if wait > 0:
                    await asyncio.sleep(wait)  # presence throttle: latest state wins
                self._presence_dirty = False
                self._presence_sent = loop.time()
                await ws.send(self._frame(Presence(self.presence)))

    def _notify(self) -> None:
        self._changed.set()
        self._changed = asyncio.Event()
