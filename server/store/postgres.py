"""The cluster store: PostgreSQL through asyncpg (SPEC S1-S7, B4).

Every node of a cluster opens one pool on the same database. The schema is
created by versioned migrations (``MIGRATIONS``), applied at open under a
transaction-level advisory lock so that nodes starting together apply each one
once, and recorded in ``dreamloom_migrations``.

``append`` is one transaction: it moves the sanctuary's ``last_seq`` forward
with a conditional ``UPDATE`` (the row lock serialises writers) and inserts the
ops; the ``(sanctuary, seq)`` key and the ``(sanctuary, replica, counter)`` key
refuse a seq given twice and a stamp applied twice (S2, S5). With an owner
epoch the same ``UPDATE`` also requires ``epoch = $epoch``: once a new owner has
claimed the sanctuary, a paused former owner's commit matches no row and is
refused (S7). ``synchronous_commit`` is left on: a commit is durable when
``append`` returns (S1).

A URL may name a schema: ``postgresql://user@host:5432/db?schema=name``; the
store creates it if needed and uses it alone (tests use one schema per run).
"""

from __future__ import annotations

import itertools
import time
import urllib.parse
from collections.abc import Collection, Sequence
from typing import Any

import asyncpg
import msgpack
import orjson

from dreamloom.protocol import Stamp

from .base import Fenced, LogEntry, Record, SanctuaryInfo, Snapshot, Store, StoreError, thin_snapshot_seqs

#: Versioned migrations: (version, SQL). Append new ones; never edit one that shipped.
MIGRATIONS: tuple[tuple[int, str], ...] = (
    (
        1,
        """
        CREATE TABLE sanctuaries (
            id TEXT PRIMARY KEY,
            title TEXT NOT NULL,
            created DOUBLE PRECISION NOT NULL,
            last_seq BIGINT NOT NULL DEFAULT 0,
            settings JSONB NOT NULL DEFAULT '{}',
            epoch BIGINT NOT NULL DEFAULT 0
        );
        CREATE TABLE ops (
            sanctuary TEXT NOT NULL,
            seq BIGINT NOT NULL,
            replica TEXT NOT NULL,
            counter BIGINT NOT NULL,
            author TEXT NOT NULL,
            time DOUBLE PRECISION NOT NULL,
            op BYTEA NOT NULL,
            PRIMARY KEY (sanctuary, seq)
        );
        CREATE UNIQUE INDEX ops_by_stamp ON ops (sanctuary, replica, counter);
        CREATE TABLE replicas (
            sanctuary TEXT NOT NULL,
            replica TEXT NOT NULL,
            identity TEXT NOT NULL,
            PRIMARY KEY (sanctuary, replica)
        );
        CREATE TABLE snapshots (
            sanctuary TEXT NOT NULL,
            seq BIGINT NOT NULL,
            data BYTEA NOT NULL,
            replicas BYTEA NOT NULL,
            PRIMARY KEY (sanctuary, seq)
        );
        CREATE TABLE records (
            id BIGSERIAL PRIMARY KEY,
            sanctuary TEXT NOT NULL,
            kind TEXT NOT NULL,
            time DOUBLE PRECISION NOT NULL,
            data JSONB NOT NULL
        );
        CREATE INDEX records_by_kind ON records (sanctuary, kind, id);
        CREATE TABLE cluster_secrets (
            name TEXT PRIMARY KEY,
            value TEXT NOT NULL
        );
        """,
    ),
    (
        2,
        """
        CREATE TABLE kept_epochs (
            sanctuary TEXT PRIMARY KEY,
            epoch TEXT NOT NULL,
            seq BIGINT NOT NULL
        );
        """,
    ),
)

#: Any constant: nodes applying migrations at once take this advisory lock in turn.
_MIGRATION_LOCK = 0x647265616D6C6F6F  # "dreamloo"

_BIG = 2**62


def parse_url(url: str) -> tuple[str, str | None]:
    """The asyncpg DSN and the schema named by ``?schema=`` (if any)."""
    parts = urllib.parse.urlsplit(url)
    query = urllib.parse.parse_qs(parts.query)
    schema = query.pop("schema", [None])[0]
    if schema is not None and not schema.replace("_", "").isalnum():
        raise StoreError(f"schema name {schema!r} must be letters, digits and underscores")
    rest = urllib.parse.urlencode({k: v[-1] for k, v in query.items()})
    scheme = "postgresql" if parts.scheme in ("postgres", "postgresql") else parts.scheme
    return urllib.parse.urlunsplit((scheme, parts.netloc, parts.path, rest, parts.fragment)), schema


class PostgresStore(Store):
    """Op log, snapshots, records and owner epochs of every sanctuary in PostgreSQL."""

    def __init__(self, url: str, *, min_size: int = 1, max_size: int = 8) -> None:
        self.url = url
        self.dsn, self.schema = parse_url(url)
        self._sizes = (min_size, max_size)
        self._pool: asyncpg.Pool | None = None

    # -- plumbing ---------------------------------------------------------
    @property
    def pool(self) -> asyncpg.Pool:
        if self._pool is None:
            raise StoreError("store is not open")
        return self._pool

    async def open(self) -> None:
        if self._pool is not None:
            return
        settings = {"search_path": self.schema} if self.schema else {}
        try:
            if self.schema:
                first = await asyncpg.connect(self.dsn)
                try:
                    await first.execute(f'CREATE SCHEMA IF NOT EXISTS "{self.schema}"')
                finally:
                    await first.close()
            self._pool = await asyncpg.create_pool(
                self.dsn, min_size=self._sizes[0], max_size=self._sizes[1], server_settings=settings
            )
        except (OSError, asyncpg.PostgresError) as exc:
            raise StoreError(f"cannot open PostgreSQL at {self._where()}: {exc}") from exc
        await self._migrate()

    def _where(self) -> str:
        parts = urllib.parse.urlsplit(self.dsn)
        return f"{parts.hostname}:{parts.port or 5432}{parts.path}"

    async def _migrate(self) -> None:
        async with self.pool.acquire() as db, db.transaction():
            await db.execute("SELECT pg_advisory_xact_lock($1)", _MIGRATION_LOCK)
            await db.execute(
                "CREATE TABLE IF NOT EXISTS dreamloom_migrations"
                " (version INTEGER PRIMARY KEY, applied DOUBLE PRECISION NOT NULL)"
            )
            done = {r["version"] for r in await db.fetch("SELECT version FROM dreamloom_migrations")}
            for version, sql in MIGRATIONS:
                if version not in done:
                    await db.execute(sql)
                    await db.execute("INSERT INTO dreamloom_migrations VALUES ($1, $2)", version, time.time())

    async def migrations(self) -> list[int]:
        """The versions applied to this database, in order."""
        rows = await self.pool.fetch("SELECT version FROM dreamloom_migrations ORDER BY version")
        return [int(r["version"]) for r in rows]

    async def close(self) -> None:
        pool, self._pool = self._pool, None
        if pool is not None:
            await pool.close()

    async def drop_schema(self) -> None:
        """Remove this store's schema and everything in it (test runs clean up after themselves)."""
        if not self.schema:
            raise StoreError("drop_schema needs a store opened on its own schema")
        db = await asyncpg.connect(self.dsn)
        try:
            await db.execute(f'DROP SCHEMA IF EXISTS "{self.schema}" CASCADE')
        finally:
            await db.close()

    # -- cluster ------------------------------------------------------------
    async def shared_secret(self, name: str, candidate: str) -> str:
        """The secret stored under ``name``; ``candidate`` becomes it if none was (the first node's wins)."""
        async with self.pool.acquire() as db:
            await db.execute(
                "INSERT INTO cluster_secrets (name, value) VALUES ($1, $2) ON CONFLICT DO NOTHING", name, candidate
            )
            value: str = await db.fetchval("SELECT value FROM cluster_secrets WHERE name = $1", name)
            return value

    async def claim(self, sanctuary: str) -> int:
        await self.ensure_sanctuary(sanctuary)
        epoch: int = await self.pool.fetchval(
            "UPDATE sanctuaries SET epoch = epoch + 1 WHERE id = $1 RETURNING epoch", sanctuary
        )
        return epoch

    # -- sanctuaries ------------------------------------------------------
    async def ensure_sanctuary(self, sanctuary: str, title: str | None = None) -> SanctuaryInfo:
        async with self.pool.acquire() as db:
            await db.execute(
                "INSERT INTO sanctuaries (id, title, created) VALUES ($1, $2, $3) ON CONFLICT (id) DO NOTHING",
                sanctuary,
                title or sanctuary,
                time.time(),
            )
            info = await _get(db, sanctuary)
            assert info is not None
            return info

    async def get_sanctuary(self, sanctuary: str) -> SanctuaryInfo | None:
        async with self.pool.acquire() as db:
            return await _get(db, sanctuary)

    async def list_sanctuaries(self) -> list[SanctuaryInfo]:
        rows = await self.pool.fetch(
            "SELECT id, title, created, last_seq, settings::text AS settings FROM sanctuaries ORDER BY created, id"
        )
        return [_info(r) for r in rows]

    async def set_settings(self, sanctuary: str, settings: dict[str, Any]) -> None:
        await self.ensure_sanctuary(sanctuary)
        await self.pool.execute(
            "UPDATE sanctuaries SET settings = $2::jsonb WHERE id = $1", sanctuary, orjson.dumps(settings).decode()
        )

    # -- the op log -------------------------------------------------------
    async def append(self, sanctuary: str, entries: Sequence[LogEntry], *, epoch: int | None = None) -> None:
        if not entries:
            return
        first, last = entries[0].seq, entries[-1].seq
        if any(b.seq != a.seq + 1 for a, b in itertools.pairwise(entries)):
            raise StoreError(f"seqs of a batch must be contiguous ({first}..{last})")  # S2
        rows = [(sanctuary, e.seq, e.op.stamp[1], e.op.stamp[0], e.author, e.time, e.op_bytes()) for e in entries]
        async with self.pool.acquire() as db, db.transaction():
            moved = await db.fetchval(
                "UPDATE sanctuaries SET last_seq = $2 WHERE id = $1 AND last_seq = $3"
                " AND ($4::bigint IS NULL OR epoch = $4) RETURNING last_seq",
                sanctuary,
                last,
                first - 1,
                epoch,
            )
            if moved is None:
                await _why_refused(db, sanctuary, first, epoch)
            try:
                await db.copy_records_to_table(
                    "ops",
                    records=rows,
                    columns=("sanctuary", "seq", "replica", "counter", "author", "time", "op"),
                    schema_name=self.schema,
                )
            except asyncpg.UniqueViolationError as exc:
                raise StoreError(f"a stamp of this batch is already in the log: {exc}") from None  # S5

    async def read_ops(
        self, sanctuary: str, after_seq: int, limit: int | None = None, upto: int | None = None
    ) -> list[LogEntry]:
        rows = await self.pool.fetch(
            "SELECT seq, op, author, time FROM ops WHERE sanctuary = $1 AND seq > $2 AND seq <= $3"
            " ORDER BY seq LIMIT $4",
            sanctuary,
            after_seq,
            upto if upto is not None else _BIG,
            limit,
        )
        return [LogEntry(r["seq"], LogEntry.op_from_bytes(r["op"]), r["author"], r["time"]) for r in rows]

    async def find_stamps(self, sanctuary: str, stamps: Collection[Stamp]) -> dict[Stamp, int]:
        if not stamps:
            return {}
        wanted = list(stamps)
        rows = await self.pool.fetch(
            "SELECT o.replica, o.counter, o.seq FROM ops o"
            " JOIN unnest($2::text[], $3::bigint[]) AS w(replica, counter)"
            " ON o.replica = w.replica AND o.counter = w.counter WHERE o.sanctuary = $1",
            sanctuary,
            [s[1] for s in wanted],
            [s[0] for s in wanted],
        )
        return {Stamp(r["counter"], r["replica"]): r["seq"] for r in rows}

    async def bind_replica(self, sanctuary: str, replica: str, identity: str) -> str:
        async with self.pool.acquire() as db, db.transaction():
            owner = await db.fetchval(
                "SELECT identity FROM replicas WHERE sanctuary = $1 AND replica = $2", sanctuary, replica
            )
            if owner is not None:
                return str(owner)
            first = await db.fetchval(
                "SELECT author FROM ops WHERE sanctuary = $1 AND replica = $2 ORDER BY counter LIMIT 1",
                sanctuary,
                replica,
            )
            # Two nodes binding at once: the first insert wins, and both read it back.
            await db.execute(
                "INSERT INTO replicas (sanctuary, replica, identity) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING",
                sanctuary,
                replica,
                identity if first is None else str(first),
            )
            bound: str = await db.fetchval(
                "SELECT identity FROM replicas WHERE sanctuary = $1 AND replica = $2", sanctuary, replica
            )
            return bound

    # -- snapshots --------------------------------------------------------
    async def save_snapshot(self, sanctuary: str, snapshot: Snapshot) -> None:
        replicas = msgpack.packb(snapshot.replicas, use_bin_type=True)
        async with self.pool.acquire() as db, db.transaction():
            await db.execute(
                "INSERT INTO snapshots (sanctuary, seq, data, replicas) VALUES ($1, $2, $3, $4)"
                " ON CONFLICT (sanctuary, seq) DO UPDATE SET data = EXCLUDED.data, replicas = EXCLUDED.replicas",
                sanctuary,
                snapshot.seq,
                snapshot.data,
                replicas,
            )
            seqs = [r["seq"] for r in await db.fetch("SELECT seq FROM snapshots WHERE sanctuary = $1", sanctuary)]
            drop = thin_snapshot_seqs(seqs)
            if drop:
                await db.execute(
                    "DELETE FROM snapshots WHERE sanctuary = $1 AND seq = ANY($2::bigint[])", sanctuary, drop
                )

    async def latest_snapshot(self, sanctuary: str, at_most: int | None = None) -> Snapshot | None:
        row = await self.pool.fetchrow(
            "SELECT seq, data, replicas FROM snapshots WHERE sanctuary = $1 AND seq <= $2 ORDER BY seq DESC LIMIT 1",
            sanctuary,
            at_most if at_most is not None else _BIG,
        )
        if row is None:
            return None
        return Snapshot(row["seq"], bytes(row["data"]), msgpack.unpackb(row["replicas"], raw=False))

    async def keep_epoch(self, sanctuary: str, epoch: str, seq: int) -> None:
        await self.pool.execute(
            "INSERT INTO kept_epochs (sanctuary, epoch, seq) VALUES ($1, $2, $3)"
            " ON CONFLICT (sanctuary) DO UPDATE SET epoch = EXCLUDED.epoch, seq = EXCLUDED.seq",
            sanctuary,
            epoch,
            seq,
        )

    async def take_epoch(self, sanctuary: str) -> tuple[str, int] | None:
        row = await self.pool.fetchrow("DELETE FROM kept_epochs WHERE sanctuary = $1 RETURNING epoch, seq", sanctuary)
        return None if row is None else (str(row["epoch"]), int(row["seq"]))

    # -- records ----------------------------------------------------------
    async def add_record(self, sanctuary: str, kind: str, data: dict[str, Any]) -> Record:
        now = time.time()
        record_id = await self.pool.fetchval(
            "INSERT INTO records (sanctuary, kind, time, data) VALUES ($1, $2, $3, $4::jsonb) RETURNING id",
            sanctuary,
            kind,
            now,
            orjson.dumps(data).decode(),
        )
        return Record(int(record_id), kind, dict(data), now)

    async def records(self, sanctuary: str, kind: str, limit: int = 100, before: int | None = None) -> list[Record]:
        rows = await self.pool.fetch(
            "SELECT id, kind, data::text AS data, time FROM records"
            " WHERE sanctuary = $1 AND kind = $2 AND id < $3 ORDER BY id DESC LIMIT $4",
            sanctuary,
            kind,
            before if before is not None else _BIG,
            limit,
        )
        return [Record(int(r["id"]), r["kind"], orjson.loads(r["data"]), r["time"]) for r in rows]


async def _why_refused(db: asyncpg.Connection, sanctuary: str, first: int, epoch: int | None) -> None:
    row = await db.fetchrow("SELECT last_seq, epoch FROM sanctuaries WHERE id = $1", sanctuary)
    if row is None:
        raise StoreError(f"unknown sanctuary {sanctuary!r}")
    if epoch is not None and row["epoch"] != epoch:
        raise Fenced(f"owner epoch {epoch} of {sanctuary!r} was superseded by {row['epoch']}")
    raise StoreError(f"seq {first} does not follow {row['last_seq']}")


def _info(row: asyncpg.Record) -> SanctuaryInfo:
    settings = row["settings"]
    return SanctuaryInfo(
        row["id"], row["title"], row["created"], row["last_seq"], orjson.loads(settings) if settings else {}
    )


async def _get(db: asyncpg.Connection, sanctuary: str) -> SanctuaryInfo | None:
    row = await db.fetchrow(
        "SELECT id, title, created, last_seq, settings::text AS settings FROM sanctuaries WHERE id = $1", sanctuary
    )
    return None if row is None else _info(row)
