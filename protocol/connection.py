"""The session rules of SPEC W5-W14 as two sans-I/O state machines, one per side.

Theory of operation (rules first, as in h11):

1. A connection is driven by what it *receives*: ``receive(message)`` takes one
   decoded message and returns the events it means. Nothing here reads or writes
   a socket, sleeps or looks at a clock it was not given: the I/O layers (the
   SDK, the server's connection, the test clients, the browser's port in
   ``client/web/protocol/connection.js``) pump bytes and act on events.
2. Which message may arrive in which state is a table (``CLIENT_TRANSITIONS``,
   ``SERVER_TRANSITIONS``), not nested ifs. A message the table does not allow
   is a protocol violation of the peer.
3. Client side: ``hello()`` builds the hello and waits for the welcome. A welcome
   that cannot resume from the seq asked (W5a) is ``CannotResume``. After it,
   broadcasts must continue from ``seq + 1`` without gap: a gap is ``Gap`` and
   the client reconnects with its last applied seq; ops at or below the applied
   seq are dropped (a broadcast racing a welcome). ``close(code)`` says what to
   do next (:func:`close_action`, the one close-code policy of every client).
4. Server side: the first message must be ``hello`` (W5); a second hello is
   ``already_joined``; invalid messages are counted and ten within sixty
   seconds close the connection (W10). The caller passes the time.

Both machines are run by the vectors in ``protocol/vectors/connection/``, in
Python and in JavaScript, so every client follows the same rules.
"""

from __future__ import annotations

import enum
from collections import deque
from dataclasses import dataclass

from .errors import RECONNECTABLE, CloseCode, ErrorCode
from .messages import (
    Ack,
    ClientKind,
    ClientMessage,
    Error,
    Hello,
    Join,
    Leave,
    Ops,
    PeersPage,
    PeersPresence,
    PeersRequest,
    Ping,
    PolicyUpdate,
    Pong,
    Presence,
    Reject,
    Roster,
    ServerMessage,
    SnapshotPart,
    Welcome,
)
from .ops import Op


# -- client ---------------------------------------------------------------------
class ClientState(enum.Enum):
    """Where a client connection stands."""

    IDLE = "idle"  # connected, hello not sent
    AWAITING_WELCOME = "awaiting_welcome"
    AWAITING_PARTS = "awaiting_parts"  # a welcome in parts (W36): its snapshot parts come next
    LIVE = "live"
    CLOSED = "closed"


_LIVE_MESSAGES: frozenset[type] = frozenset(
    {Ops, Ack, Reject, Join, Leave, Roster, PeersPage, PeersPresence, PolicyUpdate, Error, Ping, Pong}
)

#: Server messages a client may receive in each state.
CLIENT_TRANSITIONS: dict[ClientState, frozenset[type]] = {
    ClientState.IDLE: frozenset(),
    ClientState.AWAITING_WELCOME: frozenset({Welcome, Error, Ping, Pong}),
    ClientState.AWAITING_PARTS: frozenset({SnapshotPart, Error, Ping, Pong}),
    ClientState.LIVE: _LIVE_MESSAGES,
    ClientState.CLOSED: frozenset(),
}


@dataclass(frozen=True, slots=True)
class Welcomed:
    """The welcome arrived: ``resumed`` when its ``ops`` continue from the seq the hello gave."""

    welcome: Welcome
    resumed: bool


@dataclass(frozen=True, slots=True)
class PartReceived:
    """A part of the welcome's snapshot (W36): its fragments follow the ones before; ``last`` ends it."""

    part: SnapshotPart
    last: bool


@dataclass(frozen=True, slots=True)
class CannotResume:
    """The welcome does not continue from the seq asked (W5a): reconnect asking for a snapshot."""

    asked: int | None
    since: int


@dataclass(frozen=True, slots=True)
class Broadcast:
    """Ops others (or this client) wrote, to apply in order; op *i* has seq ``first_seq + i``."""

    ops: tuple[Op, ...]
    first_seq: int


@dataclass(frozen=True, slots=True)
class Gap:
    """A broadcast skipped seqs (W5a): reconnect with the last applied seq."""

    expected: int
    received: int


@dataclass(frozen=True, slots=True)
class Received:
    """Any other message of the live session, for the application: acks, rejects, peers, policy, errors."""

    message: ServerMessage


@dataclass(frozen=True, slots=True)
class Violation:
    """The server sent a message the session rules do not allow here (close with 1002)."""

    message: ServerMessage
    state: ClientState


ClientEvent = Welcomed | PartReceived | CannotResume | Broadcast | Gap | Received | Violation


class CloseAction(enum.Enum):
    """What a client does after its connection closed (SPEC W14)."""

    RECONNECT = "reconnect"  # after a back-off, resuming by seq
    NEW_REPLICA = "new_replica"  # replica_in_use: a new replica id, unacked ops re-stamped, then reconnect
    NEW_GUEST = "new_guest"  # the server refused a guest token the client kept: once more without it
    STOP = "stop"  # final: tell the person or the bot author why


#: Closes no server sends but that a lost or failing connection reports: worth another try.
TRANSIENT_CLOSES: frozenset[int] = frozenset({1006, 1011, 1012, 1013, 1014})
_REFUSED_TOKEN = frozenset({ErrorCode.UNAUTHORIZED, ErrorCode.TOKEN_EXPIRED})


def close_action(code: int, error: ErrorCode | None = None, *, sent_guest_token: bool = False) -> CloseAction:
    """The one close-code policy of every Dreamloom client.

    ``error`` is the code of the last ``error`` message before the close, if any;
    ``sent_guest_token`` whether the hello carried a guest token the client kept.
    """
    if code == CloseCode.PROTOCOL_ERROR and error is ErrorCode.REPLICA_IN_USE:
        return CloseAction.NEW_REPLICA
    if code == CloseCode.UNAUTHORIZED and error in _REFUSED_TOKEN and sent_guest_token:
        return CloseAction.NEW_GUEST
    if code in RECONNECTABLE or code in TRANSIENT_CLOSES:
        return CloseAction.RECONNECT
    return CloseAction.STOP


@dataclass
class ClientConnection:
    """The client half of a session. Build one per WebSocket; ``seq`` carries over between them.

    Example::

        conn = ClientConnection(replica="r-ana", name="Ana", client="person", seq=42)
        hello = conn.hello(token=None)           # send it
        for event in conn.receive(welcome):       # then feed every decoded message
            ...
    """

    replica: str
    name: str
    client: ClientKind = "person"
    #: The last seq applied (None: nothing yet, the welcome brings a snapshot).
    seq: int | None = None
    #: The run of the sanctuary ``seq`` was counted in (F5): sent back with it, kept from each welcome.
    epoch: str | None = None
    #: Sent in the hello: what this client handles beyond the base protocol (W36 ``"parts"``, W37 ``"compact"``).
    features: tuple[str, ...] = ()
    state: ClientState = ClientState.IDLE
    last_error: Error | None = None
    sent_guest_token: bool = False
    _asked: int | None = None
    _next_part: int = 0  # the part expected next while AWAITING_PARTS
    _parts: int = 0

    def hello(self, token: str | None = None, *, guest: bool = False) -> Hello:
        """The hello to send first (``guest``: the token is a guest token this client kept)."""
        if self.state is not ClientState.IDLE:
            raise ValueError(f"hello is sent once, first (the connection is {self.state.value})")
        self.state = ClientState.AWAITING_WELCOME
        self._asked = self.seq
        self.sent_guest_token = guest and token is not None
        self.last_error = None
        epoch = self.epoch if self.seq is not None else None
        return Hello(
            name=self.name,
            replica=self.replica,
            seq=self.seq,
            token=token,
            client=self.client,
            epoch=epoch,
            features=self.features,
        )

    def receive(self, message: ServerMessage) -> list[ClientEvent]:
        """The events one server message means."""
        if type(message) not in CLIENT_TRANSITIONS[self.state]:
            return [Violation(message, self.state)]
        if isinstance(message, Error):
            self.last_error = message
        if isinstance(message, Welcome):
            return self._welcome(message)
        if isinstance(message, Ops):
            return self._ops(message)
        if isinstance(message, SnapshotPart):
            return self._part(message)
        return [Received(message)]

    def close(self, code: int) -> CloseAction:
        """The connection closed with ``code``: what to do next."""
        self.state = ClientState.CLOSED
        error = self.last_error.code if self.last_error is not None else None
        return close_action(code, error, sent_guest_token=self.sent_guest_token)

    def _welcome(self, w: Welcome) -> list[ClientEvent]:
        if w.snapshot is None and w.since != (self._asked or 0):
            self.state = ClientState.CLOSED
            self.seq = None  # start over from a snapshot
            return [CannotResume(self._asked, w.since)]
        self.state = ClientState.LIVE
        if w.parts is not None:
            self.state, self._next_part, self._parts = ClientState.AWAITING_PARTS, 1, w.parts
        resumed = w.snapshot is None
        self.seq, self.epoch = w.seq, w.epoch
        return [Welcomed(w, resumed)]

    def _part(self, p: SnapshotPart) -> list[ClientEvent]:
        # The parts come in order, right after their welcome and nothing between (W36).
        if p.seq != self.seq or p.part != self._next_part or p.parts != self._parts:
            return [Violation(p, self.state)]
        self._next_part += 1
        last = self._next_part == self._parts
        if last:
            self.state = ClientState.LIVE
        return [PartReceived(p, last)]

    def _ops(self, msg: Ops) -> list[ClientEvent]:
        first = msg.seq or 0
        applied = self.seq or 0
        if first > applied + 1:
            self.state = ClientState.CLOSED
            return [Gap(applied + 1, first)]
        skip = applied + 1 - first  # a broadcast that overlaps what the welcome brought
        fresh = msg.ops[skip:] if skip > 0 else msg.ops
        if not fresh:
            return []
        self.seq = first + len(msg.ops) - 1
        return [Broadcast(fresh, first + max(skip, 0))]


# -- server ---------------------------------------------------------------------
class ServerState(enum.Enum):
    """Where the server side of a connection stands."""

    HANDSHAKE = "handshake"
    MEMBER = "member"
    CLOSED = "closed"


#: Client messages the server acts on in each state; anything else is refused as the table says.
SERVER_TRANSITIONS: dict[ServerState, frozenset[type]] = {
    ServerState.HANDSHAKE: frozenset({Hello}),
    ServerState.MEMBER: frozenset({Ops, Presence, PeersRequest, Ping, Pong}),
    ServerState.CLOSED: frozenset(),
}

#: Errors that end the connection, with their close codes (W5, W10).
CLOSING_ERRORS: dict[ErrorCode, CloseCode] = {
    ErrorCode.UNSUPPORTED_VERSION: CloseCode.UNSUPPORTED_VERSION,
    ErrorCode.HANDSHAKE_REQUIRED: CloseCode.PROTOCOL_ERROR,
    ErrorCode.SANCTUARY_FULL: CloseCode.SANCTUARY_FULL,
    ErrorCode.UNAUTHORIZED: CloseCode.UNAUTHORIZED,
    ErrorCode.TOKEN_EXPIRED: CloseCode.UNAUTHORIZED,
    ErrorCode.FORBIDDEN: CloseCode.FORBIDDEN,
    ErrorCode.BANNED: CloseCode.BANNED,
    ErrorCode.REPLICA_IN_USE: CloseCode.PROTOCOL_ERROR,
    ErrorCode.SHUTTING_DOWN: CloseCode.GOING_AWAY,
}


@dataclass(frozen=True, slots=True)
class Admit:
    """The hello to authenticate and join with."""

    hello: Hello


@dataclass(frozen=True, slots=True)
class Deliver:
    """A member's message for its sanctuary: ``ops`` (with their invalid ops), ``presence`` or a ``peers`` request."""

    message: Ops | Presence | PeersRequest


@dataclass(frozen=True, slots=True)
class Reply:
    """A message to send back to this connection only."""

    message: Error | Pong


@dataclass(frozen=True, slots=True)
class Close:
    """Close the connection with ``code`` (after what is queued)."""

    code: CloseCode
    reason: str


ServerAction = Admit | Deliver | Reply | Close


@dataclass
class ServerConnection:
    """The server half of a session: what each client message means, and when errors close it.

    ``now`` arguments are monotonic seconds, passed by the caller (time is never read here).
    """

    error_limit: int = 10
    error_window: float = 60.0
    state: ServerState = ServerState.HANDSHAKE
    #: Times of recent invalid inputs; made at the first (an empty deque is most of a kilobyte).
    _errors: deque[float] | None = None

    def receive(self, message: ClientMessage, now: float) -> list[ServerAction]:
        """What to do with one decoded client message."""
        if self.state is ServerState.HANDSHAKE:
            if isinstance(message, Hello):
                return [Admit(message)]
            return self.refuse(
                ErrorCode.HANDSHAKE_REQUIRED, f"the first message must be hello, not {message.type}", now
            )
        if self.state is ServerState.CLOSED:
            return []
        if isinstance(message, Hello):
            return self.refuse(ErrorCode.ALREADY_JOINED, "hello was already accepted on this connection", now)
        if isinstance(message, Ping):
            return [Reply(Pong(message.t))]
        if isinstance(message, Pong):
            return []
        assert type(message) in SERVER_TRANSITIONS[ServerState.MEMBER]
        assert isinstance(message, (Ops, Presence, PeersRequest))
        return [Deliver(message)]

    def joined(self) -> None:
        """The hello was accepted: the connection is a member now."""
        self.state = ServerState.MEMBER

    def undecodable(self, code: ErrorCode, reason: str, now: float) -> list[ServerAction]:
        """A message that did not decode (W3): before hello only the version error is told as such."""
        if self.state is ServerState.HANDSHAKE and code is not ErrorCode.UNSUPPORTED_VERSION:
            code = ErrorCode.HANDSHAKE_REQUIRED
        return self.refuse(code, reason, now)

    def refuse(self, code: ErrorCode, reason: str, now: float) -> list[ServerAction]:
        """An ``error`` for the client, and a close when its code or the error count says so (W10)."""
        actions: list[ServerAction] = [Reply(Error(code, reason))]
        close = CLOSING_ERRORS.get(code)
        if close is None and self.count_error(now):
            close, reason = CloseCode.PROTOCOL_ERROR, "too many invalid messages"
        if close is not None:
            self.state = ServerState.CLOSED
            actions.append(Close(close, reason))
        return actions

    def count_error(self, now: float) -> bool:
        """Count one invalid input; whether the limit is now reached (W10, W10a)."""
        errors = self._errors
        if errors is None:
            errors = self._errors = deque()
        errors.append(now)
        while errors and now - errors[0] > self.error_window:
            errors.popleft()
        return len(errors) >= self.error_limit
