"""The audit log of each sanctuary (SPEC P13): every act, policy edit and invite, newest first."""

from __future__ import annotations

from typing import Any

from ..auth import Claims
from ..store import Store

AUDIT = "audit"


class AuditLog:
    """Appends and pages the audit records of a sanctuary."""

    def __init__(self, store: Store) -> None:
        self.store = store

    async def add(self, name: str, by: Claims, act: str, **detail: Any) -> dict[str, Any]:
        """Record an act by ``by``; returns the entry as the API shows it."""
        data = {"act": act, "by": by.sub, "by_name": by.name, **detail}
        record = await self.store.add_record(name, AUDIT, data)
        return {"id": record.id, "time": record.time, **data}

    async def page(self, name: str, limit: int = 100, before: int | None = None) -> list[dict[str, Any]]:
        """Entries newest first, ids below ``before`` if given."""
        records = await self.store.records(name, AUDIT, limit=limit, before=before)
        return [{"id": r.id, "time": r.time, **r.data} for r in records]
