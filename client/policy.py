"""The sanctuary's Harmony policy as a weaver sees it: typed fields and the AI room left.

The server sends the policy as a flat map in ``welcome`` and ``policy`` messages (SPEC P).
:class:`Policy` reads it into typed fields; a key this SDK does not know yet, or a value of
an unexpected type, is kept in ``extra`` rather than dropped, and the field keeps its
default (the server is the authority: this copy only helps a weaver avoid refusals).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from fractions import Fraction
from typing import Any

#: The most AI fragments ``ai_room`` reports when the cap does not bound them (a cap of 100%).
UNBOUNDED = 10**9


@dataclass(frozen=True, slots=True)
class Policy:
    """A sanctuary's Harmony policy, set by its steward.

    - ``access``: ``"open"`` (anyone may join) or ``"invite"`` (a token is required).
    - ``ai_share_cap``: the most live fragments that may be AI, as a fraction (0.5: half).
    - ``ai_rate_per_weaver``, ``ai_rate_total``: ops per minute for one weaver, for all weavers.
    - ``consent``: may weavers change organic fragments? ``"never"``, ``"consent"`` (only those
      their author marked ``remixable``) or ``"always"``.
    - ``weaver_allow``: identity ids of the weavers admitted (empty: every weaver).
    - ``guest_weavers``: whether weavers without a token are admitted.
    - ``locked``: the canvas is locked: only stewards write.
    - ``extra``: keys this SDK does not know, as the server sent them.

    Example::

        if self.policy.locked or self.policy.ai_room(self.tapestry.live_counts) < 6:
            return  # a six-fold rosette would be cut: send nothing
    """

    access: str = "open"
    ai_share_cap: float = 0.5
    ai_rate_per_weaver: int = 300
    ai_rate_total: int = 600
    consent: str = "consent"
    weaver_allow: tuple[str, ...] = ()
    guest_weavers: bool = True
    locked: bool = False
    extra: Mapping[str, Any] = field(default_factory=dict)

    @classmethod
    def from_wire(cls, data: Mapping[str, Any]) -> Policy:
        """Read the policy map of a ``welcome`` or ``policy`` message.

        >>> policy = Policy.from_wire({"ai_share_cap": 0.25, "locked": True, "mood": "calm"})
        >>> policy.ai_share_cap, policy.locked, policy.consent, dict(policy.extra)
        (0.25, True, 'consent', {'mood': 'calm'})
        """
        known: dict[str, Any] = {}
        extra: dict[str, Any] = {}
        defaults = cls()
        for key, value in data.items():
            default = getattr(defaults, key, None) if key in _FIELDS else None
            if key not in _FIELDS or not _fits(default, value):
                extra[key] = value
            elif isinstance(default, tuple):
                known[key] = tuple(value)
            elif isinstance(default, float):
                known[key] = float(value)
            else:
                known[key] = value
        return cls(**known, extra=extra)

    def ai_room(self, live_counts: Mapping[str, int]) -> int:
        """How many more live AI fragments the cap allows now, next to the organic ones
        (``live_counts`` as ``self.tapestry.live_counts`` gives them). The server checks the
        cap exactly, in arrival order: others may take the room first.

        >>> Policy(ai_share_cap=0.5).ai_room({"organic": 3, "ai": 1})
        2
        >>> Policy(ai_share_cap=0.5).ai_room({"organic": 0, "ai": 0})
        0
        """
        cap = Fraction(self.ai_share_cap).limit_denominator(1_000_000)
        if cap >= 1:
            return UNBOUNDED
        organic, ai = live_counts.get("organic", 0), live_counts.get("ai", 0)
        # ai' / (ai' + organic) <= cap  <=>  ai' <= cap * organic / (1 - cap)
        return max(0, int(cap * organic / (1 - cap)) - ai)

    def describe_room(self, live_counts: Mapping[str, int]) -> str:
        """The AI room in words, for a log line.

        >>> Policy(ai_share_cap=0.5).describe_room({"organic": 2, "ai": 1})
        'room for 1 more AI fragment (cap 50%: 1 of 3 live fragments are AI)'
        """
        room = self.ai_room(live_counts)
        if room >= UNBOUNDED:
            return "no AI share cap"
        ai, total = live_counts.get("ai", 0), live_counts.get("ai", 0) + live_counts.get("organic", 0)
        plural = "" if room == 1 else "s"
        share = f"cap {self.ai_share_cap:.0%}: {ai} of {total} live fragments are AI"
        return f"room for {room} more AI fragment{plural} ({share})"


_FIELDS = frozenset(f.name for f in fields(Policy)) - {"extra"}


def _fits(default: Any, value: Any) -> bool:
    if isinstance(default, bool):
        return type(value) is bool
    if isinstance(default, (int, float)):
        return type(value) in (int, float) and (isinstance(default, float) or type(value) is int)
    if isinstance(default, tuple):
        return isinstance(value, (list, tuple)) and all(type(v) is str for v in value)
    return type(value) is type(default)
