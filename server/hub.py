"""The hub: which sanctuaries are loaded, loading them lazily and unloading idle ones."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable
from typing import Protocol

from dreamloom.protocol import Tapestry

from .config import ServerConfig
from .gate import Gate
from .member import Entrance
from .metrics import Metrics
from .sanctuary import Sanctuary
from .store import Store

log = logging.getLogger("dreamloom.hub")

GateFactory = Callable[[str], Gate]


class HubClosed(Exception):
    """The server is shutting down: no sanctuary loads any more."""


class Elsewhere(Exception):
    """Another node owns this sanctuary (cluster mode): join it through :meth:`Placement.remote`."""

    def __init__(self, name: str, owner: str) -> None:
        super().__init__(f"sanctuary {name!r} is owned by node {owner!r}")
        self.owner = owner


class Placement(Protocol):
    """Which node runs which sanctuary (cluster mode; see server/cluster). One node alone needs none."""

    async def take(self, name: str) -> Store:
        """Make this node the owner; the store to run the sanctuary with. :class:`Elsewhere` if another node is."""

    def released(self, name: str) -> None:
        """The sanctuary unloaded here: give ownership up."""

    async def remote(self, name: str, owner: str) -> Entrance:
        """The room, on this node, of a sanctuary that ``owner`` runs."""

    def participants(self, name: str) -> int | None:
        """Connections to the sanctuary across every node, if known."""


class Hub:
    """Owns every live sanctuary and its actor task."""

    def __init__(
        self,
        store: Store,
        config: ServerConfig,
        metrics: Metrics,
        gate_factory: GateFactory | None = None,
        clock: Callable[[], float] = time.time,
        placement: Placement | None = None,
    ) -> None:
        self.store = store
        self.placement = placement
        self.clock = clock
        self.config = config
        self.metrics = metrics
        self.gate_factory = gate_factory
        self._live: dict[str, Sanctuary] = {}
        self._tasks: dict[str, asyncio.Task[None]] = {}
        self._locks: dict[str, asyncio.Lock] = {}
        self.closing = False

    def loaded(self, name: str) -> Sanctuary | None:
        """The sanctuary if it is in memory and running."""
        s = self._live.get(name)
        return s if s is not None and not s.closing else None

    def participants(self, name: str) -> int:
        """Live connections in a sanctuary (0 when not loaded; every node's in a cluster)."""
        counted = self.placement.participants(name) if self.placement is not None else None
        if counted is not None:
            return counted
        s = self.loaded(name)
        return len(s.members) if s is not None else 0

    def live(self) -> list[Sanctuary]:
        return [s for s in self._live.values() if not s.closing]

    async def sanctuary(self, name: str, *, whole: bool = True) -> Sanctuary:
        """The running sanctuary ``name``, loading it from the store if needed.

        With ``whole``, once its tapestry is decoded; without, as soon as it can welcome joins (S11).
        """
        sanctuary = await self._sanctuary(name)
        if whole:
            await sanctuary.loaded()
        return sanctuary

    async def _sanctuary(self, name: str) -> Sanctuary:
        if self.closing:
            raise HubClosed("server is shutting down")
        live = self.loaded(name)
        if live is not None:
            return live
        lock = self._locks.setdefault(name, asyncio.Lock())
        async with lock:
            live = self.loaded(name)
            if live is not None:
                return live
            old = self._live.get(name)
            if old is not None:
                await old.finished.wait()
            store = self.store if self.placement is None else await self.placement.take(name)
            gate = self.gate_factory(name) if self.gate_factory is not None else None
            try:
                sanctuary = await Sanctuary.load(name, store, self.config, self.metrics, gate, self.clock)
            except BaseException:
                if self.placement is not None:
                    self.placement.released(name)
                raise
            self._live[name] = sanctuary
            task = asyncio.create_task(self._run(sanctuary), name=f"sanctuary:{name}")
            self._tasks[name] = task
            self.metrics.sanctuaries_loaded.set(len(self._live))
            return sanctuary

    async def room(self, name: str) -> Entrance:
        """Where a connection joins ``name``: the sanctuary, or in a cluster its room on the owner's node."""
        try:
            return await self.sanctuary(name, whole=False)
        except Elsewhere as moved:
            assert self.placement is not None
            return await self.placement.remote(name, moved.owner)

    async def _run(self, sanctuary: Sanctuary) -> None:
        try:
            await sanctuary.run()
        finally:
            if self._live.get(sanctuary.name) is sanctuary:
                del self._live[sanctuary.name]
                self._tasks.pop(sanctuary.name, None)
                if self.placement is not None:
                    self.placement.released(sanctuary.name)
            self.metrics.sanctuaries_loaded.set(len(self._live))

    async def tapestry_at(self, name: str, seq: int | None = None) -> tuple[Tapestry, int]:
        """The tapestry after op ``seq`` (``None``: now). Reads the store, never the live state."""
        info = await self.store.get_sanctuary(name)
        if info is None:
            raise KeyError(name)
        last = info.last_seq
        target = last if seq is None else max(0, min(seq, last))
        if seq is None:
            live = self.loaded(name)
            if live is not None:
                await live.loaded()
                return live.tapestry.copy(), live.seq
        snap = await self.store.latest_snapshot(name, at_most=target)
        tapestry = Tapestry.decode(snap.data) if snap is not None else Tapestry()
        start = snap.seq if snap is not None else 0
        after = start
        while after < target:
            entries = await self.store.read_ops(name, after, limit=5000, upto=target)
            if not entries:
                break
            for entry in entries:
                tapestry.apply(entry.op)
            after = entries[-1].seq
        return tapestry, target

    async def close(self) -> None:
        """Shut every sanctuary down: commit, close connections with 1001, snapshot."""
        self.closing = True
        await asyncio.gather(*(s.shutdown() for s in list(self._live.values())), return_exceptions=True)
        for task in list(self._tasks.values()):
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
