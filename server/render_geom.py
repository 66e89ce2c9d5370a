"""Geometry for rendering: read a fragment's registers defensively, bound it, shape it.

A register may hold any value the protocol accepts for its field, which is not
always what the fragment's kind wants: a ``set`` op may replace a stroke's
``geom`` with one that has no ``pts``. Rendering must never fail on a state the
merge layer accepts, so every reader here falls back to "nothing to draw"
(``None``) instead of raising.

Coordinates follow the protocol: a stroke's points are relative to ``(x, y)``;
a shape spans ``(x, y)``-``(x + w, y + h)``; a symbol is centred on ``(x, y)``;
a text's baseline starts at ``(x, y)`` (or is centred on, or ends at, ``x``
with ``align``). ``rot`` (radians) turns every kind around its anchor ``(x, y)``.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from itertools import pairwise
from typing import Any

from dreamloom.protocol import Fragment
from dreamloom.protocol.outline import max_radius

DEFAULT_WIDTH = 3.0
#: Rough advance of one character, as a share of the font size (for text bounds only).
CHAR_ADVANCE = 0.6
LINE_HEIGHT = 1.25


@dataclass(frozen=True, slots=True)
class Box:
    """An axis-aligned rectangle, ``x0 <= x1`` and ``y0 <= y1``."""

    x0: float
    y0: float
    x1: float
    y1: float

    @property
    def width(self) -> float:
        return self.x1 - self.x0

    @property
    def height(self) -> float:
        return self.y1 - self.y0

    @property
    def centre(self) -> tuple[float, float]:
        return (self.x0 + self.x1) / 2, (self.y0 + self.y1) / 2

    def grow(self, by: float) -> Box:
        return Box(self.x0 - by, self.y0 - by, self.x1 + by, self.y1 + by)

    def corners(self) -> tuple[tuple[float, float], ...]:
        return ((self.x0, self.y0), (self.x1, self.y0), (self.x1, self.y1), (self.x0, self.y1))

    @staticmethod
    def around(points: Iterable[tuple[float, float]]) -> Box | None:
        xs: list[float] = []
        ys: list[float] = []
        for x, y in points:
            xs.append(x)
            ys.append(y)
        if not xs:
            return None
        return Box(min(xs), min(ys), max(xs), max(ys))

    @staticmethod
    def union(boxes: Iterable[Box]) -> Box | None:
        return Box.around(p for b in boxes for p in (b.corners()[0], b.corners()[2]))


def num(value: Any, default: float = 0.0) -> float:
    """A finite float from a register value, or ``default``."""
    if type(value) is bool or not isinstance(value, (int, float)):
        return default
    f = float(value)
    return f if math.isfinite(f) else default


def fmt(value: float) -> str:
    """A number as short SVG text: two decimals at most, no trailing zeros."""
    text = f"{value:.2f}".rstrip("0").rstrip(".")
    return "0" if text in ("-0", "") else text


def rotation(frag: Fragment) -> float:
    """The fragment's rotation in radians (0 when absent or malformed)."""
    return num(frag.geom.get("rot"))


def rotate_box(box: Box, rot: float, ox: float, oy: float) -> Box:
    """The axis-aligned bounds of ``box`` turned by ``rot`` around ``(ox, oy)``."""
    if not rot:
        return box
    c, s = math.cos(rot), math.sin(rot)
    turned = ((ox + (x - ox) * c - (y - oy) * s, oy + (x - ox) * s + (y - oy) * c) for x, y in box.corners())
    out = Box.around(turned)
    assert out is not None
    return out


def stroke_width(style: Mapping[str, Any], default: float = DEFAULT_WIDTH) -> float:
    w = num(style.get("width"), default)
    return w if w >= 0 else default


def stroke_points(frag: Fragment, stride: int = 1) -> list[tuple[float, float]] | None:
    """The stroke's points in canvas coordinates, every ``stride``-th one (the last always kept)."""
    pts = frag.geom.get("pts")
    if not isinstance(pts, Sequence) or isinstance(pts, str) or len(pts) < 2:
        return None
    x, y = frag.x, frag.y
    pairs = [(x + num(pts[i]), y + num(pts[i + 1])) for i in range(0, len(pts) - 1, 2)]
    if stride > 1 and len(pairs) > 2:
        pairs = [*pairs[:-1:stride], pairs[-1]]
    return pairs


def stroke_pressure(frag: Fragment, stride: int = 1) -> list[float] | None:
    """The pressure of each point ``stroke_points(frag, stride)`` keeps, or ``None`` for a constant width."""
    if frag.kind != "stroke" or frag.style.get("dash"):
        return None
    pressure = frag.geom.get("pressure")
    pts = frag.geom.get("pts")
    if not isinstance(pressure, list) or not isinstance(pts, list) or len(pts) != 2 * len(pressure) or not pressure:
        return None
    values = [min(1.0, max(0.0, num(p, 0.5))) for p in pressure]
    if stride > 1 and len(values) > 2:
        values = [*values[:-1:stride], values[-1]]
    return values


def smooth_path(points: Sequence[tuple[float, float]]) -> str:
    """SVG path data through ``points``, smoothed with quadratic curves through the midpoints.

    Each input point becomes a control point and the curve passes through the
    midpoints between neighbours, ending exactly on the last point: the classic
    freehand smoothing that keeps corners soft without overshooting.
    """
    (x0, y0) = points[0]
    if len(points) == 1:
        # a tap: a zero-length segment that a round cap turns into a dot
        return f"M{fmt(x0)},{fmt(y0)} l0.01,0"
    if len(points) == 2:
        (x1, y1) = points[1]
        return f"M{fmt(x0)},{fmt(y0)} L{fmt(x1)},{fmt(y1)}"
    parts = [f"M{fmt(x0)},{fmt(y0)}"]
    for (ax, ay), (bx, by) in pairwise(points[1:]):
        parts.append(f"Q{fmt(ax)},{fmt(ay)} {fmt((ax + bx) / 2)},{fmt((ay + by) / 2)}")
    (xl, yl) = points[-1]
    parts.append(f"L{fmt(xl)},{fmt(yl)}")
    return " ".join(parts)


def shape_spec(frag: Fragment) -> tuple[str, float, float] | None:
    """``(shape, w, h)`` of a shape fragment, or ``None`` when its geometry is unusable."""
    shape = frag.geom.get("shape")
    if shape not in ("rect", "ellipse", "line", "arrow"):
        return None
    return shape, num(frag.geom.get("w")), num(frag.geom.get("h"))


def symbol_spec(frag: Fragment) -> tuple[str, float] | None:
    sym, size = frag.geom.get("sym"), num(frag.geom.get("size"))
    if not isinstance(sym, str) or size <= 0:
        return None
    return sym, size


#: How far left of its anchor a caption starts, as a share of its width, by ``align``.
ALIGN_SHIFT = {"left": 0.0, "center": 0.5, "right": 1.0}


def text_align(frag: Fragment) -> str:
    """``left``, ``center`` or ``right`` (anything else reads as ``left``)."""
    align = frag.geom.get("align")
    return align if isinstance(align, str) and align in ALIGN_SHIFT else "left"


def dash_array(style: Mapping[str, Any]) -> str | None:
    """The SVG dash pattern of a line's ``style.dash`` (dashes of 3 widths, gaps of 2; dots 2 widths apart)."""
    width = max(stroke_width(style), 0.5)
    dash = style.get("dash")
    if dash == "dashed":
        return f"{fmt(3 * width)} {fmt(2 * width)}"
    if dash == "dotted":
        return f"0 {fmt(2 * width)}"
    return None


def text_spec(frag: Fragment) -> tuple[list[str], float] | None:
    text, size = frag.geom.get("text"), num(frag.geom.get("size"))
    if not isinstance(text, str) or size <= 0:
        return None
    return text.split("\n"), size


def local_box(frag: Fragment, stride: int = 1) -> Box | None:
    """The fragment's bounds before rotation, ink included; ``None`` if it draws nothing."""
    width = stroke_width(frag.style)
    half = width / 2
    if frag.kind == "stroke":
        pts = stroke_points(frag, stride)
        box = Box.around(pts) if pts else None
        pressure = stroke_pressure(frag)
        return box.grow(half if pressure is None else max_radius(width, pressure)) if box else None
    if frag.kind == "shape":
        spec = shape_spec(frag)
        if spec is None:
            return None
        shape, w, h = spec
        x0, x1 = sorted((frag.x, frag.x + w))
        y0, y1 = sorted((frag.y, frag.y + h))
        return Box(x0, y0, x1, y1).grow(half + (arrow_length(width) if shape == "arrow" else 0))
    if frag.kind == "symbol":
        sspec = symbol_spec(frag)
        if sspec is None:
            return None
        r = sspec[1] / 2
        return Box(frag.x - r, frag.y - r, frag.x + r, frag.y + r)
    if frag.kind == "text":
        tspec = text_spec(frag)
        if tspec is None:
            return None
        lines, size = tspec
        longest = max(len(line) for line in lines)
        span = max(CHAR_ADVANCE * size * longest, size * 0.3)
        x0 = frag.x - span * ALIGN_SHIFT.get(text_align(frag), 0.0)
        return Box(x0, frag.y - 0.8 * size, x0 + span, frag.y + 0.25 * size + (len(lines) - 1) * LINE_HEIGHT * size)
    return None


def arrow_length(width: float) -> float:
    """Length of an arrow head for a line of this width."""
    return max(8.0, 3 * width)


def arrow_head(x1: float, y1: float, x2: float, y2: float, width: float) -> str:
    """Path data of an open arrow head at ``(x2, y2)`` for a line from ``(x1, y1)``."""
    length = math.hypot(x2 - x1, y2 - y1)
    if length == 0:
        return ""
    head = min(arrow_length(width), length / 2)
    ux, uy = (x2 - x1) / length, (y2 - y1) / length
    spread = 0.5  # tan of the half-angle: about 27 degrees
    bx, by = x2 - ux * head, y2 - uy * head
    px, py = -uy * head * spread, ux * head * spread
    return f"M{fmt(bx + px)},{fmt(by + py)} L{fmt(x2)},{fmt(y2)} L{fmt(bx - px)},{fmt(by - py)}"
