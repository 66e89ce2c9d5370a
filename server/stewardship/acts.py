"""Moderation acts (SPEC P10, P11): policy edits, mutes, kicks, bans, roles, revocations, removals.

Each act runs inside the sanctuary's actor (:func:`.actor.in_actor`), so it
applies between two batches and reaches live connections at once; each is
persisted where it lasts and written to the audit log.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from dreamloom.protocol import Clock, CloseCode, Error, ErrorCode, ops
from dreamloom.protocol.messages import ROLES
from dreamloom.protocol.validate import ID_RE

from ..auth import ALL_SANCTUARIES, Claims
from ..hub import Hub
from ..sanctuary import Sanctuary
from ..store import Store
from .access import compatible, make_identity
from .actor import in_actor, members_of
from .audit import AuditLog
from .errors import StewardshipError, bad, check_id
from .invites import Invites
from .revocations import Revocations
from .rollback import SERVER_REPLICA
from .rules import RulesBook

MAX_MUTE = 30 * 24 * 3600.0


class Moderation:
    """What a steward does to a sanctuary and its members."""

    def __init__(
        self,
        hub: Hub,
        rules: RulesBook,
        revocations: Revocations,
        invites: Invites,
        audit: AuditLog,
        store: Store,
        clock: Callable[[], float],
    ) -> None:
        self.hub = hub
        self.rules = rules
        self.revocations = revocations
        self.invites = invites
        self.audit = audit
        self.store = store
        self.clock = clock

    # -- policy -----------------------------------------------------------
    async def set_policy(self, name: str, by: Claims, changes: dict[str, Any]) -> dict[str, Any]:
        """Apply a policy edit at once, persist it, broadcast it to every member, audit it."""
        rules = await self.rules.rules(name)
        try:
            new = rules.policy.updated(changes)
        except ValueError as exc:
            raise bad(str(exc)) from None

        async def apply(sanctuary: Sanctuary | None) -> None:
            rules.policy = new
            await self.rules.persist(name, rules)
            if sanctuary is not None:
                sanctuary.broadcast_policy()

        await in_actor(self.hub, name, apply)
        await self.audit.add(name, by, "policy", changes=_jsonable(changes))
        return new.to_wire()

    # -- members ----------------------------------------------------------
    async def members(self, name: str) -> dict[str, Any]:
        """Who is connected (with role, origin and token id), banned, muted and re-roled."""
        rules = await self.rules.rules(name)
        now = self.clock()
        live = self.hub.loaded(name)
        connected = []
        for m in list(live.members.values()) if live is not None else []:
            claims = m.claims
            connected.append(
                {
                    "sid": m.sid,
                    "id": m.identity.id,
                    "name": m.identity.name,
                    "role": m.identity.role,
                    "origin": m.identity.origin,
                    "color": m.peer.color,
                    # Only tokens of this sanctuary: a wider token (an operator's, a guest's) is
                    # not this steward's to see or revoke (P11).
                    "token": claims.jti if claims is not None and claims.sanctuary == name else None,
                    "muted_until": rules.muted_until(m.identity.id, now),
                }
            )
        return {
            "connected": connected,
            "banned": [{"id": k, **v} for k, v in rules.banned.items()],
            "muted": [{"id": k, "until": u} for k, u in rules.muted.items() if u > now],
            "roles": [{"id": k, "role": r} for k, r in rules.roles.items()],
        }

    async def mute(self, name: str, by: Claims, identity: str, seconds: float) -> dict[str, Any]:
        check_id(identity)
        if type(seconds) not in (int, float) or not 0 < seconds <= MAX_MUTE:
            raise bad(f"seconds must be within (0, {MAX_MUTE:g}]")
        rules = await self.rules.rules(name)
        until = self.clock() + float(seconds)

        async def apply(sanctuary: Sanctuary | None) -> int:
            rules.muted = {k: u for k, u in rules.muted.items() if u > self.clock()}
            rules.muted[identity] = until
            await self.rules.persist(name, rules)
            hit = members_of(sanctuary, identity)
            for m in hit:
                m.send(Error(ErrorCode.MUTED, f"a steward muted you for {seconds:g} seconds: you can still watch"))
            return len(hit)

        live = await in_actor(self.hub, name, apply)
        return await self.audit.add(name, by, "mute", target=identity, seconds=seconds, until=until, connections=live)

    async def unmute(self, name: str, by: Claims, identity: str) -> dict[str, Any]:
        check_id(identity)
        rules = await self.rules.rules(name)

        async def apply(sanctuary: Sanctuary | None) -> None:
            rules.muted.pop(identity, None)
            await self.rules.persist(name, rules)

        await in_actor(self.hub, name, apply)
        return await self.audit.add(name, by, "unmute", target=identity)

    async def kick(self, name: str, by: Claims, identity: str) -> dict[str, Any]:
        check_id(identity)

        async def apply(sanctuary: Sanctuary | None) -> int:
            hit = members_of(sanctuary, identity)
            for m in hit:
                m.close(CloseCode.KICKED, "a steward removed you from this sanctuary")
            return len(hit)

        n = await in_actor(self.hub, name, apply)
        if n == 0:
            raise StewardshipError("not_found", f"{identity!r} is not connected")
        return await self.audit.add(name, by, "kick", target=identity, connections=n)

    async def ban(self, name: str, by: Claims, identity: str, reason: str = "") -> dict[str, Any]:
        check_id(identity)
        if by.sub == identity:
            raise bad("a steward cannot ban themselves")
        rules = await self.rules.rules(name)

        async def apply(sanctuary: Sanctuary | None) -> int:
            hit = members_of(sanctuary, identity)
            display = hit[0].identity.name if hit else ""
            rules.banned[identity] = {"name": display, "by": by.sub, "time": self.clock(), "reason": reason[:200]}
            await self.rules.persist(name, rules)
            for m in hit:
                m.close(CloseCode.BANNED, "a steward banned you from this sanctuary")
            return len(hit)

        n = await in_actor(self.hub, name, apply)
        return await self.audit.add(name, by, "ban", target=identity, reason=reason[:200], connections=n)

    async def unban(self, name: str, by: Claims, identity: str) -> dict[str, Any]:
        check_id(identity)
        rules = await self.rules.rules(name)

        async def apply(sanctuary: Sanctuary | None) -> None:
            rules.banned.pop(identity, None)
            await self.rules.persist(name, rules)

        await in_actor(self.hub, name, apply)
        return await self.audit.add(name, by, "unban", target=identity)

    async def set_role(self, name: str, by: Claims, identity: str, role: str | None) -> dict[str, Any]:
        """Give an identity another role here (``None``: back to its token's); live connections change at once."""
        check_id(identity)
        if role is not None and role not in ROLES:
            raise bad(f"role must be one of {', '.join(ROLES)} or null")
        rules = await self.rules.rules(name)

        async def apply(sanctuary: Sanctuary | None) -> int:
            hit = members_of(sanctuary, identity)
            for m in hit:
                if role is not None and not compatible(role, m.identity.origin):
                    raise bad(f"a {m.identity.origin} identity cannot be a {role}")
            if role is None:
                rules.roles.pop(identity, None)
            else:
                rules.roles[identity] = role
            await self.rules.persist(name, rules)
            for m in hit:
                claims = m.claims
                back = claims.role if claims is not None and compatible(claims.role, m.identity.origin) else None
                new_role = role or back or ("weaver" if m.identity.origin == "ai" else "dreamer")
                m.set_identity(make_identity(m.identity.id, m.identity.name, new_role, m.identity.origin), m.replica)
                if sanctuary is not None:
                    sanctuary.peer_changed(m)
            return len(hit)

        n = await in_actor(self.hub, name, apply)
        return await self.audit.add(name, by, "role", target=identity, role=role, connections=n)

    # -- tokens -----------------------------------------------------------
    async def revoke(self, name: str, by: Claims, jti: str) -> dict[str, Any]:
        """Revoke a token everywhere; its live connections close with 4007 at once.

        A steward of one sanctuary may revoke only tokens the server knows to be scoped to it
        (its invites, or a connection's token); a server-wide steward may revoke any (P11).
        """
        if type(jti) is not str or not 8 <= len(jti) <= 64 or not ID_RE.match(jti):
            raise bad("jti must be a token id")
        if not server_wide_steward(by) and not await self._scoped_here(name, jti):
            raise StewardshipError(
                ErrorCode.FORBIDDEN,
                "this is not a token of this sanctuary: only a steward of every sanctuary may revoke it",
            )
        await self.revocations.add(jti, by.sub, name)
        closed = 0
        for sanctuary in self.hub.live():

            async def apply(s: Sanctuary | None) -> int:
                if s is None:
                    return 0
                hit = [m for m in s.members.values() if m.claims is not None and m.claims.jti == jti]
                for m in hit:
                    m.close(CloseCode.REVOKED, "your token was revoked")
                return len(hit)

            closed += await in_actor(self.hub, sanctuary.name, apply)
        return await self.audit.add(name, by, "revoke", token=jti, connections=closed)

    async def _scoped_here(self, name: str, jti: str) -> bool:
        """Whether ``jti`` is a token scoped to ``name`` alone: a live connection's, or one of its invites."""
        live = self.hub.loaded(name)
        for member in list(live.members.values()) if live is not None else []:
            claims = member.claims
            if claims is not None and claims.jti == jti:
                return claims.sanctuary == name
        # Invites are issued by this server for this sanctuary only, so their record proves the scope.
        return await self.invites.issued_here(name, jti)

    # -- fragments --------------------------------------------------------
    async def remove(self, name: str, by: Claims, fragment: str) -> dict[str, Any]:
        check_id(fragment)

        async def apply(sanctuary: Sanctuary | None) -> list[int]:
            assert sanctuary is not None
            frag = sanctuary.tapestry.get(fragment)
            if frag is None:
                raise StewardshipError("not_found", f"no fragment {fragment!r}")
            if frag.deleted:
                return []
            clock = Clock(SERVER_REPLICA, sanctuary.tapestry.max_counter)
            return await sanctuary.apply_local([ops.delete(fragment, clock.tick())], by.sub)

        seqs = await in_actor(self.hub, name, apply, load=True)
        return await self.audit.add(name, by, "remove", target=fragment, seqs=seqs)


def server_wide_steward(claims: Claims) -> bool:
    """A steward of every sanctuary by token (the operator's): the only one whose authority spans sanctuaries."""
    return claims.sanctuary == ALL_SANCTUARIES and claims.role == "steward"


def _jsonable(changes: dict[str, Any]) -> dict[str, Any]:
    return {k: list(v) if isinstance(v, tuple) else v for k, v in changes.items()}
