"""Stores: where a sanctuary's op log, snapshots and records live."""

from __future__ import annotations

from .base import LogEntry, Record, SanctuaryInfo, Snapshot, Store, StoreError
from .memory import MemoryStore
from .sqlite import SqliteStore


def open_store(url: str, *, durability: str = "strict") -> Store:
    """A store from its URL: ``sqlite:///path/to/file.db`` or ``memory://``."""
    if url.startswith("sqlite:///"):
        return SqliteStore(url[len("sqlite:///") :], durability=durability)
    if url.startswith("sqlite://"):
        return SqliteStore(url[len("sqlite://") :], durability=durability)
    if url.startswith("memory://"):
        return MemoryStore()
    raise StoreError(f"unsupported store URL {url!r} (use sqlite:///PATH or memory://)")


__all__ = [
    "LogEntry",
    "MemoryStore",
    "Record",
    "SanctuaryInfo",
    "Snapshot",
    "SqliteStore",
    "Store",
    "StoreError",
    "open_store",
]
