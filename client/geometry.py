"""Where fragments are on the canvas: bounding boxes, centres and point helpers.

Boxes are approximate for text (the server does not know fonts): a caption is taken
as ``0.6 * size`` wide per character and ``size`` high, above its baseline.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from typing import NamedTuple

from dreamloom.protocol import Fragment


class Box(NamedTuple):
    """An axis-aligned rectangle ``(x0, y0, x1, y1)`` with ``x0 <= x1`` and ``y0 <= y1``.

    >>> Box(0, 0, 10, 10).intersects(Box(5, 5, 20, 20))
    True
    >>> Box(0, 0, 10, 4).center
    (5.0, 2.0)
    """

    x0: float
    y0: float
    x1: float
    y1: float

    @property
    def center(self) -> tuple[float, float]:
        """The middle of the box."""
        return ((self.x0 + self.x1) / 2, (self.y0 + self.y1) / 2)

    def intersects(self, other: Box) -> bool:
        """Whether the two boxes overlap or touch."""
        return self.x0 <= other.x1 and other.x0 <= self.x1 and self.y0 <= other.y1 and other.y0 <= self.y1

    def contains(self, x: float, y: float) -> bool:
        """Whether the point lies inside (or on the edge of) the box."""
        return self.x0 <= x <= self.x1 and self.y0 <= y <= self.y1


def box_of_points(xs: Iterable[float], ys: Iterable[float]) -> Box:
    """The bounding box of points given as two sequences of coordinates.

    >>> box_of_points([1, 3, 2], [5, 4, 9])
    Box(x0=1, y0=4, x1=3, y1=9)
    """
    xl, yl = list(xs), list(ys)
    return Box(min(xl), min(yl), max(xl), max(yl))


def absolute_points(fragment: Fragment) -> list[tuple[float, float]]:
    """A stroke's points on the canvas: its relative ``pts`` moved to ``(x, y)`` and turned by
    ``rot`` around ``(x, y)``. Other kinds give their anchor point.

    >>> from dreamloom.protocol import Fragment
    >>> f = Fragment("a", "stroke", 10, 20, {"pts": [0, 0, 5, 0]}, {}, "V", "", "organic", (), False, False)
    >>> absolute_points(f)
    [(10, 20), (15, 20)]
    """
    if fragment.kind != "stroke":
        return [(fragment.x, fragment.y)]
    pts: Sequence[float] = fragment.geom.get("pts", ())
    rot = float(fragment.geom.get("rot", 0) or 0)
    out = [(pts[i], pts[i + 1]) for i in range(0, len(pts) - 1, 2)]
    if rot:
        c, s = math.cos(rot), math.sin(rot)
        out = [(px * c - py * s, px * s + py * c) for px, py in out]
    return [(fragment.x + px, fragment.y + py) for px, py in out]


def bounds(fragment: Fragment) -> Box:
    """The bounding box of a fragment on the canvas (ignoring ``rot`` except for strokes).

    >>> from dreamloom.protocol import Fragment
    >>> f = Fragment("s", "symbol", 100, 100, {"sym": "moon", "size": 40}, {}, "V", "", "ai", (), False, False)
    >>> bounds(f)
    Box(x0=80.0, y0=80.0, x1=120.0, y1=120.0)
    """
    g = fragment.geom
    x, y = fragment.x, fragment.y
    if fragment.kind == "stroke":
        pts = absolute_points(fragment)
        return box_of_points((p[0] for p in pts), (p[1] for p in pts))
    if fragment.kind == "shape":
        w, h = float(g.get("w", 0)), float(g.get("h", 0))
        return Box(min(x, x + w), min(y, y + h), max(x, x + w), max(y, y + h))
    if fragment.kind == "symbol":
        half = float(g.get("size", 0)) / 2
        return Box(x - half, y - half, x + half, y + half)
    size = float(g.get("size", 0))
    return Box(x, y - size, x + 0.6 * size * len(str(g.get("text", ""))), y)


def rotate(x: float, y: float, angle: float, cx: float = 0.0, cy: float = 0.0) -> tuple[float, float]:
    """The point ``(x, y)`` turned by ``angle`` radians around ``(cx, cy)``.

    >>> [round(v, 6) for v in rotate(1, 0, math.pi / 2)]
    [0.0, 1.0]
    """
    c, s = math.cos(angle), math.sin(angle)
    dx, dy = x - cx, y - cy
    return (cx + dx * c - dy * s, cy + dx * s + dy * c)
