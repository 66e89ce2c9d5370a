"""The aiohttp application: WebSocket, HTTP API and the web client on one port."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable

import orjson
from aiohttp import web

from dreamloom.protocol import SUBPROTOCOLS, ErrorCode, Hello, OpError, ProtocolError
from dreamloom.protocol.codec import codec_for
from dreamloom.protocol.validate import ID_RE

from .auth import TokenAuthority, load_or_create_secret
from .config import ServerConfig
from .hub import GateFactory, Hub
from .metrics import Metrics
from .moderation import STEWARDSHIP, Admission, Stewardship
from .origin import origin_allowed
from .sanctuary import Sanctuary, SanctuaryClosed, SanctuaryFull
from .session import Session
from .store import Store, open_store
from .web import setup_web

log = logging.getLogger("dreamloom.app")

#: Turns a hello into an admission to a sanctuary, or raises ProtocolError (unauthorized...).
Authenticator = Callable[[web.Request, Hello, str], Awaitable[Admission]]

HUB = web.AppKey("hub", Hub)
CONFIG = web.AppKey("config", ServerConfig)
METRICS = web.AppKey("metrics", Metrics)
STORE = web.AppKey("store", Store)
AUTHENTICATOR: web.AppKey[Authenticator] = web.AppKey("authenticator")


def json_error(status: int, code: str, message: str) -> web.Response:
    """An HTTP error in the API's JSON shape."""
    body = orjson.dumps({"error": {"code": code, "message": message}})
    return web.Response(status=status, body=body, content_type="application/json")


def valid_sanctuary_name(name: str, config: ServerConfig) -> bool:
    return 0 < len(name) <= config.limits.max_id_len and ID_RE.match(name) is not None


async def websocket_handler(request: web.Request) -> web.StreamResponse:
    """``/ws/{sanctuary}``: the live path (SPEC W5)."""
    app = request.app
    config, hub, metrics = app[CONFIG], app[HUB], app[METRICS]
    name = request.match_info["sanctuary"]
    if not valid_sanctuary_name(name, config):
        return json_error(400, ErrorCode.BAD_MESSAGE, "invalid sanctuary id")
    if not origin_allowed(request, config.allow_origins):
        return json_error(403, ErrorCode.FORBIDDEN, "origin not allowed")
    if hub.closing:
        return json_error(503, ErrorCode.SHUTTING_DOWN, "server is shutting down")
    ws = web.WebSocketResponse(
        protocols=SUBPROTOCOLS,
        max_msg_size=config.limits.max_message_bytes,
        # The session runs the heartbeat (W12): aiohttp's own drops a silent peer with 1006 after
        # 1.5x its interval; ours closes with 4011 after heartbeat_timeout, as the SPEC says.
        heartbeat=None,
        autoping=False,
        compress=False,  # per-socket deflate would undo encode-once fan-out
    )
    ready = ws.can_prepare(request)
    if not ready.ok:
        return json_error(400, ErrorCode.BAD_MESSAGE, "expected a WebSocket handshake")
    if ready.protocol is None:
        return json_error(400, ErrorCode.BAD_MESSAGE, f"offer a subprotocol: {', '.join(SUBPROTOCOLS)}")
    await ws.prepare(request)
    codec = codec_for(ready.protocol, config.limits)
    session = Session(ws, request, codec, config, metrics)
    authenticate = app[AUTHENTICATOR]

    async def join(session: Session, hello: Hello) -> Sanctuary | None:
        try:
            admission = await authenticate(request, hello, name)
        except ProtocolError as exc:
            session.error(exc.code, exc.reason)
            return None
        session.set_identity(admission.identity, hello.replica, issued_token=admission.issued_token)
        for _ in range(5):
            try:
                sanctuary = await hub.sanctuary(name)
                await sanctuary.join(session, hello)
                return sanctuary
            except SanctuaryClosed:
                continue
            except SanctuaryFull:
                session.error(ErrorCode.SANCTUARY_FULL, "this sanctuary is full: try again later")
                return None
            except OpError as exc:
                session.error(exc.code, exc.reason)
                return None
            except RuntimeError:
                break
        session.error(ErrorCode.SHUTTING_DOWN, "server is shutting down")
        return None

    await session.serve(name, join)
    return ws


async def _on_startup(app: web.Application) -> None:
    await app[STORE].open()


async def _on_shutdown(app: web.Application) -> None:
    # Before aiohttp cancels handlers: commit in-flight ops and close sockets with 1001.
    await app[HUB].close()


async def _on_cleanup(app: web.Application) -> None:
    await app[STORE].close()


def build_app(
    config: ServerConfig,
    *,
    store: Store | None = None,
    gate_factory: GateFactory | None = None,
    authenticator: Authenticator | None = None,
) -> web.Application:
    """The whole server as an aiohttp application."""
    app = web.Application(client_max_size=1024 * 1024)
    store = store or open_store(config.store_url, durability=config.durability)
    metrics = Metrics()
    app[CONFIG] = config
    app[STORE] = store
    app[METRICS] = metrics
    # Access, the Harmony policy and moderation; tests may pass their own gate or authenticator.
    stewardship = Stewardship(store, TokenAuthority(load_or_create_secret(config.data_dir, config.token_secret)))
    app[STEWARDSHIP] = stewardship
    app[HUB] = stewardship.hub = Hub(store, config, metrics, gate_factory or stewardship.gate_for)
    app[AUTHENTICATOR] = authenticator or stewardship.authenticate
    app.router.add_get("/ws/{sanctuary}", websocket_handler)
    setup_web(app)
    from .steward_api import setup_steward_routes  # imports this module: load it late

    setup_steward_routes(app)
    try:
        from .api import setup_routes  # the HTTP API lives in its own module
    except ImportError:
        pass
    else:
        setup_routes(app)
    app.on_startup.append(_on_startup)
    app.on_shutdown.append(_on_shutdown)
    app.on_cleanup.append(_on_cleanup)
    return app
