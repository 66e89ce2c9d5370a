"""SPEC M17 in the server's renders: a pressure stroke is its filled outline, in SVG and PNG."""

from __future__ import annotations

import io
import re
import xml.etree.ElementTree as ET
from typing import Any

from PIL import Image

from dreamloom.protocol import Stamp, Tapestry, ops
from dreamloom.protocol.outline import max_radius, outline
from dreamloom.server.render import render_png, render_svg
from dreamloom.server.render_geom import fmt, local_box

SVG = "{http://www.w3.org/2000/svg}"


def tapestry(*strokes: tuple[dict[str, Any], dict[str, Any]]) -> Tapestry:
    t = Tapestry()
    for i, (geom, style) in enumerate(strokes, 1):
        t.apply(ops.create(f"s{i}", Stamp(i, "r"), kind="stroke", geom=geom, x=20, y=40 * i, z=f"V{i}", style=style))
    return t


def rising(n: int = 41) -> dict[str, Any]:
    return {"pts": [v for i in range(n) for v in (i * 5, 0)], "pressure": [i / (n - 1) for i in range(n)]}


def test_M17_a_pressure_stroke_is_its_outline_filled_with_its_colour() -> None:
    geom = rising()
    root = ET.fromstring(render_svg(tapestry((geom, {"color": "#ff0000", "width": 10}))))
    paths = [p for p in root.iter(f"{SVG}path") if p.get("data-pressure")]
    assert len(paths) == 1
    path = paths[0]
    assert path.get("fill") == "#ff0000"
    assert path.get("stroke") == "none"
    poly = outline(geom["pts"], geom["pressure"], 10, 20, 40)
    numbers = [float(v) for v in re.findall(r"-?\d+(?:\.\d+)?", path.get("d", ""))]
    assert numbers == [float(fmt(v)) for v in poly]


def test_M17_constant_width_strokes_render_as_before() -> None:
    plain = render_svg(tapestry(({"pts": [0, 0, 10, 5, 30, 0]}, {"width": 4})))
    assert "data-pressure" not in plain
    assert 'stroke-width="4"' in plain
    # A dashed stroke keeps its dashes and a constant width, pressure or not.
    dashed = render_svg(tapestry(({**rising(), "pts": rising()["pts"]}, {"width": 4, "dash": "dashed"})))
    assert "data-pressure" not in dashed
    assert "stroke-dasharray" in dashed


def test_M17_bounds_grow_by_the_widest_pressure() -> None:
    t = tapestry((rising(), {"width": 10}))
    frag = t.get("s1")
    assert frag is not None
    box = local_box(frag)
    assert box is not None
    assert box.y1 - 40 == max_radius(10, [1.0])


def test_M17_the_png_is_thin_where_the_pressure_is_light_and_wide_where_heavy() -> None:
    t = tapestry((rising(), {"color": "#ffffff", "width": 12}))
    img = Image.open(io.BytesIO(render_png(t, background="#000000"))).convert("L")
    w, h = img.size

    def ink_height(col: int) -> int:
        return sum(1 for y in range(h) if img.getpixel((col, y)) > 128)  # type: ignore[operator]

    light, heavy = ink_height(w * 3 // 10), ink_height(w * 7 // 10)
    assert light > 0
    assert heavy > light * 1.4


def test_W19_a_pressure_value_adds_8_bytes_to_its_point() -> None:
    from dreamloom.server.budgets import geom_bytes

    assert geom_bytes({"pts": [0, 0, 1, 1]}) == 32
    assert geom_bytes({"pts": [0, 0, 1, 1], "pressure": [0.5, 1]}) == 48
