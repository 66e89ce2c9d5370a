"""Connections on one node, a sanctuary on another: the two halves of the Member/Room seam over the bus.

On the owner's node a :class:`RemoteMember` stands for a connection of another node:
the sanctuary sees a member like any other, and what it sends that member goes into
the :class:`Outbox` of the member's node, the same frame bytes once per node however
many of its connections receive them (F2 across nodes).

On the connection's node a :class:`RemoteRoom` stands for the sanctuary: ops, presence
and leaving go to the owner; what comes back is handed to the connections in order.
Ops frames carry seqs, so the room sees a gap the bus made (B1) and back-fills the
missing ops from the store before the frame that revealed it (B5).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from dataclasses import replace
from typing import TYPE_CHECKING, Any, Protocol

from dreamloom.protocol import (
    CloseCode,
    DecodeError,
    ErrorCode,
    Hello,
    Identity,
    Op,
    OpError,
    Ops,
    Peer,
    PeersRequest,
    PresenceState,
    Welcome,
)
from dreamloom.protocol.codec import CODECS, Codec

from ..member import Member
from ..sanctuary import SanctuaryClosed, SanctuaryFull

if TYPE_CHECKING:
    from ..auth import Claims
    from ..store import Store

log = logging.getLogger("dreamloom.cluster")

_ENCODERS: dict[str, Codec] = {name: cls() for name, cls in CODECS.items()}

Send = Callable[[str, dict[str, Any]], None]


class Outbox:
    """What the owner sends one node, gathered until the loop is idle and sent as one message per sanctuary.

    Actions keep their order (frames, closes, identity changes), and a frame given to several
    members is carried once.
    """

    def __init__(self, node: str, send: Send) -> None:
        self.node = node
        self._send = send
        self._frames: dict[str, list[bytes]] = {}
        self._index: dict[str, dict[int, int]] = {}
        self._actions: dict[str, list[list[Any]]] = {}
        self._scheduled = False

    def frame(self, sanctuary: str, sid: str, frame: bytes, droppable: bool) -> None:
        frames = self._frames.setdefault(sanctuary, [])
        index = self._index.setdefault(sanctuary, {})
        at = index.get(id(frame))
        if at is None:
            at = index[id(frame)] = len(frames)
            frames.append(frame)  # kept alive until sent: its id stays unique meanwhile
        self._add(sanctuary, ["f", sid, at, droppable])

    def close(self, sanctuary: str, sid: str, code: int, reason: str) -> None:
        self._add(sanctuary, ["c", sid, code, reason])

    def identity(self, sanctuary: str, sid: str, identity: Identity, replica: str) -> None:
        self._add(sanctuary, ["i", sid, identity.to_wire(), replica])

    def _add(self, sanctuary: str, action: list[Any]) -> None:
        self._actions.setdefault(sanctuary, []).append(action)
        if not self._scheduled:
            self._scheduled = True
            asyncio.get_running_loop().call_soon(self.flush)

    def flush(self) -> None:
        self._scheduled = False
        actions, self._actions = self._actions, {}
        frames, self._frames = self._frames, {}
        self._index = {}
        for sanctuary, todo in actions.items():
            self._send(self.node, {"k": "out", "s": sanctuary, "f": frames.get(sanctuary, []), "d": todo})


class RemoteMember:
    """A connection of another node, as the owner's sanctuary sees it (a :class:`~..member.Member`)."""

    def __init__(
        self,
        sanctuary: str,
        node: str,
        outbox: Outbox,
        *,
        sid: str,
        replica: str,
        identity: Identity,
        peer: Peer,
        presence: PresenceState,
        claims: Claims | None,
        issued_token: str | None,
        codec_name: str,
    ) -> None:
        self.sanctuary = sanctuary
        self.node = node
        self.outbox = outbox
        self.sid = sid
        self.replica = replica
        self.identity = identity
        self.peer = peer
        self.presence = presence
        self.claims = claims
        self.issued_token = issued_token
        self._codec = codec_name

    @property
    def codec_name(self) -> str:
        return self._codec

    def send(self, message: Any) -> None:
        self.outbox.frame(self.sanctuary, self.sid, _ENCODERS[self._codec].encode(message), False)

    def send_frame(self, frame: bytes, *, droppable: bool = False) -> None:
        self.outbox.frame(self.sanctuary, self.sid, frame, droppable)

    def close(self, code: int, reason: str) -> None:
        self.outbox.close(self.sanctuary, self.sid, code, reason)

    def set_identity(self, identity: Identity, replica: str, *, issued_token: str | None = None) -> None:
        self.identity = identity
        self.replica = replica
        self.peer = Peer(self.sid, identity.name, identity.role, identity.origin, self.peer.color)
        if issued_token is not None:
            self.issued_token = issued_token
        self.outbox.identity(self.sanctuary, self.sid, identity, replica)


class Requester(Protocol):
    """What a room needs of its node: send to the owner, ask and wait for the answer, forget the room."""

    node_id: str
    store: Store
    join_timeout: float

    def send(self, node: str, message: dict[str, Any]) -> None: ...

    async def request(self, node: str, message: dict[str, Any], within: float) -> dict[str, Any]: ...

    def forget(self, room: RemoteRoom) -> None: ...

    def healed(self, ops: int) -> None: ...


class RemoteRoom:
    """A sanctuary owned by another node, as this node's connections see it (an :class:`~..member.Entrance`)."""

    def __init__(self, node: Requester, name: str, owner: str, limits: Any) -> None:
        self.node = node
        self.name = name
        self.owner = owner
        self.limits = limits
        self.members: dict[str, Member] = {}
        #: The last seq each member was sent (its welcome's, then each ops frame's); -1 before the welcome.
        self.delivered: dict[str, int] = {}
        self.closed = False
        self._gone = asyncio.Event()  # set when the room closes: joins waiting for the owner give up
        self._announced = 0  # the owner's last committed seq, as told one heartbeat ago
        self._inbox: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        self._decoders = {name: cls(limits) for name, cls in CODECS.items()}
        self._task = asyncio.create_task(self._run(), name=f"remote-room:{name}")

    # -- the Room a connection sees -------------------------------------------
    async def join(self, member: Member, hello: Hello) -> None:
        if self.closed:
            raise SanctuaryClosed(self.name)
        # Registered first: its welcome may come before the answer.
        self.members[member.sid] = member
        self.delivered[member.sid] = -1
        claims = member.claims
        message = {
            "k": "join",
            "s": self.name,
            "sid": member.sid,
            "replica": member.replica,
            "identity": member.identity.to_wire(),
            "peer": member.peer.to_wire(),
            "presence": member.presence.to_wire(),
            "claims": claims.to_dict() if claims is not None else None,
            "token": member.issued_token,
            "codec": member.codec_name,
            # A welcome in parts (W36) is sent whole across nodes: its parts would reach this
            # node's send buffer after the join, where only the welcome's own frames are unbounded.
            "hello": replace(hello, features=tuple(f for f in hello.features if f != "parts")).to_wire(),
        }
        request = asyncio.ensure_future(self.node.request(self.owner, message, self.node.join_timeout))
        gone = asyncio.ensure_future(self._gone.wait())
        try:
            await asyncio.wait({request, gone}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            gone.cancel()
            answered = request.done()
            if not answered:
                request.cancel()
        failure = request.exception() if answered else None
        if not answered or failure is not None:
            # No answer (the owner is gone, or the room closed meanwhile): the hub is asked again.
            self._drop(member)
            if isinstance(failure, TimeoutError):
                self.abandon("the node running this sanctuary does not answer")
            elif failure is not None:
                raise failure
            raise SanctuaryClosed(self.name)
        answer = request.result()
        refusal = answer.get("error")
        if refusal is None:
            return
        self._drop(member)
        if refusal == "full":
            raise SanctuaryFull(self.name)
        if refusal == "closed":
            raise SanctuaryClosed(self.name)
        code, reason = refusal
        raise OpError(ErrorCode(code), reason)

    def submit(self, member: Member, ops: tuple[Op, ...]) -> None:
        if member.sid in self.members:
            self.node.send(
                self.owner, {"k": "submit", "s": self.name, "sid": member.sid, "ops": [op.to_wire() for op in ops]}
            )

    def presence_changed(self, member: Member) -> None:
        if member.sid in self.members:
            state = member.presence.to_wire()
            self.node.send(self.owner, {"k": "presence", "s": self.name, "sid": member.sid, "state": state})

    def request_peers(self, member: Member, request: PeersRequest) -> None:
        # The owner holds the roster: it pages it and sends the page back through the bus (W23).
        if member.sid in self.members:
            self.node.send(self.owner, {"k": "peers", "s": self.name, "sid": member.sid, "after": request.after})

    def leave(self, member: Member) -> None:
        if self.members.get(member.sid) is member:
            self._drop(member)
            self.node.send(self.owner, {"k": "leave", "s": self.name, "sid": member.sid})

    def _drop(self, member: Member) -> None:
        if self.members.get(member.sid) is member:
            del self.members[member.sid]
            self.delivered.pop(member.sid, None)
        if not self.members:
            self._close()

    def _close(self) -> None:
        if not self.closed:
            self.closed = True
            self._gone.set()
            self.node.forget(self)
            self._inbox.put_nowait({"k": "stop"})

    # -- from the owner ---------------------------------------------------------
    def deliver(self, message: dict[str, Any]) -> None:
        """A message of the owner for this room (``out`` or ``tail``); handled in order."""
        self._inbox.put_nowait(message)

    def abandon(self, reason: str) -> None:
        """The owner is gone: close every connection with 1001, so that each resumes wherever it reconnects.

        Connections still joining are not closed: their join fails and the hub finds the new owner.
        """
        for sid, member in list(self.members.items()):
            if self.delivered.get(sid, -1) >= 0:
                member.close(CloseCode.GOING_AWAY, f"{reason}: reconnect and resume")
        self.members.clear()
        self.delivered.clear()
        self._close()

    async def stopped(self) -> None:
        with contextlib.suppress(asyncio.CancelledError):
            await self._task

    async def _run(self) -> None:
        while True:
            message = await self._inbox.get()
            kind = message.get("k")
            try:
                if kind == "out":
                    await self._out(message)
                elif kind == "tail":
                    await self._tail(int(message["seq"]))
                elif kind == "stop":
                    return
            except Exception:
                log.exception("remote room %s: a message of the owner could not be handed over", self.name)

    async def _out(self, message: dict[str, Any]) -> None:
        frames: list[bytes] = message["f"]
        decoded: dict[tuple[int, str], Any] = {}
        for action in message["d"]:
            kind, sid = action[0], action[1]
            member = self.members.get(sid)
            if member is None:
                continue
            if kind == "f":
                at, droppable = action[2], action[3]
                if droppable:  # presence: no seq to keep track of
                    member.send_frame(frames[at], droppable=True)
                    continue
                key = (at, member.codec_name)
                if key not in decoded:  # once per frame and codec, not per connection
                    decoded[key] = self._decode(member.codec_name, frames[at])
                await self._frame(member, frames[at], decoded[key], droppable)
            elif kind == "c":
                self._drop(member)
                member.close(action[2], action[3])
            elif kind == "i":
                identity = Identity.from_wire(action[2], self.limits)
                member.set_identity(identity, action[3])

    def _decode(self, codec: str, frame: bytes) -> Any:
        try:
            return self._decoders[codec].decode_server(frame)
        except DecodeError:
            return None  # not ours to judge: the owner made it; hand it over as it is

    async def _frame(self, member: Member, frame: bytes, message: Any, droppable: bool) -> None:
        sid = member.sid
        if isinstance(message, Welcome):
            self.delivered[sid] = message.seq
        elif isinstance(message, Ops) and message.seq is not None and self.delivered.get(sid, -1) >= 0:
            first, last = message.seq, message.seq + len(message.ops) - 1
            seen = self.delivered[sid]
            if last <= seen:
                return  # back-filled already
            if first > seen + 1:
                await self._backfill(member, seen, first - 1)
            elif first <= seen:
                member.send(Ops(message.ops[seen + 1 - first :], seq=seen + 1))
                self.delivered[sid] = last
                return
            self.delivered[sid] = last
        member.send_frame(frame, droppable=droppable)

    async def _tail(self, seq: int) -> None:
        # What the owner had committed one heartbeat ago must have arrived by now: whoever
        # is still behind it lost a message on the bus (B5).
        announced, self._announced = self._announced, seq
        for sid, member in list(self.members.items()):
            seen = self.delivered.get(sid, -1)
            if 0 <= seen < announced:
                await self._backfill(member, seen, announced)

    async def _backfill(self, member: Member, after: int, upto: int) -> None:
        step = self.limits.max_ops_per_batch
        while after < upto and member.sid in self.members:
            entries = await self.node.store.read_ops(self.name, after, limit=step, upto=upto)
            if not entries:
                break
            member.send(Ops(tuple(e.op for e in entries), seq=entries[0].seq))
            self.node.healed(len(entries))
            after = entries[-1].seq
            self.delivered[member.sid] = after
