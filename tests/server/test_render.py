"""Server-side rendering: SVG that parses for every kind and style, PNG that decodes and shows the content."""

from __future__ import annotations

import io
import math
import re
import xml.etree.ElementTree as ET
from typing import Any

import pytest
from PIL import Image

from dreamloom.protocol import Stamp, Tapestry, ops
from dreamloom.protocol.symbols import load_symbols
from dreamloom.server.render import (
    AI_ACCENT,
    DEFAULT_BACKGROUND,
    MARGIN,
    RenderLimits,
    escape,
    render_png,
    render_svg,
)
from dreamloom.server.render_geom import Box, local_box, smooth_path

SVG = "{http://www.w3.org/2000/svg}"


class Weave:
    """A tapestry built op by op, with increasing stamps and z keys."""

    def __init__(self) -> None:
        self.t = Tapestry()
        self.n = 0

    def _stamp(self) -> Stamp:
        self.n += 1
        return Stamp(self.n, "r1")

    def add(self, kind: Any, geom: dict[str, Any], x: float = 0, y: float = 0, **kw: Any) -> str:
        fid = kw.pop("fid", None) or f"f{self.n + 1}"
        z = kw.pop("z", None) or f"V{self.n + 1:03d}V"
        self.t.apply(ops.create(fid, self._stamp(), kind=kind, geom=geom, x=x, y=y, z=z, **kw))
        return fid

    def delete(self, fid: str) -> None:
        self.t.apply(ops.delete(fid, self._stamp()))

    def restore(self, fid: str) -> None:
        self.t.apply(ops.restore(fid, self._stamp()))

    def set(self, fid: str, **fields: Any) -> None:
        self.t.apply(ops.set_fields(fid, self._stamp(), **fields))


def parse(svg: str) -> ET.Element:
    root = ET.fromstring(svg)
    assert root.tag == f"{SVG}svg"
    return root


def groups(root: ET.Element) -> list[ET.Element]:
    return [g for g in root.iter(f"{SVG}g") if "data-id" in g.attrib]


def view_box(root: ET.Element) -> tuple[float, ...]:
    return tuple(float(v) for v in root.attrib["viewBox"].split())


def png(data: bytes) -> Image.Image:
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    img = Image.open(io.BytesIO(data))
    img.load()
    return img.convert("RGBA")


def rgb(hex_colour: str) -> tuple[int, int, int]:
    return tuple(int(hex_colour[i : i + 2], 16) for i in (1, 3, 5))  # type: ignore[return-value]


def near(pixel: Any, colour: tuple[int, int, int], tol: int = 12) -> bool:
    return all(abs(int(a) - b) <= tol for a, b in zip(pixel[:3], colour, strict=True))


@pytest.fixture
def every_kind() -> Weave:
    w = Weave()
    w.add("stroke", {"pts": [0, 0]}, 10, 10, style={"color": "#ff0000"})
    w.add("stroke", {"pts": [0, 0, 30, 5]}, 10, 30, style={"width": 0})
    w.add("stroke", {"pts": [0, 0, 10, 20, 30, 5, 40, 40], "rot": 0.5}, 60, 30, style={"color": "#00ff0080"})
    w.add("stroke", {"pts": [0, 0, 5, 5, 0, 10]}, 0, 90, style={"fill": "#123456", "opacity": 0.5, "width": 12})
    w.add("shape", {"shape": "rect", "w": 40, "h": -20}, 100, 100, style={"fill": "none", "color": "#ABCDEF"})
    w.add("shape", {"shape": "ellipse", "w": -30, "h": 20, "rot": -1.2}, 150, 100, style={"fill": "#ffffff22"})
    w.add("shape", {"shape": "line", "w": 50, "h": 50}, 200, 100, style={"width": 7})
    w.add("shape", {"shape": "arrow", "w": -60, "h": 0}, 260, 100, origin="ai")
    w.add("shape", {"shape": "arrow", "w": 0, "h": 0}, 300, 100)
    w.add("symbol", {"sym": "moon", "size": 40}, 50, 200, style={"color": "#ffee00"})
    w.add("symbol", {"sym": "owl", "size": 60, "rot": math.pi}, 120, 200, style={"width": 2}, origin="ai")
    w.add("symbol", {"sym": "not-in-catalogue", "size": 30}, 200, 200)
    w.add("text", {"text": "one line", "size": 14}, 10, 300)
    w.add("text", {"text": "first\nsecond\n\nfourth", "size": 20, "rot": 0.1}, 100, 300, origin="ai")
    w.add("text", {"text": "", "size": 12}, 200, 300)
    return w


# -- SVG -----------------------------------------------------------------------------
def test_every_kind_and_style_renders_parseable_svg(every_kind: Weave) -> None:
    root = parse(render_svg(every_kind.t))
    gs = groups(root)
    assert len(gs) == len(every_kind.t.ordered()) == 15
    kinds = [g.attrib["data-kind"] for g in gs]
    assert kinds.count("stroke") == 4
    assert kinds.count("shape") == 5
    assert kinds.count("symbol") == 3
    assert kinds.count("text") == 3
    # paint order is the tapestry's
    assert [g.attrib["data-id"] for g in gs] == [f.id for f in every_kind.t.ordered()]


def test_styles_are_applied(every_kind: Weave) -> None:
    root = parse(render_svg(every_kind.t))
    by_id = {g.attrib["data-id"]: g for g in groups(root)}
    red_dot = by_id["f1"].find(f"{SVG}path")
    assert red_dot is not None
    assert red_dot.attrib["stroke"] == "#ff0000"
    assert red_dot.attrib["stroke-linecap"] == "round"
    filled = by_id["f4"]
    assert filled.attrib["opacity"] == "0.5"
    path = filled.find(f"{SVG}path")
    assert path is not None
    assert path.attrib["fill"] == "#123456"
    assert path.attrib["stroke-width"] == "12"
    rect = by_id["f5"].find(f"{SVG}rect")
    assert rect is not None
    assert (rect.attrib["y"], rect.attrib["height"], rect.attrib["stroke"]) == ("80", "20", "#ABCDEF")
    ellipse = by_id["f6"].find(f"{SVG}ellipse")
    assert ellipse is not None
    assert (ellipse.attrib["rx"], ellipse.attrib["fill"]) == ("15", "#ffffff22")


def test_rotation_turns_around_the_anchor(every_kind: Weave) -> None:
    by_id = {g.attrib["data-id"]: g for g in groups(parse(render_svg(every_kind.t)))}
    assert by_id["f3"].attrib["transform"] == "rotate(28.65 60 30)"
    assert by_id["f11"].attrib["transform"] == "rotate(180 120 200)"
    assert "transform" not in by_id["f1"].attrib


def test_view_box_holds_rotated_content_with_a_margin() -> None:
    w = Weave()
    # a 200-long horizontal bar turned a quarter turn around its start: it now hangs down
    w.add("shape", {"shape": "rect", "w": 200, "h": 10, "rot": math.pi / 2}, 0, 0, style={"width": 0})
    x, y, width, height = view_box(parse(render_svg(w.t)))
    assert height > width
    assert x == pytest.approx(-10 - MARGIN, abs=0.1)
    assert y == pytest.approx(-MARGIN, abs=0.1)
    assert height == pytest.approx(200 + 2 * MARGIN, abs=0.1)


def test_explicit_box_is_the_view_box(every_kind: Weave) -> None:
    root = parse(render_svg(every_kind.t, box=Box(-5, -6, 95, 44)))
    assert view_box(root) == (-5, -6, 100, 50)
    assert (root.attrib["width"], root.attrib["height"]) == ("100", "50")


def test_empty_tapestry_is_a_small_valid_svg() -> None:
    root = parse(render_svg(Tapestry()))
    assert groups(root) == []
    _, _, width, height = view_box(root)
    assert 0 < width <= 200
    assert 0 < height <= 200
    bg = root.find(f"{SVG}rect")
    assert bg is not None
    assert bg.attrib["fill"] == DEFAULT_BACKGROUND


def test_transparent_background_draws_no_rect() -> None:
    root = parse(render_svg(Tapestry(), background=None))
    assert root.find(f"{SVG}rect") is None


@pytest.mark.parametrize(
    "hostile",
    [
        "<script>alert('x')</script>",
        "a \"quoted\" 'thing' & <b>bold</b> &amp; ]]> <!-- -->",
        "control \x00\x01\x08\x0b\x0c\x1b\ud800 characters",
        "<?xml version='1.0'?><!DOCTYPE x [<!ENTITY e SYSTEM 'file:///etc/passwd'>]>&e;",
    ],
)
def test_hostile_text_is_escaped(hostile: str) -> None:
    w = Weave()
    w.add("text", {"text": hostile, "size": 16}, 0, 0)
    svg = render_svg(w.t)
    root = parse(svg)
    assert not [el for el in root.iter() if el.tag.endswith("script") or el.tag.endswith("b")]
    assert "<script" not in svg
    text = root.find(f".//{SVG}text")
    assert text is not None
    shown = "".join(text.itertext())
    expected = "".join(c if c >= " " or c in "\t\n\r" else "\ufffd" for c in hostile).replace("\ud800", "\ufffd")
    assert shown == expected


def test_escape_covers_attribute_quotes() -> None:
    assert escape("a\"b'c<d>e&f") == "a&quot;b&#39;c&lt;d&gt;e&amp;f"


def test_symbols_are_drawn_from_the_catalogue(every_kind: Weave) -> None:
    root = parse(render_svg(every_kind.t))
    by_id = {g.attrib["data-id"]: g for g in groups(root)}
    catalogue = load_symbols()
    moon = by_id["f10"]
    assert moon.attrib["data-sym"] == "moon"
    path = moon.find(f".//{SVG}path")
    assert path is not None
    assert path.attrib["d"] == catalogue["moon"].path
    assert path.attrib["fill"] == "#ffee00"  # a filled glyph takes its colour as fill
    place = moon.find(f"{SVG}g")
    assert place is not None
    assert place.attrib["transform"] == "translate(30 180) scale(0.4)"
    owl = by_id["f11"].find(f".//{SVG}path[@d]")
    assert owl is not None
    assert owl.attrib["fill"] == "none"
    assert owl.attrib["stroke-width"] == "3.33"  # width 2 in canvas units at scale 0.6
    unknown = by_id["f12"]
    assert unknown.find(f".//{SVG}circle") is not None


def test_ai_fragments_have_the_accent_mark_and_organic_ones_none(every_kind: Weave) -> None:
    root = parse(render_svg(every_kind.t))
    for g in groups(root):
        halo = [el for el in g.iter(f"{SVG}g") if el.attrib.get("class") == "ai-halo"]
        if g.attrib["data-origin"] == "ai":
            assert len(halo) == 1, g.attrib["data-id"]
            marks = list(halo[0])
            assert {m.attrib["stroke"] for m in marks} == {AI_ACCENT}
            strand = g.attrib["data-kind"] == "stroke" or g.find(f"{SVG}path") is not None
            if strand:  # a glow along the strand itself, never a box around a curve
                assert [m.tag for m in marks] == [f"{SVG}path"], g.attrib["data-id"]
            else:
                assert any("stroke-dasharray" in m.attrib for m in marks)
        else:
            assert halo == [], g.attrib["data-id"]
    origins = [g.attrib["data-origin"] for g in groups(root)]
    assert origins.count("ai") == 3


def test_deleted_fragments_are_not_drawn_and_restored_ones_are() -> None:
    w = Weave()
    keep = w.add("symbol", {"sym": "sun", "size": 30}, 0, 0)
    gone = w.add("symbol", {"sym": "moon", "size": 30}, 500, 500)
    w.delete(gone)
    root = parse(render_svg(w.t))
    assert [g.attrib["data-id"] for g in groups(root)] == [keep]
    assert view_box(root)[2] < 200  # the deleted moon does not stretch the view either
    w.restore(gone)
    assert [g.attrib["data-id"] for g in groups(parse(render_svg(w.t)))] == [keep, gone]


def test_threads_link_inspired_fragments_only_when_asked() -> None:
    w = Weave()
    a = w.add("symbol", {"sym": "seed", "size": 30}, 0, 0)
    b = w.add("symbol", {"sym": "tree", "size": 30}, 100, 0, inspired_by=[a, "missing"], origin="ai")
    c = w.add("symbol", {"sym": "leaf", "size": 30}, 0, 100, inspired_by=[b])
    gone = w.add("symbol", {"sym": "root", "size": 30}, 100, 100)
    w.add("text", {"text": "x", "size": 10}, 50, 50, inspired_by=[gone])
    w.delete(gone)
    plain = parse(render_svg(w.t))
    assert plain.find(f".//{SVG}g[@class='threads']") is None
    threads = parse(render_svg(w.t, threads=True)).find(f".//{SVG}g[@class='threads']")
    assert threads is not None
    links = {(p.attrib["data-from"], p.attrib["data-to"]) for p in threads.findall(f"{SVG}path")}
    assert links == {(a, b), (b, c)}


def test_a_broken_geometry_is_skipped_not_fatal() -> None:
    w = Weave()
    s = w.add("stroke", {"pts": [0, 0, 10, 10]}, 0, 0)
    w.add("symbol", {"sym": "star", "size": 20}, 30, 30)
    w.set(s, geom={"rot": 1})  # a set op may write any valid geom, even one its kind cannot draw
    root = parse(render_svg(w.t))
    assert [g.attrib["data-kind"] for g in groups(root)] == ["symbol"]
    assert render_png(w.t, width=64)


def test_fragment_cap_keeps_the_top_most() -> None:
    w = Weave()
    ids = [w.add("shape", {"shape": "rect", "w": 5, "h": 5}, i * 10, 0) for i in range(30)]
    root = parse(render_svg(w.t, limits=RenderLimits(max_fragments=10)))
    assert [g.attrib["data-id"] for g in groups(root)] == ids[-10:]
    assert root.attrib["data-omitted"] == "20"
    assert root.attrib["data-fragments"] == "10"


def test_point_budget_thins_strokes_evenly() -> None:
    w = Weave()
    pts = [v for i in range(1000) for v in (i, (i * 7) % 13)]
    w.add("stroke", {"pts": pts}, 0, 0)
    full = parse(render_svg(w.t)).find(f".//{SVG}path")
    thin = parse(render_svg(w.t, limits=RenderLimits(max_points=100))).find(f".//{SVG}path")
    assert full is not None
    assert thin is not None
    assert full.attrib["d"].count("Q") == 998
    assert thin.attrib["d"].count("Q") <= 100
    assert thin.attrib["d"].endswith("L999,12")  # the last point is always kept


def test_text_budget_cuts_text() -> None:
    w = Weave()
    w.add("text", {"text": "a" * 500, "size": 10}, 0, 0)
    w.add("text", {"text": "b" * 500, "size": 10}, 0, 20)
    svg = render_svg(w.t, limits=RenderLimits(max_text_chars=600))
    assert svg.count("a") >= 500
    assert svg.count("b" * 100) == 1
    assert "b" * 101 not in svg
    assert "\u2026" in svg


def test_smooth_path_passes_through_the_ends() -> None:
    d = smooth_path([(0, 0), (10, 0), (10, 10), (20, 10)])
    assert d.startswith("M0,0 Q10,0 10,5 Q10,10 15,10")
    assert d.endswith("L20,10")
    assert re.fullmatch(r"M1,2 l0\.01,0", smooth_path([(1, 2)]))


# -- PNG -------------------------------------------------------------------------------
def test_png_decodes_at_the_view_box_size_with_content() -> None:
    w = Weave()
    w.add("symbol", {"sym": "heart", "size": 100}, 0, 0, style={"color": "#ff3366"})
    img = png(render_png(w.t))
    side = round(100 + 2 * MARGIN)
    assert img.size == (side, side)
    assert near(img.getpixel((side // 2, side // 2)), rgb("#ff3366"))
    assert near(img.getpixel((2, 2)), rgb(DEFAULT_BACKGROUND))
    colours = img.getcolors(maxcolors=1 << 16)
    assert colours is not None
    assert len(colours) > 2


def test_png_width_and_scale() -> None:
    w = Weave()
    w.add("shape", {"shape": "rect", "w": 200, "h": 100}, 0, 0, style={"fill": "#ffffff", "width": 0})
    vw, vh = 200 + 2 * MARGIN, 100 + 2 * MARGIN
    assert png(render_png(w.t, width=300)).size == (300, round(300 * vh / vw))
    assert png(render_png(w.t, scale=2)).size == (round(vw * 2), round(vh * 2))


def test_png_long_side_is_capped() -> None:
    w = Weave()
    w.add("shape", {"shape": "line", "w": 100_000, "h": 10}, 0, 0)
    img = png(render_png(w.t))
    assert max(img.size) == 4096
    assert png(render_png(w.t, width=10**7, limits=RenderLimits(max_side=512))).size[0] == 512


def test_png_of_a_rotated_fragment_shows_it_turned() -> None:
    w = Weave()
    w.add(
        "shape", {"shape": "rect", "w": 200, "h": 20, "rot": math.pi / 2}, 0, 0, style={"fill": "#00ff00", "width": 0}
    )
    img = png(render_png(w.t, box=Box(-100, -100, 300, 300)))
    assert img.size == (400, 400)
    assert near(img.getpixel((100 - 10, 100 + 100)), (0, 255, 0))  # where the turned bar is
    assert near(img.getpixel((100 + 100, 100 + 10)), rgb(DEFAULT_BACKGROUND))  # where it was


def test_png_of_a_deleted_fragment_is_blank() -> None:
    w = Weave()
    f = w.add("shape", {"shape": "rect", "w": 50, "h": 50}, 0, 0, style={"fill": "#ffffff"})
    w.delete(f)
    img = png(render_png(w.t, box=Box(0, 0, 50, 50)))
    assert img.getcolors() == [(2500, (*rgb(DEFAULT_BACKGROUND), 255))]


def test_png_transparent_background() -> None:
    w = Weave()
    w.add("shape", {"shape": "rect", "w": 10, "h": 10}, 0, 0, style={"fill": "#ffffff"})
    img = png(render_png(w.t, background=None))
    assert img.getpixel((0, 0))[3] == 0  # type: ignore[index]
    assert img.getpixel((img.width // 2, img.height // 2))[3] == 255  # type: ignore[index]


def test_png_of_every_kind(every_kind: Weave) -> None:
    img = png(render_png(every_kind.t, scale=0.5))
    colours = img.getcolors(maxcolors=1 << 20)
    assert colours is not None
    assert len(colours) > 10


@pytest.mark.parametrize("kwargs", [{"width": 0}, {"scale": 0}, {"scale": float("nan")}, {"scale": -1}])
def test_png_refuses_bad_sizes(kwargs: dict[str, Any]) -> None:
    with pytest.raises(ValueError, match=r"width|scale"):
        render_png(Tapestry(), **kwargs)


def test_dashed_lines_and_aligned_captions() -> None:
    t = Tapestry()
    t.apply(ops.create("l", Stamp(1, "r"), kind="stroke", geom={"pts": [0, 0, 50, 0]}, z="V", style={"dash": "dashed"}))
    t.apply(
        ops.create(
            "d",
            Stamp(2, "r"),
            kind="shape",
            geom={"shape": "rect", "w": 9, "h": 9},
            z="W",
            style={"dash": "dotted", "width": 2},
        )
    )
    t.apply(
        ops.create("c", Stamp(3, "r"), kind="text", geom={"text": "mid", "size": 10, "align": "center"}, z="X", x=100)
    )
    root = parse(render_svg(t))
    by_id = {g.attrib["data-id"]: g for g in groups(root)}
    assert by_id["l"].find(f"{SVG}path").attrib["stroke-dasharray"] == "9 6"  # type: ignore[union-attr]
    assert by_id["d"].find(f"{SVG}rect").attrib["stroke-dasharray"] == "0 4"  # type: ignore[union-attr]
    assert by_id["c"].find(f"{SVG}text").attrib["text-anchor"] == "middle"  # type: ignore[union-attr]
    box = local_box(t.get("c"))  # type: ignore[arg-type]
    assert box is not None
    assert box.x0 < 100 < box.x1


def test_M14_a_bound_arrow_is_drawn_to_its_target_and_follows_it() -> None:
    w = Weave()
    box = w.add("shape", {"shape": "rect", "w": 100, "h": 100}, 0, 0)
    arrow = w.add("shape", {"shape": "arrow", "w": 150, "h": 0, "rot": 0.3}, -200, 50, end=box)

    def line_of(tapestry: Tapestry) -> str:
        g = next(g for g in groups(parse(render_svg(tapestry))) if g.attrib["data-id"] == arrow)
        assert "transform" not in g.attrib  # its ends are placed: no rotation left
        return next(iter(g.iter(f"{SVG}path"))).attrib["d"].split(" ")[1]

    assert line_of(w.t) == "L-6,50"  # toward the start, 6 units short of the left side
    w.set(box, x=300, y=-100)
    # Moved: the end follows, where the segment toward the start leaves the box, 6 units out.
    assert line_of(w.t) == "L294.1,-39.84"
    w.delete(box)  # the target is gone: the stored geometry is drawn, its end turned by its rot
    assert line_of(w.t) == "L-56.7,94.33"  # (-200, 50) + 150 * (cos 0.3, sin 0.3)
