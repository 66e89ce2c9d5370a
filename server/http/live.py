"""``/ws/{sanctuary}``: the WebSocket upgrade, then one :class:`~..connection.Connection` per socket (SPEC W2-W24)."""

from __future__ import annotations

from aiohttp import web

from dreamloom.protocol import SUBPROTOCOLS, CloseCode, Error, ErrorCode, Hello, OpError, ProtocolError
from dreamloom.protocol.codec import codec_for

from ..auth import ALL_SANCTUARIES
from ..connection import Connection
from ..creation import CreationRefused
from ..hub import HubClosed
from ..member import Room
from ..origin import origin_allowed
from ..sanctuary import SanctuaryClosed, SanctuaryFull
from ..services import SERVICES, Services
from .errors import HttpError, sanctuary_id

#: How often a join retries a sanctuary that unloaded between lookup and join.
JOIN_ATTEMPTS = 5


async def websocket_handler(request: web.Request) -> web.StreamResponse:
    """Check the request, upgrade, and serve the connection until it ends."""
    services = request.app[SERVICES]
    config = services.config
    name = sanctuary_id(request)
    if not origin_allowed(request, config.allow_origins):
        raise HttpError("forbidden", "origin not allowed")
    if services.hub.closing:
        raise HttpError("shutting_down", "server is shutting down")
    ws = web.WebSocketResponse(
        protocols=SUBPROTOCOLS,
        max_msg_size=config.limits.max_message_bytes,
        # The connection runs the heartbeat (W12): aiohttp's own drops a silent peer with 1006
        # after 1.5x its interval; ours closes with 4011 after heartbeat_timeout, as the SPEC says.
        heartbeat=None,
        autoping=False,
        compress=False,  # per-socket deflate would undo encode-once fan-out
    )
    ready = ws.can_prepare(request)
    if not ready.ok:
        raise HttpError("bad_message", "expected a WebSocket handshake")
    if ready.protocol is None:
        raise HttpError("bad_message", f"offer a subprotocol: {', '.join(SUBPROTOCOLS)}")
    await ws.prepare(request)
    connection = Connection(
        ws, request, codec_for(ready.protocol, config.limits), config, services.metrics, services.shared
    )
    client = request.remote or "?"

    async def join(member: Connection, hello: Hello) -> Room | None:
        return await _join(services, name, member, hello, client)

    await connection.serve(join)
    return ws


async def _join(services: Services, name: str, member: Connection, hello: Hello, client: str) -> Room | None:
    """Admit the hello (P3) and enter the sanctuary; on a refusal, tell the member and return None."""
    try:
        admission = await services.stewardship.access.authenticate(hello, name)
    except ProtocolError as exc:
        member.error(exc.code, exc.reason)
        return None
    member.claims = admission.claims
    member.set_identity(admission.identity, hello.replica, issued_token=admission.issued_token)
    refusal = await _create_if_new(services, name, member, client)
    if refusal is not None:
        member.send(Error(ErrorCode.RATE_LIMITED, refusal))
        member.close(CloseCode.RATE_LIMITED, "sanctuary creation refused")
        return None
    for _ in range(JOIN_ATTEMPTS):
        try:
            room = await services.hub.room(name)
            await room.join(member, hello)
            return room
        except SanctuaryClosed:
            continue
        except SanctuaryFull:
            member.error(ErrorCode.SANCTUARY_FULL, "this sanctuary is full: try again later")
            return None
        except OpError as exc:
            member.error(exc.code, exc.reason)
            return None
        except HubClosed:
            break
    member.error(ErrorCode.SHUTTING_DOWN, "server is shutting down")
    return None


async def _create_if_new(services: Services, name: str, member: Connection, client: str) -> str | None:
    """Joining an id nobody used creates the sanctuary: charged like ``POST /api/sanctuaries`` (W21)."""
    if services.hub.loaded(name) is not None or await services.store.get_sanctuary(name) is not None:
        return None
    claims = member.claims
    operator = claims is not None and claims.role == "steward" and claims.sanctuary == ALL_SANCTUARIES
    async with services.creation.lock:
        if await services.store.get_sanctuary(name) is not None:
            return None
        try:
            await services.creation.admit(client, member.identity.id, operator=operator)
        except CreationRefused as exc:
            services.metrics.refused.labels(limit=exc.code).inc()
            return f"{exc.code}: {exc.message}"
        await services.store.ensure_sanctuary(name)
    return None
