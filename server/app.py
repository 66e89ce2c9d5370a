"""The composition root: builds every part of the server once and wires them, in one direction.

Store and metrics first; the rules book (the gates come from it); the hub of
sanctuaries; stewardship, which acts on live sanctuaries through the hub; then
the HTTP side (``server/http``), which reaches all of it through one typed
:class:`~.services.Services` object and never imports this module.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from aiohttp import web

from .auth import TokenAuthority, load_or_create_secret
from .config import ServerConfig
from .http.api import setup_routes
from .http.errors import json_errors
from .http.live import websocket_handler
from .http.steward import setup_steward_routes
from .http.web import setup_web
from .hub import Hub
from .metrics import Metrics
from .services import SERVICES, Services
from .stewardship import build_stewardship, rules_for
from .store import Store, open_store


def build_app(
    config: ServerConfig, *, store: Store | None = None, clock: Callable[[], float] = time.time
) -> web.Application:
    """The whole server as an aiohttp application. ``clock`` is the wall time of the rules: mutes, AI rates."""
    app = web.Application(client_max_size=1024 * 1024, middlewares=[json_errors])
    store = store or open_store(config.store_url, durability=config.durability)
    metrics = Metrics()
    authority = TokenAuthority(load_or_create_secret(config.data_dir, config.token_secret))
    rules = rules_for(store, clock)
    hub = Hub(store, config, metrics, rules.gate_for)  # log times are real time, whatever the rules see
    stewardship = build_stewardship(store, authority, rules, hub, clock)
    app[SERVICES] = Services(config, store, metrics, hub, stewardship)
    app.router.add_get("/ws/{sanctuary}", websocket_handler)
    setup_web(app)
    setup_routes(app)
    setup_steward_routes(app)
    app.on_startup.append(_on_startup)
    app.on_shutdown.append(_on_shutdown)
    app.on_cleanup.append(_on_cleanup)
    return app


async def _on_startup(app: web.Application) -> None:
    await app[SERVICES].store.open()


async def _on_shutdown(app: web.Application) -> None:
    # Before aiohttp cancels handlers: commit in-flight ops and close sockets with 1001.
    await app[SERVICES].hub.close()


async def _on_cleanup(app: web.Application) -> None:
    await app[SERVICES].store.close()
