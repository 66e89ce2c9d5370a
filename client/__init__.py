"""The Dreamloom weaver SDK: write a bot that weaves beside people on a shared tapestry.

Example::

    from dreamloom.client import FragmentEvent, Weaver

    class Echo(Weaver):
        async def on_fragment_added(self, event: FragmentEvent) -> None:
            frag = event.fragment
            if event.organic and frag.kind == "text":
                self.add_symbol("moon", frag.x - 30, frag.y - 10, inspired_by=[frag.id])

    Echo().run("http://127.0.0.1:8765", "dreams")

``Weaver`` is the base class (handlers and actions); ``Replica`` its queryable copy of
the tapestry; ``Rejected`` and ``Closed`` the errors; the ``events`` module the event
types. ``dreamloom.client.testing`` runs a real server in-process for a weaver's tests.
The browser app lives in ``web/`` and is served by the server.
"""

from __future__ import annotations

from dreamloom.protocol import ErrorCode, Fragment, Identity, UsageError

from .backoff import Backoff
from .errors import Closed, Rejected
from .events import Disconnect, FragmentEvent, PeerEvent, PeerState, PolicyChange, Ready, ServerError
from .geometry import Box, bounds
from .handlers import on_fragment
from .pending import Action
from .policy import Policy
from .replica import Replica
from .urls import sanctuary_url
from .weaver import Weaver

__all__ = [
    "Action",
    "Backoff",
    "Box",
    "Closed",
    "Disconnect",
    "ErrorCode",
    "Fragment",
    "FragmentEvent",
    "Identity",
    "PeerEvent",
    "PeerState",
    "Policy",
    "PolicyChange",
    "Ready",
    "Rejected",
    "Replica",
    "ServerError",
    "UsageError",
    "Weaver",
    "bounds",
    "on_fragment",
    "sanctuary_url",
]
