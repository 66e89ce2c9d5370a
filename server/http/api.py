"""The HTTP API: sanctuaries, their tapestry (JSON, SVG, PNG, at any seq), history and checkpoints.

Every answer under ``/api/`` is JSON (or an image); every error is
``{"error": {"code": ..., "message": ...}}`` with its HTTP status. Codes:
``bad_request`` (400), ``unauthorized`` and ``token_expired`` (401),
``forbidden`` and ``banned`` (403), ``not_found`` (404), ``method_not_allowed`` (405),
``conflict`` (409), ``too_large`` and ``render_too_large`` (413),
``too_many_sanctuaries``, ``render_busy`` and ``too_many_connections`` (429),
``render_timeout``, ``render_unavailable``, ``sanctuary_limit``, ``server_full``
and ``shutting_down`` (503), ``internal`` (500). Refusals that time cures carry
``Retry-After``.

Routes::

    GET  /healthz                                   liveness (503 while shutting down)
    GET  /metrics                                   Prometheus exposition
    GET  /api/symbols                               the dream symbol catalogue (cacheable)
    GET  /api/sanctuaries[?limit=N]                 [{id, title, participants, fragments, organic, ai, last_seq}]
    POST /api/sanctuaries {"title"} | {"id"[, "title"]}   create (201); the id of a title is its slug, made unique
    GET  /api/sanctuaries/{id}                      fragments by origin, contributors, last_seq, participants
    GET  /api/sanctuaries/{id}/tapestry.json[?at=SEQ]        {seq, digest, snapshot}
    GET  /api/sanctuaries/{id}/tapestry.svg[?at=SEQ&threads=1]
    GET  /api/sanctuaries/{id}/tapestry.png[?at=SEQ&width=PX&threads=1]
    GET  /api/sanctuaries/{id}/ops?since=SEQ&limit=N         {ops: [{seq, op, author, time}], next}
    POST /api/sanctuaries/{id}/checkpoints {"name"[, "seq"]} 201 {id, name, seq, time}
    GET  /api/sanctuaries/{id}/checkpoints[?limit=N&before=ID]   newest first

Every route of a sanctuary applies the access rule of SPEC P14 (:mod:`.access`):
``Authorization: Bearer <token>`` is checked whenever it is sent; an ``invite``
sanctuary answers only to a token that may enter it (401 ``unauthorized`` /
``token_expired``, 403 ``forbidden`` / ``banned``), an ``open`` one to anyone;
``POST .../checkpoints`` needs a role that may write (not a viewer). The list
shows an ``invite`` sanctuary only to callers who may enter it.

``?at=SEQ`` is the state after op ``SEQ``; a seq past the end means "now",
and every answer says which seq it shows. Renders carry an ETag built from
that seq, so a browser revalidating an unchanged tapestry costs a 304 and no
rendering. Every ``tapestry.*`` answer, JSON included, comes from one cache and
a bounded pool of worker processes (:mod:`..render_pool`, SPEC W20): 413
``render_too_large``, 429 ``render_busy`` and 503 ``render_timeout`` (with
``Retry-After``) when a limit is hit.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import re
import secrets
import time
import unicodedata
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import orjson
from aiohttp import web

import dreamloom
from dreamloom.protocol import Tapestry
from dreamloom.protocol.symbols import GLYPH_BOX, load_symbols

from ..auth import ALL_SANCTUARIES
from ..creation import CreationRefused
from ..hub import Hub
from ..naming import sanctuary_id_problem
from ..render_pool import RenderRefused, Variant
from ..sanctuary import SanctuaryClosed
from ..services import SERVICES
from ..store import SanctuaryInfo
from .access import Need, admit, may_enter, verified_claims
from .errors import HttpError, json_response, read_json_body, sanctuary_id
from .snapshot import tapestry_json_now
from .web import DOCUMENT_HEADERS

log = logging.getLogger("dreamloom.api")

MAX_LIMIT = 1000
MAX_TITLE = 120
MAX_CHECKPOINT_NAME = 120
MAX_SEQ = 2**53
MAX_PNG_WIDTH = 4096
#: Bumped whenever rendering changes, so cached images are revalidated.
RENDER_VERSION = "1"


@dataclass
class ApiState:
    """What the API keeps per app: summaries of unloaded sanctuaries, and when it started."""

    summaries: OrderedDict[tuple[str, int], tuple[int, int]]
    started: float


_STATE = web.AppKey("api_state", ApiState)


# -- parameters ------------------------------------------------------------------
_DIGITS = re.compile(r"[0-9]{1,16}\Z")


def _int(request: web.Request, name: str, default: int | None, lo: int, hi: int) -> int | None:
    raw = request.query.get(name)
    if raw is None or raw == "":
        return default
    if not _DIGITS.match(raw) or not lo <= int(raw) <= hi:
        raise HttpError("bad_request", f"{name} must be an integer in [{lo}, {hi}]")
    return int(raw)


def _flag(request: web.Request, name: str) -> bool:
    raw = request.query.get(name, "0").lower()
    if raw not in ("0", "1", "true", "false", ""):
        raise HttpError("bad_request", f"{name} must be 1 or 0")
    return raw in ("1", "true")


async def _info(hub: Hub, name: str) -> SanctuaryInfo:
    info = await hub.store.get_sanctuary(name)
    if info is None:
        raise HttpError("not_found", f"no sanctuary {name!r}")
    return info


def _current_seq(hub: Hub, info: SanctuaryInfo) -> int:
    live = hub.loaded(info.id)
    return max(info.last_seq, live.seq if live is not None else 0)


def _text(data: dict[str, Any], key: str, max_len: int) -> str | None:
    value = data.get(key)
    if value is None:
        return None
    if not isinstance(value, str):
        raise HttpError("bad_request", f"{key} must be a string")
    value = " ".join(value.split())
    if not 0 < len(value) <= max_len or any(unicodedata.category(c) == "Cc" for c in value):
        raise HttpError("bad_request", f"{key} must be 1..{max_len} printable characters")
    return value


# -- summaries -------------------------------------------------------------------
def _counts(tapestry: Tapestry) -> tuple[int, int]:
    return tapestry.live_counts["organic"], tapestry.live_counts["ai"]


async def _live_counts(request: web.Request, info: SanctuaryInfo) -> tuple[int, int]:
    """Live fragments by origin: from memory when loaded, else from a small cache keyed by last seq."""
    hub = request.app[SERVICES].hub
    live = hub.loaded(info.id)
    if live is not None:
        await live.loaded()
        return _counts(live.tapestry)
    state = request.app[_STATE]
    key = (info.id, info.last_seq)
    hit = state.summaries.get(key)
    if hit is None:
        tapestry, _ = await hub.tapestry_at(info.id, None)
        hit = state.summaries[key] = _counts(tapestry)
        while len(state.summaries) > 4096:
            state.summaries.popitem(last=False)
    else:
        state.summaries.move_to_end(key)
    return hit


async def _listing(request: web.Request, info: SanctuaryInfo) -> dict[str, Any]:
    organic, ai = await _live_counts(request, info)
    hub = request.app[SERVICES].hub
    return {
        "id": info.id,
        "title": info.title,
        "created": info.created,
        "participants": hub.participants(info.id),
        "fragments": organic + ai,
        "organic": organic,
        "ai": ai,
        "last_seq": _current_seq(hub, info),
    }


# -- handlers --------------------------------------------------------------------
async def healthz(request: web.Request) -> web.Response:
    hub = request.app[SERVICES].hub
    body = {
        "status": "shutting_down" if hub.closing else "ok",
        "version": dreamloom.__version__,
        "uptime": round(time.monotonic() - request.app[_STATE].started, 3),
        "sanctuaries_loaded": len(hub.live()),
        "connections": sum(len(s.members) for s in hub.live()),
    }
    return json_response(body, 503 if hub.closing else 200)


async def metrics(request: web.Request) -> web.Response:
    m = request.app[SERVICES].metrics
    return web.Response(body=m.render(), headers={"Content-Type": m.content_type})


_SYMBOLS_CACHE: list[tuple[bytes, str]] = []


def _symbols_body() -> tuple[bytes, str]:
    if not _SYMBOLS_CACHE:
        catalogue = {"version": 1, "box": GLYPH_BOX, "symbols": [s.to_data() for s in load_symbols().values()]}
        body = orjson.dumps(catalogue)
        _SYMBOLS_CACHE.append((body, '"' + hashlib.sha256(body).hexdigest()[:32] + '"'))
    return _SYMBOLS_CACHE[0]


async def symbols(request: web.Request) -> web.Response:
    body, etag = _symbols_body()
    headers = {"ETag": etag, "Cache-Control": "public, max-age=3600"}
    if request.headers.get("If-None-Match") == etag:
        return web.Response(status=304, headers=headers)
    return web.Response(body=body, content_type="application/json", headers=headers)


async def list_sanctuaries(request: web.Request) -> web.Response:
    limit = _int(request, "limit", MAX_LIMIT, 1, MAX_LIMIT)
    await verified_claims(request)  # a token sent is checked before anything is listed
    infos = [i for i in await request.app[SERVICES].hub.store.list_sanctuaries() if await may_enter(request, i.id)]
    return json_response([await _listing(request, info) for info in infos[-(limit or MAX_LIMIT) :]])


def slugify(title: str, max_len: int = 40) -> str:
    """A URL-friendly id from a title: lowercase ASCII words joined by dashes."""
    ascii_title = unicodedata.normalize("NFKD", title).encode("ascii", "ignore").decode()
    slug = re.sub(r"[^a-z0-9]+", "-", ascii_title.lower()).strip("-")[:max_len].strip("-")
    return slug or "sanctuary"


async def _unique_id(hub: Hub, slug: str) -> str:
    candidate = slug
    for n in range(2, 52):
        if await hub.store.get_sanctuary(candidate) is None:
            return candidate
        candidate = f"{slug}-{n}"
    # a very popular title: stop probing in order and pick a random suffix
    for _ in range(10):
        candidate = f"{slug}-{secrets.token_hex(3)}"
        if await hub.store.get_sanctuary(candidate) is None:
            return candidate
    raise HttpError("conflict", "could not find a free id for this title")


async def create_sanctuary(request: web.Request) -> web.Response:
    hub = request.app[SERVICES].hub
    if hub.closing:
        raise HttpError("shutting_down", "server is shutting down")
    data = await read_json_body(request)
    unknown = set(data) - {"id", "title"}
    if unknown:
        raise HttpError("bad_request", f"unknown field(s): {', '.join(sorted(unknown))}")
    title = _text(data, "title", MAX_TITLE)
    wanted = data.get("id")
    if wanted is not None:
        problem = (
            "id must be a string"
            if not isinstance(wanted, str)
            else sanctuary_id_problem(wanted, request.app[SERVICES].config.limits.max_id_len)
        )
        if problem is not None:
            raise HttpError("bad_request", problem)
    if title is None and wanted is None:
        raise HttpError("bad_request", "give a title or an id")
    claims = await verified_claims(request)
    creation = request.app[SERVICES].creation
    async with creation.lock:
        if wanted is not None:
            if await hub.store.get_sanctuary(wanted) is not None:
                raise HttpError("conflict", f"sanctuary {wanted!r} already exists")
            name = wanted
        else:
            assert title is not None
            name = await _unique_id(hub, slugify(title))
        operator = claims is not None and claims.role == "steward" and claims.sanctuary == ALL_SANCTUARIES
        try:
            await creation.admit(request.remote or "?", claims.sub if claims else None, operator=operator)
        except CreationRefused as exc:
            request.app[SERVICES].metrics.refused.labels(limit=exc.code).inc()
            raise HttpError(exc.code, exc.message, retry_after=exc.retry_after) from None
        info = await hub.store.ensure_sanctuary(name, title or name)
    body = await _listing(request, info)
    return json_response(body, 201, {"Location": f"/api/sanctuaries/{name}"})


async def get_sanctuary(request: web.Request) -> web.Response:
    name = sanctuary_id(request)
    services = request.app[SERVICES]
    info = await _info(services.hub, name)
    # Counted from the durable state in a render worker, like every read of a tapestry (W20).
    summary = orjson.loads(await _rendered(request, name, info.last_seq, Variant("info")))
    return json_response(
        {
            "id": name,
            "title": info.title,
            "created": info.created,
            **summary,
            "last_seq": info.last_seq,
            "participants": services.hub.participants(name),
        }
    )


async def _rendered(request: web.Request, name: str, seq: int, variant: Variant) -> bytes:
    services = request.app[SERVICES]
    started = time.perf_counter()
    try:
        body = await services.renders.answer(name, seq, variant)
    except RenderRefused as exc:
        services.metrics.refused.labels(limit=exc.code).inc()
        raise HttpError(exc.code, exc.message, retry_after=exc.retry_after) from None
    services.metrics.render_seconds.labels(format=variant.fmt).observe(time.perf_counter() - started)
    return body


async def _served(request: web.Request, variant: Variant, content_type: str) -> web.Response:
    """A tapestry route (W20): 304 for a seq the client has, else the shared cache or a render worker."""
    name = sanctuary_id(request)
    services = request.app[SERVICES]
    info = await _info(services.hub, name)
    at = _int(request, "at", None, 0, MAX_SEQ)
    # The store's seq, not the actor's: only what is durable (and acknowledged) is ever shown.
    seq = info.last_seq if at is None else min(at, info.last_seq)
    etag = f'W/"{RENDER_VERSION}-{seq}-{variant.key}"'
    headers = {"ETag": etag, "Cache-Control": "no-cache", "X-Dreamloom-Seq": str(seq)}
    if variant.fmt == "svg":
        headers.update(DOCUMENT_HEADERS)
    if request.headers.get("If-None-Match") == etag:
        return web.Response(status=304, headers=headers)
    body = await _rendered(request, name, seq, variant)
    return web.Response(body=body, content_type=content_type, headers=headers)


async def tapestry_json(request: web.Request) -> web.StreamResponse:
    if "at" not in request.query:  # now: from the sanctuary's kept encodings, off the loop (W20)
        name = sanctuary_id(request)
        hub = request.app[SERVICES].hub
        await _info(hub, name)
        for _ in range(3):
            with contextlib.suppress(SanctuaryClosed):  # it unloaded between lookup and call: again
                return await tapestry_json_now(request, await hub.sanctuary(name))
    return await _served(request, Variant("json"), "application/json")


async def tapestry_svg(request: web.Request) -> web.Response:
    return await _served(request, Variant("svg", threads=_flag(request, "threads")), "image/svg+xml")


async def tapestry_png(request: web.Request) -> web.Response:
    threads = _flag(request, "threads")
    width = _int(request, "width", None, 1, MAX_PNG_WIDTH)
    return await _served(request, Variant("png", threads=threads, width=width), "image/png")


async def op_history(request: web.Request) -> web.Response:
    name = sanctuary_id(request)
    since = _int(request, "since", 0, 0, MAX_SEQ) or 0
    limit = _int(request, "limit", 200, 1, MAX_LIMIT) or 200
    hub = request.app[SERVICES].hub
    info = await _info(hub, name)
    entries = await hub.store.read_ops(name, since, limit=limit)
    last = _current_seq(hub, info)
    more = len(entries) == limit and entries[-1].seq < last
    return json_response(
        {
            "ops": [{"seq": e.seq, "op": e.op.to_wire(), "author": e.author, "time": e.time} for e in entries],
            "next": entries[-1].seq if more else None,
        }
    )


def _checkpoint(record: Any) -> dict[str, Any]:
    return {"id": record.id, "name": record.data.get("name"), "seq": record.data.get("seq"), "time": record.time}


async def create_checkpoint(request: web.Request) -> web.Response:
    name = sanctuary_id(request)
    hub = request.app[SERVICES].hub
    info = await _info(hub, name)
    data = await read_json_body(request)
    unknown = set(data) - {"name", "seq"}
    if unknown:
        raise HttpError("bad_request", f"unknown field(s): {', '.join(sorted(unknown))}")
    label = _text(data, "name", MAX_CHECKPOINT_NAME)
    if label is None:
        raise HttpError("bad_request", "a checkpoint needs a name")
    now = _current_seq(hub, info)
    seq = data.get("seq", now)
    if type(seq) is not int or not 0 <= seq <= now:
        raise HttpError("bad_request", f"seq must be an integer in [0, {now}]")
    record = await hub.store.add_record(name, "checkpoint", {"name": label, "seq": seq})
    return json_response(_checkpoint(record), 201)


async def list_checkpoints(request: web.Request) -> web.Response:
    name = sanctuary_id(request)
    limit = _int(request, "limit", 100, 1, MAX_LIMIT) or 100
    before = _int(request, "before", None, 1, MAX_SEQ)
    hub = request.app[SERVICES].hub
    await _info(hub, name)
    records = await hub.store.records(name, "checkpoint", limit=limit, before=before)
    return json_response([_checkpoint(r) for r in records])


Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def guarded(need: Need, handler: Handler) -> Handler:
    """A route of one sanctuary: a valid id, a sanctuary that exists, then the access rule (P14)."""

    async def route(request: web.Request) -> web.StreamResponse:
        name = sanctuary_id(request)
        # Existence first: unknown ids never reach the per-sanctuary rules, which stay in memory.
        await _info(request.app[SERVICES].hub, name)
        await admit(request, name, need)
        return await handler(request)

    return route


def setup_routes(app: web.Application) -> None:
    """Add the HTTP API to the app (called while the app is built, before it starts)."""
    app[_STATE] = ApiState(OrderedDict(), time.monotonic())
    r = app.router
    r.add_get("/healthz", healthz)
    r.add_get("/metrics", metrics)
    r.add_get("/api/symbols", symbols)
    r.add_get("/api/sanctuaries", list_sanctuaries)
    r.add_post("/api/sanctuaries", create_sanctuary)
    base = "/api/sanctuaries/{sanctuary}"
    r.add_get(base, guarded(Need.READ, get_sanctuary))
    r.add_get(base + "/tapestry.json", guarded(Need.READ, tapestry_json))
    r.add_get(base + "/tapestry.svg", guarded(Need.READ, tapestry_svg))
    r.add_get(base + "/tapestry.png", guarded(Need.READ, tapestry_png))
    r.add_get(base + "/ops", guarded(Need.READ, op_history))
    r.add_post(base + "/checkpoints", guarded(Need.WRITE, create_checkpoint))
    r.add_get(base + "/checkpoints", guarded(Need.READ, list_checkpoints))
