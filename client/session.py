"""The connection engine of a weaver: handshake, resume, reconnect, send and receive.

Theory of operation:

1. One ``run`` loop owns the connection. Each attempt opens the socket, sends ``hello``
   (``seq`` = the last seq this replica saw, so the server sends only what was missed),
   waits for ``welcome``, then pumps with two owned tasks: a reader and a writer. The
   hello asks for a welcome in parts (W36) in the compact form (W37): each part is
   validated into the snapshot as it arrives, in the welcome's form (while the next one is
   on its way), and the replica is welcomed once, after
   the last; a connection lost before then is an attempt like any other, and the next one
   starts over with a fresh hello.
2. The reader decodes every server message and applies it to the :class:`Replica`, the
   :class:`PendingOps` and the presence map, then emits events. Every stamp received is
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
6. Identity (SPEC W5): the hello carries the token the weaver was given, else the guest
   token the server issued it earlier (``welcome.token``), kept in an
   :class:`IdentityStore`. A stored guest token the server refuses (4001) is set aside for
   one attempt without a token: a welcome there replaces it, a refusal there is final.
7. A replica id belongs to the identity that first used it. ``replica_in_use`` (then 4000)
   makes the session take a new replica id and re-stamp its unacknowledged ops, in order,
   before it connects again at once; nothing queued is lost. Ops are never re-stamped
   otherwise: a resend with its own stamp is applied once, or acked with its original seq.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import contextlib
import json
import logging
import secrets
import socket
from collections import deque
from collections.abc import Callable
from typing import Any, Final, Literal
from urllib.parse import urlsplit

from websockets.asyncio.client import ClientConnection as WebSocket
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed, InvalidHandshake, InvalidStatus, InvalidURI
from websockets.typing import Subprotocol

from dreamloom.protocol import (
    CLIENT_SIDE_LIMITS,
    DEFAULT_LIMITS,
    JSON,
    MSGPACK,
    Ack,
    Clock,
    CloseCode,
    Codec,
    DecodeError,
    Error,
    Hello,
    Identity,
    Join,
    Leave,
    Op,
    Ops,
    Peer,
    PeersPage,
    PeersPresence,
    PeersRequest,
    Ping,
    PolicyUpdate,
    Pong,
    Presence,
    PresenceState,
    Reject,
    Roster,
    ServerMessage,
    Stamp,
    Tapestry,
    Welcome,
    codec_for,
)
from dreamloom.protocol.codec import collector_paused
from dreamloom.protocol.connection import (
    Broadcast,
    CannotResume,
    ClientConnection,
    CloseAction,
    Gap,
    PartReceived,
    Received,
    Violation,
    Welcomed,
)
from dreamloom.protocol.messages import FEATURES, ClientKind

from .backoff import Backoff
from .errors import BACK_OFF, RETRYABLE, Closed, Rejected
from .events import Disconnect, FragmentEvent, PeerEvent, PeerState, PolicyChange, Ready, ServerError
from .identity import IdentityStore, server_key
from .pending import Action, PendingOps
from .policy import Policy
from .replica import Replica

log = logging.getLogger("dreamloom.client")

Event = Ready | FragmentEvent | PeerEvent | PolicyChange | Disconnect | ServerError | Rejected

#: Handshake statuses worth retrying (the server is starting, overloaded or throttling).
_RETRY_STATUS: Final = frozenset({408, 425, 429})
_MAX_BATCH_BYTES: Final = DEFAULT_LIMITS.max_message_bytes - 4096
#: Most ops in flight (sent, not yet answered). A rate refusal halves the window; acks reopen it.
_MAX_WINDOW: Final = 4 * DEFAULT_LIMITS.max_ops_per_batch
#: New replica ids in a row (replica_in_use without a welcome between) before giving up.
_MAX_RENEWALS: Final = 3


def new_replica_id() -> str:
    """A fresh random replica id for a weaver.

    >>> len(new_replica_id()), new_replica_id()[0]
    (17, 'w')
    """
    return f"w{secrets.token_hex(8)}"


def refusal_text(url: str, status: int, body: bytes | bytearray | None) -> str:
    """What a refused WebSocket handshake means, with the server's own message and a hint.

    >>> print(refusal_text("ws://h:1/ws/x", 404, b"Not Found"))
    the server refused ws://h:1/ws/x with HTTP 404: Not Found (is it a Dreamloom server at http://HOST:PORT?)
    """
    message = _server_message(body)
    hint = {
        400: "sanctuary names are 1-64 letters, digits, _ . : -",
        401: "the token was refused",
        403: "the server refused this client",
        404: "is it a Dreamloom server at http://HOST:PORT?",
    }.get(status, "" if status >= 500 else "is this a Dreamloom server?")
    text = f"the server refused {url} with HTTP {status}"
    if message:
        text += f": {message}"
    return f"{text} ({hint})" if hint else text


def _server_message(body: bytes | bytearray | None) -> str:
    if not body:
        return ""
    text = bytes(body).decode("utf-8", "replace").strip()
    with contextlib.suppress(ValueError, AttributeError, TypeError):
        message = json.loads(text)["error"]["message"]
        if isinstance(message, str):
            return message[:200]
    return " ".join(text.split())[:200]


def failure_text(url: str, exc: BaseException) -> str:
    """What a failed connection attempt means, for a person.

    >>> failure_text("ws://127.0.0.1:1/ws/a", ConnectionRefusedError(111, "Connect call failed"))
    'nothing listens at 127.0.0.1:1 (connection refused): is the server running, and is the port right?'
    """
    where = urlsplit(url).netloc
    if isinstance(exc, ConnectionRefusedError):
        return f"nothing listens at {where} (connection refused): is the server running, and is the port right?"
    if isinstance(exc, socket.gaierror):
        return f"unknown host in {where} ({exc.strerror or exc}): is the host name right?"
    if isinstance(exc, TimeoutError):
        return f"no answer from {where} in time: is the host right, and does a firewall let it through?"
    return f"{type(exc).__name__}: {exc}"


def token_claims(token: str) -> dict[str, Any]:
    """The claims of a JWT, read without checking its signature (the server checks it;
    the SDK only reads them to warn its author). Empty when it is not a readable JWT.

    >>> token_claims("not a token")
    {}
    """
    try:
        part = token.split(".")[1]
        claims = json.loads(base64.urlsafe_b64decode(part + "=" * (-len(part) % 4)))
    except (IndexError, ValueError, binascii.Error):
        return {}
    return claims if isinstance(claims, dict) else {}


class _Dropped(Exception):
    """The connection ended in a way worth reconnecting after."""

    def __init__(self, code: int | None, reason: str) -> None:
        super().__init__(reason)
        self.code = code
        self.reason = reason


class _Renew(Exception):
    """Connect again at once, as someone new: a new replica id, or no guest token this time."""

    def __init__(self, what: Literal["replica", "guest"], reason: str) -> None:
        super().__init__(reason)
        self.what = what
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
        client: ClientKind = "weaver",
        identities: IdentityStore | None = None,
        give_up_after: int | None = None,
    ) -> None:
        if codec not in (MSGPACK, JSON):
            raise ValueError(f"codec must be {MSGPACK!r} or {JSON!r}")
        self.replica_id = replica_id
        self.name = name
        self.client: ClientKind = client
        self.identities = identities or IdentityStore()
        self.replica = Replica(replica_id)
        self.clock = Clock(replica_id)
        self.pending = PendingOps()
        self.identity: Identity | None = None
        self.sid: str | None = None
        self.sanctuary = ""
        self.policy = Policy()
        self.peers: dict[str, PeerState] = {}
        #: Other connections in the sanctuary; ``peers`` may list only some of a crowded room (W23).
        self.peer_count = 0
        self.connected = False
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
        self._epoch: str | None = None  # of the last welcome: our seq counts in it (SPEC F5)
        self._last_error: Error | None = None
        self._wake = asyncio.Event()
        self._stop = asyncio.Event()
        self._abort = asyncio.Event()
        self._flush_timeout = 5.0
        self._changed = asyncio.Event()
        self._server = ""
        self._token: str | None = None
        self._sent_guest = False
        self._skip_guest = False
        self._renewals = 0
        self._warned = False
        self._give_up_after = give_up_after
        self._submitted: deque[float] = deque()
        # Paging the peers of a crowded room (W23): the next page to ask for, and who waits for the last.
        self._peers_ask: tuple[str | None] | None = None
        self._peers_paged: asyncio.Future[None] | None = None
        self._live = False
        #: The session rules of the current connection (a new one per connection).
        self._conn = ClientConnection(replica=replica_id, name=name, client=client)
        #: Failed attempts to connect in a row (none welcomed since the last welcome).
        self.failures = 0

    # -- what the weaver calls -------------------------------------------------
    def submit(self, ops: list[Op], group: int | None = None, *, held: bool = False) -> list[Action]:
        """Queue ops as one group, apply them optimistically, wake the writer."""
        now = asyncio.get_running_loop().time()
        self._submitted.extend(now for _ in ops)
        sized = [(op, len(self._codec.dumps(op.to_wire()))) for op in ops]
        actions = self.pending.add(sized, group, held=held)
        for op in ops:
            self.replica.apply_local(op)
        self._wake.set()
        self._notify()
        return actions

    def submitted_within(self, seconds: float) -> int:
        """How many ops this weaver submitted in the last ``seconds`` (at most a minute back)."""
        now = asyncio.get_running_loop().time()
        while self._submitted and self._submitted[0] < now - 60.0:
            self._submitted.popleft()
        return sum(1 for t in self._submitted if t >= now - seconds)

    def set_presence(self, state: PresenceState) -> None:
        """Show ``state`` to the others (latest wins; sent at most every presence interval)."""
        self._presence = state
        self._presence_dirty = True
        self._wake.set()

    async def fetch_peers(self) -> dict[str, PeerState]:
        """Read every peer of the sanctuary, page by page (W23); returns :attr:`peers`."""
        if self._peers_paged is None or self._peers_paged.done():
            self._peers_paged = asyncio.get_running_loop().create_future()
            self._peers_ask = (None,)
            self._wake.set()
        await asyncio.shield(self._peers_paged)
        return self.peers

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
        self.pending.release(group)
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
        """Stay connected to ``url`` until stopped; raise :class:`Closed` on a final close.

        ``token`` is the one the weaver was given; without it the guest token kept in
        ``identities`` for this server is presented, if any.
        """
        self._server, self._token = server_key(url), token
        self._warn_about_identity()
        self.failures = 0
        while not self._stop.is_set():
            code: int | None = None
            self._live = False
            try:
                await self._attempt(url)
            except _Renew as exc:
                self._renew(exc)
                continue
            except _Dropped as exc:
                code, reason = exc.code, exc.reason
            except InvalidStatus as exc:
                status = exc.response.status_code
                reason = refusal_text(url, status, exc.response.body)
                if status < 500 and status not in _RETRY_STATUS:
                    raise Closed(status, reason, http_status=status) from None
            except InvalidURI as exc:
                raise Closed(1002, str(exc)) from None
            except (OSError, TimeoutError, InvalidHandshake) as exc:
                reason = failure_text(url, exc)
            if self._stop.is_set():
                break
            delay = self._reconnect.next()
            if self._live:
                # One event per lost connection; the failed attempts that follow are logged only.
                self.failures = 0
                log.info("disconnected (%s %s); reconnecting in %.2fs", code, reason, delay)
                self._emit(Disconnect(code, reason, True, delay))
            else:
                self.failures += 1
                self._notify()
                if self._give_up_after is not None and self.failures >= self._give_up_after:
                    raise Closed(code or 1006, f"gave up after {self.failures} failed attempts: {reason}")
                log.warning("cannot connect (%s); attempt %d, next in %.2fs", reason, self.failures + 1, delay)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stop.wait(), delay)

    def _warn_about_identity(self) -> None:
        if self.client != "weaver" or self._warned:
            return
        claims = token_claims(self._token) if self._token else {}
        if self._token and claims.get("role") == "weaver" and not claims.get("gst"):
            return
        self._warned = True
        if self._token and claims and not claims.get("gst"):
            log.warning(
                "this weaver's token has role %r, not 'weaver': ask the steward for a weaver token "
                "(dreamloom token create --role weaver ...)",
                claims.get("role"),
            )
            return
        log.warning(
            "running without a weaver token: this weaver joins as a guest weaver. Its fragments are "
            "stamped 'ai' and bound by the sanctuary's Harmony rules, and a steward may refuse guest "
            "weavers (policy guest_weavers; invite-only sanctuaries never admit guests). Pass a weaver "
            "token (--token, $DREAMLOOM_TOKEN; created with: dreamloom token create --role weaver ...)"
        )

    def _hello_token(self) -> str | None:
        if self._token is not None:
            self._sent_guest = False
            return self._token
        guest = None if self._skip_guest else self.identities.load(self._server)
        self._sent_guest = guest is not None
        return guest

    def _renew(self, exc: _Renew) -> None:
        self._renewals += 1
        if self._renewals > _MAX_RENEWALS:
            raise Closed(CloseCode.PROTOCOL_ERROR, f"{exc.reason} ({self._renewals - 1} times in a row)")
        if exc.what == "guest":
            log.warning("the server refused this weaver's guest token (%s): joining as a new guest", exc.reason)
            self._skip_guest = True
        else:
            log.warning("replica id %s belongs to another identity: taking a new one", self.replica_id)
        # A new identity may not write with a replica id bound to the old one, so both renewals
        # take a new id (no round trip to learn it from a replica_in_use).
        self.switch_replica(new_replica_id())

    def switch_replica(self, replica_id: str) -> None:
        """Stamp from now on with ``replica_id``, and re-stamp every unacknowledged op with it,
        keeping their order (the server binds a replica id to one identity)."""
        old = self.replica_id
        self.replica_id = self.replica.replica_id = replica_id
        clock = Clock(replica_id)
        clock.observe_counter(self.clock.counter)
        self.clock = clock
        for old_stamp, fresh in self.pending.restamp(clock.tick):
            self.replica.replace_local(old_stamp, fresh)
        log.info("replica %s -> %s; %d queued ops re-stamped", old, replica_id, len(self.pending))

    async def _attempt(self, url: str) -> None:
        offered = [Subprotocol(self._preferred), Subprotocol(JSON if self._preferred == MSGPACK else MSGPACK)]
        async with connect(
            url,
            subprotocols=offered,
            max_size=CLIENT_SIDE_LIMITS.max_message_bytes,
            open_timeout=self._open_timeout,
            user_agent_header="dreamloom-weaver",
        ) as ws:
            try:
                await self._converse(ws)
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
        # The one close policy of every client (protocol/connection.py, SPEC W14).
        match self._conn.close(code):
            case CloseAction.NEW_REPLICA:
                return _Renew("replica", reason)
            case CloseAction.NEW_GUEST:
                return _Renew("guest", reason)
            case CloseAction.RECONNECT:
                return _Dropped(code, reason)
            case CloseAction.STOP:
                return Closed(code, reason)

    async def _converse(self, ws: WebSocket) -> None:
        if ws.subprotocol is None:
            raise Closed(1002, "the server chose no dreamloom subprotocol")
        self._codec = codec_for(ws.subprotocol, CLIENT_SIDE_LIMITS)
        self._last_error = None
        hello_seq = None if self._fresh or self.welcomes == 0 else self.replica.seq
        self._conn = ClientConnection(
            replica=self.replica_id,
            name=self.name,
            client=self.client,
            seq=hello_seq,
            epoch=self._epoch,
            features=FEATURES,
        )
        token = self._hello_token()
        await ws.send(self._frame(self._conn.hello(token, guest=self._sent_guest)))
        async with asyncio.timeout(self._handshake_timeout):
            welcome, snapshot = await self._await_welcome(ws)
        self._on_welcome(welcome, snapshot)
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
        if not len(self.pending) or self._flush_timeout <= 0:
            return
        waits = [asyncio.create_task(self.pending.empty.wait()), asyncio.create_task(self._abort.wait())]
        try:
            await asyncio.wait([*pumps, *waits], timeout=self._flush_timeout, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for task in waits:
                task.cancel()
            await asyncio.gather(*waits, return_exceptions=True)

    async def _await_welcome(self, ws: WebSocket) -> tuple[Welcome, Tapestry | None]:
        """The welcome and its snapshot, all its parts in (W36): nothing is applied before the last."""
        with contextlib.ExitStack() as paused:
            return await self._welcome_parts(ws, paused)

    async def _welcome_parts(self, ws: WebSocket, paused: contextlib.ExitStack) -> tuple[Welcome, Tapestry | None]:
        welcome: Welcome | None = None
        snapshot: Tapestry | None = None
        while True:
            msg = self._decode(await ws.recv())
            for event in self._conn.receive(msg) if msg is not None else ():
                match event:
                    case Welcomed(welcome=welcome):
                        # Kept at once: a guest token issued here names this replica's identity
                        # even if the connection is lost before the last part.
                        self._keep_identity(welcome)
                        if welcome.snapshot is not None:
                            snapshot = self._snapshot_part(Tapestry(), welcome.snapshot, welcome.form)
                        if welcome.parts is None:
                            return welcome, snapshot
                        # The parts' containers are no garbage either: no collection scans them
                        # between two parts, as none does while a whole welcome is decoded.
                        paused.enter_context(collector_paused())
                    case PartReceived(part=part, last=last):
                        # The session rules let a part in only after a welcome in parts, with a snapshot.
                        assert welcome is not None
                        assert snapshot is not None
                        self._snapshot_part(snapshot, part.fragments, welcome.form)
                        if last:
                            return welcome, snapshot
                    case CannotResume(asked=asked, since=since):
                        # The server cannot give what we missed op by op: start over from a snapshot.
                        self._fresh = True
                        raise _Dropped(None, f"cannot resume from seq {asked} (server offers {since})")
                    case Received(message=Error() as error):
                        self._last_error = error
                        log.warning("server error before welcome: %s %s", error.code.value, error.reason)
                    case Received(message=Ping(t=t)):
                        await ws.send(self._frame(Pong(t)))
                    case Violation(message=m, state=state):
                        log.error("the server sent %s while %s; ignored", m.type, state.value)

    def _decode(self, raw: str | bytes) -> ServerMessage | None:
        try:
            return self._codec.decode_server(raw)
        except DecodeError as exc:
            log.error("undecodable message from the server: %s", exc)
            return None

    def _frame(self, msg: Hello | Ops | Presence | PeersRequest | Pong) -> bytes | str:
        data = self._codec.encode(msg)
        return data if self._codec.binary else data.decode()

    @staticmethod
    def _snapshot_part(snapshot: Tapestry, fragments: list[Any], form: str | None) -> Tapestry:
        """Validate a welcome's fragments (all of them, or one part's, W36) into ``snapshot``.

        In the welcome's form: the compact one (W37) is loaded straight into the tapestry.
        """
        try:
            if form == "compact":
                snapshot.load_compact(fragments, CLIENT_SIDE_LIMITS)
            else:
                snapshot.load_entries(fragments, CLIENT_SIDE_LIMITS)
        except DecodeError as exc:
            raise Closed(1002, f"invalid snapshot in welcome: {exc}") from None
        return snapshot

    # -- welcome ------------------------------------------------------------------
    def _on_welcome(self, w: Welcome, snapshot: Tapestry | None) -> None:
        resumed = self.welcomes > 0
        self._fresh = False
        self._epoch = w.epoch
        self.identity, self.sid, self.sanctuary = w.identity, w.sid, w.sanctuary
        events: list[Event] = []
        if snapshot is not None:
            self.clock.observe_counter(snapshot.max_counter)
            events += self.replica.load_snapshot(snapshot, w.since, diff=resumed)
        events += self._apply_ops(w.ops, w.since + 1)
        self.replica.seq = max(self.replica.seq, w.seq)
        events += self._welcome_peers(w, resumed)
        previous, self.policy = self.policy, Policy.from_wire(w.policy)
        if resumed and previous != self.policy:
            events.append(PolicyChange(self.policy, previous))
        self._stamp_provenance(w.identity)
        self.pending.unsend_all()
        self.connected = self._live = True
        self.welcomes += 1
        self._reconnect.reset()
        for event in events:
            self._emit(event)
        if not resumed:
            self._log_start(w)
        self._emit(Ready(w.sanctuary, w.identity, w.seq, resumed, self.policy))
        self._wake.set()
        self._notify()

    def _log_start(self, w: Welcome) -> None:
        # The one line that tells a bot author the weaver is live, as whom, and how much it may add.
        me = w.identity
        guest = "a guest " if me.id.startswith("guest-") else ""
        log.info(
            "%s is weaving in sanctuary %r as %s%s %r (id %s, origin %s); %s",
            self.name,
            w.sanctuary,
            guest,
            me.role,
            me.name,
            me.id,
            me.origin,
            self.policy.describe_room(self.replica.live_counts) if me.origin == "ai" else "its fragments are organic",
        )

    def _keep_identity(self, w: Welcome) -> None:
        self._renewals = 0
        if self._token is not None:
            return  # the weaver's own token: the server has no reason to issue another
        if self._skip_guest:
            self.identities.forget(self._server)  # refused, and this welcome proves it is not needed
            self._skip_guest = False
        if w.token is not None:
            self.identities.save(self._server, w.token)

    def _welcome_peers(self, w: Welcome, resumed: bool) -> list[Event]:
        old = self.peers
        self.peers = {p.sid: PeerState(p, s) for p, s in w.peers if p.sid != w.sid}
        self.peer_count = w.peer_count if w.peer_count is not None else len(self.peers)
        if self._peers_paged is not None and not self._peers_paged.done():
            self._peers_ask = (None,)  # a page asked on the old connection is lost with it: start over
        if not resumed:
            return []
        left: list[Event] = [PeerEvent("left", p) for sid, p in old.items() if sid not in self.peers]
        return left + [PeerEvent("joined", p) for sid, p in self.peers.items() if sid not in old]

    def _stamp_provenance(self, identity: Identity) -> None:
        # The server stamps author and origin of creates; doing the same locally keeps the
        # optimistic view equal to what will be confirmed.
        for entry in self.pending:
            op = entry.op
            if op.t == "c" and (op.fields.get("author"), op.fields.get("origin")) != (identity.id, identity.origin):
                fixed = op.with_fields({**op.fields, "author": identity.id, "origin": identity.origin})
                self.pending.replace(entry, fixed)
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
    async def _read(self, ws: WebSocket) -> None:
        while True:
            msg = self._decode(await ws.recv())
            for event in self._conn.receive(msg) if msg is not None else ():
                match event:
                    case Broadcast(ops=batch, first_seq=first):
                        for applied in self._apply_ops(batch, first):
                            self._emit(applied)
                    case Gap(expected=expected, received=received):
                        raise _Dropped(None, f"missed ops {expected}..{received - 1}; resuming")
                    case Received(message=message):
                        await self._handle(ws, message)
                    case Violation(message=m, state=state):
                        log.error("the server sent %s while %s; ignored", m.type, state.value)
            self._notify()

    async def _handle(self, ws: WebSocket, msg: ServerMessage) -> None:
        match msg:
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
                self._peer_joined(msg.peer)
            case Leave():
                self._peer_left(msg.sid)
            case Roster():
                for sid in msg.left:  # leaves first, then joins (W24)
                    self._peer_left(sid)
                for peer in msg.joined:
                    self._peer_joined(peer)
                self.peer_count = max(0, msg.count - 1)
            case PeersPage():
                self._on_peers_page(msg)
            case PolicyUpdate():
                previous, self.policy = self.policy, Policy.from_wire(msg.policy)
                self._emit(PolicyChange(self.policy, previous))
            case Error():
                self._last_error = msg
                log.warning("server error: %s %s", msg.code.value, msg.reason)
                self._emit(ServerError(msg.code.value, msg.reason))
            case Ping():
                await ws.send(self._frame(Pong(msg.t)))
            case Pong():
                pass

    def _peer_joined(self, peer: Peer) -> None:
        if peer.sid == self.sid:
            return
        known = self.peers.get(peer.sid)
        # A peer listed by the welcome may be announced again by a roster (W24): not a new arrival.
        self.peers[peer.sid] = joined = PeerState(peer, known.presence if known is not None else PresenceState())
        if known is None:
            self._emit(PeerEvent("joined", joined))

    def _peer_left(self, sid: str) -> None:
        gone = self.peers.pop(sid, None)
        if gone is not None:
            self._emit(PeerEvent("left", gone))

    def _on_peers_page(self, page: PeersPage) -> None:
        for peer, state in page.peers:
            if peer.sid != self.sid:
                self.peers[peer.sid] = PeerState(peer, state)
        self.peer_count = max(0, page.count - 1)
        if page.next is not None and self._peers_paged is not None and not self._peers_paged.done():
            self._peers_ask = (page.next,)
            self._wake.set()
        elif self._peers_paged is not None and not self._peers_paged.done():
            self._peers_paged.set_result(None)

    def _on_ack(self, msg: Ack) -> None:
        for counter, seq in msg.acks:
            stamp = Stamp(counter, self.replica_id)
            entry = self.pending.pop(stamp)
            if entry is None:
                continue
            self.replica.note_ack(stamp, seq)
            if not entry.future.done():
                entry.future.set_result(seq)
        self._window = min(_MAX_WINDOW, self._window + len(msg.acks))
        if asyncio.get_running_loop().time() >= self._pause_until:
            self._retry.reset()
        if self.pending.has_unsent():
            self._wake.set()

    def _on_reject(self, msg: Reject) -> None:
        entry = self.pending.get(msg.stamp)
        if entry is None:
            return
        if msg.code in BACK_OFF or msg.retry_after is not None:
            self._hold(msg.code in RETRYABLE, msg.retry_after)
        if msg.code in RETRYABLE and entry.attempts < self._max_retries:
            # Sent again with its own stamp, in its place: the server applies a stamp it has
            # not applied whatever its order, so the op keeps its place in last-writer-wins.
            entry.attempts += 1
            self.pending.unsend(entry)
            self._wake.set()
            log.info("%s on %s; retry %d after back-off", msg.code.value, msg.id, entry.attempts)
            return
        self.pending.pop(msg.stamp)
        self.replica.drop_local(msg.stamp)
        error = Rejected(
            msg.code,
            msg.reason,
            fragment_id=msg.id,
            stamp=msg.stamp,
            rule=msg.rule,
            allowed=msg.allowed,
            retry_after=msg.retry_after,
        )
        if not entry.future.done():
            entry.future.set_exception(error)
        self._emit(error)

    def _hold(self, rate: bool, retry_after: float | None = None) -> None:
        now = asyncio.get_running_loop().time()
        if now >= self._pause_until:
            self._pause_until = now + self._retry.next()
            if rate:
                # Sending faster than the server admits only earns more refusals: keep fewer
                # ops in flight (and so smaller batches, which also fit a small burst).
                self._window = max(1, min(self._window, self.pending.in_flight()) // 2)
        if retry_after is not None:
            # The server said when the op can succeed: never sooner (W9), whatever our back-off.
            self._pause_until = max(self._pause_until, now + retry_after)

    # -- writing ------------------------------------------------------------------
    async def _write(self, ws: WebSocket) -> None:
        loop = asyncio.get_running_loop()
        while True:
            await self._wake.wait()
            self._wake.clear()
            if self.pending.has_unsent():
                hold = self._pause_until - loop.time()
                if hold > 0:
                    await asyncio.sleep(hold)  # a back-off the server asked for, not a synchronisation
                while (room := self._window - self.pending.in_flight()) > 0:
                    batch = self.pending.take(min(room, DEFAULT_LIMITS.max_ops_per_batch), _MAX_BATCH_BYTES)
                    if not batch:
                        break
                    await ws.send(self._frame(Ops(tuple(e.op for e in batch))))
            if self._peers_ask is not None:
                (after,), self._peers_ask = self._peers_ask, None
                await ws.send(self._frame(PeersRequest(after)))
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
