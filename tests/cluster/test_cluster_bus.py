"""A node that loses bus messages heals from the store (SPEC B1, B5).

Redis pub/sub drops what a subscriber misses while cut off; on a shared Redis that cannot be
caused on demand (redis-py reconnects and resubscribes within milliseconds), so the node is
cut off by its fault-injection switch: what reaches it meanwhile is lost, as on a real cut.
"""

from __future__ import annotations

import asyncio

from cluster_kit import Cluster, cluster_node
from server_kit import Wire
from wire import scaled


async def test_B5_ops_lost_on_the_bus_are_back_filled_from_the_store_in_order(cluster: Cluster, wire: Wire) -> None:
    owner, other = await cluster.node(), await cluster.node()
    writer = await wire.join(owner.ws_url("garden"))
    reader = await wire.join(other.ws_url("garden"))
    assert "garden" in cluster_node(owner)._owned
    await writer.wait_acked(await writer.send_ops(writer.symbol("first")))
    await reader.wait_seq(1)
    cut = cluster_node(other)
    cut.paused = True
    acked = await writer.wait_acked(await writer.send_ops(*(writer.symbol(f"lost-{i}") for i in range(5))))
    assert sorted(acked.values()) == [2, 3, 4, 5, 6]
    await asyncio.wait_for(cut.lost_one.wait(), scaled(5))
    cut.paused = False
    assert reader.seq == 1  # the ops frames never reached it
    # Healed by the owner's next heartbeat (its committed tail), or by the next frame's seq.
    await reader.wait_seq(6, within=10)
    assert reader.gaps == []  # handed over in order, nothing skipped
    assert reader.tapestry.encode() == writer.tapestry.encode()
    assert cut.healed_ops == 5


async def test_B5_a_gap_seen_in_the_next_frame_is_filled_before_it(cluster: Cluster, wire: Wire) -> None:
    owner, other = await cluster.node(lease_ttl=30), await cluster.node(lease_ttl=30)  # no heartbeat in between
    writer = await wire.join(owner.ws_url("garden"))
    reader = await wire.join(other.ws_url("garden"))
    cut = cluster_node(other)
    cut.paused = True
    await writer.wait_acked(await writer.send_ops(writer.symbol("lost")))
    await asyncio.wait_for(cut.lost_one.wait(), scaled(5))
    cut.paused = False
    await writer.wait_acked(await writer.send_ops(writer.symbol("seen")))
    await reader.wait_seq(2)
    assert reader.gaps == []
    assert [m.seq for m in reader.broadcasts] == [1, 2]
    assert cut.healed_ops == 1
