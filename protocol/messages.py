"""Messages of protocol v1 (SPEC W1-W12).

Every message is a map with a ``type`` field. Each class below is frozen and
closed: ``from_wire`` validates a decoded map strictly (unknown fields are an
error) and ``to_wire`` builds the map a codec encodes. Client-to-server and
server-to-client messages form two closed unions, ``ClientMessage`` and
``ServerMessage``; dispatch on them with ``match``.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any, ClassVar, Literal

from .errors import ErrorCode
from .limits import Limits
from .ops import Op
from .stamps import Stamp
from .validate import (
    InvalidOp,
    check_client_ops,
    check_color,
    check_dict,
    check_id,
    check_int,
    check_number,
    check_ops,
    check_points,
    check_pressure,
    check_stamp,
    check_str,
    check_style,
    fail,
)

PROTOCOL_VERSION = 1
SUPPORTED_VERSIONS = frozenset({1})
Role = Literal["steward", "dreamer", "weaver", "viewer"]
ROLES = ("steward", "dreamer", "weaver", "viewer")
#: What a client says it is in ``hello.client``: a person's app or a weaver (SPEC W5, P1).
ClientKind = Literal["person", "weaver"]
CLIENT_KINDS = ("person", "weaver")
#: The longest wait a reject may ask for: one day.
MAX_RETRY_AFTER = 86_400.0
MAX_EPOCH_LEN = 64
#: ``hello.features``: at most this many strings, each of 1 to ``MAX_FEATURE_LEN`` characters (W5).
MAX_FEATURES = 16
MAX_FEATURE_LEN = 32
#: Feature strings this edition defines (SPEC W5): a welcome in parts (W36), the compact snapshot form (W37).
FEATURES = ("parts", "compact")
#: The forms a welcome's snapshot may take besides the canonical one (W37).
SNAPSHOT_FORMS = ("compact",)
#: The most parts a welcome is sent in (W36): 1 MiB parts reach the client's 1 GiB message bound first.
MAX_WELCOME_PARTS = 65_536


#: The keys of a client ``ops`` message (built once: every op passes here).
_OPS_KEYS: frozenset[str] = frozenset({"type", "ops"})
_NO_KEYS: frozenset[str] = frozenset()


def _keys(d: Mapping[str, Any], required: frozenset[str], optional: frozenset[str], what: str) -> None:
    for key in d:
        if key not in required and key not in optional:
            fail(f"unknown field {key!r} in {what}" if type(key) is str else f"non-string key in {what}")
    for key in required:
        if key not in d:
            fail(f"{what} needs {key!r}")


def _opt_str(d: Mapping[str, Any], key: str, what: str, max_len: int) -> str | None:
    v = d.get(key)
    return None if v is None else check_str(v, f"{what}.{key}", max_len)


def _version(v: Any, what: str) -> int:
    if v is None:
        fail(f"{what} needs 'v'")
    version = check_int(v, f"{what}.v", 0, 2**31)
    if version not in SUPPORTED_VERSIONS:
        fail(f"protocol version {version} is not supported (supported: 1)", ErrorCode.UNSUPPORTED_VERSION)
    return version


def _code(v: Any) -> ErrorCode:
    try:
        return ErrorCode(v)
    except ValueError:
        fail("unknown error code")


# -- shared pieces -----------------------------------------------------------
@dataclass(frozen=True, slots=True)
class Identity:
    """Who a session is: a stable id, a display name, a role and the origin of its writes."""

    id: str
    name: str
    role: Role
    origin: Literal["organic", "ai"]

    def to_wire(self) -> dict[str, Any]:
        return {"id": self.id, "name": self.name, "role": self.role, "origin": self.origin}

    @classmethod
    def from_wire(cls, v: Any, limits: Limits) -> Identity:
        d = check_dict(v, "identity")
        _keys(d, frozenset({"id", "name", "role", "origin"}), frozenset(), "identity")
        role, origin = d["role"], d["origin"]
        if role not in ROLES:
            fail("identity.role must be steward, dreamer, weaver or viewer")
        if origin not in ("organic", "ai"):
            fail("identity.origin must be organic or ai")
        return cls(
            check_id(d["id"], "identity.id", limits),
            check_str(d["name"], "identity.name", limits.max_name_len),
            role,
            origin,
        )


@dataclass(frozen=True, slots=True)
class PresenceState:
    """Ephemeral state of one connection: cursor, selection, stroke preview, viewport, colour."""

    cursor: tuple[float, float] | None = None
    sel: tuple[str, ...] = ()
    preview: Mapping[str, Any] | None = None
    view: tuple[float, float, float] | None = None
    #: A colour the person chose for themselves (``#rrggbb``); None: the server's.
    color: str | None = None
    #: A gesture not yet written (move, resize, rotate, restyle): ``{ids, dx?, dy?, ax?, ay?, sx?, sy?, rot?, style?}``.
    live: Mapping[str, Any] | None = None

    def to_wire(self) -> dict[str, Any]:
        wire: dict[str, Any] = {
            "cursor": list(self.cursor) if self.cursor is not None else None,
            "sel": list(self.sel),
            "preview": dict(self.preview) if self.preview is not None else None,
            "view": list(self.view) if self.view is not None else None,
        }
        if self.color is not None:
            wire["color"] = self.color
        if self.live is not None:
            wire["live"] = dict(self.live)
        return wire

    @classmethod
    def from_fields(cls, d: Mapping[str, Any], limits: Limits) -> PresenceState:
        cursor = d.get("cursor")
        if cursor is not None:
            check_points(cursor, "cursor", limits)
            if len(cursor) != 2:
                fail("cursor must be [x, y]")
            cursor = (cursor[0], cursor[1])
        sel = d.get("sel", [])
        if type(sel) is not list or len(sel) > limits.max_selection:
            fail(f"sel must be a list of at most {limits.max_selection} fragment ids")
        for fid in sel:
            check_id(fid, "sel id", limits)
        preview = d.get("preview")
        if preview is not None:
            p = check_dict(preview, "preview")
            _keys(p, frozenset({"pts"}), frozenset({"style", "pressure"}), "preview")
            check_points(p["pts"], "preview.pts", limits)
            if "pressure" in p:
                check_pressure(p["pressure"], p["pts"], limits)
            if "style" in p:
                check_style(p["style"], limits)
        view = d.get("view")
        if view is not None:
            if type(view) is not list or len(view) != 3:
                fail("view must be [x, y, zoom]")
            for i, v in enumerate(view):
                check_number(v, f"view[{i}]", limits.max_coordinate)
            if not 0 < view[2] <= 1000:
                fail("view zoom must be in (0, 1000]")
            view = (view[0], view[1], view[2])
        color = d.get("color")
        if color is not None and len(check_color(color, "color")) != 7:
            fail("color must be an opaque colour like #a1b2c3")
        live = d.get("live")
        if live is not None:
            _check_live(live, limits)
        return cls(cursor, tuple(sel), preview, view, color, live)


@dataclass(frozen=True, slots=True)
class Peer:
    """Another connection in the sanctuary, as announced in ``join`` and ``welcome``."""

    sid: str
    name: str
    role: Role
    origin: Literal["organic", "ai"]
    color: str

    def to_wire(self) -> dict[str, Any]:
        return {"sid": self.sid, "name": self.name, "role": self.role, "origin": self.origin, "color": self.color}

    @classmethod
    def from_wire(cls, v: Any, limits: Limits) -> Peer:
        d = check_dict(v, "peer")
        _keys(d, frozenset({"sid", "name", "role", "origin", "color"}), frozenset(), "peer")
        ident = Identity.from_wire(
            {"id": d["sid"], "name": d["name"], "role": d["role"], "origin": d["origin"]}, limits
        )
        return cls(ident.id, ident.name, ident.role, ident.origin, check_color(d["color"], "peer.color"))


_PRESENCE_FIELDS = frozenset({"cursor", "sel", "preview", "view", "color", "live"})
_LIVE_NUMBERS = ("dx", "dy", "ax", "ay", "sx", "sy", "rot")


def _check_live(v: Any, limits: Limits) -> None:
    """A gesture in presence (W11): the fragments it moves, scales or turns about a point, or restyles."""
    d = check_dict(v, "live")
    _keys(d, frozenset({"ids"}), frozenset({*_LIVE_NUMBERS, "style"}), "live")
    ids = d["ids"]
    if type(ids) is not list or not 0 < len(ids) <= limits.max_selection:
        fail(f"live.ids must list 1 to {limits.max_selection} fragment ids")
    for fid in ids:
        check_id(fid, "live id", limits)
    for name in _LIVE_NUMBERS:
        if name in d:
            check_number(d[name], f"live.{name}", limits.max_coordinate)
    if "style" in d:
        check_style(d["style"], limits)


# -- client -> server ----------------------------------------------------------
@dataclass(frozen=True, slots=True)
class Hello:
    """First message of a client: who it is and the last ``seq`` it has seen."""

    type: ClassVar[str] = "hello"
    name: str
    replica: str
    seq: int | None = None
    token: str | None = None
    client: ClientKind | None = None
    #: The ``epoch`` of the welcome that ``seq`` was counted in (F5).
    epoch: str | None = None
    #: What this client handles beyond the base protocol (``FEATURES``); unknown strings are ignored.
    features: tuple[str, ...] = ()
    v: int = PROTOCOL_VERSION

    @property
    def weaver(self) -> bool:
        """The client says it is a weaver (absent means a person's app)."""
        return self.client == "weaver"

    def to_wire(self) -> dict[str, Any]:
        wire: dict[str, Any] = {
            "type": "hello",
            "v": self.v,
            "name": self.name,
            "replica": self.replica,
            "seq": self.seq,
        }
        if self.token is not None:
            wire["token"] = self.token
        if self.client is not None:
            wire["client"] = self.client
        if self.epoch is not None:
            wire["epoch"] = self.epoch
        if self.features:
            wire["features"] = list(self.features)
        return wire

    @classmethod
    def from_wire(cls, d: dict[str, Any], limits: Limits) -> Hello:
        # The version first: a later version may add fields, and its client must
        # learn that the version is the problem, not the fields (SPEC W6).
        v = _version(d.get("v"), "hello")
        _keys(
            d,
            frozenset({"type", "v", "name", "replica"}),
            frozenset({"seq", "token", "client", "epoch", "features"}),
            "hello",
        )
        seq = d.get("seq")
        client = d.get("client")
        if client is not None and client not in CLIENT_KINDS:
            fail(f"hello.client must be one of {', '.join(CLIENT_KINDS)}")
        return cls(
            name=check_str(d["name"], "hello.name", limits.max_name_len),
            replica=check_id(d["replica"], "hello.replica", limits),
            seq=None if seq is None else check_int(seq, "hello.seq"),
            token=_opt_str(d, "token", "hello", limits.max_token_len),
            client=client,
            epoch=_opt_str(d, "epoch", "hello", MAX_EPOCH_LEN),
            features=_features(d.get("features")),
            v=v,
        )


def _features(v: Any) -> tuple[str, ...]:
    """``hello.features``: kept as sent, unknown strings included (a server ignores what it does not know)."""
    if v is None:
        return ()
    if (
        type(v) is not list
        or len(v) > MAX_FEATURES
        or any(type(f) is not str or not 0 < len(f) <= MAX_FEATURE_LEN for f in v)
    ):
        fail("hello.features must be a list of at most 16 short strings")
    return tuple(v)


@dataclass(frozen=True, slots=True)
class Ops:
    """A batch of ops. From a client ``seq`` is ``None``; from the server it is the
    seq of the first op, the others following one by one."""

    type: ClassVar[str] = "ops"
    ops: tuple[Op, ...]
    seq: int | None = None
    #: Ops of a client batch that broke a rule but name their stamp: each is rejected alone (W10a).
    invalid: tuple[InvalidOp, ...] = ()

    def to_wire(self) -> dict[str, Any]:
        wire: dict[str, Any] = {"type": "ops"}
        if self.seq is not None:
            wire["seq"] = self.seq
        wire["ops"] = [op.to_wire() for op in self.ops]
        return wire

    @classmethod
    def from_wire(cls, d: dict[str, Any], limits: Limits) -> Ops:
        _keys(d, _OPS_KEYS, _NO_KEYS, "ops")
        valid, invalid = check_client_ops(d["ops"], limits)
        return cls(tuple(valid), invalid=tuple(invalid))

    @classmethod
    def from_server_wire(cls, d: dict[str, Any], limits: Limits) -> Ops:
        _keys(d, frozenset({"type", "ops", "seq"}), frozenset(), "ops")
        return cls(tuple(check_ops(d["ops"], limits)), check_int(d["seq"], "ops.seq", 1))


@dataclass(frozen=True, slots=True)
class Presence:
    """A connection's own presence (client to server); latest wins per tick."""

    type: ClassVar[str] = "presence"
    state: PresenceState = field(default_factory=PresenceState)

    def to_wire(self) -> dict[str, Any]:
        return {"type": "presence", **self.state.to_wire()}

    @classmethod
    def from_wire(cls, d: dict[str, Any], limits: Limits) -> Presence:
        _keys(d, frozenset({"type"}), _PRESENCE_FIELDS, "presence")
        return cls(PresenceState.from_fields(d, limits))


@dataclass(frozen=True, slots=True)
class Ping:
    """Keep-alive probe; the other side answers ``pong`` with the same ``t``."""

    type: ClassVar[str] = "ping"
    t: int = 0

    def to_wire(self) -> dict[str, Any]:
        return {"type": "ping", "t": self.t}

    @classmethod
    def from_wire(cls, d: dict[str, Any], limits: Limits) -> Ping:
        _keys(d, frozenset({"type", "t"}), frozenset(), "ping")
        return cls(check_int(d["t"], "ping.t"))


@dataclass(frozen=True, slots=True)
class Pong:
    """Answer to ``ping``."""

    type: ClassVar[str] = "pong"
    t: int = 0

    def to_wire(self) -> dict[str, Any]:
        return {"type": "pong", "t": self.t}

    @classmethod
    def from_wire(cls, d: dict[str, Any], limits: Limits) -> Pong:
        _keys(d, frozenset({"type", "t"}), frozenset(), "pong")
        return cls(check_int(d["t"], "pong.t"))


# -- server -> client ----------------------------------------------------------
@dataclass(frozen=True, slots=True)
class PeerPresence:
    """One peer's presence inside a server ``presence`` message."""

    sid: str
    state: PresenceState

    def to_wire(self) -> dict[str, Any]:
        return {"sid": self.sid, **self.state.to_wire()}


@dataclass(frozen=True, slots=True)
class Welcome:
    """Answer to ``hello``: identity, the tapestry (snapshot or missed ops), peers, policy.

    Exactly one of ``snapshot`` (the canonical structure at ``seq``) and
    ``ops`` (the ops ``since+1 .. seq``) carries the state.
    """

    type: ClassVar[str] = "welcome"
    sanctuary: str
    sid: str
    identity: Identity
    seq: int
    since: int
    snapshot: list[Any] | None
    ops: tuple[Op, ...] = ()
    peers: tuple[tuple[Peer, PresenceState], ...] = ()
    policy: Mapping[str, Any] = field(default_factory=dict)
    #: A guest token the server issued to a hello without one: send it in every later hello.
    token: str | None = None
    #: Names this run of the sanctuary; seqs resume only within one epoch (F5).
    epoch: str | None = None
    #: Other connections in the sanctuary, when ``peers`` is only the first of them (W23).
    peer_count: int | None = None
    #: The snapshot comes in this many parts, this one the first: ``snapshot`` parts follow (W36).
    parts: int | None = None
    v: int = PROTOCOL_VERSION
    #: The snapshot's form: ``"compact"`` (W37), or ``None`` for the canonical structure (M9).
    form: str | None = None

    def to_wire(self) -> dict[str, Any]:
        wire = {
            "type": "welcome",
            "v": self.v,
            "sanctuary": self.sanctuary,
            "sid": self.sid,
            "identity": self.identity.to_wire(),
            "seq": self.seq,
            "since": self.since,
            "snapshot": self.snapshot,
            "ops": [op.to_wire() for op in self.ops],
            "peers": [{**p.to_wire(), **s.to_wire()} for p, s in self.peers],
            "policy": dict(self.policy),
        }
        if self.token is not None:
            wire["token"] = self.token
        if self.epoch is not None:
            wire["epoch"] = self.epoch
        if self.peer_count is not None:
            wire["peer_count"] = self.peer_count
        if self.parts is not None:
            wire["parts"] = self.parts
        if self.form is not None:
            wire["form"] = self.form
        return wire

    @classmethod
    def from_wire(cls, d: dict[str, Any], limits: Limits) -> Welcome:
        names = frozenset(
            {"type", "v", "sanctuary", "sid", "identity", "seq", "since", "snapshot", "ops", "peers", "policy"}
        )
        _version(d.get("v"), "welcome")
        _keys(d, names, frozenset({"token", "epoch", "peer_count", "parts", "form"}), "welcome")
        snapshot = d["snapshot"]
        if snapshot is not None and type(snapshot) is not list:
            fail("welcome.snapshot must be a list or null")
        parts = d.get("parts")
        if parts is not None:
            parts = check_int(parts, "welcome.parts", 2, MAX_WELCOME_PARTS)
            if snapshot is None:
                fail("welcome.parts needs a snapshot")
        form = d.get("form")
        if form is not None:
            if form not in SNAPSHOT_FORMS:
                fail('welcome.form must be "compact" or absent')
            if snapshot is None:
                fail("welcome.form names the form of a snapshot: a welcome without one has none")
        ops_v = d["ops"]
        if type(ops_v) is not list:
            fail("welcome.ops must be a list")
        peers = _peer_states(d["peers"], "welcome.peers", limits.max_peers_page, limits)
        peer_count = d.get("peer_count")
        return cls(
            sanctuary=check_id(d["sanctuary"], "welcome.sanctuary", limits),
            sid=check_id(d["sid"], "welcome.sid", limits),
            identity=Identity.from_wire(d["identity"], limits),
            seq=check_int(d["seq"], "welcome.seq"),
            since=check_int(d["since"], "welcome.since"),
            snapshot=snapshot,
            # A welcome carries every missed op: the batch bound does not apply, the others do.
            ops=tuple(check_ops(ops_v, replace(limits, max_ops_per_batch=len(ops_v))) if ops_v else ()),
            peers=tuple(peers),
            policy=check_policy(d["policy"]),
            token=_opt_str(d, "token", "welcome", limits.max_token_len),
            epoch=_opt_str(d, "epoch", "welcome", MAX_EPOCH_LEN),
            peer_count=None if peer_count is None else check_int(peer_count, "welcome.peer_count"),
            parts=parts,
            form=form,
        )


@dataclass(frozen=True, slots=True)
class SnapshotPart:
    """Part ``part`` (1 .. ``parts`` - 1) of the snapshot of the welcome at ``seq`` (W36).

    The welcome carries the first fragments (part 0); the parts follow it in order, nothing else
    between, and their ``fragments`` lists concatenated are the snapshot a whole welcome carries.
    """

    type: ClassVar[str] = "snapshot"
    seq: int
    part: int
    parts: int
    fragments: list[Any]

    def to_wire(self) -> dict[str, Any]:
        return {
            "type": "snapshot",
            "seq": self.seq,
            "part": self.part,
            "parts": self.parts,
            "fragments": self.fragments,
        }

    @classmethod
    def from_wire(cls, d: dict[str, Any], limits: Limits) -> SnapshotPart:
        _keys(d, frozenset({"type", "seq", "part", "parts", "fragments"}), frozenset(), "snapshot")
        parts = check_int(d["parts"], "snapshot.parts", 2, MAX_WELCOME_PARTS)
        part = check_int(d["part"], "snapshot.part", 1, parts - 1)
        fragments = d["fragments"]
        if type(fragments) is not list:
            fail("snapshot.fragments must be a list")
        return cls(check_int(d["seq"], "snapshot.seq"), part, parts, fragments)


def _peer_states(v: Any, what: str, most: int, limits: Limits) -> tuple[tuple[Peer, PresenceState], ...]:
    """A list of peers with their presence fields, at most ``most`` of them."""
    if type(v) is not list:
        fail(f"{what} must be a list")
    if len(v) > most:
        fail(f"{what} holds at most {most} peers, not {len(v)}")
    out = []
    for pv in v:
        pd = check_dict(pv, "peer")
        _keys(pd, frozenset({"sid", "name", "role", "origin", "color"}), _PRESENCE_FIELDS, "peer")
        base = {k: pd[k] for k in ("sid", "name", "role", "origin", "color")}
        # A chosen colour is the peer's colour (the server folds it into the peer): read it once.
        state = PresenceState.from_fields({k: v for k, v in pd.items() if k != "color"}, limits)
        out.append((Peer.from_wire(base, limits), state))
    return tuple(out)


def check_policy(v: Any) -> dict[str, Any]:
    """A policy map: string keys, values scalars or lists of strings."""
    d = check_dict(v, "policy")
    for key, value in d.items():
        check_str(key, "policy key", 64, 1)
        if isinstance(value, (list, tuple)):
            for item in value:
                check_str(item, f"policy.{key} item", 128)
        elif type(value) is float:
            if not math.isfinite(value):
                fail(f"policy.{key} must be a finite number")
        elif value is not None and type(value) not in (bool, int, str):
            fail(f"policy.{key} must be a scalar or a list of strings")
    return d


@dataclass(frozen=True, slots=True)
class Ack:
    """Ops of the receiving client made durable: ``(stamp counter, seq)`` pairs."""

    type: ClassVar[str] = "ack"
    acks: tuple[tuple[int, int], ...]

    def to_wire(self) -> dict[str, Any]:
        return {"type": "ack", "acks": [[c, s] for c, s in self.acks]}

    @classmethod
    def from_wire(cls, d: dict[str, Any], limits: Limits) -> Ack:
        _keys(d, frozenset({"type", "acks"}), frozenset(), "ack")
        acks = d["acks"]
        if type(acks) is not list:
            fail("ack.acks must be a list")
        out = []
        for a in acks:
            if type(a) is not list or len(a) != 2:
                fail("each ack is [counter, seq]")
            out.append((check_int(a[0], "ack counter", 1), check_int(a[1], "ack seq", 1)))
        return cls(tuple(out))


@dataclass(frozen=True, slots=True)
class Reject:
    """One op refused: its stamp and fragment, the code, the reason, and the rule that refused it."""

    type: ClassVar[str] = "reject"
    stamp: Stamp
    id: str
    code: ErrorCode
    reason: str
    rule: str | None = None
    allowed: str | None = None
    #: Seconds before the same op can succeed (rate refusals): a client never retries sooner (W9).
    retry_after: float | None = None

    def to_wire(self) -> dict[str, Any]:
        wire: dict[str, Any] = {
            "type": "reject",
            "s": [self.stamp[0], self.stamp[1]],
            "id": self.id,
            "code": self.code.value,
            "reason": self.reason,
            "rule": self.rule,
            "allowed": self.allowed,
        }
        if self.retry_after is not None:
            wire["retry_after"] = self.retry_after
        return wire

    @classmethod
    def from_wire(cls, d: dict[str, Any], limits: Limits) -> Reject:
        _keys(
            d, frozenset({"type", "s", "id", "code", "reason"}), frozenset({"rule", "allowed", "retry_after"}), "reject"
        )
        retry_after = d.get("retry_after")
        return cls(
            check_stamp(d["s"], limits),
            check_id(d["id"], "reject.id", limits),
            _code(d["code"]),
            check_str(d["reason"], "reject.reason", 1000),
            _opt_str(d, "rule", "reject", 64),
            _opt_str(d, "allowed", "reject", 1000),
            None if retry_after is None else _retry_after(retry_after),
        )


def _retry_after(value: Any) -> float:
    seconds = check_number(value, "reject.retry_after", MAX_RETRY_AFTER)
    if seconds < 0:
        fail("reject.retry_after must not be negative")
    return seconds


@dataclass(frozen=True, slots=True)
class Error:
    """A message-level error. Whether the connection stays open is up to the code (SPEC W10)."""

    type: ClassVar[str] = "error"
    code: ErrorCode
    reason: str

    def to_wire(self) -> dict[str, Any]:
        return {"type": "error", "code": self.code.value, "reason": self.reason}

    @classmethod
    def from_wire(cls, d: dict[str, Any], limits: Limits) -> Error:
        _keys(d, frozenset({"type", "code", "reason"}), frozenset(), "error")
        return cls(_code(d["code"]), check_str(d["reason"], "error.reason", 1000))


@dataclass(frozen=True, slots=True)
class PeersPresence:
    """Presence of the peers that changed since the last tick (server to client)."""

    type: ClassVar[str] = "presence"
    peers: tuple[PeerPresence, ...]

    def to_wire(self) -> dict[str, Any]:
        return {"type": "presence", "peers": [p.to_wire() for p in self.peers]}

    @classmethod
    def from_wire(cls, d: dict[str, Any], limits: Limits) -> PeersPresence:
        _keys(d, frozenset({"type", "peers"}), frozenset(), "presence")
        peers_v = d["peers"]
        if type(peers_v) is not list:
            fail("presence.peers must be a list")
        if len(peers_v) > limits.max_peers:
            fail(f"presence.peers holds at most {limits.max_peers} peers, not {len(peers_v)}")
        out = []
        for pv in peers_v:
            pd = check_dict(pv, "peer presence")
            _keys(pd, frozenset({"sid"}), _PRESENCE_FIELDS, "peer presence")
            out.append(PeerPresence(check_id(pd["sid"], "sid", limits), PresenceState.from_fields(pd, limits)))
        return cls(tuple(out))


@dataclass(frozen=True, slots=True)
class Join:
    """A peer joined the sanctuary."""

    type: ClassVar[str] = "join"
    peer: Peer

    def to_wire(self) -> dict[str, Any]:
        return {"type": "join", "peer": self.peer.to_wire()}

    @classmethod
    def from_wire(cls, d: dict[str, Any], limits: Limits) -> Join:
        _keys(d, frozenset({"type", "peer"}), frozenset(), "join")
        return cls(Peer.from_wire(d["peer"], limits))


@dataclass(frozen=True, slots=True)
class Leave:
    """A peer left the sanctuary."""

    type: ClassVar[str] = "leave"
    sid: str

    def to_wire(self) -> dict[str, Any]:
        return {"type": "leave", "sid": self.sid}

    @classmethod
    def from_wire(cls, d: dict[str, Any], limits: Limits) -> Leave:
        _keys(d, frozenset({"type", "sid"}), frozenset(), "leave")
        return cls(check_id(d["sid"], "leave.sid", limits))


@dataclass(frozen=True, slots=True)
class PolicyUpdate:
    """The sanctuary's policy changed; the full new policy."""

    type: ClassVar[str] = "policy"
    policy: Mapping[str, Any]

    def to_wire(self) -> dict[str, Any]:
        return {"type": "policy", "policy": dict(self.policy)}

    @classmethod
    def from_wire(cls, d: dict[str, Any], limits: Limits) -> PolicyUpdate:
        _keys(d, frozenset({"type", "policy"}), frozenset(), "policy")
        return cls(check_policy(d["policy"]))


@dataclass(frozen=True, slots=True)
class PeersRequest:
    """A client asks for a page of the sanctuary's peers, those whose sid sorts after ``after`` (W23)."""

    type: ClassVar[str] = "peers"
    after: str | None = None

    def to_wire(self) -> dict[str, Any]:
        return {"type": "peers", "after": self.after}

    @classmethod
    def from_wire(cls, d: dict[str, Any], limits: Limits) -> PeersRequest:
        _keys(d, frozenset({"type", "after"}), frozenset(), "peers")
        after = d["after"]
        return cls(None if after is None else check_id(after, "peers.after", limits))


@dataclass(frozen=True, slots=True)
class PeersPage:
    """One page of peers in sid order; ``next`` is the ``after`` of the next page, null on the last (W23)."""

    type: ClassVar[str] = "peers"
    peers: tuple[tuple[Peer, PresenceState], ...]
    next: str | None
    #: Connections in the sanctuary now, the asker included.
    count: int

    def to_wire(self) -> dict[str, Any]:
        return {
            "type": "peers",
            "peers": [{**p.to_wire(), **s.to_wire()} for p, s in self.peers],
            "next": self.next,
            "count": self.count,
        }

    @classmethod
    def from_wire(cls, d: dict[str, Any], limits: Limits) -> PeersPage:
        _keys(d, frozenset({"type", "peers", "next", "count"}), frozenset(), "peers")
        nxt = d["next"]
        return cls(
            _peer_states(d["peers"], "peers.peers", limits.max_peers_page, limits),
            None if nxt is None else check_id(nxt, "peers.next", limits),
            check_int(d["count"], "peers.count"),
        )


@dataclass(frozen=True, slots=True)
class Roster:
    """The connections that joined and left since the last tick, coalesced (W24)."""

    type: ClassVar[str] = "roster"
    joined: tuple[Peer, ...] = ()
    left: tuple[str, ...] = ()
    #: Connections in the sanctuary after these changes.
    count: int = 0

    def to_wire(self) -> dict[str, Any]:
        return {
            "type": "roster",
            "joined": [p.to_wire() for p in self.joined],
            "left": list(self.left),
            "count": self.count,
        }

    @classmethod
    def from_wire(cls, d: dict[str, Any], limits: Limits) -> Roster:
        _keys(d, frozenset({"type", "joined", "left", "count"}), frozenset(), "roster")
        joined, left = d["joined"], d["left"]
        if type(joined) is not list or type(left) is not list:
            fail("roster.joined and roster.left must be lists")
        if len(joined) > limits.max_peers or len(left) > limits.max_peers:
            fail(f"roster.joined and roster.left hold at most {limits.max_peers} entries each")
        return cls(
            tuple(Peer.from_wire(p, limits) for p in joined),
            tuple(check_id(sid, "roster.left", limits) for sid in left),
            check_int(d["count"], "roster.count"),
        )


ClientMessage = Hello | Ops | Presence | PeersRequest | Ping | Pong
ServerMessage = (
    Welcome
    | SnapshotPart
    | Ops
    | Ack
    | Reject
    | Error
    | PeersPresence
    | Join
    | Leave
    | Roster
    | PeersPage
    | PolicyUpdate
    | Ping
    | Pong
)
Message = ClientMessage | ServerMessage

Parser = Callable[[dict[str, Any], Limits], Any]
CLIENT_PARSERS: dict[str, Parser] = {
    "hello": Hello.from_wire,
    "ops": Ops.from_wire,
    "presence": Presence.from_wire,
    "peers": PeersRequest.from_wire,
    "ping": Ping.from_wire,
    "pong": Pong.from_wire,
}
SERVER_PARSERS: dict[str, Parser] = {
    "welcome": Welcome.from_wire,
    "snapshot": SnapshotPart.from_wire,
    "ops": Ops.from_server_wire,
    "ack": Ack.from_wire,
    "reject": Reject.from_wire,
    "error": Error.from_wire,
    "presence": PeersPresence.from_wire,
    "join": Join.from_wire,
    "leave": Leave.from_wire,
    "roster": Roster.from_wire,
    "peers": PeersPage.from_wire,
    "policy": PolicyUpdate.from_wire,
    "ping": Ping.from_wire,
    "pong": Pong.from_wire,
}
