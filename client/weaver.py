"""The :class:`Weaver` base class: handlers to override, actions to call, a run loop.

Handlers run one at a time, in the order the events happened, in a task of their own:
a handler may await actions (``await self.add_symbol(...)``) or an AI model without
blocking the connection. Work that should run beside the handlers goes in
:meth:`Weaver.spawn`. A handler that raises is logged and the weaver goes on.
"""

from __future__ import annotations

import asyncio
import contextlib
import difflib
import inspect
import logging
import os
import signal
from collections.abc import AsyncIterator, Callable, Coroutine, Iterable, Iterator, Mapping, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import replace
from functools import partial
from typing import Any, ClassVar, Literal, Self, TypeVar

from dreamloom.protocol import (
    DEFAULT_LIMITS,
    MSGPACK,
    DecodeError,
    Fragment,
    Identity,
    Op,
    UsageError,
    ops,
)
from dreamloom.protocol.messages import ClientKind
from dreamloom.protocol.ops import SETTABLE, FragmentKind
from dreamloom.protocol.symbols import load_symbols
from dreamloom.protocol.validate import check_create_fields, check_field

from .backoff import Backoff
from .errors import Closed, Rejected
from .events import Disconnect, FragmentEvent, PeerEvent, PeerState, PolicyChange, Ready, ServerError
from .handlers import FragmentFilter, fragment_handlers, misspelt_handlers
from .identity import IdentityStore
from .pending import Action
from .policy import Policy
from .replica import Replica
from .session import Event, Session, new_replica_id
from .urls import sanctuary_url

log = logging.getLogger("dreamloom.client")

T = TypeVar("T")

#: The shapes ``add_shape`` draws.
Shape = Literal["rect", "ellipse", "line", "arrow"]


class Weaver:
    """Base class of a weaver: subclass it, override the ``on_*`` handlers you need, and
    call the actions (``add_stroke``, ``add_symbol``, ``update``...) from them.

    Example (a complete weaver)::

        from dreamloom.client import FragmentEvent, Weaver

        class Echo(Weaver):
            name = "echo"

            async def on_fragment_added(self, event: FragmentEvent) -> None:
                frag = event.fragment
                if event.organic and frag.kind == "text":
                    self.add_symbol("moon", frag.x - 30, frag.y - 10, inspired_by=[frag.id])

        Echo().run("http://127.0.0.1:8765", "dreams")
    """

    #: Display name sent in ``hello`` (the class name if empty). Example: ``name = "echo"``.
    name: str = ""
    #: One line shown by ``dreamloom weave --list``. Example: ``description = "answers captions"``.
    description: str = ""
    # What the hello says this client is (SPEC W5): a weaver, always. Only the testing
    # helper that stands in for a person's browser says otherwise.
    _client: ClassVar[ClientKind] = "weaver"
    _fragment_handlers: ClassVar[tuple[tuple[str, FragmentFilter], ...]] = ()
    _misspelt: ClassVar[list[str]] = []

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        cls._fragment_handlers = fragment_handlers(cls)
        cls._misspelt = misspelt_handlers(cls)

    def __init__(
        self,
        *,
        name: str | None = None,
        codec: str = MSGPACK,
        reconnect: Backoff | None = None,
        retry: Backoff | None = None,
        max_retries: int = 8,
        identity_file: str | os.PathLike[str] | None = None,
        give_up_after: int | None = None,
    ) -> None:
        """Set up a weaver (it connects when :meth:`run`, :meth:`serve` or :meth:`connect` is called).

        ``reconnect`` and ``retry`` tune the back-off of reconnects and of ops refused for
        rate; ``max_retries`` bounds the retries of one op. ``give_up_after`` stops the weaver
        with :class:`Closed` (saying why) after that many failed attempts to connect in a row,
        with no welcome between; the default retries for ever.

        Without a token, the server makes the weaver a guest weaver and issues it a guest
        token. The weaver keeps it for its whole life, so reconnects are the same weaver;
        with ``identity_file`` it is also kept in that file (mode 0600), so a restarted
        process is the same weaver too. The default keeps it in memory only
        (``dreamloom weave`` defaults to a file: see ``--identity-file``).

        Example: ``weaver = Echo(name="echo-2", identity_file="~/.echo-identity.json")``.
        """
        self.name = (name or self.name or type(self).__name__)[: DEFAULT_LIMITS.max_name_len]
        self._session = Session(
            replica_id=new_replica_id(),
            name=self.name,
            emit=self._emit,
            codec=codec,
            reconnect=reconnect,
            retry=retry,
            max_retries=max_retries,
            client=self._client,
            identities=IdentityStore(identity_file),
            give_up_after=give_up_after,
        )
        self._events: asyncio.Queue[Event] = asyncio.Queue()
        self._ready = asyncio.Event()
        self._stopped = asyncio.Event()
        self._stopped.set()
        self._tasks: set[asyncio.Task[Any]] = set()
        self._group: int | None = None
        self._pool: ProcessPoolExecutor | None = None

    # -- state ------------------------------------------------------------------
    @property
    def tapestry(self) -> Replica:
        """The local replica of the tapestry. Example: ``self.tapestry.by_kind("stroke")``."""
        return self._session.replica

    @property
    def identity(self) -> Identity | None:
        """Who the server says this weaver is (``None`` before the first welcome).

        Example: ``if self.identity and self.identity.origin == "ai": ...``.
        """
        return self._session.identity

    @property
    def sanctuary(self) -> str:
        """The sanctuary's name (empty before the first welcome). Example: ``print(self.sanctuary)``."""
        return self._session.sanctuary

    @property
    def policy(self) -> Policy:
        """The sanctuary's current Harmony policy (typed). Example: ``if self.policy.locked: return``."""
        return self._session.policy

    @property
    def ai_room(self) -> int:
        """How many more live AI fragments the sanctuary's cap allows now (as this weaver's
        replica sees it; others may take the room first). Check it before sending a group
        that only makes sense whole.

        Example::

            if self.ai_room >= 6:
                with self.batch():
                    ...  # all six mirrors, or none
        """
        return self._session.policy.ai_room(self.tapestry.live_counts)

    @property
    def peers(self) -> Mapping[str, PeerState]:
        """The other connections of the sanctuary by session id, with their presence.

        Example: ``people = [p for p in self.peers.values() if p.origin == "organic"]``.
        """
        return self._session.peers

    @property
    def peer_count(self) -> int:
        """How many other connections the sanctuary holds; :attr:`peers` lists only the first
        ``max_peers_page`` of a crowded room until :meth:`fetch_peers` reads the rest (W23).

        Example: ``crowded = self.peer_count > len(self.peers)``.
        """
        return self._session.peer_count

    async def fetch_peers(self) -> Mapping[str, PeerState]:
        """Read every peer of a crowded sanctuary page by page (W23); returns :attr:`peers`.

        Example: ``people = [p for p in (await self.fetch_peers()).values() if p.origin == "organic"]``.
        """
        return await self._session.fetch_peers()

    @property
    def ai_rate_room(self) -> int:
        """How many more ops the sanctuary's per-weaver AI rate admits from this weaver in the
        coming minute, counting the ops it submitted in the last one (the server also caps
        all weavers together: ``policy.ai_rate_total``).

        Example::

            if self.ai_rate_room < 6:
                return  # a six-op group would be cut by the rate: wait for the next one
        """
        return max(0, self._session.policy.ai_rate_per_weaver - self._session.submitted_within(60.0))

    @property
    def connected(self) -> bool:
        """Whether the weaver is connected and welcomed right now. Example: ``if self.connected: ...``."""
        return self._session.connected

    @property
    def seq(self) -> int:
        """The last sanctuary seq this weaver has seen. Example: ``self.tapestry.changed_since(self.seq - 5)``."""
        return self._session.replica.seq

    @property
    def replica_id(self) -> str:
        """The replica id stamped on this weaver's ops. Example: ``event.replica == self.replica_id``."""
        return self._session.replica_id

    @property
    def backing_off(self) -> bool:
        """Whether the server recently refused an op for rate or policy and the SDK is holding
        new ops back. Weavers should skip optional work meanwhile.

        Example: ``if self.backing_off: return``.
        """
        return self._session.paused_for > 0

    def is_mine(self, fragment: Fragment) -> bool:
        """Whether this weaver's identity made the fragment. Example: ``if self.is_mine(frag): return``."""
        ident = self._session.identity
        return ident is not None and fragment.author == ident.id

    def may_modify(self, fragment: Fragment) -> bool:
        """Whether the sanctuary's consent rule lets this weaver change or delete the fragment:
        its own, or one its author marked ``remixable``. (The server decides; this avoids
        asking for what would be refused.)

        Example: ``if self.may_modify(frag): self.update(frag.id, x=frag.x + 5)``.
        """
        ident = self._session.identity
        if ident is None:
            return False
        if ident.origin == "organic" or fragment.origin == "ai":
            return True
        return fragment.author == ident.id or fragment.remixable

    # -- handlers (override these) ------------------------------------------------
    async def on_ready(self, event: Ready) -> None:
        """Connected and welcomed (again after each reconnect, with ``event.resumed``).

        Example::

            async def on_ready(self, event: Ready) -> None:
                self.show_cursor(0, 0)
        """

    async def on_fragment_added(self, event: FragmentEvent) -> None:
        """A fragment appeared (created, or restored after a delete: ``event.action``).

        Example::

            async def on_fragment_added(self, event: FragmentEvent) -> None:
                if event.organic and not event.mine:
                    print("someone drew a", event.fragment.kind)
        """

    async def on_fragment_changed(self, event: FragmentEvent) -> None:
        """Some fields of a fragment changed (``event.fields``).

        Example::

            async def on_fragment_changed(self, event: FragmentEvent) -> None:
                if "style" in event.fields:
                    print("recoloured", event.id)
        """

    async def on_fragment_deleted(self, event: FragmentEvent) -> None:
        """A fragment was deleted (it can still be restored).

        Example::

            async def on_fragment_deleted(self, event: FragmentEvent) -> None:
                self.answered.discard(event.id)
        """

    async def on_peer_joined(self, event: PeerEvent) -> None:
        """Someone (a person or a weaver) joined the sanctuary.

        Example::

            async def on_peer_joined(self, event: PeerEvent) -> None:
                print("hello", event.peer.name)
        """

    async def on_peer_left(self, event: PeerEvent) -> None:
        """Someone left the sanctuary.

        Example::

            async def on_peer_left(self, event: PeerEvent) -> None:
                print("bye", event.peer.name)
        """

    async def on_presence(self, event: PeerEvent) -> None:
        """Someone's presence changed: cursor, selection, stroke preview.

        Example::

            async def on_presence(self, event: PeerEvent) -> None:
                if event.peer.cursor:
                    self.show_cursor(*event.peer.cursor)   # follow them
        """

    async def on_policy(self, event: PolicyChange) -> None:
        """The steward changed the sanctuary's policy.

        Example::

            async def on_policy(self, event: PolicyChange) -> None:
                print("AI share cap now", event.policy.ai_share_cap)
        """

    async def on_rejected(self, error: Rejected) -> None:
        """The server refused one of this weaver's ops for good (after the SDK's own retries
        for rate limits). The awaiting action, if any, raises the same error.

        Example::

            async def on_rejected(self, error: Rejected) -> None:
                if error.code is ErrorCode.AI_SHARE_CAP:
                    self.quiet_until = self.seq + 50
        """
        log.info("op on %s rejected: %s %s", error.fragment_id, error.code.value, error.reason)

    async def on_disconnect(self, event: Disconnect) -> None:
        """The connection dropped (``event.reconnecting`` says whether the SDK comes back).

        Example::

            async def on_disconnect(self, event: Disconnect) -> None:
                print("lost the sanctuary:", event.reason)
        """

    async def on_server_error(self, event: ServerError) -> None:
        """The server reported a message-level error.

        Example::

            async def on_server_error(self, event: ServerError) -> None:
                print(event.code, event.reason)
        """

    async def on_handler_error(self, error: Exception, event: object) -> None:
        """A handler raised ``error`` while handling ``event`` (or a task started with
        :meth:`spawn` failed: ``event`` is then that task). The default logs it.

        Example::

            async def on_handler_error(self, error: Exception, event: object) -> None:
                await self.stop()   # fail fast instead
        """
        log.error("handler failed on %s", type(event).__name__, exc_info=error)

    # -- actions ----------------------------------------------------------------
    def add(
        self,
        kind: FragmentKind,
        geom: Mapping[str, Any],
        *,
        x: float = 0,
        y: float = 0,
        style: Mapping[str, Any] | None = None,
        inspired_by: Iterable[str] = (),
        z: str | None = None,
        remixable: bool = False,
        group: str | None = None,
        start: str | None = None,
        end: str | None = None,
    ) -> Action:
        """Create a fragment of any kind (the ``add_*`` methods are shortcuts). It goes on top
        unless ``z`` is given; ``inspired_by`` links it to the fragments it answers; ``group``
        puts it in a group (SPEC M13); ``start`` and ``end`` bind a line's or an arrow's ends
        to other fragments (SPEC M14).

        Example: ``self.add("symbol", {"sym": "moon", "size": 40}, x=10, y=10)``.
        """
        threads = _thread_ids(inspired_by)
        _check_geom(kind, geom)
        stamp = self._session.clock.tick()
        ident = self._session.identity
        op = ops.create(
            f"{self.replica_id}.{stamp.counter}",
            stamp,
            kind=kind,
            geom=geom,
            z=z or self.tapestry.z_on_top(),
            x=x,
            y=y,
            style=style,
            author=ident.id if ident else "",
            origin=ident.origin if ident else "organic",
            inspired_by=threads,
            remixable=remixable,
            group=group,
            start=start,
            end=end,
        )
        _check(lambda: check_create_fields(dict(op.fields), DEFAULT_LIMITS))
        return self._submit(op)

    def add_stroke(
        self,
        points: Sequence[float],
        *,
        x: float = 0,
        y: float = 0,
        style: Mapping[str, Any] | None = None,
        inspired_by: Iterable[str] = (),
        z: str | None = None,
        remixable: bool = False,
        pressure: Sequence[float] | None = None,
    ) -> Action:
        """Draw a stroke: ``points`` is flat ``[x0, y0, x1, y1, ...]`` relative to ``(x, y)``.

        ``pressure``, one number in [0, 1] for each point, makes the width follow it (SPEC W38,
        M17): 0.5 draws ``style.width``, lighter is thinner (down to 0.3 of it), heavier wider
        (up to 1.7 times), and both ends taper. Without it the stroke has a constant width.

        Example: ``self.add_stroke([0, 0, 40, 10, 80, 0], x=100, y=50, style={"color": "#8f9bff", "width": 3})``;
        with pressure, a brush stroke that swells in the middle:
        ``self.add_stroke([0, 0, 40, 10, 80, 0], pressure=[0.1, 0.9, 0.2], style={"width": 6})``.
        """
        geom: dict[str, Any] = {"pts": list(points)}
        if pressure is not None:
            geom["pressure"] = list(pressure)
        return self.add(
            "stroke",
            geom,
            x=x,
            y=y,
            style=style,
            inspired_by=inspired_by,
            z=z,
            remixable=remixable,
        )

    def add_shape(
        self,
        shape: Shape,
        x: float,
        y: float,
        w: float,
        h: float,
        *,
        style: Mapping[str, Any] | None = None,
        inspired_by: Iterable[str] = (),
        z: str | None = None,
        remixable: bool = False,
    ) -> Action:
        """Draw a ``rect``, ``ellipse``, ``line`` or ``arrow`` (lines go from (x, y) to (x+w, y+h)).

        Example: ``self.add_shape("ellipse", 0, 0, 120, 80, style={"color": "#5cd3ff", "fill": "none"})``.
        """
        return self.add(
            "shape",
            {"shape": shape, "w": w, "h": h},
            x=x,
            y=y,
            style=style,
            inspired_by=inspired_by,
            z=z,
            remixable=remixable,
        )

    def add_arrow(
        self,
        x: float,
        y: float,
        w: float,
        h: float,
        *,
        start: str | None = None,
        end: str | None = None,
        line: bool = False,
        style: Mapping[str, Any] | None = None,
        inspired_by: Iterable[str] = (),
        z: str | None = None,
        remixable: bool = False,
    ) -> Action:
        """Draw an arrow (or, with ``line=True``, a line) from ``(x, y)`` to ``(x+w, y+h)``, its ends
        optionally attached to fragments: ``start`` and ``end`` are fragment ids (SPEC M14). An
        attached end is drawn on its target's outline and follows the target when it moves; the
        geometry given is where the arrow stays if its target goes.

        Example: ``self.add_arrow(0, 0, 100, 0, start=event.id, end=my_moon_id)``.
        """
        return self.add(
            "shape",
            {"shape": "line" if line else "arrow", "w": w, "h": h},
            x=x,
            y=y,
            style=style,
            inspired_by=inspired_by,
            z=z,
            remixable=remixable,
            start=start,
            end=end,
        )

    def group_fragments(self, fragment_ids: Iterable[str], group_id: str | None = None) -> list[Action]:
        """Put fragments in one group (SPEC M13): people who click one select them all.
        Returns one action per fragment; the group id is ``group_id`` or a new one, readable
        from any member afterwards (``self.tapestry.get(fid).group``). Others' fragments
        need their consent (``remixable``).

        Example: ``self.group_fragments([moon.id, caption.id])``.
        """
        ids = list(fragment_ids)
        if len(ids) < 2:
            raise UsageError("a group needs at least two fragments")
        gid = group_id or f"g.{self.replica_id}.{self._session.clock.tick().counter}"
        _check(partial(check_field, "group", gid, DEFAULT_LIMITS))
        return [self.update(fid, group=gid) for fid in ids]

    def ungroup_fragments(self, fragment_ids: Iterable[str]) -> list[Action]:
        """Take fragments out of their groups (a write of ``group = None`` to each).

        Example: ``self.ungroup_fragments(f.id for f in self.tapestry.fragments() if f.group == gid)``.
        """
        return [self.update(fid, group=None) for fid in fragment_ids]

    def add_symbol(
        self,
        sym: str,
        x: float,
        y: float,
        *,
        size: float = 48,
        style: Mapping[str, Any] | None = None,
        inspired_by: Iterable[str] = (),
        z: str | None = None,
        remixable: bool = False,
    ) -> Action:
        """Place a dream symbol of the catalogue, centred on ``(x, y)``.

        Example: ``self.add_symbol("moon", 200, 120, size=40, inspired_by=[event.id])``.
        """
        return self.add(
            "symbol",
            {"sym": sym, "size": size},
            x=x,
            y=y,
            style=style,
            inspired_by=inspired_by,
            z=z,
            remixable=remixable,
        )

    def add_text(
        self,
        text: str,
        x: float,
        y: float,
        *,
        size: float = 18,
        style: Mapping[str, Any] | None = None,
        inspired_by: Iterable[str] = (),
        z: str | None = None,
        remixable: bool = False,
    ) -> Action:
        """Write a caption whose baseline starts at ``(x, y)``.

        Example: ``self.add_text("the tide remembers", 40, 300, inspired_by=[event.id])``.
        """
        return self.add(
            "text",
            {"text": text, "size": size},
            x=x,
            y=y,
            style=style,
            inspired_by=inspired_by,
            z=z,
            remixable=remixable,
        )

    def update(self, fragment_id: str, **fields: Any) -> Action:
        """Write some fields of a fragment: ``x``, ``y``, ``geom``, ``style``, ``z``,
        ``inspired_by``, ``remixable``, ``group``, ``start``, ``end``. Someone else's fragment needs their consent
        (``remixable``); the server refuses otherwise.

        Example: ``self.update(my_id, x=120, style={"color": "#ffb35c"})``.
        """
        if not fields:
            raise UsageError("update needs at least one field")
        if "inspired_by" in fields:
            fields["inspired_by"] = _thread_ids(fields["inspired_by"])
        for key, value in fields.items():
            if key not in SETTABLE:
                raise UsageError(f"{key!r} cannot be updated (settable: {', '.join(sorted(SETTABLE))})")
            _check(partial(check_field, key, value, DEFAULT_LIMITS))
        return self._submit(ops.set_fields(fragment_id, self._session.clock.tick(), **fields))

    def delete(self, fragment_id: str) -> Action:
        """Delete a fragment (a write of its ``deleted`` register: it can be restored).

        Example: ``self.delete(my_id)``.
        """
        return self._submit(ops.delete(fragment_id, self._session.clock.tick()))

    def restore(self, fragment_id: str) -> Action:
        """Bring a deleted fragment back. Example: ``self.restore(my_id)``."""
        return self._submit(ops.restore(fragment_id, self._session.clock.tick()))

    def bring_to_front(self, fragment_id: str) -> Action:
        """Paint a fragment above everything else. Example: ``self.bring_to_front(my_id)``."""
        return self.update(fragment_id, z=self.tapestry.z_on_top())

    @contextlib.contextmanager
    def batch(self) -> Iterator[None]:
        """Send every action made inside the block in one ``ops`` message (split only if it
        exceeds the protocol's size limits). Batches nest.

        Example::

            with self.batch():
                for k in range(6):
                    self.add_symbol("star", 50 * k, 0)
        """
        if self._group is not None:
            yield
            return
        self._group = self._session.pending.new_group()
        try:
            yield
        finally:
            group, self._group = self._group, None
            self._session.release(group)

    def show_cursor(self, x: float, y: float) -> None:
        """Show this weaver's cursor at ``(x, y)`` so people see where it works.

        Example: ``self.show_cursor(frag.x, frag.y)``.
        """
        self._session.set_presence(replace(self._session.presence, cursor=(x, y)))

    def hide_cursor(self) -> None:
        """Hide this weaver's cursor. Example: ``self.hide_cursor()``."""
        self._session.set_presence(replace(self._session.presence, cursor=None))

    def select(self, fragment_ids: Iterable[str]) -> None:
        """Show which fragments this weaver is looking at (presence selection).

        Example: ``self.select([event.id])``.
        """
        self._session.set_presence(replace(self._session.presence, sel=tuple(fragment_ids)))

    def _submit(self, op: Op) -> Action:
        held = self._group is not None
        return self._session.submit([op], self._group, held=held)[0]

    # -- running ----------------------------------------------------------------
    def run(self, url: str, sanctuary: str | None = None, *, token: str | None = None) -> None:
        """Connect and weave until Ctrl-C (SIGINT) or SIGTERM; then send what is queued
        and close cleanly. Raises :class:`Closed` if the server ends the connection for good.

        Example: ``Echo().run("http://127.0.0.1:8765", "dreams", token=os.environ.get("TOKEN"))``.
        """
        asyncio.run(self._run_until_signal(url, sanctuary, token))

    async def _run_until_signal(self, url: str, sanctuary: str | None, token: str | None) -> None:
        loop = asyncio.get_running_loop()
        installed = []
        for sig in (signal.SIGINT, signal.SIGTERM):
            with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):
                loop.add_signal_handler(sig, self._session.request_stop)
                installed.append(sig)
        try:
            await self.serve(url, sanctuary, token=token)
        finally:
            for sig in installed:
                loop.remove_signal_handler(sig)

    async def serve(self, url: str, sanctuary: str | None = None, *, token: str | None = None) -> None:
        """Connect and weave until :meth:`stop` (then return) or a final close (then raise
        :class:`Closed`). Reconnects and resumes by itself in between.

        Example::

            task = asyncio.create_task(weaver.serve(server.url, "dreams"))
            ...
            await weaver.stop()
        """
        ws_url, _ = sanctuary_url(url, sanctuary)
        if not self._stopped.is_set():
            raise UsageError("this weaver is already running")
        for message in self._misspelt:
            log.warning(message)
        self._stopped.clear()
        self._session.reset_stop()
        dispatcher = asyncio.create_task(self._dispatch(), name="dreamloom-handlers")
        final: Closed | None = None
        try:
            await self._session.run(ws_url, token)
        except Closed as exc:
            final = exc
            raise
        finally:
            self._session.pending.fail_all(final or Closed(1000, "weaver stopped"))
            owned = [dispatcher, *self._tasks]
            for task in owned:
                task.cancel()
            await asyncio.gather(*owned, return_exceptions=True)
            self._tasks.clear()
            self._events = asyncio.Queue()
            if self._pool is not None:
                self._pool.shutdown(wait=False, cancel_futures=True)
                self._pool = None
            if final is not None and self._session.welcomes:
                # Nothing says "disconnected" to a weaver that never connected: run raises instead.
                await self._deliver_safely(Disconnect(final.code, final.reason, False, 0.0))
            self._stopped.set()

    @contextlib.asynccontextmanager
    async def connect(
        self, url: str, sanctuary: str | None = None, *, token: str | None = None, within: float = 10.0
    ) -> AsyncIterator[Self]:
        """Run the weaver for the duration of an ``async with`` block, entered once the
        sanctuary has welcomed it (and ``on_ready`` has run; TimeoutError after ``within``
        seconds without a welcome). Leaving the block sends what is queued and stops.

        Example::

            async with MyWeaver().connect(server.url, "dreams") as weaver:
                await weaver.add_symbol("moon", 0, 0)
        """
        self._ready.clear()
        task = asyncio.create_task(self.serve(url, sanctuary, token=token), name="dreamloom-weaver")
        ready = asyncio.create_task(self._ready.wait())
        try:
            done, _ = await asyncio.wait((task, ready), timeout=within, return_when=asyncio.FIRST_COMPLETED)
            if task in done:
                task.result()
                raise Closed(1000, "weaver stopped before it was welcomed")
            if ready not in done:
                raise TimeoutError(f"no welcome from {url} within {within}s")
            yield self
        except BaseException:
            await self._shutdown(task)
            raise
        finally:
            ready.cancel()
        await self._shutdown(task)
        task.result()

    async def _shutdown(self, task: asyncio.Task[None]) -> None:
        self._session.request_stop()
        await asyncio.gather(task, return_exceptions=True)

    async def stop(self, *, flush_timeout: float = 5.0) -> None:
        """Send what is queued (waiting at most ``flush_timeout`` seconds for acks), close the
        connection and return once the weaver has stopped.

        Example: ``await weaver.stop()``.
        """
        self._session.request_stop(flush_timeout)
        await self._stopped.wait()

    async def flush(self, within: float = 10.0) -> None:
        """Wait until the server has answered every op sent so far (TimeoutError after ``within`` s).

        Example::

            self.add_symbol("moon", 0, 0)
            await self.flush()
        """
        await asyncio.wait_for(self._session.pending.empty.wait(), within)

    async def wait_until(self, predicate: Callable[[], bool], within: float = 10.0) -> None:
        """Wait until ``predicate()`` is true, checking after every message from the server
        and every local action (TimeoutError after ``within`` seconds).

        Example: ``await weaver.wait_until(lambda: len(weaver.tapestry) >= 3)``.
        """
        loop = asyncio.get_running_loop()
        deadline = loop.time() + within
        while not predicate():
            remaining = deadline - loop.time()
            if remaining <= 0:
                raise TimeoutError(f"condition not met within {within}s")
            await self._session.changed(remaining)

    # The timeout bounds the blocking call, which asyncio.timeout around the await could not name.
    async def run_blocking(
        self,
        fn: Callable[..., T],
        *args: Any,
        timeout: float | None = None,  # noqa: ASYNC109
        process: bool = False,
    ) -> T:
        """Run a blocking call (a local model, a synchronous client library) off the event
        loop and wait for its result: in a thread, or with ``process=True`` in a worker
        process of this weaver (``fn`` and its arguments must then be picklable: a
        module-level function). Meanwhile the connection stays alive and keeps reading the
        sanctuary; other handlers wait their turn as usual. ``timeout`` (seconds) raises
        ``TimeoutError``; the call itself cannot be interrupted and ends in the background.

        Example::

            async def on_fragment_added(self, event: FragmentEvent) -> None:
                words = await self.run_blocking(self.pipeline, event.fragment.geom["text"], timeout=30)
        """
        loop = asyncio.get_running_loop()
        executor = self._process_pool() if process else None
        return await asyncio.wait_for(loop.run_in_executor(executor, partial(fn, *args)), timeout)

    def _process_pool(self) -> ProcessPoolExecutor:
        if self._pool is None:
            self._pool = ProcessPoolExecutor(max_workers=1)
        return self._pool

    def spawn(self, coro: Coroutine[Any, Any, Any]) -> asyncio.Task[Any]:
        """Run ``coro`` beside the handlers; it is cancelled when the weaver stops.

        Example: ``self.spawn(self.slow_model_call(event.fragment))``.
        """
        task = asyncio.create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._task_done)
        return task

    def _task_done(self, task: asyncio.Task[Any]) -> None:
        self._tasks.discard(task)
        error = None if task.cancelled() else task.exception()
        if not isinstance(error, Exception) or self._stopped.is_set():
            return
        # A failed spawned task is a failed handler by another road: on_handler_error hears of it.
        report = asyncio.get_running_loop().create_task(self._handler_failed(error, task))
        self._tasks.add(report)
        report.add_done_callback(self._tasks.discard)

    # -- dispatch ---------------------------------------------------------------
    def _emit(self, event: Event) -> None:
        self._events.put_nowait(event)

    async def _dispatch(self) -> None:
        while True:
            event = await self._events.get()
            await self._deliver_safely(event)
            if isinstance(event, Ready):
                self._ready.set()

    async def _deliver_safely(self, event: Event) -> None:
        for handler in self._handlers_of(event):
            try:
                result = handler(event)
                if inspect.isawaitable(result):
                    await result  # a handler written as a plain def has run already
            except Exception as exc:
                await self._handler_failed(exc, event)

    async def _handler_failed(self, error: Exception, event: object) -> None:
        try:
            result = self.on_handler_error(error, event)
            if inspect.isawaitable(result):
                await result
        except Exception:
            log.exception("on_handler_error failed")

    def _handlers_of(self, event: Event) -> list[Callable[[Any], Any]]:
        match event:
            case Ready():
                return [self.on_ready]
            case FragmentEvent():
                named = {"added": self.on_fragment_added, "restored": self.on_fragment_added}
                first = named.get(event.action) or (
                    self.on_fragment_changed if event.action == "changed" else self.on_fragment_deleted
                )
                chosen = [getattr(self, name) for name, flt in self._fragment_handlers if flt.matches(event)]
                return [first, *chosen]
            case PeerEvent(action="joined"):
                return [self.on_peer_joined]
            case PeerEvent(action="left"):
                return [self.on_peer_left]
            case PeerEvent():
                return [self.on_presence]
            case PolicyChange():
                return [self.on_policy]
            case Disconnect():
                return [self.on_disconnect]
            case ServerError():
                return [self.on_server_error]
            case Rejected():
                return [self.on_rejected]


def _thread_ids(inspired_by: Any) -> list[str]:
    # A lone id is a string, and a string is iterable: without this, "f-1" would become
    # five threads to fragments named "f", "-", "1"...
    if isinstance(inspired_by, (str, bytes)) or not isinstance(inspired_by, Iterable):
        raise UsageError(f"inspired_by must be a list of fragment ids, got {inspired_by!r} (write [{inspired_by!r}])")
    ids = list(inspired_by)
    for item in ids:
        if not isinstance(item, str):
            raise UsageError(f"inspired_by holds fragment ids (strings), got {item!r}")
    return ids


def _check_geom(kind: str, geom: Mapping[str, Any]) -> None:
    if kind == "symbol":
        sym = geom.get("sym")
        catalogue = load_symbols()
        if isinstance(sym, str) and sym not in catalogue:
            close = difflib.get_close_matches(sym.lower(), sorted(catalogue), n=3, cutoff=0.5)
            hint = f"did you mean {', '.join(close)}?" if close else "the catalogue: GET /api/symbols"
            raise UsageError(f"{sym!r} is not a dream symbol of the catalogue: {hint}")
    elif kind == "text":
        text = geom.get("text")
        if isinstance(text, str) and not text.strip():
            raise UsageError("a caption needs some text (it is empty)")
    elif kind == "stroke" and "points" in geom and "pts" not in geom:
        raise UsageError("a stroke's geometry names its points 'pts' (add_stroke takes them as 'points')")


def _check(validate: Callable[[], object]) -> None:
    try:
        validate()
    except DecodeError as exc:
        raise UsageError(exc.reason) from None
