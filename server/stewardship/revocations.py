"""Revoked tokens: server-wide, persisted, loaded once (SPEC P10, P11)."""

from __future__ import annotations

import asyncio

from ..member import Member
from ..store import Store

#: Store records of revocations, kept under a pseudo sanctuary id (never a valid id).
REVOCATION = "revocation"
SERVER_RECORDS = "*"


class Revocations:
    """Which token ids are revoked. Lazily loaded from the store, then kept in memory."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self._revoked: set[str] = set()
        self._loaded = False
        self._lock = asyncio.Lock()

    async def is_revoked(self, jti: str) -> bool:
        await self._load()
        return jti in self._revoked

    async def add(self, jti: str, by: str, sanctuary: str) -> None:
        """Revoke ``jti`` for good (idempotent)."""
        await self._load()
        if jti not in self._revoked:
            await self.store.add_record(SERVER_RECORDS, REVOCATION, {"jti": jti, "by": by, "sanctuary": sanctuary})
            self._revoked.add(jti)

    def holds_revoked(self, member: Member) -> bool:
        """Whether a live member's token was revoked (its close may still be on its way); never awaits."""
        claims = member.claims
        return bool(self._revoked) and claims is not None and claims.jti in self._revoked

    async def _load(self) -> None:
        if self._loaded:
            return
        async with self._lock:
            if self._loaded:
                return
            before: int | None = None
            while True:
                page = await self.store.records(SERVER_RECORDS, REVOCATION, limit=1000, before=before)
                self._revoked.update(str(r.data.get("jti")) for r in page)
                if len(page) < 1000:
                    break
                before = page[-1].id
            self._loaded = True
