"""Harmonizer: dresses the AI's answers in the colours of the people's work they answer.

Lineage needs no decoration: every fragment names its sources in ``inspired_by`` and the
browser draws those threads (the "Threads" toggle). The harmonizer does a visible job that
spends none of the AI share cap: it only *edits* AI fragments, never adds any. When a weaver
answers people's fragments, the harmonizer recolours the answer with the blend of its
organic sources' colours, and follows when a person recolours a source, so AI work wears
the palette of the human work it answers. It never touches organic fragments, shows where
it works with its cursor and selection, and sends an edit only while the AI rate has room.
"""

from __future__ import annotations

import math
from typing import Any

from dreamloom.protocol import Fragment

from ..events import FragmentEvent
from ..geometry import bounds
from ..weaver import Weaver


def parse_colour(value: object) -> tuple[int, int, int] | None:
    """``(r, g, b)`` of a ``#rrggbb[aa]`` colour, or ``None``.

    >>> parse_colour("#ff8000"), parse_colour("none")
    ((255, 128, 0), None)
    """
    if not isinstance(value, str) or not value.startswith("#") or len(value) not in (7, 9):
        return None
    try:
        return (int(value[1:3], 16), int(value[3:5], 16), int(value[5:7], 16))
    except ValueError:
        return None


def mix(colours: list[tuple[int, int, int]]) -> str:
    """The mean of several colours.

    >>> mix([(255, 0, 0), (0, 0, 255)]), mix([(16, 32, 48)])
    ('#800080', '#102030')
    """
    n = len(colours)
    return "#" + "".join(f"{(sum(c[i] for c in colours) + n // 2) // n:02x}" for i in range(3))


class Harmonizer(Weaver):
    """Recolours AI answers with the colours of the organic fragments they answer (their
    ``inspired_by`` sources), and again when a source is recoloured. It adds nothing, so it
    takes none of the AI share; it edits only AI fragments, so it never needs consent.

    Example: ``Harmonizer(tolerance=12).run(url, "dreams")``.
    """

    name = "harmonizer"
    description = "dresses AI answers in the colours of the human work they answer (adds nothing)"

    def __init__(self, *, tolerance: float = 8.0, **options: Any) -> None:
        """``tolerance`` is the RGB distance under which a colour already matches.

        Example: ``Harmonizer(tolerance=20)``.
        """
        super().__init__(**options)
        self.tolerance = float(tolerance)

    def target_colour(self, answer: Fragment) -> str | None:
        """The colour ``answer`` should wear: the mean of its organic sources' colours."""
        colours = []
        for source_id in answer.inspired_by:
            source = self.tapestry.get(source_id)
            if source is not None and source.origin == "organic":
                rgb = parse_colour(source.style.get("color"))
                if rgb is not None:
                    colours.append(rgb)
        return mix(colours) if colours else None

    async def on_fragment_added(self, event: FragmentEvent) -> None:
        """A new AI answer: dress it in its sources' colours."""
        if event.fragment.origin == "ai" and event.action == "added":
            self.harmonize(event.fragment)

    async def on_fragment_changed(self, event: FragmentEvent) -> None:
        """A person recoloured a fragment: its AI answers follow."""
        frag = event.fragment
        if frag.origin != "organic" or "style" not in event.fields:
            return
        for answer in self.tapestry:
            if answer.origin == "ai" and frag.id in answer.inspired_by:
                self.harmonize(answer)

    def harmonize(self, answer: Fragment) -> None:
        """Recolour one AI fragment if its colour strays from its sources' (and the rate has room)."""
        target = self.target_colour(answer)
        if target is None or self.backing_off or self.ai_rate_room < 1:
            return
        current = parse_colour(answer.style.get("color"))
        wanted = parse_colour(target)
        if current is not None and wanted is not None and math.dist(current, wanted) <= self.tolerance:
            return
        self.update(answer.id, style={**answer.style, "color": target})
        self.select([answer.id, *answer.inspired_by])
        self.show_cursor(*bounds(answer).center)
