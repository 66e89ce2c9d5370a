"""The embedded default store: SQLite in WAL mode (SPEC S1-S6).

One connection, owned by one worker thread: every call is a small job run
there, so the event loop never blocks on the disk and SQLite sees a single
writer. ``append`` is one transaction per batch (group commit): with
``strict`` durability the commit is fsynced (``synchronous=FULL``) and survives
power loss; ``relaxed`` uses ``synchronous=NORMAL``, which survives a crash of
the process but may lose the last commits on power loss.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import functools
import itertools
import os
import sqlite3
import time
from collections.abc import Callable, Collection, Sequence
from typing import Any, TypeVar

import msgpack
import orjson

from dreamloom.protocol import Stamp

from .base import AppendDone, Fenced, LogEntry, Record, SanctuaryInfo, Snapshot, Store, StoreError, thin_snapshot_seqs
from .job_thread import JobThread

T = TypeVar("T")

SCHEMA = """
CREATE TABLE IF NOT EXISTS sanctuaries (
    id TEXT PRIMARY KEY,
    title TEXT NOT NULL,
    created REAL NOT NULL,
    last_seq INTEGER NOT NULL DEFAULT 0,
    settings BLOB NOT NULL DEFAULT '{}'
);
CREATE TABLE IF NOT EXISTS ops (
    sanctuary TEXT NOT NULL,
    seq INTEGER NOT NULL,
    replica TEXT NOT NULL,
    counter INTEGER NOT NULL,
    author TEXT NOT NULL,
    time REAL NOT NULL,
    op BLOB NOT NULL,
    PRIMARY KEY (sanctuary, seq)
) WITHOUT ROWID;
CREATE UNIQUE INDEX IF NOT EXISTS ops_by_stamp ON ops (sanctuary, replica, counter);
CREATE TABLE IF NOT EXISTS replicas (
    sanctuary TEXT NOT NULL,
    replica TEXT NOT NULL,
    identity TEXT NOT NULL,
    PRIMARY KEY (sanctuary, replica)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS snapshots (
    sanctuary TEXT NOT NULL,
    seq INTEGER NOT NULL,
    data BLOB NOT NULL,
    replicas BLOB NOT NULL,
    PRIMARY KEY (sanctuary, seq)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS records (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    sanctuary TEXT NOT NULL,
    kind TEXT NOT NULL,
    time REAL NOT NULL,
    data BLOB NOT NULL
);
CREATE INDEX IF NOT EXISTS records_by_kind ON records (sanctuary, kind, id);
CREATE TABLE IF NOT EXISTS kept_epochs (
    sanctuary TEXT PRIMARY KEY,
    epoch TEXT NOT NULL,
    seq INTEGER NOT NULL
) WITHOUT ROWID;
"""


class SqliteStore(Store):
    """SQLite (WAL) op log, snapshots and records in one database file."""

    def __init__(self, path: str, *, durability: str = "strict") -> None:
        if durability not in ("strict", "relaxed"):
            raise StoreError("durability must be 'strict' or 'relaxed'")
        self.path = path
        self.durability = durability
        self._pool: JobThread | None = None  # the writer: every job on the one connection
        self._db: sqlite3.Connection | None = None
        self._binds: list[tuple[str, str, str, asyncio.Future[str]]] = []
        self._binder: asyncio.Task[None] | None = None
        # Large reads (snapshots, op bytes for renders) go through a second, read-only connection
        # in its own thread: in WAL mode it reads committed data while commits go on beside it.
        self._reader_pool: concurrent.futures.ThreadPoolExecutor | None = None
        self._reader: sqlite3.Connection | None = None

    # -- plumbing ---------------------------------------------------------
    async def _run(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        if self._pool is None or self._db is None:
            raise StoreError("store is not open")
        return await self._pool.run(functools.partial(fn, self._db))

    async def _read(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        if self._pool is None:
            raise StoreError("store is not open")
        loop = asyncio.get_running_loop()
        if self._reader_pool is None:
            self._reader_pool = concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="dreamloom-sqlite-read")
            self._reader = await loop.run_in_executor(self._reader_pool, self._connect_reader)
        pool, db = self._reader_pool, self._reader
        assert db is not None
        return await loop.run_in_executor(pool, fn, db)

    def _connect_reader(self) -> sqlite3.Connection:
        db = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
        db.execute("PRAGMA query_only=1")
        db.execute("PRAGMA busy_timeout=5000")
        return db

    async def open(self) -> None:
        if self._pool is not None:
            return
        self._pool = JobThread("dreamloom-sqlite")
        self._db = await self._pool.run(self._connect)

    def _connect(self) -> sqlite3.Connection:
        os.makedirs(os.path.dirname(os.path.abspath(self.path)), exist_ok=True)
        db = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
        db.execute("PRAGMA journal_mode=WAL")
        db.execute(f"PRAGMA synchronous={'FULL' if self.durability == 'strict' else 'NORMAL'}")
        db.execute("PRAGMA busy_timeout=5000")
        db.executescript(SCHEMA)
        columns = {row[1] for row in db.execute("PRAGMA table_info(sanctuaries)")}
        if "epoch" not in columns:  # databases made before owner epochs (S7)
            db.execute("ALTER TABLE sanctuaries ADD COLUMN epoch INTEGER NOT NULL DEFAULT 0")
        return db

    async def close(self) -> None:
        if self._pool is None:
            return
        if self._binder is not None:
            with contextlib.suppress(Exception):
                await self._binder  # bindings asked for before the close are answered
        reader, reader_pool = self._reader, self._reader_pool
        self._reader = self._reader_pool = None
        if reader_pool is not None:
            if reader is not None:
                await asyncio.get_running_loop().run_in_executor(reader_pool, reader.close)
            reader_pool.shutdown(wait=True)
        db, pool = self._db, self._pool
        self._db = self._pool = None
        if db is not None:
            await pool.run(db.close)
        await pool.stop()

    # -- sanctuaries ------------------------------------------------------
    async def ensure_sanctuary(self, sanctuary: str, title: str | None = None) -> SanctuaryInfo:
        def job(db: sqlite3.Connection) -> SanctuaryInfo:
            db.execute(
                "INSERT OR IGNORE INTO sanctuaries (id, title, created) VALUES (?, ?, ?)",
                (sanctuary, title or sanctuary, time.time()),
            )
            info = _get(db, sanctuary)
            assert info is not None
            return info

        return await self._run(job)

    async def get_sanctuary(self, sanctuary: str) -> SanctuaryInfo | None:
        return await self._run(lambda db: _get(db, sanctuary))

    async def list_sanctuaries(self) -> list[SanctuaryInfo]:
        def job(db: sqlite3.Connection) -> list[SanctuaryInfo]:
            rows = db.execute(
                "SELECT id, title, created, last_seq, settings FROM sanctuaries ORDER BY created, id"
            ).fetchall()
            return [_info(row) for row in rows]

        return await self._run(job)

    async def set_settings(self, sanctuary: str, settings: dict[str, Any]) -> None:
        await self.ensure_sanctuary(sanctuary)
        blob = orjson.dumps(settings)
        await self._run(lambda db: db.execute("UPDATE sanctuaries SET settings = ? WHERE id = ?", (blob, sanctuary)))

    # -- the op log -------------------------------------------------------
    async def claim(self, sanctuary: str) -> int:
        await self.ensure_sanctuary(sanctuary)

        def job(db: sqlite3.Connection) -> int:
            row = db.execute("UPDATE sanctuaries SET epoch = epoch + 1 WHERE id = ? RETURNING epoch", (sanctuary,))
            return int(row.fetchone()[0])

        return await self._run(job)

    async def append(self, sanctuary: str, entries: Sequence[LogEntry], *, epoch: int | None = None) -> None:
        if not entries:
            return
        await self._run(self._append_job(sanctuary, entries, epoch))

    def append_soon(self, sanctuary: str, entries: Sequence[LogEntry], done: AppendDone) -> None:
        # A group commit's end goes from the writer thread straight to ``done`` on the loop: one
        # callback, no future and no task to wake (a subclass that changes append is obeyed).
        if type(self).append is not SqliteStore.append or self._pool is None or self._db is None or not entries:
            super().append_soon(sanctuary, entries, done)
            return
        try:
            job = self._append_job(sanctuary, entries, None)
        except StoreError as exc:
            asyncio.get_running_loop().call_soon(done, exc)
            return
        self._pool.call(functools.partial(job, self._db), lambda _result, error: done(error))

    def _append_job(
        self, sanctuary: str, entries: Sequence[LogEntry], epoch: int | None
    ) -> Callable[[sqlite3.Connection], None]:
        """The job that appends ``entries`` in one transaction (raises :class:`StoreError` if they cannot follow)."""
        rows = [(sanctuary, e.seq, e.op.stamp[1], e.op.stamp[0], e.author, e.time, e.op_bytes()) for e in entries]
        first, last = entries[0].seq, entries[-1].seq
        if last - first != len(entries) - 1 or any(b.seq != a.seq + 1 for a, b in itertools.pairwise(entries)):
            raise StoreError(f"seqs of a batch must be contiguous ({first}..{last})")  # S2
        values = [v for row in rows for v in row] if len(rows) <= _ROWS_PER_INSERT else None

        def job(db: sqlite3.Connection) -> None:
            cur = db.cursor()  # one cursor for the transaction's statements, not one each
            cur.execute("BEGIN IMMEDIATE")
            try:
                # The checks ride on the update that moves last_seq (one statement less per group
                # commit); only when it matches no row is the row read, to say why.
                moved = cur.execute(
                    "UPDATE sanctuaries SET last_seq = ? WHERE id = ? AND last_seq = ? AND (? IS NULL OR epoch = ?)",
                    (last, sanctuary, first - 1, epoch, epoch),
                ).rowcount
                if moved != 1:
                    _refuse(db, sanctuary, first, epoch)
                try:
                    # One statement per chunk of rows, not one step per row: fewer hand-overs of
                    # the interpreter between this thread and the event loop's.
                    if values is not None:
                        cur.execute(_insert_ops(len(rows)), values)
                    else:
                        for start in range(0, len(rows), _ROWS_PER_INSERT):
                            chunk = rows[start : start + _ROWS_PER_INSERT]
                            cur.execute(_insert_ops(len(chunk)), [v for row in chunk for v in row])
                except sqlite3.IntegrityError as exc:
                    raise StoreError(f"a stamp of this batch is already in the log: {exc}") from None  # S5
                cur.execute("COMMIT")
            except BaseException:
                cur.execute("ROLLBACK")
                raise

        return job

    async def keep_epoch(self, sanctuary: str, epoch: str, seq: int) -> None:
        await self._run(
            lambda db: db.execute(
                "INSERT OR REPLACE INTO kept_epochs (sanctuary, epoch, seq) VALUES (?, ?, ?)", (sanctuary, epoch, seq)
            )
        )

    async def take_epoch(self, sanctuary: str) -> tuple[str, int] | None:
        def job(db: sqlite3.Connection) -> tuple[str, int] | None:
            # One statement, read to its end so that its transaction commits before the row is used.
            rows = db.execute(
                "DELETE FROM kept_epochs WHERE sanctuary = ? RETURNING epoch, seq", (sanctuary,)
            ).fetchall()
            return (str(rows[0][0]), int(rows[0][1])) if rows else None

        return await self._run(job)

    async def read_ops(
        self, sanctuary: str, after_seq: int, limit: int | None = None, upto: int | None = None
    ) -> list[LogEntry]:
        def job(db: sqlite3.Connection) -> list[LogEntry]:
            rows = db.execute(
                "SELECT seq, op, author, time FROM ops"
                " WHERE sanctuary = ? AND seq > ? AND seq <= ? ORDER BY seq LIMIT ?",
                (sanctuary, after_seq, upto if upto is not None else 2**62, limit if limit is not None else -1),
            ).fetchall()
            return [LogEntry(seq, LogEntry.op_from_bytes(op), author, t) for seq, op, author, t in rows]

        return await self._run(job)

    async def read_op_bytes(self, sanctuary: str, after_seq: int, upto: int, max_bytes: int) -> list[bytes] | None:
        def job(db: sqlite3.Connection) -> list[bytes] | None:
            out: list[bytes] = []
            total = 0
            rows = db.execute(
                "SELECT op FROM ops WHERE sanctuary = ? AND seq > ? AND seq <= ? ORDER BY seq",
                (sanctuary, after_seq, upto),
            )
            for (op,) in rows:
                total += len(op)
                if total > max_bytes:
                    return None
                out.append(bytes(op))
            return out

        return await self._read(job)

    async def find_stamps(self, sanctuary: str, stamps: Collection[Stamp]) -> dict[Stamp, int]:
        if not stamps:
            return {}
        wanted = list(stamps)

        def job(db: sqlite3.Connection) -> dict[Stamp, int]:
            found: dict[Stamp, int] = {}
            for stamp in wanted:  # each one an index lookup on ops_by_stamp
                row = db.execute(
                    "SELECT seq FROM ops WHERE sanctuary = ? AND replica = ? AND counter = ?",
                    (sanctuary, stamp[1], stamp[0]),
                ).fetchone()
                if row is not None:
                    found[stamp] = row[0]
            return found

        return await self._run(job)

    async def bind_replica(self, sanctuary: str, replica: str, identity: str) -> str:
        # Every join binds its replica: bindings asked for together share one transaction (one
        # fsync), as ops share a group commit, or joins would go no faster than fsyncs in a row.
        done: asyncio.Future[str] = asyncio.get_running_loop().create_future()
        self._binds.append((sanctuary, replica, identity, done))
        if self._binder is None or self._binder.done():
            self._binder = asyncio.create_task(self._bind_pending(), name="sqlite-bind-replicas")
        return await done

    async def _bind_pending(self) -> None:
        while self._binds:
            batch, self._binds = self._binds, []
            wanted = [(sanctuary, replica, identity) for sanctuary, replica, identity, _ in batch]
            try:
                owners = await self._run(functools.partial(_bind_all, wanted=wanted))
            except Exception as exc:
                for *_, done in batch:
                    if not done.done():
                        done.set_exception(exc)
            else:
                for (*_, done), owner in zip(batch, owners, strict=True):
                    if not done.done():
                        done.set_result(owner)

    # -- snapshots --------------------------------------------------------
    async def save_snapshot(self, sanctuary: str, snapshot: Snapshot) -> None:
        replicas = msgpack.packb(snapshot.replicas, use_bin_type=True)

        def job(db: sqlite3.Connection) -> None:
            db.execute(
                "INSERT OR REPLACE INTO snapshots (sanctuary, seq, data, replicas) VALUES (?, ?, ?, ?)",
                (sanctuary, snapshot.seq, snapshot.data, replicas),
            )
            seqs = [r[0] for r in db.execute("SELECT seq FROM snapshots WHERE sanctuary = ?", (sanctuary,))]
            drop = thin_snapshot_seqs(seqs)
            if drop:
                db.executemany("DELETE FROM snapshots WHERE sanctuary = ? AND seq = ?", [(sanctuary, s) for s in drop])

        await self._run(job)

    async def latest_snapshot(self, sanctuary: str, at_most: int | None = None) -> Snapshot | None:
        def job(db: sqlite3.Connection) -> Snapshot | None:
            row = db.execute(
                "SELECT seq, data, replicas FROM snapshots WHERE sanctuary = ? AND seq <= ? ORDER BY seq DESC LIMIT 1",
                (sanctuary, at_most if at_most is not None else 2**62),
            ).fetchone()
            if row is None:
                return None
            return Snapshot(row[0], bytes(row[1]), msgpack.unpackb(row[2], raw=False))

        return await self._read(job)

    # -- records ----------------------------------------------------------
    async def add_record(self, sanctuary: str, kind: str, data: dict[str, Any]) -> Record:
        now = time.time()
        blob = orjson.dumps(data)

        def job(db: sqlite3.Connection) -> Record:
            cur = db.execute(
                "INSERT INTO records (sanctuary, kind, time, data) VALUES (?, ?, ?, ?)", (sanctuary, kind, now, blob)
            )
            assert cur.lastrowid is not None
            return Record(cur.lastrowid, kind, dict(data), now)

        return await self._run(job)

    async def records(self, sanctuary: str, kind: str, limit: int = 100, before: int | None = None) -> list[Record]:
        def job(db: sqlite3.Connection) -> list[Record]:
            rows = db.execute(
                "SELECT id, kind, data, time FROM records WHERE sanctuary = ? AND kind = ? AND id < ?"
                " ORDER BY id DESC LIMIT ?",
                (sanctuary, kind, before if before is not None else 2**62, limit),
            ).fetchall()
            return [Record(r[0], r[1], orjson.loads(r[2]), r[3]) for r in rows]

        return await self._run(job)

    async def integrity_check(self) -> str:
        """SQLite's own integrity check ("ok" when the database is sound)."""
        row = await self._run(lambda db: db.execute("PRAGMA integrity_check").fetchone())
        return str(row[0])


def _bind_all(db: sqlite3.Connection, wanted: list[tuple[str, str, str]]) -> list[str]:
    """Bind each (sanctuary, replica, identity) unless bound already (S6), in one transaction."""
    owners = []
    db.execute("BEGIN IMMEDIATE")
    try:
        for sanctuary, replica, identity in wanted:
            row = db.execute(
                "SELECT identity FROM replicas WHERE sanctuary = ? AND replica = ?", (sanctuary, replica)
            ).fetchone()
            if row is not None:
                owners.append(str(row[0]))
                continue
            first = db.execute(
                "SELECT author FROM ops WHERE sanctuary = ? AND replica = ? ORDER BY counter LIMIT 1",
                (sanctuary, replica),
            ).fetchone()
            owner = identity if first is None else str(first[0])
            db.execute(
                "INSERT OR IGNORE INTO replicas (sanctuary, replica, identity) VALUES (?, ?, ?)",
                (sanctuary, replica, owner),
            )
            owners.append(owner)
        db.execute("COMMIT")
    except BaseException:
        db.execute("ROLLBACK")
        raise
    return owners


def _info(row: tuple[Any, ...]) -> SanctuaryInfo:
    return SanctuaryInfo(row[0], row[1], row[2], row[3], orjson.loads(row[4]))


#: Rows of the op log per INSERT statement: 7 values each, well below SQLite's bound of 32,766.
_ROWS_PER_INSERT = 256


@functools.cache
def _insert_ops(n: int) -> str:
    """``INSERT`` of ``n`` op log rows in one statement."""
    values = ", ".join(["(?, ?, ?, ?, ?, ?, ?)"] * n)
    return f"INSERT INTO ops (sanctuary, seq, replica, counter, author, time, op) VALUES {values}"


def _refuse(db: sqlite3.Connection, sanctuary: str, first: int, epoch: int | None) -> None:
    """Why a group commit's update of ``last_seq`` matched no row: the error to raise (S2, S7)."""
    row = db.execute("SELECT last_seq, epoch FROM sanctuaries WHERE id = ?", (sanctuary,)).fetchone()
    if row is None:
        raise StoreError(f"unknown sanctuary {sanctuary!r}")
    if epoch is not None and epoch != row[1]:
        raise Fenced(f"owner epoch {epoch} of {sanctuary!r} was superseded by {row[1]}")
    raise StoreError(f"seq {first} does not follow {row[0]}")


def _get(db: sqlite3.Connection, sanctuary: str) -> SanctuaryInfo | None:
    row = db.execute(
        "SELECT id, title, created, last_seq, settings FROM sanctuaries WHERE id = ?", (sanctuary,)
    ).fetchone()
    return None if row is None else _info(row)
