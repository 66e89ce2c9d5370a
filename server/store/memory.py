"""An in-memory store: for tests and throwaway servers. Nothing survives the process."""

from __future__ import annotations

import time
from collections.abc import Collection, Sequence
from typing import Any

from dreamloom.protocol import Stamp

from .base import Fenced, LogEntry, Record, SanctuaryInfo, Snapshot, Store, StoreError, thin_snapshot_seqs


class MemoryStore(Store):
    """Keeps everything in dicts. Same contract as the SQLite store."""

    def __init__(self) -> None:
        self._sanctuaries: dict[str, SanctuaryInfo] = {}
        self._ops: dict[str, list[LogEntry]] = {}
        self._snapshots: dict[str, dict[int, Snapshot]] = {}
        self._records: list[tuple[str, Record]] = []
        self._stamps: dict[str, dict[Stamp, int]] = {}
        self._replicas: dict[tuple[str, str], str] = {}
        self._epochs: dict[str, int] = {}
        self._kept: dict[str, tuple[str, int]] = {}

    async def ensure_sanctuary(self, sanctuary: str, title: str | None = None) -> SanctuaryInfo:
        info = self._sanctuaries.get(sanctuary)
        if info is None:
            info = SanctuaryInfo(sanctuary, title or sanctuary, time.time())
            self._sanctuaries[sanctuary] = info
            self._ops[sanctuary] = []
            self._snapshots[sanctuary] = {}
        return info

    async def get_sanctuary(self, sanctuary: str) -> SanctuaryInfo | None:
        info = self._sanctuaries.get(sanctuary)
        if info is None:
            return None
        ops = self._ops[sanctuary]
        return SanctuaryInfo(info.id, info.title, info.created, ops[-1].seq if ops else 0, dict(info.settings))

    async def list_sanctuaries(self) -> list[SanctuaryInfo]:
        out = []
        for sid in self._sanctuaries:
            info = await self.get_sanctuary(sid)
            assert info is not None
            out.append(info)
        return out

    async def set_settings(self, sanctuary: str, settings: dict[str, Any]) -> None:
        info = await self.ensure_sanctuary(sanctuary)
        self._sanctuaries[sanctuary] = SanctuaryInfo(info.id, info.title, info.created, 0, dict(settings))

    async def claim(self, sanctuary: str) -> int:
        await self.ensure_sanctuary(sanctuary)
        epoch = self._epochs[sanctuary] = self._epochs.get(sanctuary, 0) + 1
        return epoch

    async def append(self, sanctuary: str, entries: Sequence[LogEntry], *, epoch: int | None = None) -> None:
        log = self._ops.get(sanctuary)
        if log is None:
            raise StoreError(f"unknown sanctuary {sanctuary!r}")
        if epoch is not None and epoch != self._epochs.get(sanctuary, 0):
            raise Fenced(f"owner epoch {epoch} of {sanctuary!r} was superseded")
        expected = (log[-1].seq if log else 0) + 1
        stamps = self._stamps.setdefault(sanctuary, {})
        batch: set[Stamp] = set()
        for e in entries:
            if e.seq != expected:
                raise StoreError(f"seq {e.seq} out of order (expected {expected})")
            if e.op.stamp in stamps or e.op.stamp in batch:
                raise StoreError(f"stamp {e.op.stamp} is already in the log")  # S5
            batch.add(e.op.stamp)
            expected += 1
        log.extend(entries)
        stamps.update((e.op.stamp, e.seq) for e in entries)

    async def find_stamps(self, sanctuary: str, stamps: Collection[Stamp]) -> dict[Stamp, int]:
        known = self._stamps.get(sanctuary, {})
        return {s: known[s] for s in stamps if s in known}

    async def bind_replica(self, sanctuary: str, replica: str, identity: str) -> str:
        key = (sanctuary, replica)
        owner = self._replicas.get(key)
        if owner is None:
            first = min(
                (e for e in self._ops.get(sanctuary, []) if e.op.stamp[1] == replica),
                key=lambda e: e.op.stamp[0],
                default=None,
            )
            owner = self._replicas[key] = identity if first is None else first.author
        return owner

    async def read_ops(
        self, sanctuary: str, after_seq: int, limit: int | None = None, upto: int | None = None
    ) -> list[LogEntry]:
        log = self._ops.get(sanctuary, [])
        # seqs are contiguous from 1, so the index of seq s is s - 1
        end = len(log) if upto is None else min(len(log), max(upto, 0))
        start = max(after_seq, 0)
        out = log[start:end]
        return out[:limit] if limit is not None else out

    async def keep_epoch(self, sanctuary: str, epoch: str, seq: int) -> None:
        self._kept[sanctuary] = (epoch, seq)

    async def take_epoch(self, sanctuary: str) -> tuple[str, int] | None:
        return self._kept.pop(sanctuary, None)

    async def save_snapshot(self, sanctuary: str, snapshot: Snapshot) -> None:
        snaps = self._snapshots.setdefault(sanctuary, {})
        snaps[snapshot.seq] = snapshot
        for seq in thin_snapshot_seqs(list(snaps)):
            del snaps[seq]

    async def latest_snapshot(self, sanctuary: str, at_most: int | None = None) -> Snapshot | None:
        snaps = self._snapshots.get(sanctuary, {})
        seqs = [s for s in snaps if at_most is None or s <= at_most]
        return snaps[max(seqs)] if seqs else None

    async def add_record(self, sanctuary: str, kind: str, data: dict[str, Any]) -> Record:
        record = Record(len(self._records) + 1, kind, dict(data), time.time())
        self._records.append((sanctuary, record))
        return record

    async def records(self, sanctuary: str, kind: str, limit: int = 100, before: int | None = None) -> list[Record]:
        out = [
            r
            for s, r in reversed(self._records)
            if s == sanctuary and r.kind == kind and (before is None or r.id < before)
        ]
        return out[:limit]
