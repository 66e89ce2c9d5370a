"""The dream symbol catalogue: complete, well-formed, and every glyph draws inside its box."""

from __future__ import annotations

import io
import json
from importlib.resources import files

import pytest
import resvg_py
from PIL import Image

from dreamloom.protocol.symbols import GLYPH_BOX, CatalogueError, Symbol, load_symbols, parse_catalogue
from dreamloom.protocol.validate import SYMBOL_RE

REQUIRED = (
    "moon sun star eye key door wave feather tree bird fish house stairs mirror clock snake hand heart mountain "
    "cloud rain fire boat bridge labyrinth spiral mask crown candle flower butterfly owl cat wolf whale shell egg "
    "seed root leaf ladder window lock compass hourglass anchor lantern book letter ring sword cup bell spider web "
    "cave island lighthouse train wing tooth falling"
).split()


def test_catalogue_has_every_required_symbol_and_at_least_64() -> None:
    symbols = load_symbols()
    assert len(symbols) >= 64
    assert [name for name in REQUIRED if name not in symbols] == []


def test_each_symbol_is_well_formed() -> None:
    for name, sym in load_symbols().items():
        assert isinstance(sym, Symbol)
        assert sym.name == name
        assert SYMBOL_RE.match(name)
        assert len(name) <= 32
        assert sym.label
        assert sym.label[0].isupper()
        assert sym.meaning.endswith(".")
        assert 20 <= len(sym.meaning) <= 200
        assert 5 <= len(sym.keywords) <= 12, name
        assert len(set(sym.keywords)) == len(sym.keywords), name
        assert all(k.isalpha() and k == k.lower() for k in sym.keywords), name


def test_glyph_paths_are_distinct() -> None:
    paths = [s.path for s in load_symbols().values()]
    assert len(set(paths)) == len(paths)


def test_load_symbols_returns_a_private_copy_of_a_cached_catalogue() -> None:
    a = load_symbols()
    a.pop("moon")
    b = load_symbols()
    assert "moon" in b
    assert b["moon"] is load_symbols()["moon"]


def test_to_data_round_trips_the_file() -> None:
    raw = json.loads(files("dreamloom.protocol").joinpath("symbols.json").read_text(encoding="utf-8"))
    assert [s.to_data() for s in load_symbols().values()] == raw["symbols"]


def _ink_outside_and_inside(sym: Symbol) -> tuple[int, int]:
    """Render the glyph with a 20-unit margin around its box; count lit pixels outside and inside the box."""
    margin = 20
    side = GLYPH_BOX + 2 * margin
    fill = "#ffffff" if sym.fill else "none"
    svg = (
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{side}" height="{side}" viewBox="0 0 {side} {side}">'
        f'<path transform="translate({margin},{margin})" d="{sym.path}" fill="{fill}" fill-rule="evenodd" '
        'stroke="#ffffff" stroke-width="1"/></svg>'
    )
    img = Image.open(io.BytesIO(bytes(resvg_py.svg_to_bytes(svg_string=svg)))).convert("RGBA")
    alpha = img.getchannel("A").tobytes()
    lo, hi = margin - 1, margin + GLYPH_BOX + 1
    inside = outside = 0
    for i, a in enumerate(alpha):
        if a > 32:
            y, x = divmod(i, side)
            if lo <= x < hi and lo <= y < hi:
                inside += 1
            else:
                outside += 1
    return outside, inside


@pytest.mark.parametrize("name", sorted(load_symbols()))
def test_glyph_draws_inside_its_box(name: str) -> None:
    outside, inside = _ink_outside_and_inside(load_symbols()[name])
    assert outside == 0
    assert inside >= 150  # a real drawing, not a dot


def test_filled_glyphs_cover_more_than_outlines() -> None:
    symbols = load_symbols()
    _, filled = _ink_outside_and_inside(symbols["heart"])
    as_outline = Symbol(**{**symbols["heart"].to_data(), "fill": False, "keywords": ()})
    _, outline = _ink_outside_and_inside(as_outline)
    assert filled > 3 * outline


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (lambda d: d.update(box=50), "box"),
        (lambda d: d["symbols"].append(dict(d["symbols"][0])), "twice"),
        (lambda d: d["symbols"][0].update(name="Moon"), "bad symbol name"),
        (lambda d: d["symbols"][0].update(fill="yes"), "fill"),
        (lambda d: d["symbols"][0].update(keywords="night"), "keywords"),
        (lambda d: d["symbols"][0].pop("path"), "path"),
        (lambda d: d.update(symbols={}), "list of symbols"),
        (lambda d: d["symbols"].append(3), "object"),
    ],
)
def test_malformed_catalogue_is_refused(mutate: object, message: str) -> None:
    data = {"version": 1, "box": 100, "symbols": [load_symbols()["moon"].to_data()]}
    mutate(data)  # type: ignore[operator]
    with pytest.raises(CatalogueError, match=message):
        parse_catalogue(json.dumps(data))


def test_ink_check_sees_a_glyph_that_leaves_its_box() -> None:
    # negative control for test_glyph_draws_inside_its_box
    stray = Symbol("stray", "Stray", "M-10,50 H60 M50,50 V104", False, "Leaves its box.", ("a", "b", "c", "d", "e"))
    outside, inside = _ink_outside_and_inside(stray)
    assert outside > 10
    assert inside > 50
