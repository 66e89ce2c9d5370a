"""Who a hello is (SPEC P1-P3, S6): tokens verified, guests issued one, replicas owned.

Identities come from signed tokens only. A hello without one, where guests may
join, is issued a guest token, handed over in the welcome: nothing a client can
read from the wire (a replica id, a stamp, a name) lets it act as someone else.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import cast

from dreamloom.protocol import ErrorCode, Hello, Identity, ProtocolError
from dreamloom.protocol.messages import Role
from dreamloom.protocol.ops import Origin

from ..auth import Claims, TokenAuthority
from ..store import Store
from .revocations import Revocations
from .rules import RulesBook

#: Client replica ids may not start with this: the server's own ops use ``dreamloom:server``.
RESERVED_REPLICA_PREFIX = "dreamloom:"


@dataclass(frozen=True, slots=True)
class Admission:
    """A hello accepted: who it is, the token it holds, and the guest token issued if it came without one."""

    identity: Identity
    claims: Claims
    issued_token: str | None = None


def make_identity(id_: str, name: str, role: str, origin: str) -> Identity:
    """An identity from checked strings (roles and origins come from tokens and rules, both validated)."""
    return Identity(id_, name, cast(Role, role), cast(Origin, origin))


def compatible(role: str, origin: str) -> bool:
    """Weavers stay AI and people stay organic whatever role a steward gives them."""
    if origin == "ai":
        return role in ("weaver", "viewer")
    return role in ("steward", "dreamer", "viewer")


class Access:
    """Verifies tokens and admits hellos."""

    def __init__(self, store: Store, authority: TokenAuthority, rules: RulesBook, revocations: Revocations) -> None:
        self.store = store
        self.authority = authority
        self.rules = rules
        self.revocations = revocations

    async def verify(self, token: str) -> Claims:
        """The claims of a valid, unrevoked token, or :class:`ProtocolError` (any sanctuary)."""
        claims = self.authority.verify(token)
        if await self.revocations.is_revoked(claims.jti):
            raise ProtocolError(ErrorCode.UNAUTHORIZED, "this token was revoked")
        return claims

    async def authenticate(self, hello: Hello, sanctuary: str) -> Admission:
        """Who a ``hello`` is in ``sanctuary``, or :class:`ProtocolError`, in the order of P3."""
        if hello.replica.startswith(RESERVED_REPLICA_PREFIX):
            raise ProtocolError(
                ErrorCode.FORBIDDEN, f"replica ids starting with {RESERVED_REPLICA_PREFIX!r} are reserved"
            )
        rules = await self.rules.rules(sanctuary)
        policy = rules.policy
        issued: str | None = None
        if hello.token:
            claims = await self.verify(hello.token)
            if not claims.covers(sanctuary):
                raise ProtocolError(ErrorCode.FORBIDDEN, "this token is for another sanctuary")
            if claims.guest and policy.access == "invite":
                raise ProtocolError(
                    ErrorCode.UNAUTHORIZED, "this sanctuary is invite-only: a guest token does not open it"
                )
        elif policy.access == "invite":
            raise ProtocolError(ErrorCode.UNAUTHORIZED, "this sanctuary is invite-only: join with a token")
        else:
            issued, claims = self.authority.issue_guest(hello.name.strip(), weaver=hello.weaver)
        # A client that says it is a weaver is one, whatever token it holds; a weaver token is
        # AI whatever the client says (P1).
        weaver = claims.role == "weaver" or hello.weaver
        if weaver and claims.guest and not policy.guest_weavers:
            raise ProtocolError(
                ErrorCode.FORBIDDEN, "weavers without a token are not admitted here: ask a steward for a weaver token"
            )
        origin = "ai" if weaver else "organic"
        role = claims.role if compatible(claims.role, origin) else "weaver"
        identity = make_identity(claims.sub, _display_name(claims, hello, role), role, origin)
        if identity.id in rules.banned:
            raise ProtocolError(ErrorCode.BANNED, "you are banned from this sanctuary")
        override = rules.roles.get(identity.id)
        if override is not None and compatible(override, identity.origin):
            identity = make_identity(identity.id, identity.name, override, identity.origin)
        owner = await self.store.bind_replica(sanctuary, hello.replica, identity.id)
        if owner != identity.id:
            raise ProtocolError(
                ErrorCode.REPLICA_IN_USE, "this replica id belongs to someone else here: pick a new one"
            )
        return Admission(identity, claims, issued)


def _display_name(claims: Claims, hello: Hello, role: str) -> str:
    # A guest names itself in each hello (people rename themselves); an invitation names its holder.
    chosen = hello.name.strip()
    if claims.guest:
        return chosen or claims.name or role
    return claims.name or chosen or role
