"""The store as the owner of one sanctuary sees it: every append carries its owner epoch (SPEC S7, B4)."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from typing import Any

from dreamloom.protocol import Stamp

from ..store import LogEntry, Record, SanctuaryInfo, Snapshot, Store


class FencedStore(Store):
    """Delegates to the shared store; appends name ``epoch`` and are refused once a newer owner claimed it.

    ``committed`` is the last seq this owner made durable: what it tells the other nodes
    they should have seen (B5).
    """

    def __init__(self, store: Store, epoch: int, committed: int = 0) -> None:
        self.inner = store
        self.epoch = epoch
        self.committed = committed

    async def append(self, sanctuary: str, entries: Sequence[LogEntry], *, epoch: int | None = None) -> None:
        await self.inner.append(sanctuary, entries, epoch=self.epoch)
        if entries:
            self.committed = entries[-1].seq

    async def claim(self, sanctuary: str) -> int:
        return await self.inner.claim(sanctuary)

    async def ensure_sanctuary(self, sanctuary: str, title: str | None = None) -> SanctuaryInfo:
        return await self.inner.ensure_sanctuary(sanctuary, title)

    async def get_sanctuary(self, sanctuary: str) -> SanctuaryInfo | None:
        return await self.inner.get_sanctuary(sanctuary)

    async def list_sanctuaries(self) -> list[SanctuaryInfo]:
        return await self.inner.list_sanctuaries()

    async def set_settings(self, sanctuary: str, settings: dict[str, Any]) -> None:
        await self.inner.set_settings(sanctuary, settings)

    async def read_ops(
        self, sanctuary: str, after_seq: int, limit: int | None = None, upto: int | None = None
    ) -> list[LogEntry]:
        return await self.inner.read_ops(sanctuary, after_seq, limit, upto)

    async def find_stamps(self, sanctuary: str, stamps: Collection[Stamp]) -> dict[Stamp, int]:
        return await self.inner.find_stamps(sanctuary, stamps)

    async def bind_replica(self, sanctuary: str, replica: str, identity: str) -> str:
        return await self.inner.bind_replica(sanctuary, replica, identity)

    async def save_snapshot(self, sanctuary: str, snapshot: Snapshot) -> None:
        await self.inner.save_snapshot(sanctuary, snapshot)

    async def latest_snapshot(self, sanctuary: str, at_most: int | None = None) -> Snapshot | None:
        return await self.inner.latest_snapshot(sanctuary, at_most)

    async def keep_epoch(self, sanctuary: str, epoch: str, seq: int) -> None:
        await self.inner.keep_epoch(sanctuary, epoch, seq)

    async def take_epoch(self, sanctuary: str) -> tuple[str, int] | None:
        return await self.inner.take_epoch(sanctuary)

    async def add_record(self, sanctuary: str, kind: str, data: dict[str, Any]) -> Record:
        return await self.inner.add_record(sanctuary, kind, data)

    async def records(self, sanctuary: str, kind: str, limit: int = 100, before: int | None = None) -> list[Record]:
        return await self.inner.records(sanctuary, kind, limit, before)
