"""One node of a cluster: leases, the bus channels, heartbeats and cluster-wide events (SPEC B4-B9).

Theory of operation:

1. One owner per sanctuary (B4). A node runs a sanctuary only while it holds the
   lease ``lease:<sanctuary>`` on the bus (``SET NX PX``), renewed every third of
   its time. On taking the lease it claims a new owner epoch in the store (S7)
   and only then loads the sanctuary: every append names that epoch, so once a
   newer owner has claimed, a former one that was paused or cut off commits
   nothing. A node that fails to renew shuts the sanctuary down.
2. Any node serves any client (B6). A connection to a sanctuary owned elsewhere
   joins a :class:`~.remote.RemoteRoom`; the owner holds a
   :class:`~.remote.RemoteMember` for it. Messages go on the channel
   ``node:<id>`` of the receiving node, published in order by one sender task.
3. Heartbeats (B7). Every third of the lease time each node writes its census
   (its connections per sanctuary) under ``census:<id>`` with the lease time
   to live, reads everyone's, and tells each node with members in a sanctuary it
   owns the last committed seq (``tail``). A node whose census expired is dead:
   its owner sheds its remote members (their presence goes with them), and its
   clients' rooms close their connections with 1001 so that they resume by seq
   wherever they reconnect, within the lease time.
4. Cluster-wide state (B8). Rules (policy, bans, mutes, roles) live in the
   store; a node that persists a change says so on the ``cluster`` channel and
   every node reloads them, closes its own connections that a ban shuts out,
   and the owner announces the new policy. A revocation is said on the same
   channel: every node adds it and closes the token's connections at once.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import secrets
from collections.abc import Coroutine
from typing import TYPE_CHECKING, Any

import msgpack

from dreamloom.protocol import CloseCode, Hello, Identity, OpError, Peer, PeersRequest, PresenceState
from dreamloom.protocol.validate import check_op

from ..auth import Claims
from ..bus import Bus
from ..hub import Elsewhere, Hub
from ..member import Entrance, Member
from ..sanctuary import Sanctuary, SanctuaryClosed, SanctuaryFull
from ..store import Store
from .fenced import FencedStore
from .remote import Outbox, RemoteMember, RemoteRoom

if TYPE_CHECKING:
    from ..config import ServerConfig
    from ..metrics import Metrics
    from ..stewardship import Stewardship

log = logging.getLogger("dreamloom.cluster")

CLUSTER = "cluster"
#: Messages sent in one round trip to the bus at most (those waiting when the sender is free).
PUBLISH_BATCH = 256


def _pack(message: dict[str, Any]) -> bytes:
    return msgpack.packb(message, use_bin_type=True)  # type: ignore[no-any-return]


class ClusterNode:
    """This node's part in the cluster: the hub's :class:`~..hub.Placement`, and the bus's two ends."""

    def __init__(
        self, bus: Bus, store: Store, config: ServerConfig, metrics: Metrics, node_id: str | None = None
    ) -> None:
        self.bus = bus
        self.store = store
        self.config = config
        self.metrics = metrics
        self.node_id = node_id or config.node_id or secrets.token_hex(6)
        self.lease_ttl = config.lease_ttl
        self.beat = config.lease_ttl / 3
        self.join_timeout = max(1.0, config.lease_ttl / 2)
        self.hub: Hub | None = None
        self.stewardship: Stewardship | None = None
        self._owned: dict[str, FencedStore] = {}
        self._rooms: dict[str, RemoteRoom] = {}
        self._proxies: dict[tuple[str, str], RemoteMember] = {}  # (sanctuary, sid) -> member
        self._outboxes: dict[str, Outbox] = {}
        self._census: dict[str, dict[str, int]] = {}
        self._waiting: dict[int, asyncio.Future[dict[str, Any]]] = {}
        self._requests = itertools.count(1)
        self._outq: asyncio.Queue[tuple[str, bytes]] = asyncio.Queue()
        self._tasks: set[asyncio.Task[Any]] = set()
        self._loops: list[asyncio.Task[None]] = []
        self.healed_ops = 0
        #: Fault injection for tests: a node cut off from the bus (as if frozen, or partitioned) sends
        #: nothing, renews nothing and loses what it receives; ``lost`` counts those messages.
        self.paused = False
        self.lost = 0
        self.lost_one = asyncio.Event()

    def attach(self, hub: Hub, stewardship: Stewardship) -> None:
        """Given by the composition root once both exist."""
        self.hub = hub
        self.stewardship = stewardship
        stewardship.rules.listeners.append(self._rules_changed)
        stewardship.revocations.listeners.append(self._revoked)

    # -- life -------------------------------------------------------------------
    async def start(self) -> None:
        await self._heartbeat()  # visible to the others before it serves anyone
        node_channel = await self.bus.subscribe(f"node:{self.node_id}")
        cluster_channel = await self.bus.subscribe(CLUSTER)
        self._loops = [
            asyncio.create_task(self._read(node_channel), name="cluster-node-channel"),
            asyncio.create_task(self._read(cluster_channel), name="cluster-channel"),
            asyncio.create_task(self._publisher(), name="cluster-publisher"),
            asyncio.create_task(self._beats(), name="cluster-beats"),
        ]

    async def stop(self) -> None:
        """After the hub closed: connections through other owners close with 1001, leases are given up."""
        for room in list(self._rooms.values()):
            room.abandon("server restarting")
        for name in list(self._owned):
            self._owned.pop(name, None)
            with contextlib.suppress(Exception):
                await self.bus.release(f"lease:{name}", self.node_id)
        with contextlib.suppress(Exception):
            await asyncio.wait_for(self._drain(), timeout=2.0)
        for task in [*self._loops, *self._tasks]:
            task.cancel()
        for task in [*self._loops, *self._tasks]:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task

    async def _drain(self) -> None:
        await self._outq.join()

    def _spawn(self, coro: Coroutine[Any, Any, Any]) -> None:
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    # -- Placement (what the hub asks) -------------------------------------------
    async def take(self, name: str) -> Store:
        key = f"lease:{name}"
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.lease_ttl + self.beat
        while True:
            holder = self.node_id if await self.bus.acquire(key, self.node_id, self.lease_ttl) else None
            holder = holder or await self.bus.holder(key)
            # Held by this node already (a sanctuary unloading here while it is asked for again):
            # renewed, unless it ran out a moment ago.
            if holder == self.node_id:
                if not await self.bus.renew(key, self.node_id, self.lease_ttl):
                    continue
                # Claimed before loading: whatever the former owner committed is in what we load,
                # and nothing it tries to commit from now on is accepted (S7).
                epoch = await self.store.claim(name)
                info = await self.store.get_sanctuary(name)
                fenced = FencedStore(self.store, epoch, info.last_seq if info is not None else 0)
                self._owned[name] = fenced
                log.info("node %s owns sanctuary %s (epoch %d)", self.node_id, name, epoch)
                return fenced
            if holder is not None and (holder in self._census or loop.time() >= deadline):
                raise Elsewhere(name, holder)
            # Free a moment ago, or held by a node that stopped beating: its lease runs out soon.
            await asyncio.sleep(min(0.1, self.beat))

    def released(self, name: str) -> None:
        if self._owned.pop(name, None) is not None:
            self._spawn(self._release(name))

    async def _release(self, name: str) -> None:
        if name not in self._owned:  # taken again meanwhile: keep the lease
            await self.bus.release(f"lease:{name}", self.node_id)

    async def remote(self, name: str, owner: str) -> Entrance:
        room = self._rooms.get(name)
        if room is not None and (room.owner != owner or room.closed):
            room.abandon("the sanctuary moved to another node")
            room = None
        if room is None:
            room = self._rooms[name] = RemoteRoom(self, name, owner, self.config.limits)
        return room

    def participants(self, name: str) -> int | None:
        if not self._census:
            return None
        counted = sum(counts.get(name, 0) for counts in self._census.values())
        return max(counted, self._local_count(name))

    # -- what rooms ask of their node -------------------------------------------------
    def send(self, node: str, message: dict[str, Any]) -> None:
        if not self.paused:
            message["from"] = self.node_id
            self._outq.put_nowait((f"node:{node}", _pack(message)))

    async def request(self, node: str, message: dict[str, Any], within: float) -> dict[str, Any]:
        number = next(self._requests)
        message["req"] = number
        answer: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self._waiting[number] = answer
        try:
            self.send(node, message)
            return await asyncio.wait_for(answer, within)
        finally:
            self._waiting.pop(number, None)

    def forget(self, room: RemoteRoom) -> None:
        if self._rooms.get(room.name) is room:
            del self._rooms[room.name]

    def healed(self, ops: int) -> None:
        self.healed_ops += ops
        self.metrics.bus_ops_healed.inc(ops)

    # -- the bus ------------------------------------------------------------------------
    async def _publisher(self) -> None:
        # One task publishes everything, one message after the other: the order of a node's
        # messages on a channel is the order they were sent (B1).
        while True:
            batch = [await self._outq.get()]
            while not self._outq.empty() and len(batch) < PUBLISH_BATCH:
                batch.append(self._outq.get_nowait())
            try:
                await self.bus.publish_many(batch)
            except Exception:
                log.exception("publishing %d messages failed; the receivers heal from the store", len(batch))
            finally:
                for _ in batch:
                    self._outq.task_done()

    async def _read(self, subscription: Any) -> None:
        async for data in subscription:
            if self.paused:
                self.lost += 1
                self.lost_one.set()
                continue
            try:
                message = msgpack.unpackb(data, raw=False)
                await self._dispatch(message)
            except Exception:
                log.exception("node %s could not handle a bus message", self.node_id)

    async def _dispatch(self, message: dict[str, Any]) -> None:
        kind = message.get("k")
        if kind == "out" or kind == "tail":
            room = self._rooms.get(message["s"])
            if room is not None and room.owner == message.get("from"):
                room.deliver(message)
        elif kind == "answer":
            waiting = self._waiting.get(message["req"])
            if waiting is not None and not waiting.done():
                waiting.set_result(message)
        elif kind == "join":
            self._spawn(self._on_join(message))
        elif kind == "submit":
            self._on_submit(message)
        elif kind == "presence":
            self._on_presence(message)
        elif kind == "peers":
            self._on_peers(message)
        elif kind == "leave":
            self._on_leave(message["s"], message["sid"])
        elif kind == "rules":
            await self._on_rules(message)
        elif kind == "revoke":
            self._on_revoke(message["jti"])

    # -- owner side -----------------------------------------------------------------------
    def _owned_sanctuary(self, name: str) -> Sanctuary | None:
        if name not in self._owned or self.hub is None:
            return None
        return self.hub.loaded(name)

    async def _on_join(self, message: dict[str, Any]) -> None:
        origin, name = message["from"], message["s"]
        answer: dict[str, Any] = {"k": "answer", "req": message["req"], "error": None}
        limits = self.config.limits
        outbox = self._outboxes.get(origin)
        if outbox is None:
            outbox = self._outboxes[origin] = Outbox(origin, self.send)
        claims = message["claims"]
        member = RemoteMember(
            name,
            origin,
            outbox,
            sid=message["sid"],
            replica=message["replica"],
            identity=Identity.from_wire(message["identity"], limits),
            peer=Peer.from_wire(message["peer"], limits),
            presence=PresenceState.from_fields(message["presence"], limits),
            claims=Claims(**claims) if claims is not None else None,
            issued_token=message["token"],
            codec_name=message["codec"],
        )
        try:
            sanctuary = self._owned_sanctuary(name)
            if sanctuary is None:
                # Ours only if the hub can take it here; otherwise the joiner asks again.
                assert self.hub is not None
                sanctuary = await self.hub.sanctuary(name, whole=False)
            self._proxies[(name, member.sid)] = member
            await sanctuary.join(member, Hello.from_wire(message["hello"], limits))
        except SanctuaryFull:
            answer["error"] = "full"
        except OpError as exc:
            answer["error"] = [exc.code.value, exc.reason]
        except (SanctuaryClosed, Elsewhere, Exception) as exc:
            if not isinstance(exc, (SanctuaryClosed, Elsewhere)):
                log.exception("remote join to %s failed", name)
            answer["error"] = "closed"
        if answer["error"] is not None:
            self._proxies.pop((name, member.sid), None)
        self.send(origin, answer)

    def _proxy(self, message: dict[str, Any]) -> tuple[Sanctuary, RemoteMember] | None:
        name, sid = message["s"], message["sid"]
        member = self._proxies.get((name, sid))
        if member is None or member.node != message.get("from"):
            return None
        sanctuary = self._owned_sanctuary(name)
        if sanctuary is None:
            # It unloaded or moved: the connection must find the new owner.
            self._proxies.pop((name, sid), None)
            member.close(CloseCode.GOING_AWAY, "the sanctuary moved: reconnect and resume")
            return None
        return sanctuary, member

    def _on_submit(self, message: dict[str, Any]) -> None:
        found = self._proxy(message)
        if found is not None:
            limits = self.config.limits
            # Checked already by the connection's node; the wire form is re-read, not trusted blindly.
            found[0].submit(found[1], tuple(check_op(op, limits) for op in message["ops"]))

    def _on_presence(self, message: dict[str, Any]) -> None:
        found = self._proxy(message)
        if found is not None:
            found[1].presence = PresenceState.from_fields(message["state"], self.config.limits)
            found[0].presence_changed(found[1])

    def _on_peers(self, message: dict[str, Any]) -> None:
        found = self._proxy(message)
        after = message.get("after")
        if found is not None and (after is None or type(after) is str):
            found[0].request_peers(found[1], PeersRequest(after))

    def _on_leave(self, name: str, sid: str) -> None:
        member = self._proxies.pop((name, sid), None)
        sanctuary = self._owned_sanctuary(name)
        if member is not None and sanctuary is not None:
            sanctuary.leave(member)

    # -- heartbeats ---------------------------------------------------------------------------
    async def _beats(self) -> None:
        while True:
            await asyncio.sleep(self.beat)
            if self.paused:
                continue
            try:
                await self._heartbeat()
                await self._renew()
                self._shed_the_dead()
                self._announce_tails()
            except Exception:
                log.exception("node %s: heartbeat failed", self.node_id)

    def _local_count(self, name: str) -> int:
        room = self._rooms.get(name)
        if room is not None:
            return len(room.members)
        sanctuary = self._owned_sanctuary(name)
        if sanctuary is None:
            return 0
        return sum(1 for m in sanctuary.members.values() if not isinstance(m, RemoteMember))

    async def _heartbeat(self) -> None:
        names = set(self._rooms) | set(self._owned)
        counts = {name: n for name in names if (n := self._local_count(name))}
        await self.bus.put(f"census:{self.node_id}", _pack(counts), self.lease_ttl)
        census = await self.bus.scan("census:")
        self._census = {node: msgpack.unpackb(value, raw=False) for node, value in census.items()}

    async def _renew(self) -> None:
        for name in list(self._owned):
            if not await self.bus.renew(f"lease:{name}", self.node_id, self.lease_ttl):
                log.warning("node %s lost the lease of %s; shutting it down here", self.node_id, name)
                self._owned.pop(name, None)
                sanctuary = self.hub.loaded(name) if self.hub is not None else None
                if sanctuary is not None:
                    self._spawn(sanctuary.shutdown())

    def _shed_the_dead(self) -> None:
        alive = self._census
        for (name, sid), member in list(self._proxies.items()):
            if member.node not in alive:
                del self._proxies[(name, sid)]
                sanctuary = self._owned_sanctuary(name)
                if sanctuary is not None:
                    sanctuary.leave(member)
        for room in list(self._rooms.values()):
            if room.owner not in alive:
                room.abandon("the node running this sanctuary stopped")

    def _announce_tails(self) -> None:
        nodes_of: dict[str, set[str]] = {}
        for name, sid in self._proxies:
            nodes_of.setdefault(name, set()).add(self._proxies[(name, sid)].node)
        for name, nodes in nodes_of.items():
            fenced = self._owned.get(name)
            if fenced is None:
                continue
            for node in nodes:
                self.send(node, {"k": "tail", "s": name, "seq": fenced.committed})

    # -- cluster-wide state (B8) -----------------------------------------------------------------
    def _rules_changed(self, name: str) -> None:
        self._broadcast({"k": "rules", "s": name})

    def _revoked(self, jti: str) -> None:
        self._broadcast({"k": "revoke", "jti": jti})

    def _broadcast(self, message: dict[str, Any]) -> None:
        message["from"] = self.node_id
        self._outq.put_nowait((CLUSTER, _pack(message)))

    def _local_members(self, name: str | None = None) -> list[Member]:
        out: list[Member] = []
        for room in self._rooms.values():
            if name is None or room.name == name:
                out.extend(room.members.values())
        if self.hub is not None:
            for sanctuary in self.hub.live():
                if name is None or sanctuary.name == name:
                    out.extend(m for m in sanctuary.members.values() if not isinstance(m, RemoteMember))
        return out

    async def _on_rules(self, message: dict[str, Any]) -> None:
        assert self.stewardship is not None
        name = message["s"]
        rules = await self.stewardship.rules.reload(name)
        for member in self._local_members(name):
            if member.identity.id in rules.banned:
                member.close(CloseCode.BANNED, "a steward banned you from this sanctuary")
        sanctuary = self._owned_sanctuary(name)
        if sanctuary is not None and message.get("from") != self.node_id:
            owner = sanctuary

            async def announce() -> None:
                owner.broadcast_policy()

            with contextlib.suppress(SanctuaryClosed):
                await sanctuary.call(announce)

    def _on_revoke(self, jti: str) -> None:
        assert self.stewardship is not None
        self.stewardship.revocations.remember(jti)
        for member in self._local_members():
            claims = member.claims
            if claims is not None and claims.jti == jti:
                member.close(CloseCode.REVOKED, "your token was revoked")
