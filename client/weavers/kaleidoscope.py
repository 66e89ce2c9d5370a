"""Kaleidoscope: mirrors each new freehand stroke of a person with n-fold symmetry."""

from __future__ import annotations

import math
from typing import Any

from dreamloom.protocol import Fragment

from ..events import FragmentEvent
from ..geometry import absolute_points, rotate
from ..weaver import Weaver


def mirror_points(stroke: Fragment, angle: float, centre: tuple[float, float]) -> tuple[float, float, list[float]]:
    """A stroke turned by ``angle`` around ``centre``: its new anchor and relative points.

    >>> from dreamloom.protocol import Fragment
    >>> s = Fragment("s", "stroke", 10, 0, {"pts": [0, 0, 10, 0]}, {}, "V", "", "organic", (), False, False)
    >>> mirror_points(s, math.pi, (0, 0))
    (-10.0, 0.0, [0.0, 0.0, -10.0, 0.0])
    """
    turned = [rotate(px, py, angle, *centre) for px, py in absolute_points(stroke)]
    ax, ay = round(turned[0][0], 2), round(turned[0][1], 2)
    rel: list[float] = []
    for px, py in turned:
        rel += [round(px - ax, 2) + 0.0, round(py - ay, 2) + 0.0]
    return ax + 0.0, ay + 0.0, rel


class Kaleidoscope(Weaver):
    """Answers every new freehand stroke of a person with ``folds - 1`` copies turned around
    ``centre``, so the tapestry gains ``folds``-fold symmetry. The copies are linked to the
    original by ``inspired_by`` and sent together in one batch.

    Example: ``Kaleidoscope(folds=8, centre=(400, 300)).run(url, "dreams")``.
    """

    name = "kaleidoscope"
    description = "mirrors each new human stroke with n-fold symmetry around the centre"

    def __init__(
        self, *, folds: int = 6, centre: tuple[float, float] = (0.0, 0.0), fade: float = 0.7, **options: Any
    ) -> None:
        """``folds`` >= 2 is the order of symmetry; ``fade`` scales the copies' opacity.

        Example: ``Kaleidoscope(folds=4, centre=(0, 0))``.
        """
        super().__init__(**options)
        if folds < 2:
            raise ValueError("folds must be at least 2")
        self.folds = int(folds)
        self.centre = (float(centre[0]), float(centre[1]))
        self.fade = fade

    async def on_fragment_added(self, event: FragmentEvent) -> None:
        """Mirror a person's new freehand stroke (not responses, not this weaver's own work)."""
        stroke = event.fragment
        if event.action != "added" or stroke.kind != "stroke" or event.mine or not event.organic:
            return
        if stroke.inspired_by or self.backing_off:
            return  # only freehand strokes: never mirror another weaver's answers
        style = dict(stroke.style)
        style["opacity"] = round(float(style.get("opacity", 1)) * self.fade, 3)
        with self.batch():
            for k in range(1, self.folds):
                x, y, pts = mirror_points(stroke, 2 * math.pi * k / self.folds, self.centre)
                self.add_stroke(pts, x=x, y=y, style=style, inspired_by=[stroke.id])
        self.show_cursor(*self.centre)
