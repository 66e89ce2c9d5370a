"""Handlers declared with a decorator, and the checks a weaver class gets when it is defined.

Subclassing with ``on_*`` methods stays the plain way to write a weaver; the decorator adds
filtered handlers beside them, in the spirit of Bolt's and discord.py's listeners::

    class Moon(Weaver):
        @on_fragment("added", origin="organic", kind="text")
        async def answer(self, event: FragmentEvent) -> None:
            self.add_symbol("moon", event.fragment.x, event.fragment.y - 40, inspired_by=[event.id])

A class whose method looks like a handler but names none (``on_fragment_add``) is reported
when the weaver starts, with the names it may have meant.
"""

from __future__ import annotations

import difflib
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any, Final, TypeVar, get_args

from dreamloom.protocol import UsageError

from .events import FragmentAction, FragmentEvent

#: Every handler a :class:`~dreamloom.client.Weaver` calls by name.
HANDLER_NAMES: Final = frozenset(
    {
        "on_ready",
        "on_fragment_added",
        "on_fragment_changed",
        "on_fragment_deleted",
        "on_peer_joined",
        "on_peer_left",
        "on_presence",
        "on_policy",
        "on_rejected",
        "on_disconnect",
        "on_server_error",
        "on_handler_error",
    }
)
_ACTIONS: Final = frozenset(get_args(FragmentAction))
_FILTER_ATTR: Final = "__dreamloom_fragment_filter__"

F = TypeVar("F", bound=Callable[..., Any])


@dataclass(frozen=True, slots=True)
class FragmentFilter:
    """Which fragment events a decorated handler wants (``None``: any)."""

    actions: frozenset[str]
    kinds: frozenset[str] | None
    origins: frozenset[str] | None
    mine: bool | None

    def matches(self, event: FragmentEvent) -> bool:
        """Whether ``event`` passes every filter. Example: ``flt.matches(event)``."""
        return (
            event.action in self.actions
            and (self.kinds is None or event.fragment.kind in self.kinds)
            and (self.origins is None or event.origin in self.origins)
            and (self.mine is None or event.mine == self.mine)
        )


def on_fragment(
    *actions: FragmentAction,
    kind: str | Iterable[str] | None = None,
    origin: str | Iterable[str] | None = None,
    mine: bool | None = None,
) -> Callable[[F], F]:
    """Make a weaver method a handler of fragment events, filtered by ``actions`` (any of
    ``"added"``, ``"changed"``, ``"deleted"``, ``"restored"``; all when none is given),
    ``kind``, ``origin`` (``"organic"`` or ``"ai"``: who made the change) and ``mine``.
    It runs after the ``on_fragment_*`` method of the same event, one handler at a time.

    Example::

        class Moon(Weaver):
            @on_fragment("added", origin="organic", kind="text")
            async def answer(self, event: FragmentEvent) -> None:
                self.add_symbol("moon", event.fragment.x, event.fragment.y - 40, inspired_by=[event.id])
    """
    unknown = set(actions) - _ACTIONS
    if unknown:
        raise UsageError(f"unknown fragment actions {sorted(unknown)} (known: {', '.join(sorted(_ACTIONS))})")
    flt = FragmentFilter(frozenset(actions or _ACTIONS), _names(kind), _names(origin), mine)

    def decorate(fn: F) -> F:
        if not callable(fn):
            raise UsageError(f"@on_fragment decorates a method, not {fn!r}")
        setattr(fn, _FILTER_ATTR, flt)
        return fn

    return decorate


def _names(value: str | Iterable[str] | None) -> frozenset[str] | None:
    if value is None:
        return None
    return frozenset([value] if isinstance(value, str) else value)


def fragment_handlers(cls: type) -> tuple[tuple[str, FragmentFilter], ...]:
    """The decorated fragment handlers of a class and its bases, in definition order.

    >>> class W:
    ...     @on_fragment("added", kind="text")
    ...     async def answer(self, event): ...
    >>> [(name, sorted(flt.actions), flt.kinds) for name, flt in fragment_handlers(W)]
    [('answer', ['added'], frozenset({'text'}))]
    """
    found: dict[str, FragmentFilter] = {}
    for klass in reversed(cls.__mro__):
        for name, value in vars(klass).items():
            flt = getattr(value, _FILTER_ATTR, None)
            if isinstance(flt, FragmentFilter):
                found[name] = flt
    return tuple(found.items())


def misspelt_handlers(cls: type) -> list[str]:
    """Messages for methods named like handlers that no event calls.

    >>> class W:
    ...     def on_fragment_add(self, event): ...
    >>> print(*misspelt_handlers(W))
    W.on_fragment_add is not a handler the SDK calls: did you mean on_fragment_added?
    """
    decorated = {name for name, _ in fragment_handlers(cls)}
    messages = []
    for klass in cls.__mro__:
        if klass.__module__.startswith("dreamloom.client") and klass.__name__ in ("Weaver", "Dreamer"):
            break
        for name, value in vars(klass).items():
            if not name.startswith("on_") or name in HANDLER_NAMES or name in decorated or not callable(value):
                continue
            close = difflib.get_close_matches(name, sorted(HANDLER_NAMES), n=1, cutoff=0.6)
            hint = (
                f": did you mean {' or '.join(close)}?" if close else f" (handlers: {', '.join(sorted(HANDLER_NAMES))})"
            )
            messages.append(f"{klass.__name__}.{name} is not a handler the SDK calls{hint}")
    return messages
