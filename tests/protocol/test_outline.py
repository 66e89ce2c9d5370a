"""SPEC M17: the outline of a pressure stroke, and its shared vectors."""

from __future__ import annotations

import importlib.util
import json
import math
from pathlib import Path
from types import ModuleType

from hypothesis import given, settings
from hypothesis import strategies as st

from dreamloom.protocol.outline import TAPER_TIP, centre_line, max_radius, outline, radius

VECTORS = Path(__file__).resolve().parents[2] / "protocol" / "vectors"


def _generator() -> ModuleType:
    spec = importlib.util.spec_from_file_location("outline_cases", VECTORS / "outline_cases.py")
    assert spec
    assert spec.loader
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_M17_outline_vectors_match_the_files() -> None:
    gen = _generator()
    files = sorted((VECTORS / "outline").glob("*.json"))
    assert len(files) >= 8
    by_name = {c["name"]: c for c in gen.cases()}
    for path in files:
        case = json.loads(path.read_text())
        assert case == by_name[case["name"]], f"{path.name}: run python protocol/vectors/outline_cases.py"
        got = outline(case["pts"], case["pressure"], case["width"], *case["origin"])
        assert got == case["outline"]


def test_M17_base_width_at_half_pressure_and_thinner_when_light() -> None:
    assert radius(6, 0.5) == 3
    assert 0 < radius(6, 0) < 3 < radius(6, 1)
    assert max_radius(6, [0.2, 0.9]) == radius(6, 0.9)
    assert max_radius(6, []) == 3


def test_M17_the_centre_line_follows_the_constant_width_curve() -> None:
    # A constant-width stroke draws quadratics through midpoints: the samples sit on them.
    line = centre_line([0, 0, 10, 0, 10, 10], [0.5, 0.5, 0.5])
    assert line[0][:2] == (0, 0)
    assert line[-1][:2] == (10, 10)
    assert any(s[:2] == (10, 5) for s in line)


def test_M17_a_dot_is_a_circle_of_its_radius() -> None:
    o = outline([0, 0], [1], 4, 3, 4)
    r = radius(4, 1)
    for i in range(0, len(o), 2):
        assert math.isclose(math.hypot(o[i] - 3, o[i + 1] - 4), r, rel_tol=1e-12)


def test_M17_zero_width_or_no_points_draw_nothing() -> None:
    assert outline([0, 0, 5, 5], [0.5, 0.5], 0) == []
    assert outline([], [], 3) == []


@settings(max_examples=60, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.floats(-1000, 1000, allow_nan=False),
            st.floats(-1000, 1000, allow_nan=False),
            st.floats(0, 1, allow_nan=False),
        ),
        min_size=1,
        max_size=40,
    ),
    st.floats(0.5, 50),
)
def test_M17_outline_stays_within_the_widest_radius_of_the_line(
    samples: list[tuple[float, float, float]], width: float
) -> None:
    pts = [v for x, y, _ in samples for v in (x, y)]
    pressure = [p for _, _, p in samples]
    o = outline(pts, pressure, width)
    assert o
    assert len(o) % 2 == 0
    assert all(math.isfinite(v) for v in o)
    reach = max_radius(width, pressure) * (1 + 1e-9) + 1e-9
    xs, ys = pts[0::2], pts[1::2]
    for i in range(0, len(o), 2):
        assert min(xs) - reach <= o[i] <= max(xs) + reach
        assert min(ys) - reach <= o[i + 1] <= max(ys) + reach


def test_M17_ends_taper() -> None:
    pts = [v for i in range(50) for v in (i * 4.0, 0.0)]
    o = outline(pts, [0.5] * 50, 6)
    # The first vertex is the left side at the start: narrowed to the taper's tip.
    assert math.isclose(abs(o[1]), radius(6, 0.5) * TAPER_TIP)
