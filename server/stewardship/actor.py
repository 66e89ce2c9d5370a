"""Running stewardship inside a sanctuary's actor, so acts apply between two batches (SPEC P10)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TypeVar

from dreamloom.protocol import ErrorCode

from ..hub import Hub
from ..member import Member
from ..sanctuary import Sanctuary, SanctuaryClosed
from .errors import StewardshipError

T = TypeVar("T")


async def in_actor(hub: Hub, name: str, fn: Callable[[Sanctuary | None], Awaitable[T]], *, load: bool = False) -> T:
    """Run ``fn`` inside the sanctuary's actor, or with ``None`` when it is not live and ``load`` is false."""
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
    raise StewardshipError(ErrorCode.SHUTTING_DOWN, "the sanctuary is restarting: try again")


def members_of(sanctuary: Sanctuary | None, identity: str) -> list[Member]:
    """The live connections of one identity in a sanctuary."""
    if sanctuary is None:
        return []
    return [m for m in sanctuary.members.values() if m.identity.id == identity]
