"""Who is in a crowded sanctuary, told at a cost that does not grow with the crowd (SPEC W23, W24).

A welcome carries at most ``max_peers_page`` peers and the count of the others;
the rest are read in pages of the same size, in sid order, on request (W23).
Joins and leaves are not a frame to every member each: they are gathered and
sent once per presence tick as one ``roster`` frame (W24), so a burst of
hundreds of joins costs each member one frame per tick, not one per join; and
a roster names at most ``JOINED_PER_ROSTER`` of the joins (W30), so that frame
stays small however many arrive: announcing a join costs a crowded room a share
of a bounded frame, not a peer's bytes written to every member.
Each member's entry in a welcome (its peer and presence) is encoded once per
codec and reused by every welcome that lists it until either changes, so a
welcome's peer summary is a copy of kept bytes, not hundreds of maps encoded
again at every join.
"""

from __future__ import annotations

import bisect
from collections.abc import Iterator, Mapping, Sequence
from typing import TYPE_CHECKING

import msgpack

from dreamloom.protocol import Peer, PeersPage, PresenceState, Roster
from dreamloom.protocol.codec import Codec

if TYPE_CHECKING:
    from .member import Member


#: Joins one ``roster`` lists at most (W30); the others are counted in ``count`` only.
JOINED_PER_ROSTER = 64


class RosterChanges:
    """Joins and leaves since the last tick, in the order they happened."""

    def __init__(self) -> None:
        self._joined: dict[str, Peer] = {}
        self._left: dict[str, None] = {}

    def joined(self, peer: Peer) -> None:
        self._joined[peer.sid] = peer

    def left(self, sid: str) -> None:
        # Its join need not be announced any more, but its leave must: a welcome sent meanwhile
        # may have listed it.
        self._joined.pop(sid, None)
        self._left[sid] = None

    def __bool__(self) -> bool:
        return bool(self._joined or self._left)

    def take(self, count: int, page: int, listed: int = JOINED_PER_ROSTER) -> Iterator[Roster]:
        """The pending changes as ``roster`` frames of at most ``page`` joins and ``page`` leaves each.

        At most ``listed`` joins are named (W30), the earliest first; a connection that left and
        joined again (a role change) always is, or clients would drop a peer that is still there.
        Every leave is named: a client may know any connection, from its welcome or a page.
        """
        left = list(self._left)
        again = [peer for sid, peer in self._joined.items() if sid in self._left]
        fresh = [peer for sid, peer in self._joined.items() if sid not in self._left]
        joined = again + fresh[: max(0, listed - len(again))]
        self._joined, self._left = {}, {}
        for start in range(0, max(len(joined), len(left)), page):
            yield Roster(tuple(joined[start : start + page]), tuple(left[start : start + page]), count)


class PeerIndex:
    """Member sids in sorted order, kept sorted as members join and leave.

    An insertion or removal moves pointers (a few microseconds for 5,000 members); sorting the
    whole room again at the first page after every change would cost each page O(n log n).
    """

    def __init__(self) -> None:
        self._sorted: list[str] = []

    def add(self, sid: str) -> None:
        bisect.insort(self._sorted, sid)

    def remove(self, sid: str) -> None:
        i = bisect.bisect_left(self._sorted, sid)
        if i < len(self._sorted) and self._sorted[i] == sid:
            del self._sorted[i]

    def page(self, members: Mapping[str, Member], asker: str, after: str | None, size: int) -> PeersPage:
        """Up to ``size`` members other than ``asker`` whose sid sorts after ``after``."""
        order = self._sorted
        i = 0 if after is None else bisect.bisect_right(order, after)
        out: list[tuple[Peer, PresenceState]] = []
        while i < len(order) and len(out) < size:
            sid = order[i]
            i += 1
            member = members.get(sid)
            if member is not None and sid != asker:
                out.append((member.peer, member.presence))
        more = any(sid != asker for sid in order[i : i + 2])
        return PeersPage(tuple(out), out[-1][0].sid if out and more else None, len(members))


def peer_summary(members: Mapping[str, Member], exclude: str, size: int) -> tuple[list[Member], int | None]:
    """A welcome's first ``size`` peers (join order) and, when there are more, how many there are."""
    out: list[Member] = []
    for sid, member in members.items():
        if len(out) >= size:
            break
        if sid != exclude:
            out.append(member)
    others = len(members) - (exclude in members)
    return out, (others if others > len(out) else None)


class PeerEntries:
    """Members' entries in welcomes (``{sid, name, ..., cursor, sel, ...}``), encoded once per codec.

    An entry is kept with the very peer and presence objects it was encoded from: both are
    immutable and replaced whole on every change, so an entry is stale exactly when either
    object is not the member's any more, and no caller has to say when one changed.
    """

    def __init__(self) -> None:
        self._kept: dict[str, tuple[Peer, PresenceState, dict[str, bytes]]] = {}

    def forget(self, sid: str) -> None:
        """The member left: its entry goes with it."""
        self._kept.pop(sid, None)

    def array(self, members: Sequence[Member], codec: Codec) -> bytes:
        """The encoded list of the members' entries, as ``codec`` would encode it."""
        items = [self._entry(m, codec) for m in members]
        if codec.binary:
            header: bytes = msgpack.Packer().pack_array_header(len(items))
            return header + b"".join(items)
        return b"[" + b",".join(items) + b"]"

    def _entry(self, member: Member, codec: Codec) -> bytes:
        peer, presence = member.peer, member.presence
        kept = self._kept.get(member.sid)
        if kept is None or kept[0] is not peer or kept[1] is not presence:
            kept = self._kept[member.sid] = (peer, presence, {})
        encoded = kept[2].get(codec.name)
        if encoded is None:
            encoded = kept[2][codec.name] = codec.dumps({**peer.to_wire(), **presence.to_wire()})
        return encoded


__all__ = ["JOINED_PER_ROSTER", "PeerEntries", "PeerIndex", "RosterChanges", "peer_summary"]
