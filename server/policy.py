"""The Harmony policy of a sanctuary and the gate that enforces it (SPEC P4-P9).

Theory of operation:

1. Each sanctuary has one :class:`SanctuaryRules`: its policy (access mode, AI
   share cap, AI rates, consent mode, weaver allow-list, lock) and its
   moderation state (bans, mutes, role overrides). It is persisted in the
   sanctuary's settings and shared, as one object, by the authenticator, the
   steward API and the sanctuary's :class:`HarmonyGate`.
2. The gate runs inside the sanctuary actor, against the tapestry as it is at
   merge time: ops are decided in arrival order, so two weavers racing for the
   last slot under the cap, or a person toggling ``remixable`` while a weaver's
   edit is in flight, are settled by which op the actor sees first.
3. Every rejection is a :class:`PolicyError` naming its rule, its code and what
   would be allowed instead.
4. Changes to the rules are made inside the actor (``Sanctuary.call``) so a
   policy edit takes effect between two batches, never in the middle of one.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, fields, replace
from fractions import Fraction
from typing import TYPE_CHECKING, Any

from dreamloom.protocol import ErrorCode, Op, Tapestry
from dreamloom.protocol.validate import ID_RE

from .gate import Gate, PolicyError
from .rate import retry_seconds

if TYPE_CHECKING:
    from .member import Member

ACCESS_MODES = ("open", "invite")
CONSENT_MODES = ("never", "consent", "always")
RATE_WINDOW = 60.0  # seconds: AI rates are ops per minute
MAX_RATE = 100_000
MAX_ALLOW_LIST = 256


@dataclass(frozen=True, slots=True)
class HarmonyPolicy:
    """What a steward decides for a sanctuary. Sent to clients as a flat map."""

    access: str = "open"
    ai_share_cap: float = 0.5
    ai_rate_per_weaver: int = 300
    ai_rate_total: int = 600
    consent: str = "consent"
    weaver_allow: tuple[str, ...] = ()
    locked: bool = False
    #: Whether weavers without a token (guest weavers, stamped ``ai``) may join an open sanctuary.
    guest_weavers: bool = True

    def to_wire(self) -> dict[str, Any]:
        return {
            "access": self.access,
            "ai_share_cap": self.ai_share_cap,
            "ai_rate_per_weaver": self.ai_rate_per_weaver,
            "ai_rate_total": self.ai_rate_total,
            "consent": self.consent,
            "weaver_allow": list(self.weaver_allow),
            "locked": self.locked,
            "guest_weavers": self.guest_weavers,
        }

    def updated(self, changes: Mapping[str, Any]) -> HarmonyPolicy:
        """A copy with ``changes`` applied; raises ``ValueError`` naming the first bad field."""
        known = {f.name for f in fields(self)}
        values: dict[str, Any] = {}
        for key, value in changes.items():
            if key not in known:
                raise ValueError(f"unknown policy field {key!r}")
            values[key] = _check_field(key, value)
        return replace(self, **values)

    @classmethod
    def from_settings(cls, data: Any) -> HarmonyPolicy:
        """Load what was persisted; a field that no longer validates falls back to its default."""
        policy = cls()
        if not isinstance(data, dict):
            return policy
        for key, value in data.items():
            try:
                policy = policy.updated({key: value})
            except ValueError:
                continue
        return policy


def _check_field(key: str, value: Any) -> Any:
    if key == "access":
        if value not in ACCESS_MODES:
            raise ValueError("access must be 'open' or 'invite'")
        return value
    if key == "consent":
        if value not in CONSENT_MODES:
            raise ValueError("consent must be 'never', 'consent' or 'always'")
        return value
    if key == "ai_share_cap":
        if type(value) not in (int, float) or not 0 <= value <= 1:
            raise ValueError("ai_share_cap must be a number within [0, 1]")
        return float(value)
    if key in ("ai_rate_per_weaver", "ai_rate_total"):
        if type(value) is not int or not 0 <= value <= MAX_RATE:
            raise ValueError(f"{key} must be an integer within [0, {MAX_RATE}] (ops per minute)")
        return value
    if key in ("locked", "guest_weavers"):
        if type(value) is not bool:
            raise ValueError(f"{key} must be true or false")
        return value
    if key == "weaver_allow":
        if not isinstance(value, (list, tuple)) or len(value) > MAX_ALLOW_LIST:
            raise ValueError(f"weaver_allow must be a list of at most {MAX_ALLOW_LIST} weaver ids")
        for item in value:
            if type(item) is not str or not 0 < len(item) <= 128 or not ID_RE.match(item):
                raise ValueError("weaver_allow holds weaver identity ids (letters, digits, _ . : -)")
        return tuple(dict.fromkeys(value))
    raise ValueError(f"unknown policy field {key!r}")


@dataclass(slots=True)
class SanctuaryRules:
    """Policy and moderation state of one sanctuary (mutated only inside its actor once it is live)."""

    policy: HarmonyPolicy = field(default_factory=HarmonyPolicy)
    banned: dict[str, dict[str, Any]] = field(default_factory=dict)  # identity id -> {name, by, time}
    muted: dict[str, float] = field(default_factory=dict)  # identity id -> until (unix time)
    roles: dict[str, str] = field(default_factory=dict)  # identity id -> role override
    loaded: bool = False

    def to_settings(self) -> dict[str, Any]:
        return {
            "policy": self.policy.to_wire(),
            "moderation": {"banned": self.banned, "muted": self.muted, "roles": self.roles},
        }

    def load_settings(self, settings: Mapping[str, Any]) -> None:
        """Fill in from persisted settings (in place: gates already hold this object)."""
        self.policy = HarmonyPolicy.from_settings(settings.get("policy"))
        mod = settings.get("moderation")
        mod = mod if isinstance(mod, dict) else {}
        self.banned = {str(k): dict(v) for k, v in (mod.get("banned") or {}).items() if isinstance(v, dict)}
        self.muted = {str(k): float(v) for k, v in (mod.get("muted") or {}).items() if type(v) in (int, float)}
        self.roles = {str(k): str(v) for k, v in (mod.get("roles") or {}).items()}
        self.loaded = True

    def muted_until(self, identity: str, now: float) -> float | None:
        until = self.muted.get(identity)
        return until if until is not None and until > now else None


class RateWindow:
    """Events in the last ``span`` seconds (a sliding log; bounded by the rate it enforces)."""

    __slots__ = ("_times", "span")

    def __init__(self, span: float = RATE_WINDOW) -> None:
        self.span = span
        self._times: deque[float] = deque()

    def count(self, now: float) -> int:
        times = self._times
        while times and now - times[0] >= self.span:
            times.popleft()
        return len(times)

    def add(self, now: float) -> None:
        self._times.append(now)

    def next_free(self, now: float) -> float:
        """Seconds until the oldest event leaves the window."""
        return max(0.0, self.span - (now - self._times[0])) if self._times else 0.0


def _seconds(wait: float | None) -> float | None:
    return None if wait is None else retry_seconds(wait)


def _cap_fraction(cap: float) -> Fraction:
    # Compare shares as exact fractions: 0.3 means 3/10, so "at the cap" is never lost to rounding.
    return Fraction(cap).limit_denominator(1_000_000)


def liveness_delta(op: Op, tapestry: Tapestry, origin: str) -> tuple[int, int]:
    """How ``op`` would change the live (ai, organic) counts; ``origin`` is that of a create."""
    if op.t == "c":
        if op.fields.get("deleted"):
            return 0, 0
        return (1, 0) if origin == "ai" else (0, 1)
    if op.t not in ("d", "r"):
        return 0, 0
    frag = tapestry.get(op.id)
    if frag is None:
        return 0, 0
    reg = tapestry.registers(op.id).get("deleted")
    if reg is not None and op.stamp <= reg[0]:
        return 0, 0  # this write loses to the one already there
    becomes_live = op.t == "r"
    if becomes_live == frag.live:
        return 0, 0
    step = 1 if becomes_live else -1
    return (step, 0) if frag.origin == "ai" else (0, step)


class HarmonyGate(Gate):
    """The gate of one sanctuary: roles, mutes, lock, allow-list, consent, the AI share cap and AI rates."""

    def __init__(
        self,
        rules: SanctuaryRules,
        clock: Callable[[], float] = time.time,
        revoked: Callable[[Member], bool] | None = None,
    ) -> None:
        self.rules = rules
        self.clock = clock
        self.revoked = revoked  # whether a member's token was revoked (its close may still be on its way)
        self._rate_each: dict[str, RateWindow] = {}
        self._rate_all = RateWindow()

    def policy(self) -> dict[str, Any]:
        return self.rules.policy.to_wire()

    def check(self, member: Member, op: Op, tapestry: Tapestry) -> None:
        ident = member.identity
        rules = self.rules
        policy = rules.policy
        role = ident.role
        if role == "viewer":
            raise PolicyError(ErrorCode.FORBIDDEN, "viewers cannot write", rule="role", allowed="nothing: read only")
        if self.revoked is not None and self.revoked(member):
            raise PolicyError(ErrorCode.UNAUTHORIZED, "your token was revoked", rule="revoked", allowed="nothing")
        if ident.id in rules.banned:
            raise PolicyError(ErrorCode.BANNED, "you are banned from this sanctuary", rule="ban", allowed="nothing")
        now = self.clock() if rules.muted or ident.origin == "ai" else 0.0  # the hot path skips the clock
        until = rules.muted_until(ident.id, now) if rules.muted else None
        if until is not None:
            raise PolicyError(
                ErrorCode.MUTED,
                f"you are muted for {until - now:.0f} more seconds",
                rule="mute",
                allowed=f"reading; writing again after {until - now:.0f} s",
            )
        if policy.locked and role != "steward":
            raise PolicyError(
                ErrorCode.CANVAS_LOCKED,
                "the steward has locked the canvas",
                rule="lock",
                allowed="reading and presence until the steward unlocks the canvas",
            )
        if op.t != "c" and (ident.origin == "ai" or (op.t == "s" and "remixable" in op.fields)):
            self._check_fragment_rights(member, op, tapestry)
        if ident.origin != "ai":
            return
        if policy.weaver_allow and ident.id not in policy.weaver_allow:
            raise PolicyError(
                ErrorCode.WEAVER_NOT_ALLOWED,
                f"weaver {ident.id!r} is not on this sanctuary's allow-list",
                rule="weaver_allow",
                allowed="reading and presence; ask the steward to add this weaver",
            )
        self._check_cap(op, tapestry)
        self._check_rate(ident.id, now)

    def _check_fragment_rights(self, member: Member, op: Op, tapestry: Tapestry) -> None:
        frag = tapestry.get(op.id)
        if frag is None:
            return  # the sanctuary reports unknown fragments itself
        ident = member.identity
        if op.t == "s" and "remixable" in op.fields and frag.author != ident.id and ident.role != "steward":
            raise PolicyError(
                ErrorCode.FORBIDDEN,
                "only a fragment's author (or a steward) may change whether it is remixable",
                rule="consent",
                allowed="changing remixable on your own fragments",
            )
        if ident.origin != "ai" or frag.origin != "organic":
            return
        mode = self.rules.policy.consent
        if mode == "always":
            return
        if mode == "never":
            raise PolicyError(
                ErrorCode.CONSENT_REQUIRED,
                "weavers may not modify or delete organic fragments in this sanctuary",
                rule="consent",
                allowed="new fragments that respond to it via inspired_by",
            )
        if not frag.remixable:
            raise PolicyError(
                ErrorCode.CONSENT_REQUIRED,
                f"fragment {op.id!r} is organic and its author has not marked it remixable",
                rule="consent",
                allowed="new fragments that respond to it via inspired_by, or edits once it is remixable",
            )

    def _check_cap(self, op: Op, tapestry: Tapestry) -> None:
        d_ai, d_org = liveness_delta(op, tapestry, "ai")
        if d_ai <= 0 and d_org >= 0:
            return  # the AI share does not grow
        ai = tapestry.live_counts["ai"] + d_ai
        total = ai + tapestry.live_counts["organic"] + d_org
        cap = _cap_fraction(self.rules.policy.ai_share_cap)
        if total == 0 or Fraction(ai, total) <= cap:
            return
        organic = total - ai
        # The most AI fragments the cap allows next to the organic ones now: ai / (ai + organic) <= cap.
        most = _max_ai(cap, organic)
        raise PolicyError(
            ErrorCode.AI_SHARE_CAP,
            f"this would make {ai} of {total} live fragments AI ({float(Fraction(ai, total)):.0%}), "
            f"above the cap of {float(cap):.0%}",
            rule="ai_share_cap",
            allowed=f"at most {most} live AI fragments beside {organic} organic ones; edits and responses "
            "that do not add AI fragments",
        )

    def _check_rate(self, weaver: str, now: float) -> None:
        policy = self.rules.policy
        mine = self._rate_each.get(weaver)
        if (mine.count(now) if mine is not None else 0) >= policy.ai_rate_per_weaver:
            # A rate of 0 is the steward's no: no time cures it, so no retry_after (W9a).
            wait = mine.next_free(now) if mine is not None else None
            retry = f"retry in {wait:.1f} s" if wait is not None else "the steward has set it to 0"
            raise PolicyError(
                ErrorCode.AI_RATE_LIMITED,
                f"more than {policy.ai_rate_per_weaver} ops per minute from this weaver",
                rule="ai_rate_per_weaver",
                allowed=f"{policy.ai_rate_per_weaver} ops per minute; {retry}",
                retry_after=_seconds(wait),
            )
        if self._rate_all.count(now) >= policy.ai_rate_total:
            wait = self._rate_all.next_free(now) if policy.ai_rate_total else None
            raise PolicyError(
                ErrorCode.AI_RATE_LIMITED,
                f"weavers together sent more than {policy.ai_rate_total} ops in the last minute",
                rule="ai_rate_total",
                allowed=f"{policy.ai_rate_total} ops per minute for all weavers; "
                + (f"retry in {wait:.1f} s" if wait is not None else "the steward has set it to 0"),
                retry_after=_seconds(wait),
            )

    def admitted(self, member: Member, op: Op, tapestry: Tapestry) -> None:
        ident = member.identity
        if ident.origin != "ai":
            return
        now = self.clock()
        window = self._rate_each.get(ident.id)
        if window is None:
            if len(self._rate_each) > 1024:
                self._rate_each = {k: w for k, w in self._rate_each.items() if w.count(now)}
            window = self._rate_each[ident.id] = RateWindow()
        window.add(now)
        self._rate_all.add(now)


def _max_ai(cap: Fraction, organic: int) -> int:
    if cap >= 1:
        return 10**9
    # ai <= cap * (ai + organic)  <=>  ai <= cap * organic / (1 - cap)
    return int(cap * organic / (1 - cap))
