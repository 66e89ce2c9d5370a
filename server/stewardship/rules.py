"""The rules of each sanctuary: its Harmony policy, bans, mutes and role overrides, persisted (SPEC P5, P10).

One :class:`SanctuaryRules` object per sanctuary is shared by its gate (inside the
actor), by access control and by moderation, so a change is seen by all at once.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from ..policy import HarmonyGate, SanctuaryRules
from ..store import Store
from .revocations import Revocations


class RulesBook:
    """Loads, shares and persists the rules of every sanctuary."""

    def __init__(self, store: Store, revocations: Revocations, clock: Callable[[], float]) -> None:
        self.store = store
        self.revocations = revocations
        self.clock = clock
        self._rules: dict[str, SanctuaryRules] = {}
        self._locks: dict[str, asyncio.Lock] = {}

    def gate_for(self, name: str) -> HarmonyGate:
        """The gate of a sanctuary being loaded (the hub's gate factory)."""
        return HarmonyGate(self._rules.setdefault(name, SanctuaryRules()), self.clock, self.revocations.holds_revoked)

    async def rules(self, name: str) -> SanctuaryRules:
        """The rules of a sanctuary, loaded from its settings on first use."""
        rules = self._rules.setdefault(name, SanctuaryRules())
        if not rules.loaded:
            async with self._lock(name):
                if not rules.loaded:
                    info = await self.store.get_sanctuary(name)
                    rules.load_settings(info.settings if info is not None else {})
        return rules

    async def persist(self, name: str, rules: SanctuaryRules) -> None:
        """Write the rules into the sanctuary's settings."""
        # Read-modify-write: other parts of the server keep their own keys in the settings map.
        async with self._lock(name):
            info = await self.store.ensure_sanctuary(name)
            settings = dict(info.settings)
            settings.update(rules.to_settings())
            await self.store.set_settings(name, settings)

    def _lock(self, name: str) -> asyncio.Lock:
        return self._locks.setdefault(name, asyncio.Lock())
