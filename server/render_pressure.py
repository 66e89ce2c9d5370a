"""Pressure strokes in the server's renders (SPEC M17, W38).

A stroke whose ``geom`` carries ``pressure`` is drawn as the filled outline
``protocol.outline`` computes, the same polygon the browser fills. Like every
reader of ``render_geom``, this never fails on a register the merge layer
accepted: a ``pressure`` that does not fit the points reads as none, and the
stroke is drawn at constant width.
"""

from __future__ import annotations

from collections.abc import Sequence

from dreamloom.protocol import Fragment
from dreamloom.protocol.outline import outline

from .render_geom import fmt, stroke_points, stroke_pressure, stroke_width


def outline_path(points: Sequence[tuple[float, float]], pressure: Sequence[float], width: float) -> str:
    """SVG path data of the filled outline through canvas ``points``."""
    flat = [v for p in points for v in p]
    poly = outline(flat, pressure, width)
    if not poly:
        return ""
    parts = [f"M{fmt(poly[0])},{fmt(poly[1])}"]
    parts.extend(f"L{fmt(poly[i])},{fmt(poly[i + 1])}" for i in range(2, len(poly) - 1, 2))
    parts.append("Z")
    return " ".join(parts)


def pressure_body(frag: Fragment, stride: int, fill: str, colour: str, smooth: str) -> str | None:
    """The SVG of a pressure stroke: its fill (along the centre line, as any stroke) and its outline."""
    pressure = stroke_pressure(frag, stride)
    pts = stroke_points(frag, stride)
    if pressure is None or not pts or len(pts) != len(pressure):
        return None
    d = outline_path(pts, pressure, stroke_width(frag.style))
    under = f'<path d="{smooth}" fill="{fill}" stroke="none"/>' if fill != "none" else ""
    return f'{under}<path d="{d}" fill="{colour}" stroke="none" data-pressure="1"/>' if d else under
