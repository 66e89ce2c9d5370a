"""Invitations: tokens a steward issues for one sanctuary, recorded so they can be listed and revoked (P11)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ..auth import ALL_SANCTUARIES, Claims, TokenAuthority
from ..store import Store
from .audit import AuditLog
from .errors import bad
from .revocations import Revocations

INVITE = "invite"
INVITE_ROLES = ("dreamer", "weaver", "viewer", "steward")


class Invites:
    """Issues and lists the invitations of each sanctuary."""

    def __init__(
        self,
        authority: TokenAuthority,
        store: Store,
        audit: AuditLog,
        revocations: Revocations,
        clock: Callable[[], float],
    ) -> None:
        self.authority = authority
        self.store = store
        self.audit = audit
        self.revocations = revocations
        self.clock = clock

    async def invite(self, name: str, by: Claims, role: str, label: str, ttl: float, base_url: str) -> dict[str, Any]:
        """A new token for ``role`` in this sanctuary, with the link that carries it."""
        if role not in INVITE_ROLES:
            raise bad("role must be dreamer, weaver, viewer or steward")
        try:
            token, claims = self.authority.issue(role=role, sanctuary=name, name=label, ttl=ttl)
        except ValueError as exc:
            raise bad(str(exc)) from None
        await self.store.add_record(
            name, INVITE, {"jti": claims.jti, "sub": claims.sub, "role": role, "name": label, "exp": claims.exp}
        )
        await self.audit.add(
            name, by, "invite", target=claims.sub, role=role, label=label, token=claims.jti, exp=claims.exp
        )
        return {
            "token": token,
            "url": f"{base_url}/s/{name}?token={token}",
            "jti": claims.jti,
            "sub": claims.sub,
            "role": role,
            "name": label,
            "exp": claims.exp,
        }

    async def listing(self, name: str) -> list[dict[str, Any]]:
        """The sanctuary's invitations, newest first, with whether each is revoked or expired."""
        now = self.clock()
        out = []
        for r in await self.store.records(name, INVITE, limit=500):
            jti = str(r.data.get("jti"))
            revoked = await self.revocations.is_revoked(jti)
            out.append({**r.data, "created": r.time, "revoked": revoked, "expired": r.data["exp"] <= now})
        return out

    async def issued_here(self, name: str, jti: str) -> bool:
        """Whether ``jti`` is one of this sanctuary's invitations (issued for it alone)."""
        before: int | None = None
        while True:
            page = await self.store.records(name, INVITE, limit=500, before=before)
            if any(r.data.get("jti") == jti for r in page):
                return True
            if len(page) < 500:
                return False
            before = page[-1].id


def steward_link(authority: TokenAuthority, base_url: str, ttl: float = 7 * 24 * 3600.0) -> str:
    """A link for the local operator: a steward of every sanctuary (printed by ``dreamloom serve``)."""
    token, _ = authority.issue(role="steward", sanctuary=ALL_SANCTUARIES, name="Steward", ttl=ttl, sub="steward")
    return f"{base_url}/?token={token}"
