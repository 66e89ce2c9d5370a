"""Ops on their way to the server, kept until the server acknowledges or rejects them.

Each submitted op gets an :class:`Action`: await it for the seq at which the sanctuary
made the op durable, or for the :class:`~dreamloom.client.Rejected` error.
Entries keep submission order; ``take`` hands out unsent ones in whole groups (a
``batch()`` of the weaver) so a batch travels in one ``ops`` message whenever it fits.
On reconnect every unacknowledged entry is sent again: the server acknowledges an op it
already applied with its original seq, so a resend never duplicates anything.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Generator, Iterator
from dataclasses import dataclass
from functools import partial
from itertools import takewhile
from typing import Any

from dreamloom.protocol import Op, Stamp


@dataclass(slots=True, eq=False)
class Entry:
    """One op awaiting its ack, with the future its :class:`Action` resolves."""

    op: Op
    future: asyncio.Future[int]
    group: int
    size: int
    attempts: int = 0
    sent: bool = False
    held: bool = False


class Action:
    """The handle of one submitted op. Actions return it at once; the op is sent in the
    background (queued while disconnected). Await it to learn the op's seq, or to get
    the :class:`~dreamloom.client.Rejected` error if the server refused it. Not awaiting
    it is fine: a refusal is still reported to ``on_rejected``.

    Example::

        action = self.add_symbol("moon", 0, 0)
        print(action.id)          # the new fragment's id, known at once
        seq = await action        # durable at this seq (or raises Rejected)
    """

    __slots__ = ("_entry", "id")

    def __init__(self, entry: Entry) -> None:
        self._entry = entry
        self.id = entry.op.id

    @property
    def op(self) -> Op:
        """The op as last sent (a retry after a rate limit gets a new stamp). Example: ``action.op.stamp``."""
        return self._entry.op

    def done(self) -> bool:
        """Whether the server has answered. Example: ``if action.done(): ...``."""
        return self._entry.future.done()

    def __await__(self) -> Generator[Any, None, int]:
        # Shielded: a cancelled waiter must not cancel the op itself.
        return asyncio.shield(self._entry.future).__await__()

    def __repr__(self) -> str:
        state = "done" if self.done() else "pending"
        return f"<Action {self._entry.op.t} {self.id} {state}>"


def _retrieve(future: asyncio.Future[int]) -> None:
    # Mark the exception as seen: handlers may fire and forget, rejections go to on_rejected.
    if not future.cancelled():
        future.exception()


def _same_group(group: int, entry: Entry) -> bool:
    return entry.group == group


class PendingOps:
    """Unacknowledged ops in submission order, keyed by stamp."""

    def __init__(self) -> None:
        self._entries: dict[Stamp, Entry] = {}
        self._groups = 0
        self.empty = asyncio.Event()
        self.empty.set()

    def __len__(self) -> int:
        return len(self._entries)

    def __iter__(self) -> Iterator[Entry]:
        return iter(list(self._entries.values()))

    def new_group(self) -> int:
        """A group id for ops to be sent together (a weaver's ``batch()``)."""
        self._groups += 1
        return self._groups

    def add(self, ops: list[tuple[Op, int]], group: int | None = None, *, held: bool = False) -> list[Action]:
        """Queue ``(op, encoded size)`` pairs as one group; return their actions.

        ``held`` entries are not sent until :meth:`release` of their group.
        """
        if group is None:
            group = self.new_group()
        loop = asyncio.get_running_loop()
        actions = []
        for op, size in ops:
            future: asyncio.Future[int] = loop.create_future()
            future.add_done_callback(_retrieve)
            entry = Entry(op, future, group, size, held=held)
            self._entries[op.stamp] = entry
            actions.append(Action(entry))
        if self._entries:
            self.empty.clear()
        return actions

    def take(self, max_ops: int, max_bytes: int) -> list[Entry]:
        """Unsent entries for one message: whole groups while they fit, marked sent.

        A group too large for one message is split; an entry larger than ``max_bytes``
        still goes alone (the server will say it is too large).
        """
        out: list[Entry] = []
        size, group = 0, -1
        pending = [e for e in self._entries.values() if not e.sent and not e.held]
        for i, e in enumerate(pending):
            if out and e.group != group:
                whole = list(takewhile(partial(_same_group, e.group), pending[i:]))
                if len(out) + len(whole) > max_ops or size + sum(g.size for g in whole) > max_bytes:
                    break
            if out and (len(out) >= max_ops or size + e.size > max_bytes):
                break
            group = e.group
            out.append(e)
            size += e.size
        for e in out:
            e.sent = True
        return out

    def release(self, group: int) -> None:
        """Let the held entries of ``group`` go out."""
        for e in self._entries.values():
            if e.group == group:
                e.held = False

    def in_flight(self) -> int:
        """How many entries are sent and not yet answered."""
        return sum(1 for e in self._entries.values() if e.sent)

    def has_unsent(self) -> bool:
        """Whether ``take`` would return something."""
        return any(not e.sent and not e.held for e in self._entries.values())

    def unsend_all(self) -> None:
        """After a reconnect: every unacknowledged entry is to be sent again."""
        for e in self._entries.values():
            e.sent = False

    def pop(self, stamp: Stamp) -> Entry | None:
        """Remove the entry of ``stamp`` (acknowledged or rejected)."""
        entry = self._entries.pop(stamp, None)
        if not self._entries:
            self.empty.set()
        return entry

    def get(self, stamp: Stamp) -> Entry | None:
        """The entry of ``stamp``, if it is still awaiting an answer."""
        return self._entries.get(stamp)

    def unsend(self, entry: Entry) -> None:
        """Send an entry again, in its place, with its own stamp (a retry after a rate limit)."""
        entry.sent = False

    def restamp(self, tick: Callable[[], Stamp]) -> list[tuple[Stamp, Op]]:
        """Give every entry, in queue order, the same op under a new stamp from ``tick``, to
        be sent again (after the replica id changed); returns ``(old stamp, new op)`` pairs."""
        changed: list[tuple[Stamp, Op]] = []
        entries: dict[Stamp, Entry] = {}
        for entry in self._entries.values():
            old, fresh = entry.op.stamp, Op(entry.op.t, entry.op.id, tick(), entry.op.fields)
            entry.op, entry.sent = fresh, False
            entries[fresh.stamp] = entry
            changed.append((old, fresh))
        self._entries = entries
        return changed

    def replace(self, entry: Entry, op: Op) -> None:
        """Swap an entry's op for one with the same stamp (server-stamped provenance)."""
        entry.op = op

    def fail_all(self, error: BaseException) -> None:
        """Fail every remaining entry (the weaver stopped for good)."""
        for entry in self._entries.values():
            if not entry.future.done():
                entry.future.set_exception(error)
        self._entries.clear()
        self.empty.set()
