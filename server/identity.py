"""How members look to others: the presence colours.

Identities themselves come from signed tokens (see auth.py and moderation.py):
never from anything a client could read off the wire, such as a replica id.
"""

from __future__ import annotations

import hashlib
from collections.abc import Collection, Mapping

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
#: How many identities a sanctuary remembers the colour of.
REMEMBERED = 1024


def colour_for(key: str, taken: Collection[str] = ()) -> str:
    """The presence colour of an identity: a palette colour chosen by a hash of ``key``,
    or the next one that is not ``taken``; past the palette, a light colour from the hash."""
    digest = hashlib.sha256(key.encode()).digest()
    start = int.from_bytes(digest[:4], "big") % len(PALETTE)
    for i in range(len(PALETTE)):
        colour = PALETTE[(start + i) % len(PALETTE)]
        if colour not in taken:
            return colour
    for i in range(64):
        more = hashlib.sha256(f"{key}:{i}".encode()).digest()
        colour = "#" + "".join(f"{128 + b % 128:02x}" for b in more[:3])
        if colour not in taken:
            return colour
    return PALETTE[start]


class Colours:
    """The colours of a sanctuary's identities: stable for each identity, distinct between them.

    An identity keeps the colour it had (or chose, through presence) while nobody else
    present holds it; a new identity gets one that no one present holds and, while the
    palette lasts, that no identity seen lately had.
    """

    def __init__(self) -> None:
        self._of: dict[str, str] = {}

    def assign(self, identity: str, present: Mapping[str, str]) -> str:
        """The colour for ``identity`` joining; ``present`` maps the others present to their colours."""
        held = {colour for who, colour in present.items() if who != identity}
        mine = self._of.get(identity)
        if mine is None or mine in held:
            seen = {colour for who, colour in self._of.items() if who != identity}
            mine = colour_for(identity, held | seen)
            if mine not in PALETTE:  # the palette is used up by the remembered: share with the absent
                mine = colour_for(identity, held)
        self.remember(identity, mine)
        return mine

    def remember(self, identity: str, colour: str) -> None:
        """``identity`` has (or chose) ``colour``."""
        self._of.pop(identity, None)
        self._of[identity] = colour
        if len(self._of) > REMEMBERED:
            del self._of[next(iter(self._of))]
