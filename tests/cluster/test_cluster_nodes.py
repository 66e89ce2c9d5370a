"""Several in-process nodes on the real PostgreSQL and Redis: one tapestry (SPEC B4-B8)."""

from __future__ import annotations

import asyncio
import random

import aiohttp
import pytest
from cluster_kit import LEASE, Cluster, cluster_node
from server_kit import Wire
from wire import WireClient

from dreamloom.protocol import JSON, MSGPACK, CloseCode, Leave, PeersPresence, PolicyUpdate, Tapestry
from dreamloom.server.auth import ALL_SANCTUARIES
from dreamloom.server.stewardship import StewardshipError


async def converged(clients: list[WireClient], seq: int) -> None:
    for client in clients:
        await client.wait_seq(seq)


def random_ops(client: WireClient, rng: random.Random, mine: list[str], count: int) -> list:  # type: ignore[type-arg]
    out = []
    for _ in range(count):
        roll = rng.random()
        if roll < 0.4 or not mine:
            fid = f"{client.replica}-{len(mine)}"
            mine.append(fid)
            out.append(client.symbol(fid, x=rng.uniform(0, 500), y=rng.uniform(0, 500)))
        elif roll < 0.85:
            out.append(client.set(rng.choice(mine), x=rng.uniform(0, 500)))
        else:
            out.append(client.delete(rng.choice(mine)))
    return out


async def test_B6_clients_spread_over_three_nodes_converge_byte_identically(cluster: Cluster, wire: Wire) -> None:
    nodes = [await cluster.node() for _ in range(3)]
    clients = [await wire.join(nodes[i % 3].ws_url("garden"), codec=JSON if i % 2 else MSGPACK) for i in range(6)]
    owners = {cluster_node(n).node_id for n in nodes if "garden" in cluster_node(n)._owned}
    assert len(owners) == 1, owners  # one serialization point (B4)
    rng = random.Random(1306)
    mine: dict[str, list[str]] = {c.replica: [] for c in clients}
    sent: dict[WireClient, list[int]] = {c: [] for c in clients}
    for _ in range(5):
        for client in clients:
            sent[client] += await client.send_ops(*random_ops(client, rng, mine[client.replica], 6))
    seqs = []
    for client, counters in sent.items():
        seqs += (await client.wait_acked(counters)).values()
    assert sorted(seqs) == list(range(1, len(seqs) + 1))  # every seq given once, none skipped
    await converged(clients, len(seqs))
    states = {c.tapestry.encode() for c in clients}
    assert len(states) == 1
    assert all(not c.gaps for c in clients), [c.gaps for c in clients]
    # Equal to a replay of the shared log.
    store = nodes[0].services.store
    replay = Tapestry()
    for entry in await store.read_ops("garden", 0):
        replay.apply(entry.op)
    assert replay.encode() in states


async def test_B6_a_cursor_on_one_node_reaches_a_client_on_another(cluster: Cluster, wire: Wire) -> None:
    first, second = await cluster.node(), await cluster.node()
    here = await wire.join(first.ws_url("garden"))
    there = await wire.join(second.ws_url("garden"))
    await there.presence(cursor=[12.5, 40.0])

    assert there.welcome is not None
    sid = there.welcome.sid

    def moved() -> bool:
        return any(p.sid == sid and p.state.cursor == (12.5, 40.0) for m in here.presences for p in m.peers)

    await here.wait_for(moved, "the cursor of the other node's client")
    assert isinstance(here.presences[-1], PeersPresence)


async def test_B8_a_revocation_closes_the_tokens_sockets_on_every_node_within_a_second(
    cluster: Cluster, wire: Wire
) -> None:
    first, second = await cluster.node(), await cluster.node()
    authority = first.services.stewardship.authority
    token, claims = authority.issue(role="dreamer", sanctuary="garden", name="ana")
    # Both nodes accept the token: they share the signing secret kept in PostgreSQL.
    on_first = await wire.open(first.ws_url("garden"))
    on_first.token = token
    await on_first.hello()
    on_second = await wire.open(second.ws_url("garden"))
    on_second.token = token
    await on_second.hello()
    other = await wire.join(second.ws_url("garden"))
    _, steward = authority.issue(role="steward", sanctuary=ALL_SANCTUARIES, name="op")
    started = asyncio.get_running_loop().time()
    await second.services.stewardship.acts.revoke("garden", steward, claims.jti)
    assert await on_first.wait_closed(within=1.0) == CloseCode.REVOKED
    assert await on_second.wait_closed(within=1.0) == CloseCode.REVOKED
    assert asyncio.get_running_loop().time() - started < 1.0
    assert not other.closed.is_set()
    # ...and no node lets it in again.
    again = await wire.open(first.ws_url("garden"))
    again.token = token
    await again.send_wire({"type": "hello", "v": 1, "name": "ana", "replica": again.replica, "token": token})
    assert await again.wait_closed() == CloseCode.UNAUTHORIZED


async def test_B8_a_ban_on_one_node_closes_the_banned_on_every_node(cluster: Cluster, wire: Wire) -> None:
    first, second = await cluster.node(), await cluster.node()
    authority = first.services.stewardship.authority
    token, claims = authority.issue(role="dreamer", sanctuary="garden", name="eve")
    eve = await wire.open(second.ws_url("garden"))
    eve.token = token
    await eve.hello()
    bystander = await wire.join(first.ws_url("garden"))
    _, steward = authority.issue(role="steward", sanctuary="garden", name="st")
    # Eve joined first, on the second node, which owns the sanctuary and holds her socket:
    # the ban is given on the first node, which has neither.
    assert "garden" in cluster_node(second)._owned
    await first.services.stewardship.acts.ban("garden", steward, claims.sub, "test")
    assert await eve.wait_closed() == CloseCode.BANNED
    assert not bystander.closed.is_set()


async def test_B8_a_policy_edit_on_any_node_reaches_every_client(cluster: Cluster, wire: Wire) -> None:
    first, second = await cluster.node(), await cluster.node()
    a = await wire.join(first.ws_url("garden"))
    b = await wire.join(second.ws_url("garden"))
    _, steward = first.services.stewardship.authority.issue(role="steward", sanctuary="garden", name="st")
    assert "garden" in cluster_node(first)._owned
    await second.services.stewardship.acts.set_policy("garden", steward, {"ai_share_cap": 0.25})
    for client in (a, b):
        await client.wait_message(PolicyUpdate, lambda m: m.policy.get("ai_share_cap") == 0.25)


async def test_B7_members_of_a_node_that_stopped_beating_leave_their_peers(cluster: Cluster, wire: Wire) -> None:
    owner, other = await cluster.node(), await cluster.node()
    here = await wire.join(owner.ws_url("garden"))
    there = await wire.join(other.ws_url("garden"))
    assert there.welcome is not None
    cluster_node(other).paused = True  # its census expires: its presence goes with it
    leave = await here.wait_message(Leave, lambda m: m.sid == there.welcome.sid, within=4 * LEASE)  # type: ignore[union-attr]
    assert leave.sid == there.welcome.sid
    assert "garden" in cluster_node(owner)._owned


async def test_B8_live_counts_add_up_the_connections_of_every_node(cluster: Cluster, wire: Wire) -> None:
    first, second = await cluster.node(), await cluster.node()
    await wire.join(first.ws_url("garden"))
    await wire.join(second.ws_url("garden"))
    await wire.join(second.ws_url("garden"))
    for server in (first, second, first):  # each writes its census, then reads everyone's
        await cluster_node(server)._heartbeat()
    assert first.hub.participants("garden") == 3
    assert second.hub.participants("garden") == 3
    async with aiohttp.ClientSession() as http, http.get(f"{second.url}/api/sanctuaries") as response:
        listed = {s["id"]: s for s in await response.json()}
    assert listed["garden"]["participants"] == 3


async def test_B8_acts_needing_the_actor_are_refused_by_a_node_that_does_not_own_it(
    cluster: Cluster, wire: Wire
) -> None:
    first, second = await cluster.node(), await cluster.node()
    a = await wire.join(first.ws_url("garden"))
    await a.wait_acked(await a.send_ops(a.symbol("moon")))
    _, steward = first.services.stewardship.authority.issue(role="steward", sanctuary="garden", name="st")
    with pytest.raises(StewardshipError) as refused:
        await second.services.stewardship.acts.remove("garden", steward, "moon")
    assert refused.value.code == "conflict"
    assert cluster_node(first).node_id in refused.value.message
    # On the owner it is done, and every client sees it.
    await first.services.stewardship.acts.remove("garden", steward, "moon")
    await a.wait_seq(2)
    assert a.tapestry.get("moon").deleted  # type: ignore[union-attr]
