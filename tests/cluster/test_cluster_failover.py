"""Ownership moving between nodes: a paused owner is fenced, a killed one replaced (SPEC B4, B7, S7)."""

from __future__ import annotations

import asyncio

from cluster_kit import LEASE, Cluster, cluster_node
from server_kit import Wire

from dreamloom.protocol import CloseCode


async def test_B4_S7_a_paused_owner_can_never_commit_after_another_node_took_over(cluster: Cluster, wire: Wire) -> None:
    first, second = await cluster.node(), await cluster.node()
    a = await wire.join(first.ws_url("garden"))
    assert await a.wait_acked(await a.send_ops(a.symbol("before"))) == {1: 1}
    paused = cluster_node(first)
    assert "garden" in paused._owned
    # The owner stops renewing and hearing the bus, as a frozen process would; its
    # sanctuary and its client's socket stay alive, and PostgreSQL still answers it.
    paused.paused = True
    b = await wire.join(second.ws_url("garden"))
    assert "garden" in cluster_node(second)._owned
    assert b.seq == 1
    # The former owner now admits an op and tries to commit seq 2 with its old epoch.
    late = a.symbol("too-late")
    await a.send_ops(late)
    assert await a.wait_closed() == CloseCode.INTERNAL_ERROR
    assert late.stamp.counter not in a.acks
    store = second.services.store
    assert [e.seq for e in await store.read_ops("garden", 0)] == [1]
    # The new owner goes on from seq 2; the refused op, resent as it was, gets the next seq, once.
    assert list((await b.wait_acked(await b.send_ops(b.symbol("after")))).values()) == [2]
    again = await wire.resume(second.ws_url("garden"), a)
    await again.send_ops(late)
    assert await again.wait_acked([late.stamp.counter]) == {late.stamp.counter: 3}
    log = await store.read_ops("garden", 0)
    assert [e.seq for e in log] == [1, 2, 3]
    assert len({e.op.stamp for e in log}) == 3


async def test_B7_when_the_owner_stops_its_clients_on_other_nodes_resume_on_a_new_owner(
    cluster: Cluster, wire: Wire
) -> None:
    first, second = await cluster.node(), await cluster.node()
    a = await wire.join(first.ws_url("garden"))
    b = await wire.join(second.ws_url("garden"))
    assert "garden" in cluster_node(first)._owned
    await b.wait_acked(await b.send_ops(b.symbol("one")))
    started = asyncio.get_running_loop().time()
    await first.stop()  # graceful: its clients and the other nodes' are told 1001
    assert await a.wait_closed() == CloseCode.GOING_AWAY
    assert await b.wait_closed(within=2 * LEASE) == CloseCode.GOING_AWAY
    back = await wire.resume(second.ws_url("garden"), b)
    took = asyncio.get_running_loop().time() - started
    assert "garden" in cluster_node(second)._owned
    assert took <= 5.0, took
    await back.wait_acked(await back.send_ops(back.symbol("two")))
    assert [e.seq for e in await second.services.store.read_ops("garden", 0)] == [1, 2]
