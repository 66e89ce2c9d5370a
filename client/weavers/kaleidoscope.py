"""Kaleidoscope: mirrors each new freehand stroke of a person with n-fold symmetry."""

from __future__ import annotations

import logging
import math
from typing import Any

from dreamloom.protocol import Fragment

from ..events import FragmentEvent
from ..geometry import absolute_points, rotate
from ..weaver import Weaver

log = logging.getLogger("dreamloom.client")


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


def centroid(stroke: Fragment) -> tuple[float, float]:
    """The mean of a stroke's points on the canvas: the centre its rosette turns around.

    >>> from dreamloom.protocol import Fragment
    >>> square = {"pts": [0, 0, 10, 0, 10, 10, 0, 10]}
    >>> centroid(Fragment("s", "stroke", 100, 50, square, {}, "V", "", "organic", (), False, False))
    (105.0, 55.0)
    """
    pts = absolute_points(stroke)
    return (sum(p[0] for p in pts) / len(pts), sum(p[1] for p in pts) / len(pts))


class Kaleidoscope(Weaver):
    """Answers every new freehand stroke of a person with ``folds - 1`` copies turned around
    the stroke's own centre (or around ``centre`` when given), so each stroke becomes a
    ``folds``-fold rosette where it was drawn, not on top of other work. The copies are
    linked to the original by ``inspired_by`` and sent together in one batch, and only when
    the AI share cap and the AI rate leave room for all of them: a rosette is whole or
    absent, never lopsided.

    Example: ``Kaleidoscope(folds=8).run(url, "dreams")``.
    """

    name = "kaleidoscope"
    description = "turns each new human stroke into an n-fold rosette around its own centre"

    def __init__(
        self, *, folds: int = 6, centre: tuple[float, float] | None = None, fade: float = 0.7, **options: Any
    ) -> None:
        """``folds`` >= 2 is the order of symmetry; ``centre`` a fixed point to turn around
        (default: each stroke's own centre); ``fade`` scales the copies' opacity.

        Example: ``Kaleidoscope(folds=4, centre=(0, 0))``.
        """
        super().__init__(**options)
        if folds < 2:
            raise ValueError("folds must be at least 2")
        self.folds = int(folds)
        self.centre = None if centre is None else (float(centre[0]), float(centre[1]))
        self.fade = fade
        #: Strokes left without a rosette for want of room (cap or rate), by id.
        self.skipped: list[str] = []

    async def on_fragment_added(self, event: FragmentEvent) -> None:
        """Mirror a person's new freehand stroke (not responses, not this weaver's own work)."""
        stroke = event.fragment
        if event.action != "added" or stroke.kind != "stroke" or event.mine or not event.organic:
            return
        if stroke.inspired_by or self.backing_off:
            return  # only freehand strokes: never mirror another weaver's answers
        copies = self.folds - 1
        if self.ai_room < copies or self.ai_rate_room < copies:
            # Part of a rosette would be refused, and a lopsided one is worse than none.
            self.skipped.append(stroke.id)
            log.info("no room for a %d-fold rosette of %s (cap or rate): skipped", self.folds, stroke.id)
            return
        centre = self.centre or centroid(stroke)
        style = dict(stroke.style)
        style["opacity"] = round(float(style.get("opacity", 1)) * self.fade, 3)
        with self.batch():
            for k in range(1, self.folds):
                x, y, pts = mirror_points(stroke, 2 * math.pi * k / self.folds, centre)
                # A turned copy keeps the pen's pressure, point for point.
                pressure = stroke.geom.get("pressure")
                self.add_stroke(pts, x=x, y=y, style=style, inspired_by=[stroke.id], pressure=pressure)
        self.show_cursor(*centre)
