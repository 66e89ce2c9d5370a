"""Where a bound line's or arrow's ends are drawn (SPEC M14).

Theory of operation:

1. A line or an arrow (a shape with ``shape`` ``line`` or ``arrow``) stores its
   ends as geometry: from ``(x, y)`` to ``(x + w, y + h)``, turned by ``rot``
   around ``(x, y)``. Its ``start`` and ``end`` registers may name other
   fragments, its *targets*.
2. An end whose target is live, is not the arrow itself, and is not a line or
   an arrow is *attached*: it is resolved at render time, never stored. Any
   other end (unbound, target deleted, missing or unusable) is drawn where the
   geometry stores it, so a deleted target leaves the arrow where it last was.
3. An attached end sits where the segment from its target's centre toward the
   *aim* leaves the target's outline, ``GAP`` further out. The aim is the other
   end's target's centre when that end is attached, else the other stored end.
   When the aim lies inside the outline, the end sits on the target's centre.
4. A target's outline is its box before rotation (a rectangle's or ellipse's
   ``w`` x ``h``, a symbol's square, a caption's estimated box, a stroke's point
   box), turned by its ``rot`` around its anchor; an ellipse's outline is the
   ellipse itself.
5. Everything here is pure arithmetic on register values: the server's renders,
   the SDK and the browser (``client/web/protocol/bindings.js``) compute the
   same ends, pinned by the vectors in ``protocol/vectors/bindings/``.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable, Sequence
from typing import Any, NamedTuple

from .tapestry import Fragment

#: World units between a target's outline and the attached end.
GAP = 6.0
#: Advance of one caption character and the line height, as shares of the size (as the renderers estimate them).
CHAR_ADVANCE = 0.6
LINE_HEIGHT = 1.25

Point = tuple[float, float]
Lookup = Callable[[str], "Fragment | None"]


class Outline(NamedTuple):
    """A target's outline: centre ``(cx, cy)`` and half sizes before rotation, ``rot`` around ``(ax, ay)``."""

    cx: float
    cy: float
    hw: float
    hh: float
    ax: float
    ay: float
    rot: float
    round: bool


def num(value: Any) -> float:
    """A finite float from a register value, or 0."""
    if type(value) is bool or not isinstance(value, (int, float)):
        return 0.0
    f = float(value)
    return f if math.isfinite(f) else 0.0


def is_connector(frag: Fragment) -> bool:
    """Whether the fragment is a line or an arrow (the fragments that bind)."""
    return frag.kind == "shape" and frag.geom.get("shape") in ("line", "arrow")


def _turn(x: float, y: float, ax: float, ay: float, rot: float) -> Point:
    if not rot:
        return x, y
    c, s = math.cos(rot), math.sin(rot)
    dx, dy = x - ax, y - ay
    return ax + dx * c - dy * s, ay + dx * s + dy * c


def _box(frag: Fragment) -> tuple[float, float, float, float] | None:
    g = frag.geom
    if frag.kind == "shape":
        w, h = num(g.get("w")), num(g.get("h"))
        return min(frag.x, frag.x + w), min(frag.y, frag.y + h), max(frag.x, frag.x + w), max(frag.y, frag.y + h)
    if frag.kind == "symbol":
        r = num(g.get("size")) / 2
        return (frag.x - r, frag.y - r, frag.x + r, frag.y + r) if r > 0 else None
    if frag.kind == "text":
        text, size = g.get("text"), num(g.get("size"))
        if not isinstance(text, str) or size <= 0:
            return None
        lines = text.split("\n")
        span = max(CHAR_ADVANCE * size * max(len(line) for line in lines), size * 0.3)
        align = g.get("align")
        x0 = frag.x - span * (0.5 if align == "center" else 1.0 if align == "right" else 0.0)
        return x0, frag.y - 0.8 * size, x0 + span, frag.y + 0.25 * size + (len(lines) - 1) * LINE_HEIGHT * size
    pts = g.get("pts")
    if not isinstance(pts, Sequence) or isinstance(pts, str) or len(pts) < 2:
        return None
    xs = [frag.x + num(pts[i]) for i in range(0, len(pts) - 1, 2)]
    ys = [frag.y + num(pts[i + 1]) for i in range(0, len(pts) - 1, 2)]
    return min(xs), min(ys), max(xs), max(ys)


def outline(frag: Fragment) -> Outline | None:
    """The outline an end attaches to, or ``None`` when ``frag`` cannot be a target (rule 4)."""
    if is_connector(frag):
        return None
    box = _box(frag)
    if box is None:
        return None
    x0, y0, x1, y1 = box
    return Outline(
        (x0 + x1) / 2,
        (y0 + y1) / 2,
        (x1 - x0) / 2,
        (y1 - y0) / 2,
        frag.x,
        frag.y,
        num(frag.geom.get("rot")),
        frag.kind == "shape" and frag.geom.get("shape") == "ellipse",
    )


def centre(o: Outline) -> Point:
    """The outline's centre in world coordinates."""
    return _turn(o.cx, o.cy, o.ax, o.ay, o.rot)


def attach(o: Outline, aim: Point) -> Point:
    """Where an end attached to ``o`` sits when it points toward ``aim`` (rule 3)."""
    lx, ly = _turn(aim[0], aim[1], o.ax, o.ay, -o.rot)
    qx, qy = lx - o.cx, ly - o.cy
    length = math.hypot(qx, qy)
    hw, hh = max(o.hw, 1e-9), max(o.hh, 1e-9)
    reach = math.hypot(qx / hw, qy / hh) if o.round else max(abs(qx) / hw, abs(qy) / hh)
    if reach <= 1 or length == 0:
        return centre(o)
    k = 1 / reach + GAP / length
    return _turn(o.cx + qx * k, o.cy + qy * k, o.ax, o.ay, o.rot)


def stored_ends(frag: Fragment) -> tuple[Point, Point]:
    """A line's or an arrow's ends as its geometry stores them (rule 1)."""
    rot = num(frag.geom.get("rot"))
    end = _turn(frag.x + num(frag.geom.get("w")), frag.y + num(frag.geom.get("h")), frag.x, frag.y, rot)
    return (frag.x, frag.y), end


def target(frag: Fragment, which: str, lookup: Lookup) -> Outline | None:
    """The outline of the live fragment that end ``which`` (``start`` or ``end``) is attached to (rule 2)."""
    tid = frag.start if which == "start" else frag.end
    if tid is None or tid == frag.id:
        return None
    t = lookup(tid)
    if t is None or t.deleted:
        return None
    return outline(t)


def ends(frag: Fragment, lookup: Lookup) -> tuple[Point, Point]:
    """Where a line's or an arrow's ends are drawn: attached ends resolved, loose ends as stored."""
    a, b = stored_ends(frag)
    ta, tb = target(frag, "start", lookup), target(frag, "end", lookup)
    start = attach(ta, centre(tb) if tb else b) if ta else a
    end = attach(tb, centre(ta) if ta else a) if tb else b
    return start, end


def resolve(frag: Fragment, lookup: Lookup) -> Fragment:
    """``frag`` as it is drawn: a line or arrow with an attached end gets geometry through its drawn ends.

    The result has no ``rot`` (its ends are already placed); any other fragment is returned as it is.

    >>> from dreamloom.protocol import Stamp, Tapestry, ops
    >>> t = Tapestry()
    >>> _ = t.apply(ops.create("box", Stamp(1, "r"), kind="shape", geom={"shape": "rect", "w": 100, "h": 100}, z="V"))
    >>> _ = t.apply(ops.create("ar", Stamp(2, "r"), kind="shape", x=-200, y=50,
    ...     geom={"shape": "arrow", "w": 150, "h": 0}, z="W", end="box"))
    >>> drawn = resolve(t.get("ar"), t.get)
    >>> drawn.x + drawn.geom["w"], drawn.y + drawn.geom["h"]
    (-6.0, 50.0)
    """
    if not is_connector(frag) or (frag.start is None and frag.end is None):
        return frag
    (x1, y1), (x2, y2) = ends(frag, lookup)
    geom: dict[str, Any] = {k: v for k, v in frag.geom.items() if k != "rot"}
    geom["w"] = x2 - x1
    geom["h"] = y2 - y1
    return dataclasses.replace(frag, x=x1, y=y1, geom=geom)
