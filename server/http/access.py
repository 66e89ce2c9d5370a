"""Who may use the HTTP API of a sanctuary (SPEC P14): one rule, checked by every route.

Theory of operation:

1. The rule is the hello's (P3), applied to ``Authorization: Bearer <token>``.
   A token that is sent is always checked, in an ``open`` sanctuary too:
   invalid or revoked → 401 ``unauthorized``, expired → 401 ``token_expired``,
   scoped to another sanctuary → 403 ``forbidden``.
2. Without a token, a caller of an ``open`` sanctuary is a guest dreamer (as a
   hello without a token is); an ``invite`` sanctuary answers 401
   ``unauthorized``. A guest token (``gst``) is not an invite: it never opens
   an ``invite`` sanctuary, whatever role a steward gave its identity.
3. A banned identity is refused 403 ``banned``; a steward's role override for
   the identity replaces the token's role when it keeps the origin (P10).
4. What a route needs is a :class:`Need`: ``READ`` (info, tapestry, ops,
   checkpoints), ``WRITE`` (a role that may write ops: steward, dreamer or
   weaver, never a viewer), ``STEWARD`` (the steward API, P11), ``SELF``
   (``/me``: any token valid here; it reports a ban rather than refusing it).
5. Errors are :class:`~.errors.HttpError`, answered as ``{"error": {"code", "message"}}``.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

from aiohttp import web

from dreamloom.protocol import ErrorCode, ProtocolError

from ..auth import Claims
from ..policy import SanctuaryRules
from ..services import SERVICES
from ..stewardship import compatible
from .errors import HttpError


class Need(enum.Enum):
    """What a route asks of its caller."""

    SELF = "self"
    READ = "read"
    WRITE = "write"
    STEWARD = "steward"


#: Roles whose ops a sanctuary accepts (P4): they may also write over HTTP.
WRITERS = frozenset({"steward", "dreamer", "weaver"})
#: The role of a caller without a token in an ``open`` sanctuary, as at hello (P3).
GUEST_ROLE = "dreamer"


@dataclass(frozen=True, slots=True)
class Caller:
    """Who called a route of a sanctuary: the verified token (None for a guest without one) and the role here."""

    role: str
    claims: Claims | None = None
    banned: bool = False

    @property
    def holder(self) -> Claims:
        """The token's claims, for routes that need a token (``SELF``, ``STEWARD``)."""
        if self.claims is None:
            raise HttpError(ErrorCode.UNAUTHORIZED, "a token is required (Authorization: Bearer)")
        return self.claims


_VERIFIED = web.RequestKey("dreamloom_http_claims", Claims)


def bearer(request: web.Request) -> str | None:
    """The token of an ``Authorization: Bearer`` header, if any."""
    scheme, _, value = request.headers.get("Authorization", "").partition(" ")
    return (value.strip() or None) if scheme.lower() == "bearer" else None


async def verified_claims(request: web.Request) -> Claims | None:
    """The claims of the request's token, checked once per request (signature, expiry, revocation)."""
    if _VERIFIED in request:
        return request[_VERIFIED]
    token = bearer(request)
    if token is None:
        return None
    try:
        claims = await request.app[SERVICES].stewardship.access.verify(token)
    except ProtocolError as exc:
        raise HttpError(exc.code, exc.reason, 401) from None
    request[_VERIFIED] = claims
    return claims


async def admit(request: web.Request, sanctuary: str, need: Need) -> Caller:
    """The caller of a route of ``sanctuary`` if it may do what ``need`` says, else :class:`HttpError`."""
    claims = await verified_claims(request)
    # Refusals that need no sanctuary rules come first, so such callers never make the server load any.
    if claims is None and need in (Need.SELF, Need.STEWARD):
        raise HttpError(ErrorCode.UNAUTHORIZED, "a token is required (Authorization: Bearer)")
    if claims is not None and not claims.covers(sanctuary):
        raise HttpError(ErrorCode.FORBIDDEN, "this token is for another sanctuary")
    rules = await request.app[SERVICES].stewardship.rules.rules(sanctuary)
    if claims is None:
        return _guest(rules)
    caller = _token_holder(rules, claims)
    if caller.banned and need is not Need.SELF:
        raise HttpError(ErrorCode.BANNED, "you are banned from this sanctuary")
    if need is Need.WRITE and caller.role not in WRITERS:
        raise HttpError(ErrorCode.FORBIDDEN, f"a {caller.role} may read this sanctuary, not write to it")
    if need is Need.STEWARD and caller.role != "steward":
        raise HttpError(ErrorCode.FORBIDDEN, "only a steward of this sanctuary may do this")
    return caller


async def may_enter(request: web.Request, sanctuary: str) -> bool:
    """Whether the caller may read ``sanctuary`` (the landing list shows only those)."""
    rules = await request.app[SERVICES].stewardship.rules.rules(sanctuary)
    if rules.policy.access == "open":
        return True
    try:
        await admit(request, sanctuary, Need.READ)
    except HttpError:
        return False
    return True


def _guest(rules: SanctuaryRules) -> Caller:
    if rules.policy.access == "invite":
        raise HttpError(
            ErrorCode.UNAUTHORIZED, "this sanctuary is invite-only: send your token (Authorization: Bearer)"
        )
    return Caller(GUEST_ROLE)


def _token_holder(rules: SanctuaryRules, claims: Claims) -> Caller:
    if claims.guest and rules.policy.access == "invite":
        raise HttpError(
            ErrorCode.UNAUTHORIZED, "this sanctuary is invite-only: a guest token does not open it, an invite does"
        )
    origin = "ai" if claims.role == "weaver" else "organic"
    override = rules.roles.get(claims.sub)
    role = override if override is not None and compatible(override, origin) else claims.role
    return Caller(role, claims, claims.sub in rules.banned)
