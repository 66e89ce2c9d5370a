"""Dreamloom protocol v1: messages, codecs, stamps and the merge layer.

Pure: no I/O, no asyncio. The server, the weaver SDK and the tests drive the
same objects. See ``SPEC.md`` next to this file.
"""

from __future__ import annotations

from . import bindings, ops, zorder
from .codec import JSON, MSGPACK, SUBPROTOCOLS, Codec, JsonCodec, MsgpackCodec, codec_for
from .errors import (
    RECONNECTABLE,
    CloseCode,
    DecodeError,
    DreamloomError,
    ErrorCode,
    OpError,
    ProtocolError,
    UsageError,
)
from .limits import CLIENT_SIDE_LIMITS, DEFAULT_LIMITS, Limits
from .messages import (
    PROTOCOL_VERSION,
    Ack,
    ClientMessage,
    Error,
    Hello,
    Identity,
    Join,
    Leave,
    Message,
    Ops,
    Peer,
    PeerPresence,
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
    SnapshotPart,
    Welcome,
)
from .ops import Op
from .stamps import Clock, Stamp
from .tapestry import Change, Fragment, Register, Tapestry
from .undo import History, Holders, Step, inverse

__all__ = [
    "CLIENT_SIDE_LIMITS",
    "DEFAULT_LIMITS",
    "JSON",
    "MSGPACK",
    "PROTOCOL_VERSION",
    "RECONNECTABLE",
    "SUBPROTOCOLS",
    "Ack",
    "Change",
    "ClientMessage",
    "Clock",
    "CloseCode",
    "Codec",
    "DecodeError",
    "DreamloomError",
    "Error",
    "ErrorCode",
    "Fragment",
    "Hello",
    "History",
    "Holders",
    "Identity",
    "Join",
    "JsonCodec",
    "Leave",
    "Limits",
    "Message",
    "MsgpackCodec",
    "Op",
    "OpError",
    "Ops",
    "Peer",
    "PeerPresence",
    "PeersPage",
    "PeersPresence",
    "PeersRequest",
    "Ping",
    "PolicyUpdate",
    "Pong",
    "Presence",
    "PresenceState",
    "ProtocolError",
    "Register",
    "Reject",
    "Roster",
    "SnapshotPart",
    "ServerMessage",
    "Stamp",
    "Step",
    "Tapestry",
    "UsageError",
    "Welcome",
    "codec_for",
    "inverse",
    "bindings",
    "ops",
    "zorder",
]
