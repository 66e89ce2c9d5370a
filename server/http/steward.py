"""The steward's HTTP API (SPEC P11): policy, members, moderation, invites, audit.

Every route needs ``Authorization: Bearer <token>`` of a steward of the
sanctuary (a steward token scoped to it or to ``*``, or a steward role override
here), except ``/me``, which any token valid here may call; the rule is the one
of every HTTP route (SPEC P14, :mod:`.access`). Errors are
``{"error": {"code": ..., "message": ...}}``.

Routes::

    GET    /api/sanctuaries/{id}/me                  who the token is here: {id, name, role, sanctuary, exp}
    GET    /api/sanctuaries/{id}/policy              {policy}
    PATCH  /api/sanctuaries/{id}/policy {fields}     edit some fields; applied and broadcast at once -> {policy}
    GET    /api/sanctuaries/{id}/members             {connected, banned, muted, roles}
    POST   /api/sanctuaries/{id}/moderation {action, ...}   one act -> its audit entry
    GET    /api/sanctuaries/{id}/invites             [{jti, sub, role, name, exp, created, revoked, expired}]
    POST   /api/sanctuaries/{id}/invites {role, name, ttl}   201 {token, url, jti, sub, role, name, exp}
    DELETE /api/sanctuaries/{id}/invites/{jti}       revoke a token of this sanctuary -> its audit entry
    GET    /api/sanctuaries/{id}/audit[?limit=N&before=ID]   newest first

Moderation actions: ``remove {fragment}``, ``mute {identity, seconds}``,
``unmute {identity}``, ``kick {identity}``, ``ban {identity, reason?}``,
``unban {identity}``, ``role {identity, role|null}``, ``revoke {jti}``,
``rollback {identity, since_seq | since_time}``, ``undo_rollback {rollback}``.
A field of the wrong type, a missing one or one the action does not take is a 400.
A steward of one sanctuary may revoke only tokens scoped to it (P11).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from aiohttp import web

from dreamloom.protocol.validate import ID_RE

from ..auth import DEFAULT_TTL, Claims
from ..services import SERVICES
from ..stewardship import Stewardship
from .access import Caller, Need, admit
from .errors import HttpError, json_response, read_json_body, sanctuary_id

Handler = Callable[[web.Request, Stewardship, str, Caller], Awaitable[Any]]


#: Steward answers hold tokens and member lists: never cached.
NO_STORE = {"Cache-Control": "no-store"}


def steward_route(fn: Handler, *, need: Need = Need.STEWARD) -> Callable[[web.Request], Awaitable[web.StreamResponse]]:
    """Wrap a handler: sanctuary id, the access rule (P14) for ``need``, JSON answer, typed errors."""

    async def handler(request: web.Request) -> web.StreamResponse:
        name = sanctuary_id(request)
        caller = await admit(request, name, need)
        result = await fn(request, request.app[SERVICES].stewardship, name, caller)
        if isinstance(result, web.StreamResponse):
            return result
        return json_response(result, headers=NO_STORE)

    return handler


async def me(request: web.Request, st: Stewardship, name: str, caller: Caller) -> Any:
    claims = caller.holder
    return {
        "id": claims.sub,
        "name": claims.name,
        "role": caller.role,
        "token_role": claims.role,
        "sanctuary": claims.sanctuary,
        "exp": claims.exp,
        "banned": caller.banned,
    }


async def get_policy(request: web.Request, st: Stewardship, name: str, caller: Caller) -> Any:
    return {"policy": (await st.rules.rules(name)).policy.to_wire()}


async def patch_policy(request: web.Request, st: Stewardship, name: str, caller: Caller) -> Any:
    body = await read_json_body(request)
    if not body:
        raise HttpError("bad_request", "give the policy fields to change")
    return {"policy": await st.acts.set_policy(name, caller.holder, body)}


async def get_members(request: web.Request, st: Stewardship, name: str, caller: Caller) -> Any:
    return await st.acts.members(name)


# -- moderation actions ------------------------------------------------------------
def _is_id(value: Any) -> bool:
    return type(value) is str and 0 < len(value) <= 128 and ID_RE.match(value) is not None


def _is_number(value: Any) -> bool:
    return type(value) in (int, float)


#: The type of every field a moderation action may carry: (check, what the 400 says it must be).
_FIELDS: dict[str, tuple[Callable[[Any], bool], str]] = {
    "identity": (_is_id, "an identity id (letters, digits, _ . : -)"),
    "fragment": (_is_id, "a fragment id (letters, digits, _ . : -)"),
    "seconds": (_is_number, "a number of seconds"),
    "reason": (lambda v: type(v) is str, "a string"),
    "role": (lambda v: v is None or type(v) is str, "a role or null"),
    "jti": (lambda v: type(v) is str, "a token id"),
    "since_seq": (lambda v: type(v) is int, "an integer seq"),
    "since_time": (_is_number, "a unix time in seconds"),
    "rollback": (lambda v: type(v) is int, "the id of a rollback record"),
}

Act = Callable[[Stewardship, str, Claims, dict[str, Any]], Awaitable[dict[str, Any]]]


@dataclass(frozen=True, slots=True)
class Action:
    """One moderation action: the fields it needs, those it may take, and what it does."""

    required: tuple[str, ...]
    optional: tuple[str, ...]
    run: Act


_ACTIONS: dict[str, Action] = {
    "remove": Action(("fragment",), (), lambda st, n, by, f: st.acts.remove(n, by, f["fragment"])),
    "mute": Action(
        ("identity",), ("seconds",), lambda st, n, by, f: st.acts.mute(n, by, f["identity"], f.get("seconds", 600))
    ),
    "unmute": Action(("identity",), (), lambda st, n, by, f: st.acts.unmute(n, by, f["identity"])),
    "kick": Action(("identity",), (), lambda st, n, by, f: st.acts.kick(n, by, f["identity"])),
    "ban": Action(
        ("identity",), ("reason",), lambda st, n, by, f: st.acts.ban(n, by, f["identity"], f.get("reason", ""))
    ),
    "unban": Action(("identity",), (), lambda st, n, by, f: st.acts.unban(n, by, f["identity"])),
    "role": Action(("identity", "role"), (), lambda st, n, by, f: st.acts.set_role(n, by, f["identity"], f["role"])),
    "revoke": Action(("jti",), (), lambda st, n, by, f: st.acts.revoke(n, by, f["jti"])),
    "rollback": Action(
        ("identity",),
        ("since_seq", "since_time"),
        lambda st, n, by, f: st.rollbacks.rollback(
            n, by, f["identity"], since_seq=f.get("since_seq"), since_time=f.get("since_time")
        ),
    ),
    "undo_rollback": Action(("rollback",), (), lambda st, n, by, f: st.rollbacks.undo(n, by, f["rollback"])),
}


def _action_fields(body: dict[str, Any]) -> tuple[Action, dict[str, Any]]:
    """The action a moderation body names and its fields, each of the right type; else a 400."""
    name = body.get("action")
    action = _ACTIONS.get(name) if type(name) is str else None
    if action is None:
        raise HttpError("bad_request", f"unknown action {name!r}: one of {', '.join(_ACTIONS)}")
    fields = {k: v for k, v in body.items() if k != "action"}
    unknown = set(fields) - set(action.required) - set(action.optional)
    if unknown:
        raise HttpError("bad_request", f"{name} takes no field {', '.join(sorted(unknown))}")
    for key in action.required:
        if key not in fields:
            raise HttpError("bad_request", f"{name} needs {key!r}")
    for key, value in fields.items():
        check, what = _FIELDS[key]
        if not check(value):
            raise HttpError("bad_request", f"{name}: {key} must be {what}")
    return action, fields


async def moderate(request: web.Request, st: Stewardship, name: str, caller: Caller) -> Any:
    action, fields = _action_fields(await read_json_body(request))
    return await action.run(st, name, caller.holder, fields)


async def list_invites(request: web.Request, st: Stewardship, name: str, caller: Caller) -> Any:
    return {"invites": await st.invites.listing(name)}


async def create_invite(request: web.Request, st: Stewardship, name: str, caller: Caller) -> Any:
    body = await read_json_body(request)
    unknown = set(body) - {"role", "name", "ttl"}
    if unknown:
        raise HttpError("bad_request", f"an invite takes no field {', '.join(sorted(unknown))}")
    ttl = body.get("ttl", DEFAULT_TTL)
    if type(ttl) not in (int, float):
        raise HttpError("bad_request", "ttl must be a number of seconds")
    label = body.get("name", "")
    if type(label) is not str:
        raise HttpError("bad_request", "name must be a string")
    role = body.get("role", "dreamer")
    if type(role) is not str:
        raise HttpError("bad_request", "role must be a string")
    base = request.app[SERVICES].config.public_url or str(request.url.origin())
    invite = await st.invites.invite(name, caller.holder, role, label, float(ttl), base)
    return json_response(invite, 201, NO_STORE)


async def revoke_invite(request: web.Request, st: Stewardship, name: str, caller: Caller) -> Any:
    return await st.acts.revoke(name, caller.holder, request.match_info["jti"])


async def audit(request: web.Request, st: Stewardship, name: str, caller: Caller) -> Any:
    try:
        limit = min(max(int(request.query.get("limit", "100")), 1), 1000)
        before_raw = request.query.get("before")
        before = int(before_raw) if before_raw is not None else None
    except ValueError:
        raise HttpError("bad_request", "limit and before must be integers") from None
    entries = await st.audit.page(name, limit=limit, before=before)
    return {"audit": entries, "next": entries[-1]["id"] if len(entries) == limit else None}


def setup_steward_routes(app: web.Application) -> None:
    base = "/api/sanctuaries/{sanctuary}"
    app.router.add_get(f"{base}/me", steward_route(me, need=Need.SELF))
    app.router.add_get(f"{base}/policy", steward_route(get_policy))
    app.router.add_patch(f"{base}/policy", steward_route(patch_policy))
    app.router.add_get(f"{base}/members", steward_route(get_members))
    app.router.add_post(f"{base}/moderation", steward_route(moderate))
    app.router.add_get(f"{base}/invites", steward_route(list_invites))
    app.router.add_post(f"{base}/invites", steward_route(create_invite))
    app.router.add_delete(f"{base}/invites/{{jti}}", steward_route(revoke_invite))
    app.router.add_get(f"{base}/audit", steward_route(audit))
