"""kill -9 of the owner node mid-write, with ``dreamloom serve`` subprocesses (SPEC B4, B7, S1, S7).

Three nodes, six writers spread over them. The owner is killed while every writer has ops in
flight; each writer reconnects to a live node, resumes by seq and resends what was not
acknowledged (W9); a fresh node replaces the dead one, and the new owner is killed in turn, three
times. Then: no acknowledged op lost, seqs contiguous, no stamp twice, every client
byte-identical to the others and to a replay of the log, and the sanctuary served again within
5 s of each kill.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
from dataclasses import dataclass, field

from cluster_kit import Cluster, Node
from server_kit import Wire
from wire import WireClient, scaled

from dreamloom.protocol import Op, Stamp, Tapestry
from dreamloom.server.bus.redis import RedisBus
from dreamloom.server.store.postgres import PostgresStore

WRITERS = 6
KILLS = 3


@dataclass
class Writer:
    """One client that keeps writing, and what the cluster acknowledged to it."""

    index: int
    client: WireClient
    acked: dict[Stamp, int] = field(default_factory=dict)
    fragments: list[str] = field(default_factory=list)
    reconnects: int = 0
    last_ack: float = 0.0  # loop time of its latest ack
    #: Loop time at which the latest acknowledged batch was sent: an ack of a batch sent after a kill
    #: proves a live owner, whereas an ack already on its way when the owner died proves nothing.
    last_acked_send: float = 0.0


async def test_B7_kill_9_of_the_owner_mid_write_loses_no_acknowledged_op(cluster: Cluster, wire: Wire) -> None:
    nodes = [await cluster.process() for _ in range(3)]
    writers = []
    for i in range(WRITERS):
        client = await wire.join(nodes[i % 3].ws_url("garden"))
        writers.append(Writer(i, client))
    bus = RedisBus(cluster.redis)
    await bus.open()
    store = PostgresStore(cluster.pg)
    await store.open()
    stop = asyncio.Event()
    tasks: list[asyncio.Task[None]] = []
    try:
        alive = list(nodes)
        rng = random.Random(1307)
        loop = asyncio.get_running_loop()
        tasks += [asyncio.create_task(write(w, wire, alive, stop, rng)) for w in writers]
        takeovers: list[tuple[str, str, float]] = []
        for _ in range(KILLS):
            owner_id = await bus.holder("lease:garden")
            owner = next(n for n in alive if n.node_id == owner_id)
            alive.remove(owner)  # writers reconnect to the others
            target = sum(len(w.acked) for w in writers) + 60
            await until(lambda t=target: sum(len(w.acked) for w in writers) >= t, "60 acks before the kill", tasks)
            owner.kill()
            killed_at = loop.time()
            await until(
                lambda k=killed_at: all(w.last_acked_send > k for w in writers), "every writer acked again", tasks
            )
            new_owner = await bus.holder("lease:garden")
            assert new_owner is not None
            assert new_owner != owner_id
            takeovers.append((owner_id or "", new_owner, max(w.last_ack for w in writers) - killed_at))
            alive.append(await cluster.process())
        stop.set()
        await asyncio.gather(*tasks)
        log = await store.read_ops("garden", 0)
        # Seqs contiguous, each stamp once, every acknowledged op at the seq it was acknowledged with.
        assert [e.seq for e in log] == list(range(1, len(log) + 1))
        assert len({e.op.stamp for e in log}) == len(log)
        at = {e.op.stamp: e.seq for e in log}
        acked = {s: q for w in writers for s, q in w.acked.items()}
        lost = {s: q for s, q in acked.items() if at.get(s) != q}
        assert not lost, lost
        # Every client converges on the same bytes, equal to a replay of the log.
        for w in writers:
            await w.client.wait_seq(len(log), within=10)
        replay = Tapestry()
        for entry in log:
            replay.apply(entry.op)
        assert {w.client.tapestry.encode() for w in writers} == {replay.encode()}
        for killed, took_over, took in takeovers:
            print(f"\nfailover: {killed} killed, {took_over} took over, every writer acked again within {took:.2f} s")
        print(
            f"failover: {KILLS} kills, {len(acked)} acked ops checked, {len(log)} in the log, "
            f"{sum(w.reconnects for w in writers)} reconnects"
        )
        assert max(t for _, _, t in takeovers) <= 5.0, takeovers
    finally:
        stop.set()  # a failed check must not leave writers reconnecting while the nodes stop
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        await store.close()
        await bus.close()


async def until(predicate: object, what: str, tasks: list[asyncio.Task[None]]) -> None:
    async def check() -> None:
        while not predicate():  # type: ignore[operator]
            for task in tasks:
                if task.done():
                    task.result()  # a writer failed: show why
            await asyncio.sleep(0.05)  # progress of several tasks: no single event to wait on

    await asyncio.wait_for(check(), scaled(30))


async def write(w: Writer, wire: Wire, alive: list[Node], stop: asyncio.Event, rng: random.Random) -> None:
    pending: list[Op] = []
    rounds = 0
    while not stop.is_set() and rounds < 10_000:
        rounds += 1
        client = w.client
        if not pending:
            pending = next_ops(w, client, rng)
        sent_at = asyncio.get_running_loop().time()
        try:
            await client.send_ops(*pending)
            await client.wait_settled([op.stamp.counter for op in pending], within=3)
        except Exception:
            w.client = await reconnect(w, wire, alive)
            continue
        for op in pending:
            counter = op.stamp.counter
            assert counter not in client.rejects, client.rejects[counter]
            w.acked[op.stamp] = client.acks[counter]
            if op.t == "c":
                w.fragments.append(op.id)
        pending = []
        w.last_ack = asyncio.get_running_loop().time()
        w.last_acked_send = sent_at


def next_ops(w: Writer, client: WireClient, rng: random.Random) -> list[Op]:
    out = []
    for _ in range(rng.randint(1, 4)):
        if w.fragments and rng.random() < 0.5:
            out.append(client.set(rng.choice(w.fragments), x=rng.uniform(0, 900)))
        else:
            fid = f"{client.replica}-{len(w.acked) + len(out)}"
            out.append(client.symbol(fid, x=rng.uniform(0, 900), y=rng.uniform(0, 900)))
    return out


async def reconnect(w: Writer, wire: Wire, alive: list[Node]) -> WireClient:
    old = w.client
    for attempt in range(40):
        node = alive[(w.index + attempt) % len(alive)]
        with contextlib.suppress(Exception):
            await old.close()
        try:
            client = await wire.resume(node.ws_url("garden"), old)
        except Exception:
            continue
        w.reconnects += 1
        return client
    raise AssertionError(f"writer {w.index} found no node to resume on")
