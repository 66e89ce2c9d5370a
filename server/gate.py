"""The gate: what a member may write, checked by the sanctuary before an op is merged.

The base gate enforces roles (viewers are read-only). The Harmony policy
extends it with the AI share cap, consent, rate and lock rules.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from dreamloom.protocol import ErrorCode, Op, OpError, Tapestry

if TYPE_CHECKING:
    from .member import Member


class PolicyError(OpError):
    """An op refused by a rule; names the rule and what would be allowed."""

    def __init__(
        self, code: ErrorCode, reason: str, rule: str, allowed: str | None = None, retry_after: float | None = None
    ) -> None:
        super().__init__(code, reason)
        self.rule = rule
        self.allowed = allowed
        self.retry_after = retry_after  # seconds time needs to cure it (W9a), if time does


class Gate:
    """Decides whether a member may apply an op. Subclasses add rules."""

    def policy(self) -> dict[str, Any]:
        """The policy as sent to clients in ``welcome`` and ``policy`` messages."""
        return {}

    async def prepare(self, tapestry: Tapestry) -> None:
        """The sanctuary's tapestry is loaded, no op checked yet: count what rules need (yielding to the loop)."""

    def check(self, member: Member, op: Op, tapestry: Tapestry) -> None:
        """Raise :class:`PolicyError` if ``member`` may not apply ``op`` now."""
        if member.identity.role == "viewer":
            raise PolicyError(ErrorCode.FORBIDDEN, "viewers cannot write", rule="role", allowed="nothing: read only")

    def admitted(self, member: Member, op: Op, tapestry: Tapestry) -> None:
        """Called after an op was merged (for counters of rate rules)."""
