"""What the HTTP handlers get from the composition root: one typed object, set once by ``build_app``."""

from __future__ import annotations

from dataclasses import dataclass

from aiohttp import web

from .config import ServerConfig
from .hub import Hub
from .metrics import Metrics
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


SERVICES = web.AppKey("services", Services)
