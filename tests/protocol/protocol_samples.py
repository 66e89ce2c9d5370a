"""One or more valid instances of every message type, client and server side."""

from __future__ import annotations

from dreamloom.protocol import (
    Ack,
    Error,
    ErrorCode,
    Hello,
    Identity,
    Join,
    Leave,
    Message,
    Ops,
    Peer,
    PeerPresence,
    PeersPresence,
    Ping,
    PolicyUpdate,
    Pong,
    Presence,
    PresenceState,
    Reject,
    SnapshotPart,
    Stamp,
    Welcome,
    ops,
)

CREATE = ops.create(
    "f-1",
    Stamp(7, "r-ana"),
    kind="stroke",
    geom={"pts": [0, 0, 12.5, 4, 20, -3]},
    z="V",
    x=120,
    y=80.5,
    style={"color": "#3a1f5d", "width": 2},
    author="u-ana",
    origin="organic",
)
SET = ops.set_fields("f-1", Stamp(8, "r-ana"), x=140, z="W")
DELETE = ops.delete("f-1", Stamp(9, "r-ana"))
RESTORE = ops.restore("f-1", Stamp(10, "r-ana"))
ANA = Identity("u-ana", "Ana", "dreamer", "organic")
PEER = Peer("s-2", "Moth", "weaver", "ai", "#88ccff")
STATE = PresenceState(cursor=(10, 20.5), sel=("f-1",), preview={"pts": [0, 0, 3, 4]}, view=(0, 0, 1.5))

CLIENT: list[Message] = [
    Hello(name="Ana", replica="r-ana", seq=None),
    Hello(name="", replica="r-ana", seq=42, token="eyJhbGciOi.x.y"),
    Ops((CREATE, SET, DELETE, RESTORE)),
    Presence(STATE),
    Presence(),
    Ping(5),
    Pong(5),
    Hello(name="Ana", replica="r-ana", seq=None, features=("compact", "parts")),
]
SERVER: list[Message] = [
    Welcome("garden", "s-1", ANA, seq=0, since=0, snapshot=[], ops=(), peers=(), policy={"ai_share_cap": 0.5}),
    Welcome(
        "garden",
        "s-1",
        ANA,
        seq=44,
        since=42,
        snapshot=None,
        ops=(SET, DELETE),
        peers=((PEER, STATE),),
        policy={"locked": False, "weavers": ["moth"]},
    ),
    Welcome("garden", "s-1", ANA, seq=9, since=9, snapshot=[["f-1", {"z": [3, "r-ana", "V"]}]], parts=2),
    SnapshotPart(9, 1, 2, [["f-2", {"z": [4, "r-ana", "W"]}]]),
    Ops((CREATE, SET), seq=43),
    Ack(((7, 43), (8, 44))),
    Reject(Stamp(9, "r-ana"), "f-1", ErrorCode.UNKNOWN_FRAGMENT, "no fragment f-1"),
    Reject(
        Stamp(42, "w1a2"),
        "moth-7",
        ErrorCode.AI_SHARE_CAP,
        "this would make 3 of 5 live fragments AI (60%), above the cap of 50%",
        "ai_share_cap",
        "at most 2 live AI fragments beside 2 organic ones",
    ),
    Error(ErrorCode.BAD_MESSAGE, "unknown field 'colour' in style"),
    PeersPresence((PeerPresence("s-2", STATE), PeerPresence("s-3", PresenceState()))),
    Join(PEER),
    Leave("s-2"),
    PolicyUpdate({"ai_share_cap": 0.4, "locked": True, "note": None}),
    Ping(9),
    Pong(9),
    Welcome(
        "garden",
        "s-1",
        ANA,
        seq=1,
        since=1,
        snapshot=[["f-1", 7, "r-ana", {"kind": "symbol", "x": 1.5}, {"z": [8, "r-ben", "W"]}]],
        policy={},
        form="compact",
    ),
]
