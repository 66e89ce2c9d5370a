"""Generate the shared outline vectors (``python protocol/vectors/outline_cases.py``; ``--check`` compares).

Each file in ``outline/`` is one case of SPEC M17::

    {"name": str, "rule": "M17", "description": str,
     "pts": [...], "pressure": [...], "width": w, "origin": [ox, oy],
     "outline": [x0, y0, x1, y1, ...]}

``outline`` is ``protocol.outline.outline(pts, pressure, width, ox, oy)``; the
browser's port must produce the very same floats (both suites run every file).
"""

from __future__ import annotations

import argparse
import json
import random
import sys
from pathlib import Path
from typing import Any

from dreamloom.protocol.outline import outline

HERE = Path(__file__).resolve().parent / "outline"


def _random_stroke(seed: int, n: int) -> tuple[list[float], list[float]]:
    r = random.Random(seed)
    pts: list[float] = [0, 0]
    x = y = 0.0
    for _ in range(n - 1):
        x += round(r.uniform(-6, 12), 2)
        y += round(r.uniform(-8, 8), 2)
        pts += [round(x, 2), round(y, 2)]
    return pts, [round(r.uniform(0, 1), 2) for _ in range(n)]


def cases() -> list[dict[str, Any]]:
    long_pts, long_pressure = _random_stroke(17, 240)
    raw: list[tuple[str, str, list[float], list[float], float, tuple[float, float]]] = [
        ("dot", "one point: a circle of the radius its pressure gives", [0, 0], [0.5], 6, (10, 20)),
        ("two_points", "a straight line from a light to a heavy end", [0, 0, 40, 0], [0.1, 0.9], 4, (0, 0)),
        (
            "even_pressure",
            "pressure 0.5 everywhere: the base width, tapered ends",
            [0, 0, 20, 0, 40, 10, 60, 10],
            [0.5] * 4,
            8,
            (5, 5),
        ),
        (
            "integers",
            "pressures written as the integers 0 and 1",
            [0, 0, 10, 10, 20, 0, 30, 10],
            [0, 1, 1, 0],
            3,
            (0, 0),
        ),
        (
            "reversal",
            "a line that turns straight back on itself keeps its direction",
            [0, 0, 30, 0, 0, 0, 30, 0],
            [0.3, 0.6, 0.6, 0.3],
            5,
            (0, 0),
        ),
        (
            "duplicates",
            "repeated points add no samples",
            [0, 0, 0, 0, 12.5, 3, 12.5, 3, 25, -4],
            [0.2, 0.4, 0.4, 0.7, 0.5],
            2.5,
            (-3, 7),
        ),
        ("collapsed", "every point at one place: a dot", [4, 4, 4, 4, 4, 4], [0.2, 0.8, 0.4], 10, (0, 0)),
        ("zero_width", "width 0 draws nothing", [0, 0, 10, 0], [0.5, 0.5], 0, (0, 0)),
        (
            "far_away",
            "large anchors keep their precision",
            [0, 0, 3.5, -2.25, 9, -1, 14, 6],
            [0.15, 0.35, 0.95, 0.55],
            12,
            (123456789.5, -98765.25),
        ),
        ("long_random", "240 points of a wandering pen", long_pts, long_pressure, 5, (0, 0)),
    ]
    out = []
    for name, description, pts, pressure, width, (ox, oy) in raw:
        out.append(
            {
                "name": name,
                "rule": "M17",
                "description": description,
                "pts": pts,
                "pressure": pressure,
                "width": width,
                "origin": [ox, oy],
                "outline": outline(pts, pressure, width, ox, oy),
            }
        )
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--check", action="store_true", help="compare with the files instead of writing them")
    args = parser.parse_args()
    HERE.mkdir(exist_ok=True)
    stale = []
    for case in cases():
        path = HERE / f"{case['name']}.json"
        text = json.dumps(case, indent=1) + "\n"
        if args.check:
            if not path.exists() or path.read_text() != text:
                stale.append(path.name)
        else:
            path.write_text(text)
    if stale:
        print("stale outline vectors:", ", ".join(stale), file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
