"""The outline of a pressure stroke: a closed polygon whose width follows the pressure (SPEC M17).

A stroke whose ``geom`` holds ``pressure`` (one number in [0, 1] per point) is
drawn as a filled polygon instead of a line of constant width. Every renderer —
the server's SVG and PNG, the browser's canvas, its exports and timelapse —
calls this one function (or its JavaScript port, ``client/web/protocol/outline.js``)
so a pressure stroke looks the same everywhere; the shared vectors in
``protocol/vectors/outline/`` pin the two to the same numbers.

The centre line is the one a constant-width stroke draws (quadratic curves
through the midpoints of its points), sampled at the middle and the end of each
curve. The pressure is eased along the line, the radius at each sample is
``width / 2 * (1 + THINNING * (2p - 1))`` (pressure 0.5 gives the base width),
and both ends taper over a few widths into round caps. Only ``+ - * /`` and
square roots are used, never a trigonometric function, so Python and
JavaScript compute bit-identical floats.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

#: How much the pressure changes the width: 0.7 draws from 0.3 to 1.7 times the base width.
THINNING = 0.7
#: Both ends narrow over this many base widths (at most a third of the stroke each).
TAPER_WIDTHS = 4.0
#: The width left at the very tip of a taper, as a share of the width there.
TAPER_TIP = 0.35
#: Segments of a half circle in a round cap (a dot is a full circle of twice as many).
CAP_STEPS = 8
#: cos and sin of pi / CAP_STEPS, written out so both languages rotate by the same numbers.
_COS = 0.9238795325112867
_SIN = 0.3826834323650898
#: Samples closer than this (in canvas units) to the previous one add nothing.
_EPSILON = 1e-9

Sample = tuple[float, float, float]


def radius(width: float, pressure: float) -> float:
    """Half the drawn width at ``pressure`` (before the end tapers)."""
    return width / 2 * (1 + THINNING * (2 * pressure - 1))


def max_radius(width: float, pressure: Sequence[float]) -> float:
    """The widest half-width a stroke reaches: what bounds and hit tests grow by."""
    return radius(width, max(pressure)) if pressure else width / 2


def _eased(pressure: Sequence[float]) -> list[float]:
    """One pass of a [1, 2, 1] / 4 kernel: a pen's jitter is not ink."""
    n = len(pressure)
    if n < 3:
        return [float(p) for p in pressure]
    out = [float(pressure[0])]
    for i in range(1, n - 1):
        out.append((pressure[i - 1] + 2 * pressure[i] + pressure[i + 1]) / 4)
    out.append(float(pressure[n - 1]))
    return out


def centre_line(pts: Sequence[float], pressure: Sequence[float], ox: float = 0.0, oy: float = 0.0) -> list[Sample]:
    """Samples ``(x, y, p)`` along the smoothed line a constant-width stroke draws."""
    n = min(len(pts) // 2, len(pressure))
    if n == 0:
        return []
    p = _eased(pressure[:n])
    xs = [ox + pts[2 * i] for i in range(n)]
    ys = [oy + pts[2 * i + 1] for i in range(n)]
    out: list[Sample] = []

    def add(x: float, y: float, q: float) -> None:
        if out:
            lx, ly, _ = out[-1]
            dx = x - lx
            dy = y - ly
            if dx * dx + dy * dy < _EPSILON * _EPSILON:
                return
        out.append((x, y, q))

    add(xs[0], ys[0], p[0])
    ax, ay, ap = xs[0], ys[0], p[0]
    for i in range(1, n - 1):
        # The curve from the previous end, bent by point i, to the midpoint of i and i + 1.
        bx = (xs[i] + xs[i + 1]) / 2
        by = (ys[i] + ys[i + 1]) / 2
        bp = (p[i] + p[i + 1]) / 2
        mx = 0.25 * ax + 0.5 * xs[i] + 0.25 * bx
        add(mx, 0.25 * ay + 0.5 * ys[i] + 0.25 * by, 0.25 * ap + 0.5 * p[i] + 0.25 * bp)
        add(bx, by, bp)
        ax, ay, ap = bx, by, bp
    if n > 1:
        add(xs[n - 1], ys[n - 1], p[n - 1])
    return out


def _tapers(line: Sequence[Sample], width: float) -> list[float]:
    """The factor each sample's radius is multiplied by: 1 in the middle, TAPER_TIP at the ends."""
    m = len(line)
    along = [0.0] * m
    for i in range(1, m):
        dx = line[i][0] - line[i - 1][0]
        dy = line[i][1] - line[i - 1][1]
        along[i] = along[i - 1] + math.sqrt(dx * dx + dy * dy)
    total = along[m - 1]
    span = min(TAPER_WIDTHS * width, total / 3)
    if span <= 0:
        return [1.0] * m
    out = []
    for i in range(m):
        t = min(along[i], total - along[i]) / span
        if t >= 1:
            out.append(1.0)
        else:
            out.append(TAPER_TIP + (1 - TAPER_TIP) * t * (2 - t))
    return out


def _arc(cx: float, cy: float, vx: float, vy: float, steps: int, out: list[float]) -> None:
    """Points around (cx, cy) from offset v, turning clockwise by pi / CAP_STEPS each, ends excluded."""
    for _ in range(steps - 1):
        vx, vy = vx * _COS + vy * _SIN, vy * _COS - vx * _SIN
        out.append(cx + vx)
        out.append(cy + vy)


def outline(
    pts: Sequence[float], pressure: Sequence[float], width: float, ox: float = 0.0, oy: float = 0.0
) -> list[float]:
    """The closed outline ``[x0, y0, x1, y1, ...]`` of a stroke drawn with pressure.

    ``pts`` are the stroke's points relative to ``(ox, oy)``, ``pressure`` one
    value in [0, 1] per point, ``width`` the base width (``style.width``). The
    polygon is filled with the non-zero rule; an empty list means nothing to draw.

    >>> len(outline([0, 0, 10, 0], [0.5, 0.5], 4)) > 8
    True
    """
    if width <= 0:
        return []
    line = centre_line(pts, pressure, ox, oy)
    m = len(line)
    if m == 0:
        return []
    out: list[float] = []
    if m == 1:
        x, y, p = line[0]
        r = radius(width, p)
        out.extend((x + r, y))
        _arc(x, y, r, 0.0, 2 * CAP_STEPS, out)
        return out
    tapers = _tapers(line, width)
    left: list[float] = []
    right: list[float] = []
    normals: list[tuple[float, float, float]] = []
    tx, ty = line[1][0] - line[0][0], line[1][1] - line[0][1]
    for i in range(m):
        a = line[i - 1] if i > 0 else line[i]
        b = line[i + 1] if i + 1 < m else line[i]
        dx = b[0] - a[0]
        dy = b[1] - a[1]
        d = math.sqrt(dx * dx + dy * dy)
        if d > _EPSILON:
            tx, ty = dx / d, dy / d
        else:
            # A full turn back: keep the last direction rather than none.
            d = math.sqrt(tx * tx + ty * ty)
            tx, ty = tx / d, ty / d
        r = radius(width, line[i][2]) * tapers[i]
        nx, ny = -ty * r, tx * r
        normals.append((nx, ny, r))
        x, y = line[i][0], line[i][1]
        left.extend((x + nx, y + ny))
        right.extend((x - nx, y - ny))
    out.extend(left)
    # The end cap: from the left side round the front to the right side.
    ex, ey = line[m - 1][0], line[m - 1][1]
    nx, ny, _ = normals[m - 1]
    _arc(ex, ey, nx, ny, CAP_STEPS, out)
    for i in range(m - 1, -1, -1):
        out.append(right[2 * i])
        out.append(right[2 * i + 1])
    sx, sy = line[0][0], line[0][1]
    nx, ny, _ = normals[0]
    _arc(sx, sy, -nx, -ny, CAP_STEPS, out)
    return out
