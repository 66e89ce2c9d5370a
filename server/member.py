"""The seam between a sanctuary and its connections (SPEC F1-F4, W5-W12).

A sanctuary sees each connection only as a :class:`Member`: who it is, and a way
to send it frames and close it. A connection sees its sanctuary only as a
:class:`Room`: where its ops, its presence and its leaving go. Neither knows the
other's class, so a sanctuary runs in tests with a fake member and no sockets,
and a member may as well live on another node.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from dreamloom.protocol import Hello, Identity, Op, Peer, PeersRequest, PresenceState, ServerMessage

    from .auth import Claims


class Member(Protocol):
    """One connection as its sanctuary, the gate and the stewards see it."""

    sid: str
    replica: str
    identity: Identity
    peer: Peer
    presence: PresenceState
    #: The verified token it joined with (guests hold one the server issued).
    claims: Claims | None
    #: A guest token issued to it at hello, handed over in its welcome.
    issued_token: str | None

    @property
    def codec_name(self) -> str:
        """The subprotocol's codec (``msgpack`` or ``json``): broadcasts are encoded once per codec."""
        ...

    def send(self, message: ServerMessage) -> None:
        """Encode and queue a message for this member only; never blocks."""

    def send_frame(self, frame: bytes, *, droppable: bool = False) -> None:
        """Queue bytes already encoded with this member's codec; ``droppable`` ones go first under pressure."""

    def close(self, code: int, reason: str) -> None:
        """Close after what is queued."""

    def set_identity(self, identity: Identity, replica: str, *, issued_token: str | None = None) -> None:
        """Who it is (at hello, and again when a steward changes its role)."""


class Room(Protocol):
    """A sanctuary as its connections see it."""

    def submit(self, member: Member, ops: tuple[Op, ...]) -> None:
        """Queue a batch of the member's ops (decoded and rate checked)."""

    def leave(self, member: Member) -> None:
        """The member's connection ended."""

    def presence_changed(self, member: Member) -> None:
        """The member's presence changed; it goes out with the next tick."""

    def request_peers(self, member: Member, request: PeersRequest) -> None:
        """The member asked for a page of peers (W23); the page is sent to it."""


class Entrance(Room, Protocol):
    """A room a connection joins: the sanctuary itself, or its proxy on a node that does not own it."""

    async def join(self, member: Member, hello: Hello) -> None:
        """Admit the member (its welcome is sent to it), or raise why not."""
