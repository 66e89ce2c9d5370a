"""The sanctuary actor: one task owns a sanctuary's tapestry, seq and members (SPEC F1-F4, W9, W13).

Theory of operation:

1. Everything that changes the sanctuary goes through its inbox and is handled
   by the actor task in arrival order: joins, leaves, op batches, calls.
1a. An op batch that arrives while the actor waits on its empty inbox, with
   nothing in hand, is merged at once in the task that hands it over (its
   connection's reader): the actor would take it next anyway, and the hop
   through the inbox (a queue, a future, a task step, a loop iteration) cost
   more than the rest of a quiet op's path. A batch that may hold a resend only
   the store knows, or that arrives while the actor is busy, goes through the
   inbox; so does anything else (joins, leaves, calls).
2. No timer decides what others see (F1): the submissions waiting when the
   actor looks form one batch; each op is checked (stamp, existence, the
   gate), merged and given the next seq, and the batch is broadcast at once
   as one ``ops`` frame, encoded once per codec, the same bytes to every
   connection. A quiet sanctuary answers each op alone; a busy one coalesces
   by itself, since what arrives while the actor works waits together.
2a. Fan-out is paced by its own cost (F6): after a broadcast that took C
   seconds to hand to every connection, the next one waits until
   ``fanout_pacing * C`` (at most ``fanout_max_wait``) has passed since it
   ended. One op after a quiet moment goes out at once; in a busy room the
   ops of that time share one frame, so fan-out, whose cost is per frame and
   per socket, takes a bounded share of the server's time. The pacing timer
   broadcasts what waits itself: it is merged already, and the actor flushes
   it (``_settle``) before anything that must find it sent.
3. Durability runs beside the fan-out (group commit, S3): at most one commit
   is in flight; the ops merged meanwhile gather into the next one, which
   starts when the store is free and ``commit_interval`` has passed since the
   previous one started (one fsync serves many ops when the room is busy).
   Senders are acknowledged only after the commit that holds their ops, in
   seq order. A slow fsync thus delays acks, never what others see. The store
   says itself when a commit ended (``Store.append_soon``: one callback on the
   loop, no task, no hop through the inbox): the acks go out there, and the
   next commit starts there too when the actor has nothing in hand (as in 1a).
4. The actor never awaits a socket: it sees its connections only as
   :class:`~.member.Member` objects, and frames go to each one's bounded send
   buffer (see send_buffer.py).
5. A resent op (an op whose very stamp was already applied) is acknowledged
   again with its original seq, not applied twice (W9). Stamps applied lately
   are known in memory; a stamp at or below its replica's highest counter that
   memory does not know is looked up in the store, once per batch, before the
   batch is admitted. Any other stamp is new and is applied, whatever its
   counter's order: last-writer-wins decides by stamp, not by arrival.
6. Presence is not an op: connections overwrite their presence, and a ticker
   fans out the changed ones every ``presence_interval`` (latest wins).
7. Memory and the broadcasts run ahead of the store by at most the commit in
   flight and the one gathering. Joins, calls, unloads and snapshots first
   wait for both to be committed. If a commit fails, the sanctuary closes
   every connection (1011) and unloads. It reloads from the store with a new
   ``epoch`` (F5): a client resumes by seq only within the epoch its seq was
   counted in, any other gets a snapshot, so ops that were broadcast but
   never committed vanish from every client, and nothing unacknowledged is
   ever acked.
7a. The encodings of the whole tapestry (snapshots, welcomes, ``tapestry.json``)
   are kept per fragment and per kind, and kept up to date by the actor itself,
   in a worker thread it waits for (nothing writes the tapestry meanwhile):
   whenever ``REFRESH_AT`` fragments were written since (S13), and, for kinds
   still to build (the compact ones after a load), a slice at a time when it
   has been idle a moment (S14). See encodings.py.
8. The inbox is not bounded by count: what fills it is bounded where it comes
   from. Each connection's op batches pass its token bucket (F4) before they
   are submitted, joins are bounded by the connection cap, and calls come from
   authenticated stewards. Methods that touch state outside the inbox
   (``apply_local``, ``broadcast_policy``, ``peer_changed``) check that they run
   inside the actor and raise :class:`UsageError` otherwise.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
import time
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

from dreamloom.protocol import (
    Ack,
    CloseCode,
    DecodeError,
    ErrorCode,
    Hello,
    Op,
    OpError,
    Ops,
    Peer,
    PeerPresence,
    PeersPresence,
    PeersRequest,
    PolicyUpdate,
    Reject,
    Stamp,
    Tapestry,
    UsageError,
    Welcome,
)
from dreamloom.protocol.codec import CODECS, MSGPACK, Codec
from dreamloom.protocol.validate import check_geom_kind

from .encodings import CANONICAL, COMPACT, REFRESH_AT, TapestryEncodings
from .gate import Gate, PolicyError
from .identity import Colours
from .loading import LoadedState, decode_state, read_state
from .roster import PeerEntries, PeerIndex, RosterChanges, peer_summary
from .store import LogEntry, Snapshot, Store, StoreError
from .welcome_frame import part_frame, welcome_frame
from .welcome_parts import Parts, welcome_parts

if TYPE_CHECKING:
    from .config import ServerConfig
    from .member import Member
    from .metrics import Metrics

log = logging.getLogger("dreamloom.sanctuary")

_ENCODERS: dict[str, Codec] = {name: cls() for name, cls in CODECS.items()}
_EMPTY_MSGPACK = b"\x90"  # an empty tapestry: a msgpack array of no fragments
_TOO_LONG: list[bytes] = [b""]  # a log after the stored snapshot too long to follow a welcome (S11)

#: Roster frames a sanctuary sends per second at most, counting one per member (W24): a room of
#: 5,000 hears of joins and leaves every 2 s, a room of 125 or fewer every presence tick. A frame
#: costs a socket write (about 10 us on loopback): this keeps a busy crowd's rosters near 2.5%
#: of a core, and a roster's size is bounded too (W30).
ROSTER_FRAMES_PER_SECOND = 2500
#: How long a sanctuary's actor has had nothing to do before it builds kept encodings still to
#: build (S14): after a load, the compact items are made from the snapshot's bytes meanwhile.
WARM_IDLE = 0.1


class SanctuaryFull(Exception):
    """The sanctuary has reached its connection cap."""


class SanctuaryClosed(Exception):
    """The sanctuary is unloading or failed; get a fresh one from the hub."""


@dataclass(slots=True)
class _Join:
    member: Member
    hello: Hello
    done: asyncio.Future[None]


@dataclass(slots=True)
class _Leave:
    member: Member


@dataclass(slots=True)
class _Submit:
    member: Member
    ops: tuple[Op, ...]


@dataclass(slots=True)
class _Call:
    fn: Callable[[], Awaitable[Any]]
    done: asyncio.Future[Any]


@dataclass(slots=True)
class _Unload:
    force: bool = False
    done: asyncio.Future[None] | None = None


@dataclass(slots=True)
class _Wake:
    """Wakes the actor: the commit in flight has ended, the next one may start, or a paced broadcast is due."""


@dataclass(slots=True)
class _Warm:
    """Wakes the actor: it was idle a moment, and a kind of kept encodings is still to build (S14)."""


_Item = _Join | _Leave | _Submit | _Call | _Unload | _Wake | _Warm


@dataclass(slots=True)
class _Batch:
    entries: list[LogEntry] = field(default_factory=list)
    acks: dict[Member, list[tuple[int, int]]] = field(default_factory=dict)
    rejects: list[tuple[Member, Reject]] = field(default_factory=list)

    def __bool__(self) -> bool:
        return bool(self.entries or self.rejects or any(self.acks.values()))


class Sanctuary:
    """One live sanctuary. Create with :meth:`load`; run with :meth:`run`."""

    def __init__(
        self,
        name: str,
        store: Store,
        config: ServerConfig,
        metrics: Metrics,
        tapestry: Tapestry,
        seq: int,
        replicas: dict[str, int],
        recent: list[LogEntry],
        snapshot_seq: int,
        gate: Gate | None = None,
        clock: Callable[[], float] = time.time,
        encodings: TapestryEncodings | None = None,
    ) -> None:
        self.name = name
        self.clock = clock  # wall time of log entries; injectable for tests
        self.store = store
        self.config = config
        self.metrics = metrics
        self.tapestry = tapestry
        self.seq = seq
        self.gate = gate or Gate()
        self.members: dict[str, Member] = {}
        self._by_replica: dict[str, Member] = {}  # members by replica id (one each: W5)
        self.closing = False
        self.last_change = clock()
        self._replicas = replicas  # replica -> highest stamp counter taken from it
        self._recent: deque[LogEntry] = deque(recent, maxlen=config.resume_window)
        self._seq_of: dict[Stamp, int] = {e.op.stamp: e.seq for e in recent}
        self._snapshot_seq = snapshot_seq
        self._inbox: asyncio.Queue[_Item] = asyncio.Queue()
        self._waiting = False  # the actor waits on its inbox: nothing is in hand (rule 1a)
        self._crash: Exception | None = None  # raised by the actor: a failure outside its task
        self._presence_dirty: set[str] = set()
        self.colours = Colours()
        self._unload_timer: asyncio.TimerHandle | None = None
        self._commit_error: Exception | None = None
        # Fragments in the tapestry (deleted included), kept up to date by _admit so the cap check
        # of a create is O(1); None when the tapestry was changed elsewhere and it must be recounted.
        self._fragment_count: int | None = None
        self._encodings = encodings or TapestryEncodings()
        self._roster = RosterChanges()
        self._peer_index = PeerIndex()
        self._peer_entries = PeerEntries()
        self._last_roster = 0.0
        #: Names this run of the sanctuary: a reload after a failed commit or a restart gets a new one (F5).
        self.epoch = secrets.token_hex(8)
        self.finished = asyncio.Event()
        self._task: asyncio.Task[Any] | None = None  # the actor's own task, once running
        self._in_hand: list[_Item] = []  # taken from the inbox, being handled
        self._gathering = _Batch()  # merged ops waiting for the store (rule 3)
        self._unsent: list[LogEntry] = []  # merged ops not broadcast yet (rule 2a)
        self._fanout_next = float("-inf")  # loop time before which no broadcast starts (F6)
        self._fanout_timer: asyncio.TimerHandle | None = None
        self._committing: _Batch | None = None  # the batch whose commit is in flight
        self._commit_perf = 0.0  # perf_counter when it started (commit_latency)
        self._commit_waiter: asyncio.Future[None] | None = None  # the actor waits for it to end (_settle)
        # While the snapshot is decoded (S11): the loading task, and the stored snapshot's seq and
        # bytes and the log after it, from which joins are welcomed meanwhile (with its frames).
        self._loading: asyncio.Task[None] | None = None
        self._early: tuple[int, bytes | None, list[LogEntry]] | None = None
        self._early_frames: list[bytes] | None = None
        self._commit_started = float("-inf")  # loop time the last commit started
        self._commit_timer: asyncio.TimerHandle | None = None
        self._warm_timer: asyncio.TimerHandle | None = None  # builds kept encodings when idle (S14)

    # -- loading ----------------------------------------------------------
    @classmethod
    async def load(
        cls,
        name: str,
        store: Store,
        config: ServerConfig,
        metrics: Metrics,
        gate: Gate | None = None,
        clock: Callable[[], float] = time.time,
    ) -> Sanctuary:
        """Latest snapshot + the tail of the log (SPEC S3), decoded in slices that yield to the loop.

        Returns once both are read: the snapshot is decoded, the tail replayed and the gate's counts
        weighed behind it, in the background. Ops, calls and unloads wait for that; joins do not (S11).
        """
        state = await read_state(name, store, config.resume_window)
        # The epoch of the last run, if it ended cleanly at the very seq loaded (F7): its clients
        # resume by seq. Taken, not read: if this run crashes, the next one gets a new epoch.
        kept = await store.take_epoch(name)
        sanctuary = cls(
            name,
            store,
            config,
            metrics,
            state.tapestry,
            state.seq,
            state.replicas,
            state.recent,
            state.snapshot_seq,
            gate,
            clock,
            state.encodings,
        )
        if kept is not None and kept[1] == state.seq:
            sanctuary.epoch = kept[0]
        sanctuary._loading = asyncio.create_task(sanctuary._finish_load(state), name=f"load:{name}")
        return sanctuary

    async def _finish_load(self, state: LoadedState) -> None:
        """Decode the snapshot, replay the tail, weigh what the gate counts (S11)."""
        self._early = (state.snapshot_seq, state.snapshot, state.tail or [])
        try:
            await asyncio.sleep(0)  # joins already waiting are welcomed from the stored snapshot first
            await decode_state(state)
            self._early = None
            await self.gate.prepare(self.tapestry)
        finally:
            self._inbox.put_nowait(_Wake())  # the actor learns of a failure even with only joins to handle

    async def loaded(self) -> None:
        """Wait until the tapestry is whole (a sanctuary serves joins while it decodes, S11)."""
        if self._loading is not None:
            await asyncio.shield(self._loading)

    # -- the public face (called from members and the hub) ------------------
    async def join(self, member: Member, hello: Hello) -> None:
        """Admit a member: it is sent its welcome and becomes a member."""
        if self.closing:
            raise SanctuaryClosed(self.name)
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._inbox.put_nowait(_Join(member, hello, done))
        await done

    def leave(self, member: Member) -> None:
        """A member's connection ended."""
        self._inbox.put_nowait(_Leave(member))

    def submit(self, member: Member, ops: tuple[Op, ...]) -> None:
        """Hand over a batch of a member's ops (already decoded and rate checked)."""
        if self._waiting and self._inbox.empty() and self._admit_inline(member, ops):
            return
        self._inbox.put_nowait(_Submit(member, ops))

    def _admit_inline(self, member: Member, ops: tuple[Op, ...]) -> bool:
        """Merge ops at once, in the caller's task, when the actor has nothing in hand (rule 1a).

        False when they must go through the inbox: the tapestry is still decoding, a stamp may be a
        resend that only the store knows (a lookup awaits), memory of stamps is due for a trim, or an
        extra wait is asked.
        """
        if self.closing or self._loading is not None or self.config.batch_window > 0:
            return False  # closing, still decoding (ops wait for the whole tapestry, S11), or asked to wait
        if self._trim_due() or self._maybe_resent(ops):
            return False
        try:
            self._admit(member, ops, self._gathering, {})
            if not self._launch_now() or self._encodings.written >= REFRESH_AT:
                # A snapshot is due with this commit, or the kept encodings are (S13): the actor encodes.
                self._inbox.put_nowait(_Wake())
        except Exception as exc:  # the actor's own failure, wherever it happens (rule 7)
            self._crash_actor(exc)
        return True

    def _crash_actor(self, exc: Exception) -> None:
        if self._crash is None:
            self._crash = exc
            self._inbox.put_nowait(_Wake())

    def presence_changed(self, member: Member) -> None:
        """A member's presence changed; it goes out with the next tick."""
        self._presence_dirty.add(member.sid)
        chosen = member.presence.color
        if chosen is not None and chosen != member.peer.color:
            # A colour the person chose: theirs from now on, here (later welcomes show it).
            member.peer = replace(member.peer, color=chosen)
            self.colours.chose(member.sid, member.identity.id, chosen)

    def request_peers(self, member: Member, request: PeersRequest) -> None:
        """Answer a member's ``peers`` request with one page (W23): a read, safe outside the actor."""
        if self.members.get(member.sid) is member:
            page = self._peer_index.page(self.members, member.sid, request.after, self.config.limits.max_peers_page)
            member.send(page)

    async def call(self, fn: Callable[[], Awaitable[Any]]) -> Any:
        """Run ``fn`` inside the actor, between batches (for policy and moderation)."""
        if self.closing:
            raise SanctuaryClosed(self.name)
        done: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._inbox.put_nowait(_Call(fn, done))
        return await done

    async def shutdown(self) -> None:
        """Commit what is queued, close every connection with 1001, take a snapshot, stop."""
        if self.finished.is_set():
            return
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._inbox.put_nowait(_Unload(force=True, done=done))
        with contextlib.suppress(Exception):
            await done
        await self.finished.wait()

    @property
    def backlog(self) -> int:
        """Items waiting in the actor's inbox (joins, leaves, op batches, calls)."""
        return self._inbox.qsize()

    def peers(self) -> list[Peer]:
        """Members as announced to others."""
        return [s.peer for s in self.members.values()]

    # -- the actor --------------------------------------------------------
    async def run(self) -> None:
        """The actor loop; returns when the sanctuary unloads."""
        self._task = asyncio.current_task()
        ticker = asyncio.create_task(self._presence_ticker(), name=f"presence:{self.name}")
        self._schedule_unload()  # loaded but nobody joins (an HTTP read, a moderation act)
        try:
            while not self.closing:
                self._waiting = True
                try:
                    items = [await self._inbox.get()]
                finally:
                    self._waiting = False
                if isinstance(items[0], _Submit) and self.config.batch_window > 0:
                    # An optional extra wait after the first op (--batch-window); coalescing needs none (rule 2).
                    await asyncio.sleep(self.config.batch_window)
                while not self._inbox.empty() and len(items) < self.config.max_batch_ops:
                    items.append(self._inbox.get_nowait())
                self._in_hand = items
                await self._handle(items)
                self._in_hand = []
        except Exception:
            log.exception("sanctuary %s failed; closing its connections", self.name)
            self._fail()
        finally:
            self.closing = True
            ticker.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await ticker
            if self._unload_timer is not None:
                self._unload_timer.cancel()
            for timer in (self._commit_timer, self._fanout_timer, self._warm_timer):
                if timer is not None:
                    timer.cancel()
            if self._committing is not None:
                # Its thread runs on whatever happens; wait for it so the store closes after it.
                with contextlib.suppress(Exception, asyncio.CancelledError):
                    await self._commit_ended()
            self._drain_after_close()
            self.finished.set()

    def _trim_due(self) -> bool:
        return len(self._seq_of) > 4 * self.config.resume_window + 10_000

    async def _handle(self, items: list[_Item]) -> None:
        if self._loading is not None and not all(type(item) is _Join for item in items):
            await self._loading  # ops wait for the whole tapestry and its weight; a failed load fails the sanctuary
            self._loading = None
            self._early_frames = None
        if self._trim_due():
            # Forget old stamps only here, before the batch's store lookup: a stamp must not
            # leave memory between that lookup and its admission (S5 would refuse the commit),
            # nor before its own commit (the store cannot find it yet).
            uncommitted = [*(self._committing.entries if self._committing else ()), *self._gathering.entries]
            self._seq_of = {e.op.stamp: e.seq for e in (*self._recent, *uncommitted)}
        applied = await self._applied_earlier(items)
        idle = False
        for item in items:
            if isinstance(item, _Submit):
                self._admit(item.member, item.ops, self._gathering, applied)
            elif isinstance(item, _Wake):
                await self._on_wake()
            elif isinstance(item, _Warm):
                idle = True  # after the rest of the batch
            else:
                await self._settle()
                if isinstance(item, _Join):
                    await self._on_join(item)
                elif isinstance(item, _Leave):
                    self._on_leave(item.member)
                elif isinstance(item, _Call):
                    await self._on_call(item)
                else:
                    await self._on_unload(item)
                    if self.closing:
                        return
        await self._launch()
        await self._keep_encodings(idle)

    # -- kept encodings (S13, S14) ------------------------------------------------
    async def _keep_encodings(self, idle: bool) -> None:
        """Bring the kept encodings up to date once enough fragments were written (S13); build what is
        still to build when ``idle`` (S14). Both in a worker thread, with the tapestry whole."""
        if self._loading is not None or self.closing:
            return
        if self._encodings.written >= REFRESH_AT:
            await self._encodings.refresh(self.tapestry)
        if idle and self._encodings.pending:
            # A slice at a time: one at least (a sanctuary never idle still gets there), then more
            # while nothing else waits. Ops that come meanwhile wait for one slice at most.
            await self._encodings.warm(self.tapestry)
            while self._encodings.pending and self._inbox.empty() and not self.closing:
                await self._encodings.warm(self.tapestry)
            # An idle unload that found this turn queued gave way to it: an empty sanctuary waits again.
            self._schedule_unload()
        if self._warm_timer is None and self._encodings.pending:
            self._warm_timer = asyncio.get_running_loop().call_later(WARM_IDLE, self._warm_due)

    def _warm_due(self) -> None:
        self._warm_timer = None
        self._inbox.put_nowait(_Warm())

    # -- fan-out and group commit (rules 2 and 3) ---------------------------
    def _fan_out(self, *, now: bool = False) -> None:
        """Broadcast the ops merged since the last fan-out, and answer the ops refused.

        Paced (F6, rule 2a): a broadcast that cost C seconds is followed by the next one no
        sooner than ``min(fanout_pacing * C, fanout_max_wait)`` after it ended; ops merged
        meanwhile wait for it together. ``now`` broadcasts whatever the pace (before a join,
        a call or an unload, which must find everything merged already sent).
        """
        batch = self._gathering
        rejects, batch.rejects = batch.rejects, []
        for member, reject in rejects:
            member.send(reject)
        if not self._unsent:
            return
        loop = asyncio.get_running_loop()
        if not now and loop.time() < self._fanout_next:
            if self._fanout_timer is None:
                self._fanout_timer = loop.call_at(self._fanout_next, self._fanout_due)
            return
        if self._fanout_timer is not None:
            self._fanout_timer.cancel()
            self._fanout_timer = None
        fresh, self._unsent = self._unsent, []
        cost = self._broadcast_entries(fresh)
        self._fanout_next = loop.time() + min(self.config.fanout_pacing * cost, self.config.fanout_max_wait)

    def _fanout_due(self) -> None:
        self._fanout_timer = None
        # The pace is over when its timer says so: loop timers may fire a little before the time
        # asked (millisecond clocks), and checking the time again would re-arm them in a spin.
        self._fanout_next = float("-inf")
        # Broadcast from here, not by waking the actor: what waits is merged already, and the
        # actor, wherever it awaits, has either sent all of it (_settle) or leaves it to this.
        try:
            self._fan_out()
        except Exception as exc:
            self._crash_actor(exc)

    def _launch_now(self) -> bool:
        """Fan out, and start committing the gathered ops unless a commit is in flight or started too
        lately. False when the commit to start must carry a snapshot: :meth:`_launch` encodes it."""
        self._fan_out()
        if self._committing is not None or not self._gathering:
            return True
        if not self._gathering.entries:
            # Only acks of resends: everything before them is committed (the store is idle).
            batch, self._gathering = self._gathering, _Batch()
            self._acknowledge(batch)
            return True
        loop = asyncio.get_running_loop()
        wait = self._commit_started + self.config.commit_interval - loop.time()
        if wait > 0:
            if self._commit_timer is None:
                self._commit_timer = loop.call_later(wait, self._commit_due)
            return True
        if self._snapshot_due():
            return False
        self._start_commit(None)
        return True

    async def _launch(self) -> None:
        """:meth:`_launch_now`, encoding the snapshot its commit carries when one is due."""
        if self._launch_now():
            return
        # The state now is exactly the log up to this batch: the snapshot is written right
        # after its commit, by the same task, so the actor never waits for either.
        seq = self.seq
        data = await self._encodings.whole(self.tapestry, MSGPACK, seq)
        self._snapshot_seq = seq
        self._start_commit(Snapshot(seq, data, dict(self._replicas)))

    def _start_commit(self, snapshot: Snapshot | None) -> None:
        loop = asyncio.get_running_loop()
        batch, self._gathering = self._gathering, _Batch()
        self._commit_started = loop.time()
        self._commit_perf = time.perf_counter()
        self._committing = batch
        if snapshot is None:
            # The store tells _committed on the loop itself: no task, no hop through the inbox.
            self.store.append_soon(self.name, batch.entries, self._committed)
            return
        task = loop.create_task(self._commit_with(batch, snapshot), name=f"commit:{self.name}")
        task.add_done_callback(lambda t: self._committed(asyncio.CancelledError() if t.cancelled() else t.exception()))

    async def _commit_with(self, batch: _Batch, snapshot: Snapshot) -> None:
        await self.store.append(self.name, batch.entries)
        await self.store.save_snapshot(self.name, snapshot)

    def _committed(self, error: BaseException | None) -> None:
        """The commit in flight ended (a callback on the loop): acknowledge it, and start the next one.

        Acks go out here, in seq order, only once the store said the batch is durable (S3). The
        next commit starts here too when the actor has nothing in hand (as in rule 1a); else the
        actor starts it when it is done with what it holds.
        """
        batch = self._committing
        assert batch is not None
        self._committing = None
        waiter, self._commit_waiter = self._commit_waiter, None
        try:
            if error is not None:
                if not isinstance(error, Exception):
                    error = StoreError(f"commit interrupted: {error!r}")
                log.error("commit failed in sanctuary %s", self.name, exc_info=error)
                # Memory and the broadcasts are now ahead of the store: this run ends (rule 7).
                self._commit_error = error
                self._crash_actor(error)
                return
            self.metrics.commit_latency.observe(time.perf_counter() - self._commit_perf)
            self._acknowledge(batch)
            if self._waiting and not self.closing and self._inbox.empty() and not self._launch_now():
                self._inbox.put_nowait(_Wake())  # a snapshot is due with the next commit: the actor encodes it
        except Exception as exc:  # the actor's own failure, wherever it happens (rule 7)
            self._crash_actor(exc)
        finally:
            if waiter is not None and not waiter.done():
                waiter.set_result(None)

    def _commit_due(self) -> None:
        self._commit_timer = None
        # The interval is over when its timer says so. The loop's clock counts whole milliseconds
        # and its timers may fire a little before the time asked: checking the time again would
        # re-arm the timer for the fraction left, some twenty times a commit, in a spin.
        self._commit_started = float("-inf")
        if self._waiting and not self.closing and self._inbox.empty():
            try:
                if self._launch_now():
                    return
            except Exception as exc:
                self._crash_actor(exc)
                return
        self._inbox.put_nowait(_Wake())

    async def _on_wake(self) -> None:
        if self._crash is not None:
            raise self._crash

    async def _commit_ended(self) -> None:
        """Wait for the commit in flight to end; raise if it failed (rule 7)."""
        if self._committing is not None:
            if self._commit_waiter is None:
                self._commit_waiter = asyncio.get_running_loop().create_future()
            await asyncio.shield(self._commit_waiter)
        if self._commit_error is not None:
            raise self._commit_error

    async def _settle(self) -> None:
        """Broadcast, commit and acknowledge everything merged so far: memory and store agree afterwards."""
        self._fan_out(now=True)
        await self._commit_ended()
        batch, self._gathering = self._gathering, _Batch()
        if self._commit_timer is not None:
            self._commit_timer.cancel()
            self._commit_timer = None
        if batch:
            await self._commit(batch)
            self._acknowledge(batch)
        if self._snapshot_due():
            # Commits made here (before a join or a call) would otherwise never be followed by one.
            await self._snapshot()

    # -- ops --------------------------------------------------------------
    async def _applied_earlier(self, items: list[_Item]) -> dict[Stamp, int]:
        """Seqs of the stamps in ``items`` that may be resends of ops memory no longer knows.

        Only a stamp at or below its replica's highest applied counter can have been applied
        before, and only one missing from ``_seq_of`` needs the store: in the steady state
        (counters rising per replica) this asks nothing.
        """
        wanted: set[Stamp] = set()
        for item in items:
            if isinstance(item, _Submit):
                self._maybe_resent(item.ops, wanted)
        if not wanted:
            return {}
        return await self.store.find_stamps(self.name, wanted)

    def _maybe_resent(self, ops: tuple[Op, ...], wanted: set[Stamp] | None = None) -> bool:
        """Whether a stamp of ``ops`` may be a resend only the store knows (added to ``wanted``)."""
        high = self._replicas
        seq_of = self._seq_of
        found = False
        for op in ops:
            stamp = op.stamp
            if stamp[0] <= high.get(stamp[1], 0) and stamp not in seq_of:
                if wanted is None:
                    return True
                wanted.add(stamp)
                found = True
        return found

    def _admit(self, member: Member, ops: tuple[Op, ...], batch: _Batch, applied: dict[Stamp, int]) -> None:
        if member.sid not in self.members:
            return  # it left (or was closed) while its ops waited
        acks = batch.acks.setdefault(member, [])
        now = self.clock()
        for op in ops:
            stamp = op.stamp
            try:
                if stamp[1] != member.replica:
                    raise OpError(ErrorCode.BAD_STAMP, f"stamp replica {stamp[1]!r} is not this connection's")
                earlier = self._seq_of.get(stamp) or applied.get(stamp)
                if earlier is not None:
                    acks.append((stamp[0], earlier))  # a resend: acked again at its own seq (W9)
                    continue
                if stamp[0] > self.tapestry.max_counter + self.config.max_stamp_ahead:
                    raise OpError(
                        ErrorCode.STAMP_AHEAD, f"stamp counter is more than {self.config.max_stamp_ahead} ahead"
                    )
                op = self._check_existence(member, op)
                self.gate.check(member, op, self.tapestry)
            except OpError as exc:
                batch.rejects.append((member, _reject(op, exc)))
                self.metrics.ops_rejected.labels(code=exc.code.value).inc()
                continue
            self.seq += 1
            self.tapestry.merge(op)
            if op.t == "c" and self._fragment_count is not None:
                self._fragment_count += 1  # _check_existence made sure the id was unused
            self._encodings.touch(op.id)
            if stamp[0] > self._replicas.get(stamp[1], 0):
                self._replicas[stamp[1]] = stamp[0]
            self._seq_of[stamp] = self.seq
            entry = LogEntry(self.seq, op, member.identity.id, now)
            batch.entries.append(entry)
            self._unsent.append(entry)
            acks.append((stamp[0], self.seq))
            self.gate.admitted(member, op, self.tapestry)

    def _check_existence(self, member: Member, op: Op) -> Op:
        exists = op.id in self.tapestry
        if op.t == "c":
            if exists or self.tapestry.registers(op.id):
                raise OpError(ErrorCode.FRAGMENT_EXISTS, f"fragment {op.id!r} already exists")
            if self._fragment_count is None:
                self._fragment_count = len(self.tapestry)  # counts every fragment: once, not per create
            if self._fragment_count >= self.config.max_fragments_per_sanctuary:
                raise OpError(
                    ErrorCode.TOO_MANY_FRAGMENTS,
                    f"this sanctuary holds its maximum of {self.config.max_fragments_per_sanctuary} fragments",
                )
            # Provenance is the server's to say, whatever the client claimed (P1).
            fields = dict(op.fields)
            fields["author"] = member.identity.id
            fields["origin"] = member.identity.origin
            return op.with_fields(fields)
        if not exists:
            raise OpError(ErrorCode.UNKNOWN_FRAGMENT, f"no fragment {op.id!r} in this sanctuary")
        if op.t == "s" and "geom" in op.fields:
            kind = self.tapestry.value(op.id, "kind")  # one atom: the fragment is not unpacked for it
            assert kind is not None
            try:
                check_geom_kind(op.fields["geom"], kind)
            except DecodeError as exc:  # a reject of this op, not a failure of the sanctuary
                raise OpError(exc.code, exc.reason) from None
        return op

    async def _flush(self, batch: _Batch) -> None:
        """Commit a batch of the server's own ops, then broadcast it (nothing else may be in flight)."""
        await self._commit(batch)
        self._broadcast_entries(batch.entries)
        self._acknowledge(batch)
        if self._snapshot_due():
            await self._snapshot()

    async def _commit(self, batch: _Batch) -> None:
        if not batch.entries:
            return
        started = time.perf_counter()
        try:
            await self.store.append(self.name, batch.entries)
        except Exception as exc:
            log.exception("commit failed in sanctuary %s", self.name)
            # Memory and the broadcasts are now ahead of the store: this run ends (rule 7).
            self._commit_error = exc
            raise
        self.metrics.commit_latency.observe(time.perf_counter() - started)

    def _broadcast_entries(self, entries: list[LogEntry]) -> float:
        """Broadcast merged entries; returns the seconds it took (what F6 paces by)."""
        if not entries:
            return 0.0
        started = time.perf_counter()
        self.metrics.ops_accepted.inc(len(entries))
        self._recent.extend(entries)
        self.last_change = self.clock()
        # A frame carries at most max_ops_per_batch ops: clients decode broadcasts with that limit (W4).
        step = self.config.limits.max_ops_per_batch
        for i in range(0, len(entries), step):
            chunk = entries[i : i + step]
            self._broadcast(Ops(tuple(e.op for e in chunk), seq=chunk[0].seq))
        cost = time.perf_counter() - started
        self.metrics.broadcast_latency.observe(cost)
        return cost

    def _acknowledge(self, batch: _Batch) -> None:
        """A committed batch: its senders learn their ops are durable (S3: never before the commit)."""
        for member, acks in batch.acks.items():
            if acks:
                member.send(Ack(tuple(acks)))
        for member, reject in batch.rejects:
            member.send(reject)

    def _snapshot_due(self) -> bool:
        # Never of a tapestry still being decoded (S11): joins meanwhile settle, and would ask.
        # The spacing is at least snapshot_every: most ops are told so without weighing the tapestry.
        behind = self.seq - self._snapshot_seq
        return behind >= self.config.snapshot_every and self._loading is None and behind >= self._snapshot_spacing()

    def _snapshot_spacing(self) -> int:
        # A snapshot writes the whole tapestry: spaced by a quarter of its fragments, its cost per
        # op stays constant as the tapestry grows, and a load replays at most that many ops (S3a).
        fragments = self._fragment_count if self._fragment_count is not None else len(self.tapestry)
        return max(self.config.snapshot_every, fragments // 4)

    async def _snapshot(self) -> None:
        # Only of committed state: a snapshot holding an op the log lacks would outlive a failed commit.
        assert self._committing is None
        assert not self._gathering.entries
        seq = self.seq
        data = await self._encodings.whole(self.tapestry, MSGPACK, seq)
        await self.store.save_snapshot(self.name, Snapshot(seq, data, dict(self._replicas)))
        self._snapshot_seq = seq

    def _broadcast(self, message: Any, *, droppable: bool = False, exclude: str | None = None) -> None:
        """Encode once per codec in use; the same bytes go to every member."""
        frames: dict[str, bytes] = {}
        members = self.members
        for member in members.values() if exclude is None else [m for s, m in members.items() if s != exclude]:
            name = member.codec_name
            frame = frames.get(name)
            if frame is None:
                frame = frames[name] = _ENCODERS[name].encode(message)
            if droppable:
                member.send_frame(frame, droppable=True)
            else:
                member.send_frame(frame)
        self.metrics.frames_sent.inc(len(members) - (exclude in members))  # per broadcast, not per socket

    # -- membership -------------------------------------------------------
    async def _on_join(self, item: _Join) -> None:
        member, hello = item.member, item.hello
        if item.done.done():
            return
        if len(self.members) >= self.config.max_connections_per_sanctuary:
            item.done.set_exception(SanctuaryFull(self.name))
            return
        # By index, not by a scan of the members: a join costs the same in a crowded room (W23).
        other = self._by_replica.get(member.replica)
        if other is not None and other.replica == member.replica:
            if other.identity.id != member.identity.id:
                item.done.set_exception(
                    OpError(ErrorCode.REPLICA_IN_USE, "another connection uses this replica id: pick a new one")
                )
                return
            self._remove(other)
            other.close(CloseCode.REPLACED, "replaced by a newer connection of the same replica")
        if self._unload_timer is not None:
            self._unload_timer.cancel()
            self._unload_timer = None
        member.peer = replace(member.peer, color=self.colours.join(member.sid, member.identity.id))
        frames, parts = await self._welcome(member, hello)
        for frame in frames:
            member.send_frame(frame)
        if parts is not None:
            # Each part goes out as it is encoded; the member is not one yet, so nothing else
            # can come between the welcome and its last part (W36).
            for i in range(1, parts.count):
                member.send_frame(await parts.take(i))
        member.issued_token = None  # handed over in the welcome: not kept for the connection's life
        self.members[member.sid] = member
        self._by_replica[member.replica] = member
        self._peer_index.add(member.sid)
        self._roster.joined(member.peer)
        self.metrics.connections.inc()
        item.done.set_result(None)

    async def _welcome(self, member: Member, hello: Hello) -> tuple[list[bytes], Parts | None]:
        """The welcome frame; a snapshot is spliced in already encoded, never re-encoded per join (W23).

        While the tapestry is decoded (S11), a welcome with a snapshot is the stored snapshot at its
        own seq, followed by the log after it as ``ops`` frames. Otherwise, to a hello that asks for
        parts, a snapshot larger than the first part comes in parts, as ``snapshot`` frames (W36).
        """
        since = hello.seq
        codec = member.codec_name
        parts: Parts | None = None
        oldest = self._recent[0].seq - 1 if self._recent else self.seq
        # A seq counted in another run may name ops that were broadcast but never committed (F5).
        resumable = since is not None and hello.epoch == self.epoch and oldest <= since <= self.seq
        snapshot: bytes | None = None
        form: str | None = None
        ops: tuple[Op, ...] = ()
        frames: list[bytes] = []
        count: int | None = None  # the parts of a welcome in parts (W36)
        first, rest = self.config.welcome_first_part_bytes, self.config.welcome_part_bytes
        if resumable:
            assert since is not None
            ops = tuple(e.op for e in self._recent if e.seq > since)
        else:
            since = self.seq
            catch_up = self._catch_up(member.codec_name)
            if catch_up is not None:
                since, snapshot, frames = catch_up
            else:
                if self._loading is not None and self._early is not None:
                    await asyncio.shield(self._loading)  # not to be welcomed from the stored snapshot: wait
                # The compact form (W37) only to a client that handles it; the stored snapshot of a
                # cold join above stays canonical. Parts (W36) carry their fragments in that form.
                form = COMPACT if COMPACT in hello.features else None
                if "parts" in hello.features:
                    # W36: cut from the kept items; a snapshot that fits in the first part is one part.
                    def frame(i: int, k: int, fragments: bytes, seq: int = since) -> bytes:
                        return part_frame(codec, seq, i, k, fragments)

                    parts = await welcome_parts(
                        self._encodings, self.tapestry, codec, form or CANONICAL, first, rest, frame
                    )
                    snapshot = await parts.take(0)
                    count = parts.count if parts.count > 1 else None
                    if count is None:
                        parts = None
                else:
                    snapshot = await self._encodings.whole(self.tapestry, codec, since, form or CANONICAL)
        listed, peer_count = peer_summary(self.members, member.sid, self.config.limits.max_peers_page)
        welcome = Welcome(
            sanctuary=self.name,
            sid=member.sid,
            identity=member.identity,
            seq=since if frames else self.seq,
            since=since,
            snapshot=None,
            ops=ops,
            policy=self.gate.policy(),
            token=member.issued_token,
            epoch=self.epoch,
            peer_count=peer_count,
            parts=count,
            form=form,
        )
        peers = self._peer_entries.array(listed, _ENCODERS[codec])
        return [await welcome_frame(codec, welcome.to_wire(), snapshot, peers=peers), *frames], parts

    def _catch_up(self, codec: str) -> tuple[int, bytes, list[bytes]] | None:
        """While the tapestry is decoded (S11): the stored snapshot's seq and bytes, and the log after it as ops.

        ``None`` when the tapestry is whole, for a JSON join (the stored snapshot is msgpack), or when
        that log is more than a quarter of a connection's send bound (F3): the join then waits for the decode.
        """
        if self._early is None or codec != MSGPACK:
            return None
        seq, data, tail = self._early
        frames = self._early_frames
        if frames is None:
            # Encoded once, and only up to the bound: a long log is not encoded on the loop in vain.
            frames, size, bound = [], 0, self.config.send_buffer_bytes // 4
            step, encode = self.config.limits.max_ops_per_batch, _ENCODERS[MSGPACK].encode
            for i in range(0, len(tail), step):
                frames.append(encode(Ops(tuple(e.op for e in tail[i : i + step]), seq=tail[i].seq)))
                size += len(frames[-1])
                if size > bound:
                    frames = _TOO_LONG
                    break
            self._early_frames = frames
        if frames is _TOO_LONG:
            return None
        return seq, _EMPTY_MSGPACK if data is None else data, frames

    def _on_leave(self, member: Member) -> None:
        if self.members.get(member.sid) is member:
            self._remove(member)

    def _remove(self, member: Member) -> None:
        del self.members[member.sid]
        self.colours.leave(member.sid)
        if self._by_replica.get(member.replica) is member:
            del self._by_replica[member.replica]
        self._peer_index.remove(member.sid)
        self._peer_entries.forget(member.sid)
        self._roster.left(member.sid)
        self._presence_dirty.discard(member.sid)
        self.metrics.connections.dec()
        self._schedule_unload()

    def _schedule_unload(self) -> None:
        if not self.members and self._unload_timer is None and not self.closing:
            loop = asyncio.get_running_loop()
            self._unload_timer = loop.call_later(self.config.idle_unload, self._unload_due)

    def _unload_due(self) -> None:
        self._unload_timer = None
        self._inbox.put_nowait(_Unload())

    async def _on_call(self, item: _Call) -> None:
        try:
            result = await item.fn()
        except Exception as exc:
            if not item.done.done():
                item.done.set_exception(exc)
        else:
            if not item.done.done():
                item.done.set_result(result)
        # Calls (moderation, rollback) write the tapestry only through apply_local, which tells the
        # kept encodings what it wrote: a call leaves them valid (an HTTP read is a call too).
        if self._commit_error is not None:
            raise self._commit_error
        # A call may have loaded an empty sanctuary (moderation from the HTTP API).
        self._schedule_unload()

    def _inside(self) -> None:
        # Actor-only methods change state that only the actor task may touch (rule 1).
        if self._task is None or asyncio.current_task() is not self._task:
            raise UsageError(f"call this inside the actor of sanctuary {self.name!r} (via Sanctuary.call)")

    def broadcast_policy(self) -> None:
        """Send the gate's current policy to every member (inside the actor: :class:`UsageError` otherwise)."""
        self._inside()
        self._broadcast(PolicyUpdate(self.gate.policy()))

    def peer_changed(self, member: Member) -> None:
        """A member's role changed: announced as a leave and a join in the next roster (inside the actor only)."""
        self._inside()
        self._roster.left(member.sid)
        self._roster.joined(member.peer)

    async def encoded_snapshot(self, codec: str) -> tuple[int, bytes]:
        """The seq and the tapestry's canonical structure encoded in ``codec`` (inside the actor only).

        The encoding is kept up to date as ops land (see encodings.py): asking again at the same
        seq costs nothing, and after a few ops only those fragments are encoded again. Only
        committed state is served: a call runs after the actor has settled what it merged.
        """
        self._inside()
        return self.seq, await self._encodings.whole(self.tapestry, codec, self.seq)

    async def apply_local(self, ops: list[Op], author: str) -> list[int]:
        """Merge, commit and broadcast ops made by the server itself (moderation, rollback).

        Must run inside the actor (via :meth:`call`): :class:`UsageError` otherwise. Returns their seqs.
        """
        self._inside()
        batch = _Batch()
        now = self.clock()
        self._fragment_count = None
        for op in ops:
            self.seq += 1
            self.tapestry.apply(op)
            self._encodings.touch(op.id)
            batch.entries.append(LogEntry(self.seq, op, author, now))
        await self._flush(batch)
        return [e.seq for e in batch.entries]

    async def _on_unload(self, item: _Unload) -> None:
        if not item.force and (self.members or not self._inbox.empty()):
            if item.done is not None and not item.done.done():
                item.done.set_result(None)
            return
        self.closing = True
        # Anything queued behind the unload is still committed before we go (S1).
        pending: list[_Item] = []
        while not self._inbox.empty():
            pending.append(self._inbox.get_nowait())
        applied = await self._applied_earlier(pending)
        for other in pending:
            if isinstance(other, _Submit):
                self._admit(other.member, other.ops, self._gathering, applied)
        await self._settle()
        for other in pending:
            if isinstance(other, (_Join, _Call)) and not other.done.done():
                other.done.set_exception(SanctuaryClosed(self.name))
        for member in list(self.members.values()):
            member.close(CloseCode.GOING_AWAY, "server restarting: reconnect and resume")
            self._remove(member)
        if self.seq > self._snapshot_seq:
            await self._snapshot()
        # Everything broadcast is committed: the next run may go on with this epoch (F7).
        try:
            await self.store.keep_epoch(self.name, self.epoch, self.seq)
        except Exception:  # not kept: the next run gets a new epoch and its clients a snapshot
            log.warning("could not keep the epoch of sanctuary %s", self.name, exc_info=True)
        if item.done is not None and not item.done.done():
            item.done.set_result(None)

    def _fail(self) -> None:
        self.closing = True
        for member in list(self.members.values()):
            member.close(CloseCode.INTERNAL_ERROR, "sanctuary failed: reconnect")
            self.members.pop(member.sid, None)
            self.metrics.connections.dec()

    def _drain_after_close(self) -> None:
        # Items taken from the inbox but not handled (the actor failed on an earlier one) are
        # answered too: no caller waits forever on a sanctuary that is gone.
        leftovers, self._in_hand = self._in_hand, []
        while not self._inbox.empty():
            leftovers.append(self._inbox.get_nowait())
        for item in leftovers:
            if isinstance(item, (_Join, _Call)) and not item.done.done():
                item.done.set_exception(SanctuaryClosed(self.name))
            elif isinstance(item, _Unload) and item.done is not None and not item.done.done():
                item.done.set_result(None)

    # -- presence ---------------------------------------------------------
    async def _presence_ticker(self) -> None:
        while True:
            await asyncio.sleep(self.config.presence_interval)
            self.tick()

    def _roster_due(self) -> bool:
        # A roster is a frame to every member: in a crowded room they are spaced so that they cost
        # at most ROSTER_FRAMES_PER_SECOND frames a second however fast people come and go (W24).
        spacing = len(self.members) / ROSTER_FRAMES_PER_SECOND
        return spacing <= self.config.presence_interval or time.monotonic() - self._last_roster >= spacing

    def tick(self) -> None:
        """Send what gathered since the last tick: the roster, then presence (W24, W11)."""
        # Joins and leaves first, never dropped (W24); then presence, droppable, in frames a
        # client accepts however many peers moved (W4: max_peers per frame).
        page = self.config.limits.max_peers
        if self._roster and self._roster_due():
            self._last_roster = time.monotonic()
            for roster in self._roster.take(len(self.members), page):
                # A lone joiner knows of itself from its welcome: in a quiet room, it is not told.
                alone = roster.joined[0].sid if len(roster.joined) == 1 and not roster.left else None
                self._broadcast(roster, exclude=alone)
        if not self._presence_dirty:
            return
        dirty, self._presence_dirty = self._presence_dirty, set()
        peers = [PeerPresence(sid, self.members[sid].presence) for sid in dirty if sid in self.members]
        for start in range(0, len(peers), page):
            self._broadcast(PeersPresence(tuple(peers[start : start + page])), droppable=True)


def _reject(op: Op, exc: OpError) -> Reject:
    if isinstance(exc, PolicyError):
        return Reject(op.stamp, op.id, exc.code, exc.reason, exc.rule, exc.allowed, exc.retry_after)
    return Reject(op.stamp, op.id, exc.code, exc.reason)


__all__ = ["Sanctuary", "SanctuaryClosed", "SanctuaryFull"]
