"""The composition root: builds every part of the server once and wires them, in one direction.

Store and metrics first; the rules book (the gates come from it); the hub of
sanctuaries; stewardship, which acts on live sanctuaries through the hub; then
the HTTP side (``server/http``), which reaches all of it through one typed
:class:`~.services.Services` object and never imports this module.
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Callable

from aiohttp import web

from .auth import TokenAuthority, load_or_create_secret
from .budgets import SharedBudgets, budget_gates
from .bus import Bus
from .cluster import ClusterNode, build_cluster, cluster_token_secret
from .config import ServerConfig
from .creation import Creation
from .http.api import setup_routes
from .http.errors import json_errors
from .http.live import websocket_handler
from .http.steward import setup_steward_routes
from .http.web import setup_web
from .hub import Hub
from .limits import ConnectionCaps, connection_cap, raise_fd_limit
from .loop_lag import LoopLag
from .metrics import Metrics
from .render_pool import Renders
from .services import SERVICES, Services
from .stewardship import build_stewardship, rules_for
from .store import Store, open_store

LOOP_LAG = web.AppKey("loop_lag", LoopLag)
CLUSTER = web.AppKey("cluster", ClusterNode)


def build_app(
    config: ServerConfig,
    *,
    store: Store | None = None,
    bus: Bus | None = None,
    clock: Callable[[], float] = time.time,
) -> web.Application:
    """The whole server as an aiohttp application. ``clock`` is the wall time of the rules: mutes, AI rates.

    With a bus (``config.bus`` or ``bus``) the server is one node of a cluster (server/cluster).
    """
    app = web.Application(client_max_size=1024 * 1024, middlewares=[json_errors])
    store = store or open_store(config.store_url, durability=config.durability)
    metrics = Metrics()
    cluster = build_cluster(config, store, metrics, bus) if (bus is not None or config.bus) else None
    # A cluster node without a configured secret adopts the one in the store at start (below).
    pending = cluster is not None and not config.token_secret
    secret = secrets.token_bytes(32) if pending else load_or_create_secret(config.data_dir, config.token_secret)
    authority = TokenAuthority(secret)
    rules = rules_for(store, clock)
    # log times are real time, whatever the rules see; every gate carries the live-bytes budget (W19)
    hub = Hub(store, config, metrics, budget_gates(rules.gate_for, config), placement=cluster)
    stewardship = build_stewardship(store, authority, rules, hub, clock)
    caps = ConnectionCaps(connection_cap(config.max_connections, raise_fd_limit()), config.max_connections_per_client)
    bounds = (SharedBudgets(config), Creation(config, store), Renders(config, store), caps)
    app[SERVICES] = Services(config, store, metrics, hub, stewardship, *bounds)
    app[LOOP_LAG] = LoopLag(metrics)
    if cluster is not None:
        cluster.attach(hub, stewardship)
        app[CLUSTER] = cluster
    app.router.add_get("/ws/{sanctuary}", websocket_handler)
    setup_web(app)
    setup_routes(app)
    setup_steward_routes(app)
    app.on_startup.append(_on_startup)
    app.on_shutdown.append(_on_shutdown)
    app.on_cleanup.append(_on_cleanup)
    return app


async def _on_startup(app: web.Application) -> None:
    services = app[SERVICES]
    await services.store.open()
    app[LOOP_LAG].start()
    cluster = app.get(CLUSTER)
    if cluster is not None:
        await cluster.bus.open()
        if not services.config.token_secret:
            services.stewardship.authority.rekey(await cluster_token_secret(services.store))
        await cluster.start()


async def _on_shutdown(app: web.Application) -> None:
    # Before aiohttp cancels handlers: commit in-flight ops and close sockets with 1001.
    await app[SERVICES].hub.close()
    cluster = app.get(CLUSTER)
    if cluster is not None:
        await cluster.stop()


async def _on_cleanup(app: web.Application) -> None:
    await app[LOOP_LAG].stop()
    app[SERVICES].renders.close()
    cluster = app.get(CLUSTER)
    if cluster is not None:
        await cluster.bus.close()
    await app[SERVICES].store.close()
