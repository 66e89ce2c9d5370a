"""The steward's HTTP API (SPEC P11): policy, members, moderation, invites, audit.

Every route needs ``Authorization: Bearer <token>`` of a steward of the
sanctuary (a steward token scoped to it or to ``*``), except ``/me``, which any
valid token may call. Errors are ``{"error": {"code": ..., "message": ...}}``.

Routes::

    GET    /api/sanctuaries/{id}/me                  who the token is here: {id, name, role, sanctuary, exp}
    GET    /api/sanctuaries/{id}/policy              {policy}
    PATCH  /api/sanctuaries/{id}/policy {fields}     edit some fields; applied and broadcast at once -> {policy}
    GET    /api/sanctuaries/{id}/members             {connected, banned, muted, roles}
    POST   /api/sanctuaries/{id}/moderation {action, ...}   one act -> its audit entry
    GET    /api/sanctuaries/{id}/invites             [{jti, sub, role, name, exp, created, revoked, expired}]
    POST   /api/sanctuaries/{id}/invites {role, name, ttl}   201 {token, url, jti, sub, role, name, exp}
    DELETE /api/sanctuaries/{id}/invites/{jti}       revoke that token -> its audit entry
    GET    /api/sanctuaries/{id}/audit[?limit=N&before=ID]   newest first

Moderation actions: ``remove {fragment}``, ``mute {identity, seconds}``,
``unmute {identity}``, ``kick {identity}``, ``ban {identity, reason?}``,
``unban {identity}``, ``role {identity, role|null}``, ``revoke {jti}``,
``rollback {identity, since_seq | since_time}``, ``undo_rollback {rollback}``.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import orjson
from aiohttp import web

from .app import CONFIG, json_error, valid_sanctuary_name
from .auth import DEFAULT_TTL, Claims
from .moderation import STEWARDSHIP, StewardError, Stewardship

MAX_BODY = 16 * 1024

Handler = Callable[[web.Request, Stewardship, str, Claims], Awaitable[Any]]


def _token(request: web.Request) -> str | None:
    header = request.headers.get("Authorization", "")
    scheme, _, value = header.partition(" ")
    return value.strip() or None if scheme.lower() == "bearer" else None


async def _body(request: web.Request) -> dict[str, Any]:
    raw = await request.content.read(MAX_BODY + 1)
    if len(raw) > MAX_BODY:
        raise StewardError(413, "too_large", f"body larger than {MAX_BODY} bytes")
    try:
        body = orjson.loads(raw or b"{}")
    except orjson.JSONDecodeError:
        raise StewardError(400, "bad_request", "body must be JSON") from None
    if not isinstance(body, dict):
        raise StewardError(400, "bad_request", "body must be a JSON object")
    return body


def _json(data: Any, status: int = 200) -> web.Response:
    resp = web.Response(status=status, body=orjson.dumps(data), content_type="application/json")
    resp.headers["Cache-Control"] = "no-store"
    return resp


def steward_route(fn: Handler, *, steward: bool = True) -> Callable[[web.Request], Awaitable[web.StreamResponse]]:
    """Wrap a handler: sanctuary id, steward check, JSON answer, typed errors."""

    async def handler(request: web.Request) -> web.StreamResponse:
        name = request.match_info["sanctuary"]
        if not valid_sanctuary_name(name, request.app[CONFIG]):
            return json_error(400, "bad_request", "invalid sanctuary id")
        stewardship = request.app[STEWARDSHIP]
        try:
            token = _token(request)
            if steward:
                claims = await stewardship.steward(token, name)
            else:
                if token is None:
                    raise StewardError(401, "unauthorized", "a token is required (Authorization: Bearer)")
                claims = await _verified(stewardship, token, name)
            result = await fn(request, stewardship, name, claims)
        except StewardError as exc:
            return json_error(exc.status, str(exc.code), exc.message)
        if isinstance(result, web.StreamResponse):
            return result
        return _json(result)

    return handler


async def _verified(stewardship: Stewardship, token: str, name: str) -> Claims:
    from dreamloom.protocol import ErrorCode, ProtocolError

    try:
        return await stewardship.verify(token, name)
    except ProtocolError as exc:
        raise StewardError(403 if exc.code == ErrorCode.FORBIDDEN else 401, exc.code, exc.reason) from None


async def me(request: web.Request, st: Stewardship, name: str, claims: Claims) -> Any:
    rules = await st.rules(name)
    role = rules.roles.get(claims.sub, claims.role)
    return {
        "id": claims.sub,
        "name": claims.name,
        "role": role,
        "token_role": claims.role,
        "sanctuary": claims.sanctuary,
        "exp": claims.exp,
        "banned": claims.sub in rules.banned,
    }


async def get_policy(request: web.Request, st: Stewardship, name: str, claims: Claims) -> Any:
    return {"policy": (await st.rules(name)).policy.to_wire()}


async def patch_policy(request: web.Request, st: Stewardship, name: str, claims: Claims) -> Any:
    body = await _body(request)
    if not body:
        raise StewardError(400, "bad_request", "give the policy fields to change")
    return {"policy": await st.set_policy(name, claims, body)}


async def get_members(request: web.Request, st: Stewardship, name: str, claims: Claims) -> Any:
    return await st.members(name)


async def moderate(request: web.Request, st: Stewardship, name: str, claims: Claims) -> Any:
    body = await _body(request)
    action = body.get("action")
    try:
        if action == "remove":
            return await st.remove(name, claims, body["fragment"])
        if action == "mute":
            return await st.mute(name, claims, body["identity"], body.get("seconds", 600))
        if action == "unmute":
            return await st.unmute(name, claims, body["identity"])
        if action == "kick":
            return await st.kick(name, claims, body["identity"])
        if action == "ban":
            return await st.ban(name, claims, body["identity"], str(body.get("reason", "")))
        if action == "unban":
            return await st.unban(name, claims, body["identity"])
        if action == "role":
            return await st.set_role(name, claims, body["identity"], body["role"])
        if action == "revoke":
            return await st.revoke(name, claims, body["jti"])
        if action == "rollback":
            return await st.rollback(
                name, claims, body["identity"], since_seq=body.get("since_seq"), since_time=body.get("since_time")
            )
        if action == "undo_rollback":
            return await st.undo_rollback(name, claims, body["rollback"])
    except KeyError as exc:
        raise StewardError(400, "bad_request", f"{action} needs {exc.args[0]!r}") from None
    raise StewardError(400, "bad_request", f"unknown action {action!r}")


async def list_invites(request: web.Request, st: Stewardship, name: str, claims: Claims) -> Any:
    return {"invites": await st.invites(name)}


async def create_invite(request: web.Request, st: Stewardship, name: str, claims: Claims) -> Any:
    body = await _body(request)
    ttl = body.get("ttl", DEFAULT_TTL)
    if type(ttl) not in (int, float):
        raise StewardError(400, "bad_request", "ttl must be a number of seconds")
    label = body.get("name", "")
    if type(label) is not str:
        raise StewardError(400, "bad_request", "name must be a string")
    base = request.app[CONFIG].public_url or str(request.url.origin())
    invite = await st.invite(name, claims, str(body.get("role", "dreamer")), label, float(ttl), base)
    return _json(invite, status=201)


async def revoke_invite(request: web.Request, st: Stewardship, name: str, claims: Claims) -> Any:
    return await st.revoke(name, claims, request.match_info["jti"])


async def audit(request: web.Request, st: Stewardship, name: str, claims: Claims) -> Any:
    try:
        limit = min(max(int(request.query.get("limit", "100")), 1), 1000)
        before_raw = request.query.get("before")
        before = int(before_raw) if before_raw is not None else None
    except ValueError:
        raise StewardError(400, "bad_request", "limit and before must be integers") from None
    entries = await st.audit_log(name, limit=limit, before=before)
    return {"audit": entries, "next": entries[-1]["id"] if len(entries) == limit else None}


def setup_steward_routes(app: web.Application) -> None:
    base = "/api/sanctuaries/{sanctuary}"
    app.router.add_get(f"{base}/me", steward_route(me, steward=False))
    app.router.add_get(f"{base}/policy", steward_route(get_policy))
    app.router.add_patch(f"{base}/policy", steward_route(patch_policy))
    app.router.add_get(f"{base}/members", steward_route(get_members))
    app.router.add_post(f"{base}/moderation", steward_route(moderate))
    app.router.add_get(f"{base}/invites", steward_route(list_invites))
    app.router.add_post(f"{base}/invites", steward_route(create_invite))
    app.router.add_delete(f"{base}/invites/{{jti}}", steward_route(revoke_invite))
    app.router.add_get(f"{base}/audit", steward_route(audit))
