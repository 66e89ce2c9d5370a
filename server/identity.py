"""How members look to others: the presence colours.

Identities themselves come from signed tokens (see auth.py and moderation.py):
never from anything a client could read off the wire, such as a replica id.
"""

from __future__ import annotations

import hashlib
from collections import Counter
from collections.abc import Container

#: Presence colours, readable on the dark canvas and far apart from each other. The
#: browser keeps the same list (client/web/app/colours.js) and picks by the same rule.
PALETTE = (
    "#ff7a90",
    "#ffb35c",
    "#f4e06d",
    "#7be0a8",
    "#5cd3ff",
    "#8f9bff",
    "#c88bff",
    "#ff8fd8",
    "#9ad0ff",
    "#b5f07a",
    "#ff9866",
    "#4fd8c4",
    "#e6b3ff",
    "#d9c58f",
    "#6fa8ff",
    "#ffc2a8",
    "#a3e4ff",
    "#f7a8c8",
    "#c4f0a0",
    "#ffdf8f",
    "#b0b8ff",
    "#8fe0e8",
    "#ffa3a3",
    "#dcd0ff",
)
_IN_PALETTE = frozenset(PALETTE)
#: How many identities a sanctuary remembers the colour of.
REMEMBERED = 1024


def colour_for(key: str, taken: Container[str] = ()) -> str:
    """The presence colour of an identity: a palette colour chosen by a hash of ``key``,
    or the next one that is not ``taken``; past the palette, a light colour from the hash."""
    start = _palette_start(key)
    for i in range(len(PALETTE)):
        colour = PALETTE[(start + i) % len(PALETTE)]
        if colour not in taken:
            return colour
    return _light_colour(key, taken) or PALETTE[start]


def _palette_start(key: str) -> int:
    return int.from_bytes(hashlib.sha256(key.encode()).digest()[:4], "big") % len(PALETTE)


def _light_colour(key: str, taken: Container[str]) -> str | None:
    """Past the palette: the first light colour from the hash of ``key`` that is not ``taken``."""
    for i in range(64):
        more = hashlib.sha256(f"{key}:{i}".encode()).digest()
        colour = f"#{128 + more[0] % 128:02x}{128 + more[1] % 128:02x}{128 + more[2] % 128:02x}"
        if colour not in taken:
            return colour
    return None


class Colours:
    """The colours of a sanctuary's identities: stable for each identity, distinct between them (W11a).

    An identity keeps the colour it had (or chose, through presence) while nobody else
    present holds it; a new identity gets one that no one present holds and, while the
    palette lasts, that no identity seen lately had. Every question is answered from
    counts kept up to date on join, choice and leave: a join costs the same in a room of
    five or of five thousand (in a crowd that holds the whole palette, a newcomer goes
    straight to the light colours past it).
    """

    def __init__(self) -> None:
        self._of: dict[str, str] = {}  # identity -> its colour here (the last REMEMBERED identities)
        self._remembered: Counter[str] = Counter()  # colour -> identities remembered with it
        self._held: Counter[str] = Counter()  # colour -> members present holding it
        self._held_by: Counter[tuple[str, str]] = Counter()  # (identity, colour) -> its members holding it
        self._member: dict[str, tuple[str, str]] = {}  # sid -> (identity, colour)
        self._present: Counter[str] = Counter()  # identity -> its members present
        self._palette_held = 0  # palette colours some member present holds

    def join(self, sid: str, identity: str) -> str:
        """The colour of a member joining as ``identity``."""
        others = _HeldByOthers(self, identity)
        mine = self._of.get(identity)
        if mine is None and not self._present[identity] and self._palette_held == len(PALETTE):
            # Every palette colour is held by another identity: what the scans below would find.
            mine = _light_colour(identity, others) or PALETTE[_palette_start(identity)]
        elif mine is None or mine in others:
            mine = colour_for(identity, _SeenByOthers(self, identity))
            if mine not in PALETTE:  # the palette is used up by the remembered: share with the absent
                mine = colour_for(identity, others)
        self._hold(sid, identity, mine)
        return mine

    def chose(self, sid: str, identity: str, colour: str) -> None:
        """The member ``sid`` (of ``identity``) chose ``colour``: its colour, and its identity's, from now on."""
        self.leave(sid)
        self._hold(sid, identity, colour)

    def leave(self, sid: str) -> None:
        """The member ``sid`` left: its colour is free again (and still remembered for its identity)."""
        held = self._member.pop(sid, None)
        if held is not None:
            identity, colour = held
            self._held[colour] -= 1
            if not self._held[colour]:
                del self._held[colour]
                self._palette_held -= colour in _IN_PALETTE
            self._held_by[held] -= 1
            if not self._held_by[held]:
                del self._held_by[held]
            self._present[identity] -= 1
            if not self._present[identity]:
                del self._present[identity]

    def _hold(self, sid: str, identity: str, colour: str) -> None:
        self._member[sid] = (identity, colour)
        if not self._held[colour]:
            self._palette_held += colour in _IN_PALETTE
        self._held[colour] += 1
        self._present[identity] += 1
        self._held_by[(identity, colour)] += 1
        self._remember(identity, colour)

    def _remember(self, identity: str, colour: str) -> None:
        old = self._of.pop(identity, None)
        if old is not None:
            self._remembered[old] -= 1
        self._of[identity] = colour
        self._remembered[colour] += 1
        if len(self._of) > REMEMBERED:
            oldest = next(iter(self._of))
            self._remembered[self._of.pop(oldest)] -= 1


class _HeldByOthers:
    """The colours some member of another identity holds now."""

    def __init__(self, colours: Colours, identity: str) -> None:
        self.colours, self.identity = colours, identity

    def __contains__(self, colour: object) -> bool:
        c = self.colours
        return isinstance(colour, str) and c._held[colour] - c._held_by[(self.identity, colour)] > 0


class _SeenByOthers(_HeldByOthers):
    """The colours another identity holds now or was remembered with."""

    def __contains__(self, colour: object) -> bool:
        c = self.colours
        mine = 1 if c._of.get(self.identity) == colour else 0
        return super().__contains__(colour) or (isinstance(colour, str) and c._remembered[colour] - mine > 0)
