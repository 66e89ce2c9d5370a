"""Error codes, close codes and the error tree of protocol v1.

The tree (every wire-visible error carries an :class:`ErrorCode`)::

    DreamloomError                  base of everything we raise on purpose
    ├── ProtocolError               the peer broke the protocol; has .code and .reason
    │   ├── DecodeError             bytes or structure are not a valid message
    │   └── OpError                 a well-formed op that cannot be applied here
    └── UsageError                  we misused our own API (a local programming error)

``ProtocolError`` subclasses are the only exceptions a decoder or validator
lets escape, whatever bytes it is given. Each code maps to a WebSocket close
code for the cases where the server ends the connection (see SPEC.md, W-rules).
"""

from __future__ import annotations

from enum import IntEnum, StrEnum


class ErrorCode(StrEnum):
    """Every error code that can appear in an ``error`` or ``reject`` message."""

    # wire and handshake
    BAD_ENCODING = "bad_encoding"
    TOO_LARGE = "too_large"
    BAD_MESSAGE = "bad_message"
    UNKNOWN_TYPE = "unknown_type"
    UNSUPPORTED_VERSION = "unsupported_version"
    HANDSHAKE_REQUIRED = "handshake_required"
    ALREADY_JOINED = "already_joined"
    REPLICA_IN_USE = "replica_in_use"
    # ops
    UNKNOWN_FRAGMENT = "unknown_fragment"
    FRAGMENT_EXISTS = "fragment_exists"
    BAD_STAMP = "bad_stamp"
    STAMP_AHEAD = "stamp_ahead"
    TOO_MANY_FRAGMENTS = "too_many_fragments"
    OVER_BUDGET = "over_budget"
    # limits and access
    RATE_LIMITED = "rate_limited"
    SANCTUARY_FULL = "sanctuary_full"
    UNAUTHORIZED = "unauthorized"
    TOKEN_EXPIRED = "token_expired"
    FORBIDDEN = "forbidden"
    BANNED = "banned"
    MUTED = "muted"
    # the Harmony policy
    CANVAS_LOCKED = "canvas_locked"
    AI_SHARE_CAP = "ai_share_cap"
    AI_RATE_LIMITED = "ai_rate_limited"
    CONSENT_REQUIRED = "consent_required"
    WEAVER_NOT_ALLOWED = "weaver_not_allowed"
    # server side
    SHUTTING_DOWN = "shutting_down"
    INTERNAL = "internal"


class CloseCode(IntEnum):
    """WebSocket close codes the server uses. 4000-4999 are ours (RFC 6455 §7.4.2)."""

    NORMAL = 1000
    GOING_AWAY = 1001  # server shutting down or restarting: reconnect and resume
    MESSAGE_TOO_BIG = 1009
    PROTOCOL_ERROR = 4000  # too many invalid messages, or an invalid handshake
    UNAUTHORIZED = 4001
    UNSUPPORTED_VERSION = 4002
    FORBIDDEN = 4003
    BANNED = 4004
    HANDSHAKE_TIMEOUT = 4005
    KICKED = 4006
    REVOKED = 4007
    SLOW_CONSUMER = 4008  # send buffer overflowed: reconnect and resume by seq
    RATE_LIMITED = 4009  # flooding persisted past the limit
    SANCTUARY_FULL = 4010
    HEARTBEAT_TIMEOUT = 4011
    REPLACED = 4012  # a newer connection of the same identity took over this replica id
    INTERNAL_ERROR = 1011


#: Whether a client should reconnect after the server closed with this code.
RECONNECTABLE: frozenset[int] = frozenset(
    {
        CloseCode.GOING_AWAY,
        CloseCode.INTERNAL_ERROR,
        CloseCode.SLOW_CONSUMER,
        CloseCode.HEARTBEAT_TIMEOUT,
        CloseCode.RATE_LIMITED,
        CloseCode.SANCTUARY_FULL,
    }
)


class DreamloomError(Exception):
    """Base of every error Dreamloom raises on purpose."""


class ProtocolError(DreamloomError):
    """The peer broke the protocol. Carries a wire error code and a readable reason."""

    code: ErrorCode
    reason: str

    def __init__(self, code: ErrorCode, reason: str) -> None:
        super().__init__(f"{code.value}: {reason}")
        self.code = code
        self.reason = reason


class DecodeError(ProtocolError):
    """The bytes, or the structure they decode to, are not a valid message."""


class OpError(ProtocolError):
    """A well-formed op that cannot be applied (unknown fragment, stamp too far ahead...)."""


class UsageError(DreamloomError):
    """Our own API was misused: a programming error on the local side, never the peer's."""
