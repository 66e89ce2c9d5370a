"""The errors a weaver sees: an op the sanctuary refused, and a connection that ended for good.

Both derive from :class:`dreamloom.protocol.DreamloomError`::

    DreamloomError
    ├── Rejected        one op refused by the server (reject message), with its ErrorCode
    └── Closed          the connection ended and will not be retried (close code or HTTP status)
"""

from __future__ import annotations

from typing import Final

from dreamloom.protocol import DreamloomError, ErrorCode, Stamp

#: Codes after which the SDK retries the op by itself, with a new stamp, after a back-off.
RETRYABLE: Final = frozenset(
    {
        ErrorCode.RATE_LIMITED,
        ErrorCode.AI_RATE_LIMITED,
        ErrorCode.STAMP_AHEAD,
        ErrorCode.SHUTTING_DOWN,
    }
)

#: Codes that make the SDK hold every further op for a back-off delay (the op itself is not retried).
BACK_OFF: Final = RETRYABLE | frozenset(
    {
        ErrorCode.AI_SHARE_CAP,
        ErrorCode.CANVAS_LOCKED,
        ErrorCode.CONSENT_REQUIRED,
        ErrorCode.WEAVER_NOT_ALLOWED,
        ErrorCode.MUTED,
    }
)


class Rejected(DreamloomError):
    """The sanctuary refused an op. Awaiting the action that sent it raises this.

    ``code`` is the wire :class:`~dreamloom.protocol.ErrorCode`; ``rule`` names the policy
    rule that refused it and ``allowed`` says what would have been allowed, when the server
    tells. ``fragment_id`` and ``stamp`` identify the op.

    Example::

        try:
            await self.update("f-unknown", x=10)
        except Rejected as exc:
            assert exc.code is ErrorCode.UNKNOWN_FRAGMENT
    """

    def __init__(
        self,
        code: ErrorCode,
        reason: str,
        *,
        fragment_id: str = "",
        stamp: Stamp | None = None,
        rule: str | None = None,
        allowed: str | None = None,
        retry_after: float | None = None,
    ) -> None:
        super().__init__(f"{code.value}: {reason}")
        self.code = code
        self.reason = reason
        self.fragment_id = fragment_id
        self.stamp = stamp
        self.rule = rule
        self.allowed = allowed
        #: Seconds the server asked to wait before trying again, when it said (SPEC W9a).
        self.retry_after = retry_after

    @property
    def retryable(self) -> bool:
        """Whether the code is a transient one (a rate limit) the SDK retries by itself.

        Example::

            Rejected(ErrorCode.RATE_LIMITED, "slow down").retryable  # True
        """
        return self.code in RETRYABLE


class Closed(DreamloomError):
    """The connection ended for good: the server closed it with a code that forbids
    reconnecting (unauthorized, banned, kicked...), refused the handshake, or the weaver
    was stopped. ``code`` is the WebSocket close code, or the HTTP status of a refused
    handshake (``http_status`` is then set too).

    Example::

        try:
            await weaver.serve("ws://127.0.0.1:8765", "dreams", token="bad")
        except Closed as exc:
            print(exc.code, exc.reason)   # 4001 unauthorized
    """

    def __init__(self, code: int, reason: str, *, http_status: int | None = None) -> None:
        super().__init__(f"connection closed ({code}): {reason}" if reason else f"connection closed ({code})")
        self.code = code
        self.reason = reason
        self.http_status = http_status
