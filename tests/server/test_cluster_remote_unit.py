"""The remote room without sockets or a bus: seq tracking, gap back-fill, overlap and tails (SPEC B5, B6)."""

from __future__ import annotations

from typing import Any

from test_sanctuary_unit import _CODEC, FakeMember, person
from test_store_contract import entries

from dreamloom.protocol import DEFAULT_LIMITS, Hello, Ops, Welcome
from dreamloom.server.cluster.remote import RemoteRoom
from dreamloom.server.store import MemoryStore


class FakeNode:
    """The node a room talks through: records what it sends; every join is accepted."""

    node_id = "here"
    join_timeout = 1.0

    def __init__(self, store: MemoryStore) -> None:
        self.store = store
        self.sent: list[tuple[str, dict[str, Any]]] = []
        self.forgotten: list[RemoteRoom] = []
        self.healed_ops = 0

    def send(self, node: str, message: dict[str, Any]) -> None:
        self.sent.append((node, message))

    async def request(self, node: str, message: dict[str, Any], within: float) -> dict[str, Any]:
        self.sent.append((node, message))
        return {"k": "answer", "error": None}

    def forget(self, room: RemoteRoom) -> None:
        self.forgotten.append(room)

    def healed(self, ops: int) -> None:
        self.healed_ops += ops


async def room_with_a_member(log_length: int, welcome_seq: int) -> tuple[RemoteRoom, FakeMember, FakeNode]:
    store = MemoryStore()
    await store.ensure_sanctuary("garden")
    await store.append("garden", entries(1, log_length))
    node = FakeNode(store)
    room = RemoteRoom(node, "garden", "owner", DEFAULT_LIMITS)
    member = person(1)
    await room.join(member, Hello(name="p", replica=member.replica))
    welcome = Welcome("garden", member.sid, member.identity, welcome_seq, welcome_seq, None)
    await room._out(out(member, welcome))
    return room, member, node


def out(member: FakeMember, *messages: Any) -> dict[str, Any]:
    frames = [_CODEC.encode(m) for m in messages]
    return {"k": "out", "s": "garden", "f": frames, "d": [["f", member.sid, i, False] for i in range(len(frames))]}


def seqs_received(member: FakeMember) -> list[int]:
    return [m.seq + i for m in member.of(Ops) for i in range(len(m.ops))]


async def test_B6_a_join_goes_to_the_owner_and_the_welcome_sets_the_members_seq() -> None:
    room, member, node = await room_with_a_member(log_length=3, welcome_seq=3)
    assert node.sent[0][0] == "owner"
    assert node.sent[0][1]["k"] == "join"
    assert node.sent[0][1]["sid"] == member.sid
    assert room.delivered[member.sid] == 3
    assert member.of(Welcome)[0].seq == 3
    room.abandon("end of test")
    await room.stopped()


async def test_B5_a_gap_before_a_frame_is_back_filled_from_the_store_first() -> None:
    room, member, node = await room_with_a_member(log_length=9, welcome_seq=2)
    log = await node.store.read_ops("garden", 0)
    await room._out(out(member, Ops(tuple(e.op for e in log[4:6]), seq=5)))
    assert seqs_received(member) == [3, 4, 5, 6]
    assert node.healed_ops == 2
    # A frame partly handed over already is cut to what is new; one seen whole is dropped.
    await room._out(out(member, Ops(tuple(e.op for e in log[3:7]), seq=4)))
    await room._out(out(member, Ops((log[6].op,), seq=7)))
    assert seqs_received(member) == [3, 4, 5, 6, 7]
    # A tail is trusted one heartbeat later: ops the owner committed and this node never saw.
    await room._tail(9)
    assert seqs_received(member) == [3, 4, 5, 6, 7]
    await room._tail(9)
    assert seqs_received(member) == list(range(3, 10))
    assert [e.op for e in log[2:9]] == [op for m in member.of(Ops) for op in m.ops]
    room.abandon("end of test")
    await room.stopped()


async def test_B7_abandoning_a_room_closes_its_connections_with_1001_and_forgets_it() -> None:
    room, member, node = await room_with_a_member(log_length=1, welcome_seq=1)
    room.abandon("the owner stopped")
    assert member.closed_with == 1001
    assert node.forgotten == [room]
    assert room.closed
    await room.stopped()


async def test_B6_ops_presence_and_leaving_go_to_the_owner() -> None:
    room, member, node = await room_with_a_member(log_length=1, welcome_seq=1)
    log = await node.store.read_ops("garden", 0)
    room.submit(member, (log[0].op,))
    room.presence_changed(member)
    room.leave(member)
    kinds = [m["k"] for _, m in node.sent[1:]]
    assert kinds == ["submit", "presence", "leave"]
    assert node.forgotten == [room]
    await room.stopped()


async def test_w36_a_join_through_another_node_asks_the_owner_for_a_whole_welcome() -> None:
    store = MemoryStore()
    await store.ensure_sanctuary("garden")
    node = FakeNode(store)
    room = RemoteRoom(node, "garden", "owner", DEFAULT_LIMITS)
    member = person(1)
    await room.join(member, Hello(name="p", replica=member.replica, features=("parts", "compact", "later")))
    # Parts would reach this node's send buffer after the join, where nothing marks them as the welcome.
    assert node.sent[0][1]["hello"]["features"] == ["compact", "later"]
    room.abandon("end of test")
    await room.stopped()
