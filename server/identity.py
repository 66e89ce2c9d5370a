"""How members look to others: the presence colours.

Identities themselves come from signed tokens (see auth.py and moderation.py):
never from anything a client could read off the wire, such as a replica id.
"""

from __future__ import annotations

import hashlib

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
)


def colour_for(key: str) -> str:
    """A stable presence colour for a session."""
    return PALETTE[int(hashlib.sha256(key.encode()).hexdigest()[:8], 16) % len(PALETTE)]
