"""Stewardship: who may join, the rules of each sanctuary, and what stewards do (SPEC P1-P12).

One :class:`Stewardship` per server. It

* authenticates every ``hello`` (token or guest, access mode, bans, revocations,
  role overrides) and remembers the verified claims on the connection's request;
* makes each sanctuary's :class:`HarmonyGate`, all sharing that sanctuary's
  :class:`SanctuaryRules`;
* carries out moderation acts and policy edits inside the sanctuary actor, so
  they take effect between two batches and on live connections at once;
* writes every act to the sanctuary's audit log (store records of kind ``audit``).

Rollback of an identity (a weaver, usually) since a seq: the target state is the
tapestry at that seq with every later op *except* that identity's replayed on
it. For each fragment the identity touched, the server writes, with fresh
stamps from its own replica, the values that differ between now and the target.
People's later edits to other fragments are never touched, and edits to the
same fragments made by others are part of the target, so they stay too. The
ops written and the registers they overwrote are recorded, so the rollback can
be undone (and that undo undone) as one act.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeVar, cast

from aiohttp import web

from dreamloom.protocol import (
    DEFAULT_LIMITS,
    Clock,
    CloseCode,
    Error,
    ErrorCode,
    Hello,
    Identity,
    Op,
    ProtocolError,
    Stamp,
    Tapestry,
    inverse,
    ops,
)
from dreamloom.protocol.canon import pack
from dreamloom.protocol.messages import ROLES, Role
from dreamloom.protocol.ops import SETTABLE, Origin
from dreamloom.protocol.validate import ID_RE, check_op

from .auth import ALL_SANCTUARIES, Claims, TokenAuthority
from .policy import HarmonyGate, HarmonyPolicy, SanctuaryRules
from .store import LogEntry, Store

if TYPE_CHECKING:
    from .hub import Hub
    from .sanctuary import Sanctuary
    from .session import Session

log = logging.getLogger("dreamloom.moderation")

#: The verified token of a WebSocket connection, kept on its request (never logged).
CLAIMS = web.RequestKey("dreamloom_claims", Claims)
#: Replica id of ops the server writes itself; clients may not use the ``dreamloom:`` prefix.
SERVER_REPLICA = "dreamloom:server"
RESERVED_REPLICA_PREFIX = "dreamloom:"
#: Store records of these kinds: the audit log, invites, rollbacks (for undo), revocations.
AUDIT, INVITE, ROLLBACK, REVOCATION = "audit", "invite", "rollback", "revocation"
#: Revocations are server-wide: they live under this pseudo sanctuary id (never a valid id).
SERVER_RECORDS = "*"
MAX_MUTE = 30 * 24 * 3600.0
MAX_ROLLBACK_OPS = 200_000

T = TypeVar("T")


class StewardError(Exception):
    """A moderation request that cannot be done; carries an HTTP status and an error code."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message


def _bad(message: str) -> StewardError:
    return StewardError(400, "bad_request", message)


def make_identity(id_: str, name: str, role: str, origin: str) -> Identity:
    """An identity from checked strings (roles and origins come from tokens and rules, both validated)."""
    return Identity(id_, name, cast(Role, role), cast(Origin, origin))


@dataclass(frozen=True, slots=True)
class Admission:
    """A hello accepted: who it is, and the guest token issued to it if it came without one."""

    identity: Identity
    issued_token: str | None = None


def _display_name(claims: Claims, hello: Hello, role: str) -> str:
    # A guest names itself in each hello (people rename themselves); an invitation names its holder.
    chosen = hello.name.strip()
    if claims.guest:
        return chosen or claims.name or role
    return claims.name or chosen or role


def compatible(role: str, origin: str) -> bool:
    """Weavers stay AI and people stay organic whatever role a steward gives them."""
    if origin == "ai":
        return role in ("weaver", "viewer")
    return role in ("steward", "dreamer", "viewer")


class Stewardship:
    """Access control, per-sanctuary rules and moderation for one server."""

    def __init__(self, store: Store, authority: TokenAuthority, clock: Callable[[], float] = time.time) -> None:
        self.store = store
        self.authority = authority
        self.clock = clock
        self.hub: Hub | None = None
        self._rules: dict[str, SanctuaryRules] = {}
        self._locks: dict[str, asyncio.Lock] = {}
        self._revoked: set[str] = set()
        self._revoked_loaded = False
        self._revoked_lock = asyncio.Lock()

    # -- rules ------------------------------------------------------------
    def gate_for(self, name: str) -> HarmonyGate:
        """The gate of a sanctuary being loaded (the hub's gate factory)."""
        # Through a lambda: tests may swap the clock of a running server.
        return HarmonyGate(self._rules.setdefault(name, SanctuaryRules()), lambda: self.clock(), self._session_revoked)

    def _session_revoked(self, session: Session) -> bool:
        if not self._revoked:
            return False
        claims = session.request.get(CLAIMS)
        return claims is not None and claims.jti in self._revoked

    async def rules(self, name: str) -> SanctuaryRules:
        """The rules of a sanctuary, loaded from its settings on first use."""
        rules = self._rules.setdefault(name, SanctuaryRules())
        if not rules.loaded:
            async with self._lock(name):
                if not rules.loaded:
                    info = await self.store.get_sanctuary(name)
                    rules.load_settings(info.settings if info is not None else {})
        return rules

    def _lock(self, name: str) -> asyncio.Lock:
        return self._locks.setdefault(name, asyncio.Lock())

    async def _persist(self, name: str, rules: SanctuaryRules) -> None:
        # Read-modify-write: other parts of the server keep their own keys in the settings map.
        async with self._lock(name):
            info = await self.store.ensure_sanctuary(name)
            settings = dict(info.settings)
            settings.update(rules.to_settings())
            await self.store.set_settings(name, settings)

    async def is_revoked(self, jti: str) -> bool:
        if not self._revoked_loaded:
            async with self._revoked_lock:
                if not self._revoked_loaded:
                    before: int | None = None
                    while True:
                        page = await self.store.records(SERVER_RECORDS, REVOCATION, limit=1000, before=before)
                        self._revoked.update(str(r.data.get("jti")) for r in page)
                        if len(page) < 1000:
                            break
                        before = page[-1].id
                    self._revoked_loaded = True
        return jti in self._revoked

    # -- authentication -----------------------------------------------------
    async def authenticate(self, request: web.Request, hello: Hello, sanctuary: str) -> Admission:
        """Who a ``hello`` is in ``sanctuary``, or :class:`ProtocolError` (SPEC P1-P3).

        Identities come from signed tokens only. A hello without one, where guests may
        join, is issued a guest token, returned in the admission for the ``welcome``:
        nothing a client reads from the wire lets it act as someone else.
        """
        if hello.replica.startswith(RESERVED_REPLICA_PREFIX):
            raise ProtocolError(
                ErrorCode.FORBIDDEN, f"replica ids starting with {RESERVED_REPLICA_PREFIX!r} are reserved"
            )
        rules = await self.rules(sanctuary)
        policy = rules.policy
        issued: str | None = None
        if hello.token:
            claims = await self.verify(hello.token, sanctuary)
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
        request[CLAIMS] = claims
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
        return Admission(identity, issued)

    async def verify(self, token: str, sanctuary: str) -> Claims:
        """A valid, unrevoked token for ``sanctuary``, or :class:`ProtocolError`."""
        claims = self.authority.verify(token)
        if await self.is_revoked(claims.jti):
            raise ProtocolError(ErrorCode.UNAUTHORIZED, "this token was revoked")
        if not claims.covers(sanctuary):
            raise ProtocolError(ErrorCode.FORBIDDEN, "this token is for another sanctuary")
        return claims

    # -- running inside the actor --------------------------------------------
    def _hub(self) -> Hub:
        if self.hub is None:
            raise RuntimeError("stewardship is not attached to a hub")
        return self.hub

    async def _in_actor(self, name: str, fn: Callable[[Sanctuary | None], Awaitable[T]], *, load: bool = False) -> T:
        """Run ``fn`` inside the sanctuary's actor (or with ``None`` when it is not live and ``load`` is false)."""
        hub = self._hub()
        from .sanctuary import SanctuaryClosed

        for _ in range(5):
            sanctuary = await hub.sanctuary(name) if load else hub.loaded(name)
            if sanctuary is None:
                return await fn(None)

            async def inside(s: Sanctuary = sanctuary) -> T:
                return await fn(s)

            try:
                result: T = await sanctuary.call(inside)
                return result
            except SanctuaryClosed:
                await sanctuary.finished.wait()
        raise StewardError(503, ErrorCode.SHUTTING_DOWN, "the sanctuary is restarting: try again")

    @staticmethod
    def _sessions_of(sanctuary: Sanctuary | None, identity: str) -> list[Session]:
        if sanctuary is None:
            return []
        return [s for s in sanctuary.sessions.values() if s.identity.id == identity]

    async def audit(self, name: str, by: Claims, act: str, **detail: Any) -> dict[str, Any]:
        data = {"act": act, "by": by.sub, "by_name": by.name, **detail}
        record = await self.store.add_record(name, AUDIT, data)
        return {"id": record.id, "time": record.time, **data}

    # -- policy -----------------------------------------------------------
    async def set_policy(self, name: str, by: Claims, changes: dict[str, Any]) -> dict[str, Any]:
        """Apply a policy edit at once, persist it, broadcast it to every member, audit it."""
        rules = await self.rules(name)
        try:
            new = rules.policy.updated(changes)
        except ValueError as exc:
            raise _bad(str(exc)) from None

        async def apply(sanctuary: Sanctuary | None) -> None:
            rules.policy = new
            await self._persist(name, rules)
            if sanctuary is not None:
                sanctuary.broadcast_policy()

        await self._in_actor(name, apply)
        await self.audit(name, by, "policy", changes=_jsonable(changes))
        return new.to_wire()

    # -- members ----------------------------------------------------------
    async def members(self, name: str) -> dict[str, Any]:
        rules = await self.rules(name)
        now = self.clock()
        live = self._hub().loaded(name)
        connected = []
        if live is not None:
            for s in list(live.sessions.values()):
                claims = s.request.get(CLAIMS)
                connected.append(
                    {
                        "sid": s.sid,
                        "id": s.identity.id,
                        "name": s.identity.name,
                        "role": s.identity.role,
                        "origin": s.identity.origin,
                        "color": s.peer.color,
                        # Only tokens of this sanctuary: a wider token (an operator's, a guest's) is
                        # not this steward's to see or revoke (P11).
                        "token": claims.jti if claims is not None and claims.sanctuary == name else None,
                        "muted_until": rules.muted_until(s.identity.id, now),
                    }
                )
        return {
            "connected": connected,
            "banned": [{"id": k, **v} for k, v in rules.banned.items()],
            "muted": [{"id": k, "until": u} for k, u in rules.muted.items() if u > now],
            "roles": [{"id": k, "role": r} for k, r in rules.roles.items()],
        }

    async def mute(self, name: str, by: Claims, identity: str, seconds: float) -> dict[str, Any]:
        _check_identity(identity)
        if type(seconds) not in (int, float) or not 0 < seconds <= MAX_MUTE:
            raise _bad(f"seconds must be within (0, {MAX_MUTE:g}]")
        rules = await self.rules(name)
        until = self.clock() + float(seconds)

        async def apply(sanctuary: Sanctuary | None) -> int:
            rules.muted = {k: u for k, u in rules.muted.items() if u > self.clock()}
            rules.muted[identity] = until
            await self._persist(name, rules)
            hit = self._sessions_of(sanctuary, identity)
            for s in hit:
                s.send(Error(ErrorCode.MUTED, f"a steward muted you for {seconds:g} seconds: you can still watch"))
            return len(hit)

        live = await self._in_actor(name, apply)
        return await self.audit(name, by, "mute", target=identity, seconds=seconds, until=until, connections=live)

    async def unmute(self, name: str, by: Claims, identity: str) -> dict[str, Any]:
        _check_identity(identity)
        rules = await self.rules(name)

        async def apply(sanctuary: Sanctuary | None) -> None:
            rules.muted.pop(identity, None)
            await self._persist(name, rules)

        await self._in_actor(name, apply)
        return await self.audit(name, by, "unmute", target=identity)

    async def kick(self, name: str, by: Claims, identity: str) -> dict[str, Any]:
        _check_identity(identity)

        async def apply(sanctuary: Sanctuary | None) -> int:
            hit = self._sessions_of(sanctuary, identity)
            for s in hit:
                s.close(CloseCode.KICKED, "a steward removed you from this sanctuary")
            return len(hit)

        n = await self._in_actor(name, apply)
        if n == 0:
            raise StewardError(404, "not_found", f"{identity!r} is not connected")
        return await self.audit(name, by, "kick", target=identity, connections=n)

    async def ban(self, name: str, by: Claims, identity: str, reason: str = "") -> dict[str, Any]:
        _check_identity(identity)
        if by.sub == identity:
            raise _bad("a steward cannot ban themselves")
        rules = await self.rules(name)

        async def apply(sanctuary: Sanctuary | None) -> int:
            hit = self._sessions_of(sanctuary, identity)
            display = hit[0].identity.name if hit else ""
            rules.banned[identity] = {"name": display, "by": by.sub, "time": self.clock(), "reason": reason[:200]}
            await self._persist(name, rules)
            for s in hit:
                s.close(CloseCode.BANNED, "a steward banned you from this sanctuary")
            return len(hit)

        n = await self._in_actor(name, apply)
        return await self.audit(name, by, "ban", target=identity, reason=reason[:200], connections=n)

    async def unban(self, name: str, by: Claims, identity: str) -> dict[str, Any]:
        _check_identity(identity)
        rules = await self.rules(name)

        async def apply(sanctuary: Sanctuary | None) -> None:
            rules.banned.pop(identity, None)
            await self._persist(name, rules)

        await self._in_actor(name, apply)
        return await self.audit(name, by, "unban", target=identity)

    async def set_role(self, name: str, by: Claims, identity: str, role: str | None) -> dict[str, Any]:
        """Give an identity another role here (``None``: back to its token's); live connections change at once."""
        _check_identity(identity)
        if role is not None and role not in ROLES:
            raise _bad(f"role must be one of {', '.join(ROLES)} or null")
        rules = await self.rules(name)

        async def apply(sanctuary: Sanctuary | None) -> int:
            hit = self._sessions_of(sanctuary, identity)
            for s in hit:
                if role is not None and not compatible(role, s.identity.origin):
                    raise _bad(f"a {s.identity.origin} identity cannot be a {role}")
            if role is None:
                rules.roles.pop(identity, None)
            else:
                rules.roles[identity] = role
            await self._persist(name, rules)
            assert sanctuary is not None or not hit
            for s in hit:
                claims = s.request.get(CLAIMS)
                new_role = role if role is not None else (claims.role if claims is not None else "dreamer")
                s.set_identity(make_identity(s.identity.id, s.identity.name, new_role, s.identity.origin), s.replica)
                if sanctuary is not None:
                    sanctuary.peer_changed(s)
            return len(hit)

        n = await self._in_actor(name, apply)
        return await self.audit(name, by, "role", target=identity, role=role, connections=n)

    # -- tokens -----------------------------------------------------------
    async def invite(self, name: str, by: Claims, role: str, label: str, ttl: float, base_url: str) -> dict[str, Any]:
        """A new token for ``role`` in this sanctuary, recorded so it can be listed and revoked."""
        if role not in ("dreamer", "weaver", "viewer", "steward"):
            raise _bad("role must be dreamer, weaver, viewer or steward")
        try:
            token, claims = self.authority.issue(role=role, sanctuary=name, name=label, ttl=ttl)
        except ValueError as exc:
            raise _bad(str(exc)) from None
        await self.store.add_record(
            name, INVITE, {"jti": claims.jti, "sub": claims.sub, "role": role, "name": label, "exp": claims.exp}
        )
        await self.audit(
            name, by, "invite", target=claims.sub, role=role, label=label, token=claims.jti, exp=claims.exp
        )
        return {
            "token": token,
            "url": f"{base_url}/s/{name}?token={token}",
            "jti": claims.jti,
            "sub": claims.sub,
            "role": role,
            "name": label,
            "exp": claims.exp,
        }

    async def invites(self, name: str) -> list[dict[str, Any]]:
        now = self.clock()
        out = []
        for r in await self.store.records(name, INVITE, limit=500):
            jti = str(r.data.get("jti"))
            out.append(
                {**r.data, "created": r.time, "revoked": await self.is_revoked(jti), "expired": r.data["exp"] <= now}
            )
        return out

    async def revoke(self, name: str, by: Claims, jti: str) -> dict[str, Any]:
        """Revoke a token everywhere; its live connections close with 4007 at once.

        A steward of one sanctuary may revoke only tokens the server knows to be scoped to it
        (its invites, or a connection's token); a server-wide steward may revoke any (P11).
        """
        if type(jti) is not str or not 8 <= len(jti) <= 64 or not ID_RE.match(jti):
            raise _bad("jti must be a token id")
        if not server_wide_steward(by) and not await self._scoped_here(name, jti):
            raise StewardError(
                403,
                ErrorCode.FORBIDDEN,
                "this is not a token of this sanctuary: only a steward of every sanctuary may revoke it",
            )
        await self.is_revoked(jti)  # loads the list before we add to it
        if jti not in self._revoked:
            await self.store.add_record(SERVER_RECORDS, REVOCATION, {"jti": jti, "by": by.sub, "sanctuary": name})
            self._revoked.add(jti)
        closed = 0
        for sanctuary in self._hub().live():

            async def apply(s: Sanctuary | None) -> int:
                if s is None:
                    return 0
                hit = [x for x in s.sessions.values() if (c := x.request.get(CLAIMS)) is not None and c.jti == jti]
                for x in hit:
                    x.close(CloseCode.REVOKED, "your token was revoked")
                return len(hit)

            closed += await self._in_actor(sanctuary.name, apply)
        return await self.audit(name, by, "revoke", token=jti, connections=closed)

    async def _scoped_here(self, name: str, jti: str) -> bool:
        """Whether ``jti`` is a token scoped to ``name`` alone: a live connection's, or one of its invites."""
        live = self._hub().loaded(name)
        for session in list(live.sessions.values()) if live is not None else []:
            claims: Claims | None = session.request.get(CLAIMS)
            if claims is not None and claims.jti == jti:
                return claims.sanctuary == name
        # Invites are issued by this server for this sanctuary only, so their record proves the scope.
        before: int | None = None
        while True:
            page = await self.store.records(name, INVITE, limit=500, before=before)
            if any(r.data.get("jti") == jti for r in page):
                return True
            if len(page) < 500:
                return False
            before = page[-1].id

    # -- fragments --------------------------------------------------------
    async def remove(self, name: str, by: Claims, fragment: str) -> dict[str, Any]:
        _check_identity(fragment)

        async def apply(sanctuary: Sanctuary | None) -> list[int]:
            assert sanctuary is not None
            frag = sanctuary.tapestry.get(fragment)
            if frag is None:
                raise StewardError(404, "not_found", f"no fragment {fragment!r}")
            if frag.deleted:
                return []
            clock = Clock(SERVER_REPLICA, sanctuary.tapestry.max_counter)
            return await sanctuary.apply_local(None, [ops.delete(fragment, clock.tick())], by.sub)

        seqs = await self._in_actor(name, apply, load=True)
        return await self.audit(name, by, "remove", target=fragment, seqs=seqs)

    async def rollback(
        self, name: str, by: Claims, identity: str, since_seq: int | None = None, since_time: float | None = None
    ) -> dict[str, Any]:
        """Undo, as one act, everything ``identity`` wrote after ``since_seq`` (or since ``since_time``)."""
        _check_identity(identity)
        if (since_seq is None) == (since_time is None):
            raise _bad("give exactly one of since_seq and since_time")
        if since_seq is not None and (type(since_seq) is not int or since_seq < 0):
            raise _bad("since_seq must be a non-negative integer")
        if since_time is not None and type(since_time) not in (int, float):
            raise _bad("since_time must be a unix time in seconds")
        hub = self._hub()

        async def apply(sanctuary: Sanctuary | None) -> dict[str, Any]:
            assert sanctuary is not None
            start = (
                since_seq if since_seq is not None else await self._seq_at(name, float(since_time or 0), sanctuary.seq)
            )
            start = min(start, sanctuary.seq)
            if sanctuary.seq - start > MAX_ROLLBACK_OPS:
                raise _bad(f"rollbacks reach back at most {MAX_ROLLBACK_OPS} ops")
            base, _ = await hub.tapestry_at(name, start)
            entries = await _read_all(self.store, name, start, sanctuary.seq)
            clock = Clock(SERVER_REPLICA, sanctuary.tapestry.max_counter)
            written, touched = rollback_ops(base, entries, identity, sanctuary.tapestry, clock)
            return await self._write_undoable(sanctuary, by, written, {"of": identity, "since_seq": start}) | {
                "since_seq": start,
                "touched": touched,
            }

        result = await self._in_actor(name, apply, load=True)
        return await self.audit(
            name,
            by,
            "rollback",
            target=identity,
            since_seq=result["since_seq"],
            fragments=result["touched"],
            ops=len(result["seqs"]),
            seqs=result["seqs"][:1] + result["seqs"][-1:],
            rollback=result["rollback"],
        )

    async def undo_rollback(self, name: str, by: Claims, rollback_id: int) -> dict[str, Any]:
        """Undo a rollback (or an undo of one): inverse writes of whatever it wrote that still stands."""
        if type(rollback_id) is not int:
            raise _bad("rollback must be the id of a rollback record")
        record = None
        before_id = rollback_id + 1
        found = await self.store.records(name, ROLLBACK, limit=1, before=before_id)
        if found and found[0].id == rollback_id:
            record = found[0]
        if record is None:
            raise StewardError(404, "not_found", f"no rollback {rollback_id} in this sanctuary")
        data = record.data

        async def apply(sanctuary: Sanctuary | None) -> dict[str, Any]:
            assert sanctuary is not None
            clock = Clock(SERVER_REPLICA, sanctuary.tapestry.max_counter)
            undo: list[Op] = []
            for wire, before in zip(data["ops"], data["before"], strict=True):
                op = check_op(wire, DEFAULT_LIMITS)
                prev = {k: (None if v is None else (Stamp(v[0], v[1]), v[2])) for k, v in before.items()}
                undo.extend(inverse(op, prev, sanctuary.tapestry, clock))
            return await self._write_undoable(sanctuary, by, undo, {"undoes": rollback_id})

        result = await self._in_actor(name, apply, load=True)
        return await self.audit(
            name, by, "undo_rollback", target=data.get("of"), undoes=rollback_id, ops=len(result["seqs"]),
            seqs=result["seqs"][:1] + result["seqs"][-1:], rollback=result["rollback"],
        )  # fmt: skip

    async def _write_undoable(
        self, sanctuary: Sanctuary, by: Claims, written: list[Op], meta: dict[str, Any]
    ) -> dict[str, Any]:
        """Apply server ops and record them with the registers they overwrote (inside the actor)."""
        # The registers each op overwrites, without touching the tapestry before apply_local commits:
        # a later op of this same act sees what an earlier one wrote through the overlay.
        befores = []
        overlay: dict[tuple[str, str], list[Any]] = {}
        for op in written:
            regs = sanctuary.tapestry.registers(op.id)
            before: dict[str, list[Any] | None] = {}
            for k in op.fields:
                prev = overlay.get((op.id, k))
                if prev is None and k in regs:
                    prev = [regs[k][0][0], regs[k][0][1], regs[k][1]]
                before[k] = prev
                overlay[(op.id, k)] = [op.stamp[0], op.stamp[1], op.fields[k]]
            befores.append(before)
        seqs = await sanctuary.apply_local(None, written, by.sub) if written else []
        record = await self.store.add_record(
            sanctuary.name,
            ROLLBACK,
            {**meta, "by": by.sub, "ops": [op.to_wire() for op in written], "before": befores, "seqs": seqs},
        )
        return {"seqs": seqs, "rollback": record.id}

    async def _seq_at(self, name: str, when: float, last: int) -> int:
        """The last seq committed before ``when`` (binary search over the log's times)."""
        lo, hi = 0, last  # invariant: ops <= lo are before ``when``; ops > hi are at or after it
        while lo < hi:
            mid = (lo + hi + 1) // 2
            entry = await self.store.read_ops(name, mid - 1, limit=1)
            if entry and entry[0].time < when:
                lo = mid
            else:
                hi = mid - 1
        return lo

    async def audit_log(self, name: str, limit: int = 100, before: int | None = None) -> list[dict[str, Any]]:
        records = await self.store.records(name, AUDIT, limit=limit, before=before)
        return [{"id": r.id, "time": r.time, **r.data} for r in records]


def rollback_ops(
    base: Tapestry, entries: list[LogEntry], identity: str, now: Tapestry, clock: Clock
) -> tuple[list[Op], list[str]]:
    """Ops that turn ``now`` into ``base`` + ``entries`` without ``identity``'s, on the fragments it touched.

    ``base`` is consumed (it becomes the target state). Returns the ops and the touched fragment ids.
    """
    touched: dict[str, None] = {}
    for entry in entries:
        if entry.author == identity:
            touched[entry.op.id] = None
        else:
            base.apply(entry.op)
    out: list[Op] = []
    for fid in touched:
        cur = now.get(fid)
        if cur is None:
            continue
        want = base.get(fid)
        if want is None:
            if cur.live:
                out.append(ops.delete(fid, clock.tick()))
            continue
        cur_regs, want_regs = now.registers(fid), base.registers(fid)
        diff = {
            name: want_regs[name][1]
            for name in sorted(SETTABLE)
            if name in want_regs and (name not in cur_regs or pack(cur_regs[name][1]) != pack(want_regs[name][1]))
        }
        if diff:
            out.append(ops.set_fields(fid, clock.tick(), **diff))
        if want.deleted != cur.deleted:
            out.append((ops.delete if want.deleted else ops.restore)(fid, clock.tick()))
    return out, list(touched)


async def _read_all(store: Store, name: str, after: int, upto: int) -> list[LogEntry]:
    out: list[LogEntry] = []
    while after < upto:
        page = await store.read_ops(name, after, limit=5000, upto=upto)
        if not page:
            break
        out.extend(page)
        after = page[-1].seq
    return out


def server_wide_steward(claims: Claims) -> bool:
    """A steward of every sanctuary by token (the operator's): the only one whose authority spans sanctuaries."""
    return claims.sanctuary == ALL_SANCTUARIES and claims.role == "steward"


def _check_identity(value: Any) -> None:
    if type(value) is not str or not 0 < len(value) <= 128 or not ID_RE.match(value):
        raise _bad("expected an id (letters, digits, _ . : -)")


def _jsonable(changes: dict[str, Any]) -> dict[str, Any]:
    return {k: list(v) if isinstance(v, tuple) else v for k, v in changes.items()}


def steward_link(authority: TokenAuthority, base_url: str, ttl: float = 7 * 24 * 3600.0) -> str:
    """A link for the local operator: a steward of every sanctuary (printed by ``dreamloom serve``)."""
    token, _ = authority.issue(role="steward", sanctuary=ALL_SANCTUARIES, name="Steward", ttl=ttl, sub="steward")
    return f"{base_url}/?token={token}"


__all__ = [
    "CLAIMS",
    "STEWARDSHIP",
    "SERVER_REPLICA",
    "HarmonyPolicy",
    "StewardError",
    "Stewardship",
    "rollback_ops",
    "steward_link",
]


#: The app's stewardship (set by ``build_app``).
STEWARDSHIP = web.AppKey("stewardship", Stewardship)
