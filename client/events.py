"""What a weaver is told: one frozen dataclass per kind of event.

Handlers of :class:`~dreamloom.client.Weaver` receive these. Fragment events are derived
from the server-confirmed tapestry, so every replica sees the same ones in the same order
(a weaver's own ops included, marked ``mine``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from dreamloom.protocol import Fragment, Identity, Peer, PresenceState

from .policy import Policy

FragmentAction = Literal["added", "changed", "deleted", "restored"]


@dataclass(frozen=True, slots=True)
class Ready:
    """The sanctuary welcomed the weaver (after the first connect and after every reconnect).

    ``resumed`` is false on the first welcome; ``seq`` is the sanctuary's position.

    Example::

        async def on_ready(self, event: Ready) -> None:
            print(f"{event.identity.name} in {event.sanctuary} at seq {event.seq}")
    """

    sanctuary: str
    identity: Identity
    seq: int
    resumed: bool
    policy: Policy


@dataclass(frozen=True, slots=True)
class FragmentEvent:
    """A fragment was added, changed, deleted or restored.

    ``fragment`` is its state after the change. ``author`` and ``origin`` say who made the
    change: for an addition, the fragment's server-stamped author and origin; for other
    changes, the author whose replica wrote it, when known (``None`` otherwise).
    ``fields`` lists the registers the change won; ``seq`` is the sanctuary seq of the op
    (``None`` when the change was learned from a snapshot after a reconnect).

    Example::

        async def on_fragment_added(self, event: FragmentEvent) -> None:
            if event.origin == "organic" and event.fragment.kind == "text":
                self.add_symbol("moon", event.fragment.x, event.fragment.y - 40,
                                inspired_by=[event.fragment.id])
    """

    action: FragmentAction
    fragment: Fragment
    author: str | None
    origin: str | None
    replica: str
    fields: tuple[str, ...]
    seq: int | None
    mine: bool

    @property
    def id(self) -> str:
        """The fragment's id. Example: ``self.delete(event.id)``."""
        return self.fragment.id

    @property
    def organic(self) -> bool:
        """Whether a person made this change. Example: ``if event.organic: ...``."""
        return self.origin == "organic"


@dataclass(frozen=True, slots=True)
class PeerState:
    """Another connection of the sanctuary and its latest presence.

    Example::

        for peer in self.peers.values():
            if peer.cursor is not None and peer.origin == "organic":
                print(peer.name, "is at", peer.cursor)
    """

    peer: Peer
    presence: PresenceState

    @property
    def sid(self) -> str:
        """The peer's session id. Example: ``self.peers[p.sid]``."""
        return self.peer.sid

    @property
    def name(self) -> str:
        """The peer's display name. Example: ``print(p.name)``."""
        return self.peer.name

    @property
    def origin(self) -> str:
        """``organic`` for a person, ``ai`` for a weaver. Example: ``p.origin == "ai"``."""
        return self.peer.origin

    @property
    def cursor(self) -> tuple[float, float] | None:
        """Where the peer's pointer is, if shown. Example: ``x, y = p.cursor or (0, 0)``."""
        return self.presence.cursor


@dataclass(frozen=True, slots=True)
class PeerEvent:
    """A peer joined, left, or moved its presence (cursor, selection, stroke preview).

    Example::

        async def on_peer_joined(self, event: PeerEvent) -> None:
            print("welcome,", event.peer.name)
    """

    action: Literal["joined", "left", "moved"]
    peer: PeerState


@dataclass(frozen=True, slots=True)
class PolicyChange:
    """The steward changed the sanctuary's policy; ``policy`` is the full new one.

    Example::

        async def on_policy(self, event: PolicyChange) -> None:
            self.quiet = event.policy.locked
    """

    policy: Policy
    previous: Policy


@dataclass(frozen=True, slots=True)
class Disconnect:
    """The connection dropped. ``reconnecting`` tells whether the SDK will come back by
    itself (after ``delay`` seconds) or has stopped; ``code`` is the WebSocket close code
    (``None`` when the network failed without one).

    Example::

        async def on_disconnect(self, event: Disconnect) -> None:
            if not event.reconnecting:
                print("gone for good:", event.code, event.reason)
    """

    code: int | None
    reason: str
    reconnecting: bool
    delay: float


@dataclass(frozen=True, slots=True)
class ServerError:
    """The server reported a message-level error (``error`` message) with its code.

    Example::

        async def on_server_error(self, event: ServerError) -> None:
            print("server says", event.code, event.reason)
    """

    code: str
    reason: str
