"""The Store interface (SPEC S1-S6) and the rows it deals in.

S1: ``append`` writes a batch of log entries in one transaction and returns
only once that transaction is durable; the sanctuary acknowledges ops after it.
S2: seqs of a sanctuary are contiguous from 1; the store never reorders them.
S3: a snapshot at seq N holds the canonical bytes of the tapestry after op N
plus the replica high-water marks; loading is the latest snapshot + the tail.
S4: the op log is never truncated: history (replay, ``?at=SEQ``) stays whole.
S5: a stamp appears at most once in a sanctuary's log; ``find_stamps`` says at
which seq each stamp was applied, so a resend is acked with its original seq
(SPEC W9) however long ago, and across restarts.
S6: a replica id belongs to the identity that first used it in a sanctuary
(``bind_replica``); the binding is persistent (SPEC P3).
S7: ``claim`` gives a sanctuary a new owner epoch; an ``append`` that names an
older epoch is refused with :class:`Fenced` and writes nothing (SPEC B4).
"""

from __future__ import annotations

import abc
import asyncio
import functools
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass, field
from typing import Any

import msgpack

from dreamloom.protocol import DEFAULT_LIMITS, Limits, Op, Stamp
from dreamloom.protocol.codec import msgpack_bytes
from dreamloom.protocol.validate import check_op

#: Ops in the log were validated on the way in; re-reading them must not trip on batch limits.
_LOG_LIMITS = Limits(max_ops_per_batch=2**31)


#: Told on the event loop how an append ended: ``None`` once it is durable, else why it failed.
AppendDone = Callable[[BaseException | None], None]


class StoreError(Exception):
    """The store cannot do what was asked (bad URL, broken database...)."""


class Fenced(StoreError):
    """An append named an owner epoch that is no longer the sanctuary's: a newer owner claimed it (S7)."""


@dataclass(frozen=True, slots=True)
class LogEntry:
    """One accepted op at its place in the sanctuary's log."""

    seq: int
    op: Op
    author: str
    time: float

    def op_bytes(self) -> bytes:
        return msgpack_bytes(self.op.to_wire())

    @staticmethod
    def op_from_bytes(data: bytes, limits: Limits = DEFAULT_LIMITS) -> Op:
        return check_op(msgpack.unpackb(data, raw=False), _LOG_LIMITS)


@dataclass(frozen=True, slots=True)
class SanctuaryInfo:
    """A sanctuary's row: id, title, creation time, last seq and its settings (policy...)."""

    id: str
    title: str
    created: float
    last_seq: int = 0
    settings: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Snapshot:
    """Canonical tapestry bytes after op ``seq``, and the replica high-water marks then."""

    seq: int
    data: bytes
    replicas: dict[str, int]


@dataclass(frozen=True, slots=True)
class Record:
    """An append-only record of a sanctuary (checkpoints, audit events...)."""

    id: int
    kind: str
    data: dict[str, Any]
    time: float


class Store(abc.ABC):
    """Durable state of every sanctuary. Implementations: memory, SQLite.

    Stamps in a sanctuary's log are unique (S5): ``append`` of an entry whose stamp
    is already there raises :class:`StoreError` and writes nothing.
    """

    async def open(self) -> None:  # noqa: B027 - optional hook
        """Prepare the store (create tables...)."""

    async def close(self) -> None:  # noqa: B027 - optional hook
        """Release resources; pending writes are complete when this returns."""

    @abc.abstractmethod
    async def ensure_sanctuary(self, sanctuary: str, title: str | None = None) -> SanctuaryInfo:
        """Return the sanctuary's row, creating it if missing."""

    @abc.abstractmethod
    async def get_sanctuary(self, sanctuary: str) -> SanctuaryInfo | None:
        """The sanctuary's row, or None."""

    @abc.abstractmethod
    async def list_sanctuaries(self) -> list[SanctuaryInfo]:
        """Every sanctuary, oldest first."""

    @abc.abstractmethod
    async def set_settings(self, sanctuary: str, settings: dict[str, Any]) -> None:
        """Replace the sanctuary's settings map (policy and the like)."""

    @abc.abstractmethod
    async def append(self, sanctuary: str, entries: Sequence[LogEntry], *, epoch: int | None = None) -> None:
        """Durably append entries (contiguous seqs after the last) in one transaction.

        With ``epoch``, the append is refused with :class:`Fenced` unless it is still the
        sanctuary's current owner epoch (S7); without it, no owner is checked (one node).
        """

    def append_soon(self, sanctuary: str, entries: Sequence[LogEntry], done: AppendDone) -> None:
        """Start :meth:`append` now and return at once; ``done(error)`` runs on the event loop when it ends.

        ``error`` is ``None`` once the entries are durable (S1), else the exception ``append``
        raised. A group commit goes this way: the default runs :meth:`append` in a task; a
        backend that can tell the loop itself when its write ended overrides this to skip the
        task (and must then call ``done`` exactly once, never before the write is durable).
        """
        task = asyncio.get_running_loop().create_task(self.append(sanctuary, entries))
        self._appending.add(task)
        task.add_done_callback(functools.partial(self._appended, done))

    @functools.cached_property
    def _appending(self) -> set[asyncio.Task[None]]:
        # The tasks of append_soon, held until they end (the loop keeps only weak references).
        return set()

    def _appended(self, done: AppendDone, task: asyncio.Task[None]) -> None:
        self._appending.discard(task)
        done(asyncio.CancelledError() if task.cancelled() else task.exception())

    @abc.abstractmethod
    async def claim(self, sanctuary: str) -> int:
        """Make the caller the sanctuary's owner: a new epoch, greater than every earlier one (S7).

        Appends with an older epoch are refused from the moment this returns.
        """

    @abc.abstractmethod
    async def read_ops(
        self, sanctuary: str, after_seq: int, limit: int | None = None, upto: int | None = None
    ) -> list[LogEntry]:
        """Entries with ``after_seq < seq (<= upto)``, in seq order, at most ``limit``."""

    async def read_op_bytes(self, sanctuary: str, after_seq: int, upto: int, max_bytes: int) -> list[bytes] | None:
        """Ops ``after_seq < seq <= upto`` as stored (msgpack of their wire form), undecoded.

        ``None`` once they would add up to more than ``max_bytes``: the caller refuses the read.
        Backends that keep ops encoded override this to skip decoding them.
        """
        out: list[bytes] = []
        total = 0
        for entry in await self.read_ops(sanctuary, after_seq, upto=upto):
            data = entry.op_bytes()
            total += len(data)
            if total > max_bytes:
                return None
            out.append(data)
        return out

    @abc.abstractmethod
    async def find_stamps(self, sanctuary: str, stamps: Collection[Stamp]) -> dict[Stamp, int]:
        """For each of ``stamps`` already in the log, the seq of its op (S5); absent stamps are left out."""

    @abc.abstractmethod
    async def bind_replica(self, sanctuary: str, replica: str, identity: str) -> str:
        """Bind ``replica`` to ``identity`` unless it is bound already; returns its owner (S6).

        A replica seen in the log before bindings existed belongs to the author of its first op.
        """

    @abc.abstractmethod
    async def save_snapshot(self, sanctuary: str, snapshot: Snapshot) -> None:
        """Store a snapshot (older ones may be thinned out)."""

    @abc.abstractmethod
    async def latest_snapshot(self, sanctuary: str, at_most: int | None = None) -> Snapshot | None:
        """The newest snapshot (with ``seq <= at_most`` if given)."""

    async def keep_epoch(self, sanctuary: str, epoch: str, seq: int) -> None:  # noqa: B027 - optional
        """Remember that the run ``epoch`` of the sanctuary ended cleanly with every op up to ``seq`` committed (S8).

        Backends that cannot keep it leave this as it is: every run then gets a new epoch (always safe).
        """

    async def take_epoch(self, sanctuary: str) -> tuple[str, int] | None:
        """The kept ``(epoch, seq)`` of the sanctuary's last clean run, forgotten durably as it is read (S8).

        One use only: a run that reuses it and then crashes leaves none behind, so the next run
        gets a new epoch.
        """
        return None

    @abc.abstractmethod
    async def add_record(self, sanctuary: str, kind: str, data: dict[str, Any]) -> Record:
        """Append a record of ``kind``; returns it with its id and time."""

    @abc.abstractmethod
    async def records(self, sanctuary: str, kind: str, limit: int = 100, before: int | None = None) -> list[Record]:
        """Records of ``kind``, newest first, ids below ``before`` if given."""


def thin_snapshot_seqs(seqs: Sequence[int], keep_recent: int = 4, keep_every: int = 10) -> list[int]:
    """Which snapshot seqs to drop: keep the newest few and every tenth older one."""
    ordered = sorted(seqs)
    old = ordered[:-keep_recent] if len(ordered) > keep_recent else []
    return [s for i, s in enumerate(old) if i % keep_every != 0]
