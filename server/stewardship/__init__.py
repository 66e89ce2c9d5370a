"""Stewardship: who may join, the rules of each sanctuary, and what stewards do (SPEC P1-P15).

Its parts, each given its collaborators once, wired in one direction
(rules → hub → moderation; nothing here is handed back to the hub):

=================  ==============================================================
``rules``          the rules of each sanctuary, loaded and persisted; the gates
``revocations``    revoked token ids, server-wide
``access``         who a hello is: tokens, guest tokens, replica ownership
``audit``          the audit log
``invites``        invitations of a sanctuary, and the operator's steward link
``acts``           policy edits, mutes, kicks, bans, roles, revocations, removals
``rollbacks``      rolling an identity back, and undoing that
=================  ==============================================================
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from ..auth import TokenAuthority
from ..hub import Hub
from ..store import Store
from .access import Access, Admission, compatible
from .acts import Moderation, server_wide_steward
from .audit import AuditLog
from .errors import StewardshipError
from .invites import Invites, steward_link
from .revocations import Revocations
from .rollback import SERVER_REPLICA, Rollbacks, rollback_ops
from .rules import RulesBook


@dataclass(frozen=True, slots=True)
class Stewardship:
    """Every part of stewardship of one server."""

    authority: TokenAuthority
    rules: RulesBook
    revocations: Revocations
    access: Access
    audit: AuditLog
    invites: Invites
    acts: Moderation
    rollbacks: Rollbacks


def rules_for(store: Store, clock: Callable[[], float]) -> RulesBook:
    """The rules book, built first: the hub's gates come from it."""
    return RulesBook(store, Revocations(store), clock)


def build_stewardship(
    store: Store, authority: TokenAuthority, rules: RulesBook, hub: Hub, clock: Callable[[], float]
) -> Stewardship:
    """The parts that act on live sanctuaries, built once the hub exists."""
    revocations = rules.revocations
    audit = AuditLog(store)
    invites = Invites(authority, store, audit, revocations, clock)
    return Stewardship(
        authority=authority,
        rules=rules,
        revocations=revocations,
        access=Access(store, authority, rules, revocations),
        audit=audit,
        invites=invites,
        acts=Moderation(hub, rules, revocations, invites, audit, store, clock),
        rollbacks=Rollbacks(hub, store, audit),
    )


__all__ = [
    "SERVER_REPLICA",
    "Admission",
    "Stewardship",
    "StewardshipError",
    "build_stewardship",
    "compatible",
    "rollback_ops",
    "rules_for",
    "server_wide_steward",
    "steward_link",
]
