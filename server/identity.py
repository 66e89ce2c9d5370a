"""Who is on the other end of a connection.

Every session carries an :class:`dreamloom.protocol.Identity`. Until a token
says otherwise, a connection is a guest dreamer whose id is derived from its
replica id, so a reconnect of the same replica is recognised as the same guest.
"""

from __future__ import annotations

import hashlib

from dreamloom.protocol import Hello, Identity

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


def guest_identity(hello: Hello) -> Identity:
    """The identity of a guest: a dreamer named by its hello."""
    digest = hashlib.sha256(hello.replica.encode()).hexdigest()[:16]
    name = hello.name.strip() or "dreamer"
    return Identity(id=f"guest-{digest}", name=name, role="dreamer", origin="organic")


def colour_for(key: str) -> str:
    """A stable presence colour for a session."""
    return PALETTE[int(hashlib.sha256(key.encode()).hexdigest()[:8], 16) % len(PALETTE)]
