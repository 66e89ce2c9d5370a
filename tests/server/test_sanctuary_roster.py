"""Crowded sanctuaries without sockets (SPEC W23, W24, W4a): bounded welcomes, pages, coalesced notices."""

from __future__ import annotations

from dataclasses import replace

import pytest
from test_sanctuary_unit import FakeMember, person, running, settle

from dreamloom.protocol import (
    CLIENT_SIDE_LIMITS,
    DEFAULT_LIMITS,
    Hello,
    JsonCodec,
    MsgpackCodec,
    Peer,
    PeersPage,
    PeersPresence,
    PeersRequest,
    PresenceState,
    Roster,
    Welcome,
)
from dreamloom.protocol.codec import Codec

#: No tick fires by itself during a test: each test ticks when it means to.
NEVER = 3600.0


class Bystander(FakeMember):
    """A member of a crowd whose frames nobody reads (decoding them all would be the test's whole cost)."""

    def send_frame(self, frame: bytes, *, droppable: bool = False) -> None:
        pass


def bystander(n: int) -> Bystander:
    m = person(n)
    return Bystander(m.sid, m.replica, m.identity)


async def join(sanctuary: object, member: FakeMember) -> Welcome:
    await sanctuary.join(member, Hello(name=member.identity.name, replica=member.replica, seq=None))  # type: ignore[attr-defined]
    [welcome] = member.of(Welcome)
    return welcome  # type: ignore[no-any-return]


async def test_W23_a_welcome_carries_a_bounded_peer_summary_and_the_count() -> None:
    limits = replace(DEFAULT_LIMITS, max_peers_page=3)
    async with running(presence_interval=NEVER, limits=limits) as garden:
        members = [person(n) for n in range(8)]
        for m in members[:7]:
            await join(garden, m)
        welcome = await join(garden, members[7])
        assert [p.sid for p, _ in welcome.peers] == ["s0", "s1", "s2"]  # the first three, in join order
        assert welcome.peer_count == 7


async def test_W23_a_welcome_that_lists_everyone_has_no_count() -> None:
    async with running(presence_interval=NEVER) as garden:
        await join(garden, person(1))
        welcome = await join(garden, person(2))
        assert [p.sid for p, _ in welcome.peers] == ["s1"]
        assert welcome.peer_count is None


async def test_W23_peers_are_paged_in_sid_order_without_the_asker() -> None:
    limits = replace(DEFAULT_LIMITS, max_peers_page=3)
    async with running(presence_interval=NEVER, limits=limits) as garden:
        members = [person(n) for n in range(8)]
        for m in members:
            await join(garden, m)
        asker = members[4]
        members[2].presence = PresenceState(cursor=(5.0, 6.0))
        seen: list[str] = []
        after: str | None = None
        pages = 0
        while True:
            garden.request_peers(asker, PeersRequest(after))
            page = asker.of(PeersPage)[-1]
            assert len(page.peers) <= 3
            assert page.count == 8
            seen += [p.sid for p, _ in page.peers]
            pages += 1
            if page.next is None:
                break
            after = page.next
        assert seen == ["s0", "s1", "s2", "s3", "s5", "s6", "s7"]
        assert pages == 3
        [state] = [s for pg in asker.of(PeersPage) for p, s in pg.peers if p.sid == "s2"]
        assert state.cursor == (5.0, 6.0)  # a page carries presence, as a welcome does


async def test_W23_a_member_that_left_gets_no_page() -> None:
    async with running(presence_interval=NEVER) as garden:
        gone = person(1)
        await join(garden, gone)
        garden.leave(gone)
        await settle(garden)
        garden.request_peers(gone, PeersRequest(None))
        assert gone.of(PeersPage) == []


async def test_W24_joins_and_leaves_go_out_once_per_tick_in_one_roster() -> None:
    async with running(presence_interval=NEVER) as garden:
        watcher = person(0)
        await join(garden, watcher)
        garden.tick()  # the watcher's own (lone) join: not sent to itself
        assert watcher.of(Roster) == []
        crowd = [person(n) for n in range(1, 6)]
        for m in crowd:
            await join(garden, m)
        garden.leave(crowd[0])
        await settle(garden)
        assert watcher.of(Roster) == []  # nothing is sent per join or leave
        garden.tick()
        [roster] = watcher.of(Roster)
        assert roster.left == ("s1",)  # s1 was listed in welcomes meanwhile: its leave is told
        assert [p.sid for p in roster.joined] == ["s2", "s3", "s4", "s5"]
        assert roster.count == 5
        # Every member got the same one frame; a joiner finds itself in it and ignores it.
        assert all(len(m.of(Roster)) == 1 for m in crowd[1:])
        garden.tick()
        assert len(watcher.of(Roster)) == 1  # a quiet tick sends nothing


async def test_W24_a_role_change_is_a_leave_and_a_join_of_one_sid() -> None:
    async with running(presence_interval=NEVER) as garden:
        watcher, other = person(0), person(1)
        await join(garden, watcher)
        await join(garden, other)
        garden.tick()

        async def demote() -> None:
            garden.peer_changed(other)

        await garden.call(demote)
        garden.tick()
        roster = watcher.of(Roster)[-1]
        assert (roster.left, [p.sid for p in roster.joined]) == (("s1",), ["s1"])


async def test_W4a_presence_and_roster_frames_stay_within_max_peers() -> None:
    limits = replace(DEFAULT_LIMITS, max_peers=2)
    async with running(presence_interval=NEVER, limits=limits) as garden:
        watcher = person(0)
        await join(garden, watcher)
        garden.tick()
        crowd = [person(n) for n in range(1, 6)]
        for m in crowd:
            await join(garden, m)
        for m in crowd:
            m.presence = PresenceState(cursor=(1.0, 1.0))
            garden.presence_changed(m)
        garden.tick()
        rosters, presences = watcher.of(Roster), watcher.of(PeersPresence)
        assert [len(r.joined) for r in rosters] == [2, 2, 1]
        assert sorted(len(p.peers) for p in presences) == [1, 2, 2]
        assert {p.sid for f in presences for p in f.peers} == {m.sid for m in crowd}


async def test_W4a_what_a_crowded_room_sends_the_clients_decode() -> None:
    """Welcome, page, roster and presence at the shared limits decode with the clients' limits."""
    async with running(presence_interval=NEVER, max_connections_per_sanctuary=2000) as garden:
        crowd = [bystander(n) for n in range(DEFAULT_LIMITS.max_peers + 5)]
        for m in crowd:
            await garden.join(m, Hello(name=m.identity.name, replica=m.replica, seq=None))
            m.presence = PresenceState(cursor=(1.0, 2.0), sel=("f",))
            garden.presence_changed(m)
        late = person(9999)
        welcome = await join(garden, late)
        assert len(welcome.peers) == DEFAULT_LIMITS.max_peers_page
        assert welcome.peer_count == len(crowd)
        garden.tick()
        garden.request_peers(late, PeersRequest(None))
        frames = [welcome, *late.of(Roster), *late.of(PeersPresence), *late.of(PeersPage)]
        assert {type(f) for f in frames} == {Welcome, Roster, PeersPresence, PeersPage}
        for codec in (MsgpackCodec(CLIENT_SIDE_LIMITS), JsonCodec(CLIENT_SIDE_LIMITS)):
            for frame in frames:
                assert codec.decode_server(codec.encode(frame)) == frame


class Steady(FakeMember):
    """A member whose peer is one object until it changes, as a connection's is; in either codec."""

    def __init__(self, n: int, codec: Codec) -> None:
        m = person(n)
        super().__init__(m.sid, m.replica, m.identity)
        self._codec = codec
        self._peer = Peer(self.sid, self.identity.name, self.identity.role, self.identity.origin, self.colour)

    @property  # type: ignore[override]
    def peer(self) -> Peer:
        return self._peer

    @peer.setter
    def peer(self, value: Peer) -> None:
        self._peer = value

    @property
    def codec_name(self) -> str:
        return self._codec.name

    def send_frame(self, frame: bytes, *, droppable: bool = False) -> None:
        self.received.append(self._codec.decode_server(frame))


@pytest.mark.parametrize("codec", [MsgpackCodec(CLIENT_SIDE_LIMITS), JsonCodec(CLIENT_SIDE_LIMITS)])
async def test_W23_a_welcome_lists_each_peer_as_it_is_at_that_join(codec: Codec) -> None:
    """Entries are encoded once and kept: a later welcome still shows the presence and colour of now."""
    async with running(presence_interval=NEVER) as garden:
        ana, bo = Steady(1, codec), Steady(2, codec)
        await join(garden, ana)
        await join(garden, bo)
        first = await join(garden, Steady(3, codec))
        assert [(p, s) for p, s in first.peers] == [(ana.peer, PresenceState()), (bo.peer, PresenceState())]
        again = await join(garden, Steady(4, codec))
        assert again.peers[:2] == first.peers  # nothing changed: the same entries
        bo.presence = PresenceState(cursor=(3.0, 4.0), color="#123456")
        garden.presence_changed(bo)  # a chosen colour: bo's peer changes too (W11a)
        ana.presence = PresenceState(sel=("f1",))
        garden.presence_changed(ana)
        late = await join(garden, Steady(5, codec))
        listed = {p.sid: (p, s) for p, s in late.peers}
        assert listed["s1"] == (ana.peer, PresenceState(sel=("f1",)))
        assert listed["s2"][0].color == "#123456"
        assert listed["s2"][1].cursor == (3.0, 4.0)
        garden.leave(ana)
        await settle(garden)
        after = await join(garden, Steady(6, codec))
        assert "s1" not in {p.sid for p, _ in after.peers}


async def test_W30_a_roster_names_at_most_64_joins_and_counts_every_one() -> None:
    async with running(presence_interval=NEVER, max_connections_per_sanctuary=500) as garden:
        watcher = person(0)
        await join(garden, watcher)
        garden.tick()
        crowd = [bystander(n) for n in range(1, 101)]
        for m in crowd:
            await garden.join(m, Hello(name=m.identity.name, replica=m.replica, seq=None))
        garden.leave(crowd[-1])
        await settle(garden)
        garden.tick()
        [roster] = watcher.of(Roster)
        assert [p.sid for p in roster.joined] == [m.sid for m in crowd[:64]]  # the earliest
        assert roster.left == (crowd[-1].sid,)  # every leave is named
        assert roster.count == 100
        garden.tick()
        assert len(watcher.of(Roster)) == 1  # those not named are not named later


async def test_W30_a_role_change_is_named_however_many_join() -> None:
    async with running(presence_interval=NEVER, max_connections_per_sanctuary=500) as garden:
        watcher, steward = person(0), person(1)
        await join(garden, watcher)
        await join(garden, steward)
        garden.tick()
        for m in [bystander(n) for n in range(2, 102)]:
            await garden.join(m, Hello(name=m.identity.name, replica=m.replica, seq=None))

        async def demote() -> None:
            garden.peer_changed(steward)

        await garden.call(demote)
        garden.tick()
        roster = watcher.of(Roster)[-1]
        assert roster.left == ("s1",)
        assert "s1" in [p.sid for p in roster.joined]  # else clients would drop a peer still there
        assert len(roster.joined) == 64


async def test_W23_pages_read_the_room_as_it_is_when_each_is_asked() -> None:
    limits = replace(DEFAULT_LIMITS, max_peers_page=3)
    async with running(presence_interval=NEVER, limits=limits) as garden:
        members = [person(n) for n in range(1, 8)]  # s1 .. s7
        for m in members:
            await join(garden, m)
        asker = members[0]
        garden.request_peers(asker, PeersRequest(None))
        first = asker.of(PeersPage)[-1]
        assert [p.sid for p, _ in first.peers] == ["s2", "s3", "s4"]
        garden.leave(members[4])  # s5, not read yet
        late = person(45)  # "s45" sorts between s4 and s5
        await join(garden, late)
        await settle(garden)
        garden.request_peers(asker, PeersRequest(first.next))
        second = asker.of(PeersPage)[-1]
        assert [p.sid for p, _ in second.peers] == ["s45", "s6", "s7"]
        assert second.count == 7
        assert second.next is None
