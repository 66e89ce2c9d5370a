"""Stores: where a sanctuary's op log, snapshots and records live."""

from __future__ import annotations

from .base import Fenced, LogEntry, Record, SanctuaryInfo, Snapshot, Store, StoreError
from .memory import MemoryStore
from .sqlite import SqliteStore


def open_store(url: str, *, durability: str = "strict") -> Store:
    """A store from its URL: ``sqlite:///path/to/file.db``, ``memory://`` or ``postgresql://user@host/db``."""
    if url.startswith("sqlite:///"):
        return SqliteStore(url[len("sqlite:///") :], durability=durability)
    if url.startswith("sqlite://"):
        return SqliteStore(url[len("sqlite://") :], durability=durability)
    if url.startswith("memory://"):
        return MemoryStore()
    if url.startswith(("postgresql://", "postgres://")):
        try:
            from .postgres import PostgresStore  # asyncpg is needed in cluster mode only
        except ImportError as exc:
            raise StoreError(f"a PostgreSQL store needs asyncpg: pip install 'dreamloom[cluster]' ({exc})") from None
        return PostgresStore(url)
    raise StoreError(f"unsupported store URL {url!r} (use sqlite:///PATH, memory:// or postgresql://...)")


__all__ = [
    "Fenced",
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
