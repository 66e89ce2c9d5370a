"""Harmonizer: draws threads between organic and AI fragments that belong together.

Two fragments of different origins relate by **lineage** (one is ``inspired_by`` the
other), **proximity** (their centres are within ``reach``) or **colour** (their stroke
colours are close). For every new fragment the harmonizer threads it to its best
related partners of the other origin with a gentle curve (an AI stroke linked to both by
``inspired_by``), painted beneath everything, so the tapestry shows both kinds woven.
"""

from __future__ import annotations

import hashlib
import math
from typing import Any

from dreamloom.protocol import Fragment

from ..events import FragmentEvent, Ready
from ..geometry import bounds
from ..weaver import Weaver

DEFAULT_COLOUR = "#9ad0ff"


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


def blend(a: object, b: object) -> str:
    """The colour halfway between two colours (a soft default when either is missing).

    >>> blend("#ff0000", "#0000ff")
    '#800080'
    """
    ca, cb = parse_colour(a), parse_colour(b)
    if ca is None or cb is None:
        one = ca or cb
        return DEFAULT_COLOUR if one is None else "#{:02x}{:02x}{:02x}".format(*one)
    return "#" + "".join(f"{(p + q + 1) // 2:02x}" for p, q in zip(ca, cb, strict=True))


def curve(a: tuple[float, float], b: tuple[float, float], bend: float, n: int = 17) -> list[tuple[float, float]]:
    """``n`` points of a quadratic curve from ``a`` to ``b`` bowed sideways by ``bend`` times
    their distance.

    >>> pts = curve((0, 0), (100, 0), 0.25, 3)
    >>> [(round(x), round(y)) for x, y in pts]
    [(0, 0), (50, 12), (100, 0)]
    """
    (ax, ay), (bx, by) = a, b
    mx, my = (ax + bx) / 2, (ay + by) / 2
    cx, cy = mx - (by - ay) * bend, my + (bx - ax) * bend
    out = []
    for i in range(n):
        t = i / (n - 1)
        u = 1 - t
        out.append((u * u * ax + 2 * u * t * cx + t * t * bx, u * u * ay + 2 * u * t * cy + t * t * by))
    return out


class Harmonizer(Weaver):
    """Threads organic and AI fragments that relate by lineage, proximity or colour.

    Example: ``Harmonizer(reach=300).run(url, "dreams")``.
    """

    name = "harmonizer"
    description = "draws threads between related organic and AI fragments"

    def __init__(self, *, reach: float = 240.0, colour_distance: float = 60.0, most: int = 2, **options: Any) -> None:
        """``reach`` is the proximity radius, ``colour_distance`` the RGB distance under which
        colours match, ``most`` the threads drawn per new fragment.

        Example: ``Harmonizer(reach=180, most=1)``.
        """
        super().__init__(**options)
        self.reach = float(reach)
        self.colour_distance = float(colour_distance)
        self.most = int(most)
        self.threaded: set[frozenset[str]] = set()

    async def on_ready(self, event: Ready) -> None:
        """Remember the pairs already threaded (after a restart too), so none is drawn twice."""
        for frag in self.tapestry.by_author(event.identity.id):
            if frag.kind == "stroke" and len(frag.inspired_by) == 2:
                self.threaded.add(frozenset(frag.inspired_by))

    def relation(self, a: Fragment, b: Fragment) -> float:
        """How strongly two fragments relate (0: not at all): lineage 3, proximity up to 2,
        colour up to 1."""
        score = 0.0
        if a.id in b.inspired_by or b.id in a.inspired_by:
            score += 3
        (ax, ay), (bx, by) = bounds(a).center, bounds(b).center
        distance = math.hypot(ax - bx, ay - by)
        if distance <= self.reach:
            score += 1 + (1 - distance / self.reach)
        ca, cb = parse_colour(a.style.get("color")), parse_colour(b.style.get("color"))
        if ca is not None and cb is not None:
            gap = math.dist(ca, cb)
            if gap <= self.colour_distance:
                score += 1 - gap / (2 * self.colour_distance)
        return score

    def partners(self, frag: Fragment) -> list[Fragment]:
        """The best not yet threaded fragments of the other origin related to ``frag``."""
        scored = []
        for other in self.tapestry:
            if other.origin == frag.origin or other.id == frag.id or self.is_mine(other):
                continue
            if frozenset((frag.id, other.id)) in self.threaded:
                continue
            score = self.relation(frag, other)
            if score > 0:
                scored.append((-score, other.id, other))
        scored.sort(key=lambda s: (s[0], s[1]))
        return [s[2] for s in scored[: self.most]]

    async def on_fragment_added(self, event: FragmentEvent) -> None:
        """Thread a new fragment to its related partners of the other origin."""
        frag = event.fragment
        if event.action != "added" or event.mine or self.is_mine(frag) or self.backing_off:
            return
        partners = self.partners(frag)
        if not partners:
            return
        with self.batch():
            for other in partners:
                self.threaded.add(frozenset((frag.id, other.id)))
                self._thread(frag, other)
        self.show_cursor(*bounds(frag).center)

    def _thread(self, a: Fragment, b: Fragment) -> None:
        start, end = bounds(a).center, bounds(b).center
        # The side the curve bows to is a stable function of the pair, not random.
        side = 1 if hashlib.sha256("".join(sorted((a.id, b.id))).encode()).digest()[0] & 1 else -1
        pts = curve(start, end, 0.2 * side)
        x0, y0 = round(pts[0][0], 2), round(pts[0][1], 2)
        rel: list[float] = []
        for px, py in pts:
            rel += [round(px - x0, 2) + 0.0, round(py - y0, 2) + 0.0]
        style = {"color": blend(a.style.get("color"), b.style.get("color")), "width": 1.5, "opacity": 0.55}
        self.add_stroke(rel, x=x0, y=y0, style=style, inspired_by=[a.id, b.id], z=self.tapestry.z_at_bottom())
