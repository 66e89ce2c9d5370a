"""Cluster mode: several nodes, one tapestry per sanctuary, on PostgreSQL and Redis (SPEC B4-B9).

``build_cluster`` gives the composition root a :class:`ClusterNode` (the hub's placement)
when a bus is configured; without one the server is a single node, as before.
"""

from __future__ import annotations

import secrets

from ..bus import Bus, open_bus
from ..config import ServerConfig
from ..metrics import Metrics
from ..store import Store, StoreError
from .fenced import FencedStore
from .node import ClusterNode
from .remote import RemoteMember, RemoteRoom

#: The name of the token secret in the store's shared secrets.
TOKEN_SECRET = "token"


def build_cluster(config: ServerConfig, store: Store, metrics: Metrics, bus: Bus | None = None) -> ClusterNode:
    """This node of the cluster on ``config.bus`` (or the bus given), sharing ``store`` with the others."""
    return ClusterNode(bus or open_bus(config.bus), store, config, metrics)


async def cluster_token_secret(store: Store) -> bytes:
    """The secret every node signs tokens with: the first node to start stores one, the others read it."""
    shared = getattr(store, "shared_secret", None)
    if shared is None:
        raise StoreError("a cluster without DREAMLOOM_TOKEN_SECRET needs a PostgreSQL store to keep one")
    value: str = await shared(TOKEN_SECRET, secrets.token_hex(32))
    return value.encode()


__all__ = ["ClusterNode", "FencedStore", "RemoteMember", "RemoteRoom", "build_cluster", "cluster_token_secret"]
