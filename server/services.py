"""What the HTTP handlers get from the composition root: one typed object, set once by ``build_app``."""

from __future__ import annotations

from dataclasses import dataclass

from aiohttp import web

from .budgets import SharedBudgets
from .config import ServerConfig
from .creation import Creation
from .hub import Hub
from .limits import ConnectionCaps
from .metrics import Metrics
from .render_pool import Renders
from .stewardship import Stewardship
from .store import Store


@dataclass(frozen=True, slots=True)
class Services:
    """The server's parts, as the handlers use them."""

    config: ServerConfig
    store: Store
    metrics: Metrics
    hub: Hub
    stewardship: Stewardship
    #: Bounds under abuse: identity budgets, sanctuary creation, renders, socket caps (SPEC W16-W21).
    shared: SharedBudgets
    creation: Creation
    renders: Renders
    caps: ConnectionCaps


SERVICES = web.AppKey("services", Services)
