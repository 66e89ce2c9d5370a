"""Render a tapestry to SVG or PNG on the server, headless: no browser involved.

Visual language, shared with the browser app (keep the two in step):

1. Paint order is the tapestry's: live fragments by ``(z, id)``, bottom to top.
   Deleted fragments are not drawn.
2. Each fragment is one ``<g>`` carrying ``data-id``, ``data-kind``,
   ``data-origin`` (and ``data-sym`` for symbols); ``rot`` turns the group
   around the fragment's anchor ``(x, y)``; ``style.opacity`` applies to the group.
3. Organic fragments are drawn as they are. AI fragments (origin ``ai``) are
   marked in the accent colour ``#9ad0ff``: strokes, lines and arrows by a
   faint glow along themselves (their width + 5, opacity 0.22), never a box
   around a curve; other kinds by a thin dashed outline around their bounds
   (padding 5, corner radius 6, width 1.25, dashes 4/3, opacity 0.7) over a faint
   glow (width 3, opacity 0.12). The mark turns with the fragment; the browser
   keeps it this thin on screen at every zoom. Noticed, not shouting.
4. Strokes are smoothed through their points (quadratic curves through the
   midpoints), with round caps and joins; shapes are rect, ellipse, line and
   arrow (an open head); symbols are the catalogue's glyphs scaled from their
   100-unit box to ``size`` and centred; text starts on its baseline at
   ``(x, y)``, one ``tspan`` per line.
5. Threads (optional): each ``inspired_by`` link is a faint curve (``#c7b8ff``,
   width 1.5, opacity 0.45) from the source's centre to the responding
   fragment's centre, bowed by a fifth of its length, drawn above the fragments.
6. Defaults: colour ``#ece8ff``, fill none, width 3 (symbols: 4 glyph units).
7. A line or an arrow with a bound end (SPEC M14) is drawn through its resolved
   ends (``protocol/bindings.py``), as the browser draws it.

Bounds (so a hostile or huge tapestry cannot make a huge answer): at most
``max_fragments`` fragments are drawn, the top-most in paint order (the count
left out is in ``data-omitted`` on the root); strokes are thinned evenly once
the tapestry holds more than ``max_points`` points; text past
``max_text_chars`` characters in all is cut. With the defaults an SVG stays
within a few megabytes. A PNG's longer side is at most ``max_side`` pixels.
"""

from __future__ import annotations

import importlib
import math
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from functools import partial
from typing import Any

from dreamloom.protocol import Fragment, Tapestry, bindings
from dreamloom.protocol.symbols import GLYPH_BOX, Symbol, load_symbols
from dreamloom.protocol.validate import COLOR_RE

from .render_geom import (
    Box,
    arrow_head,
    dash_array,
    fmt,
    local_box,
    num,
    rotate_box,
    rotation,
    shape_spec,
    smooth_path,
    stroke_points,
    stroke_width,
    symbol_spec,
    text_align,
    text_spec,
)
from .render_pressure import pressure_body

AI_ACCENT = "#9ad0ff"
THREAD_COLOR = "#c7b8ff"
DEFAULT_COLOR = "#ece8ff"
DEFAULT_BACKGROUND = "#0f1020"
FONT_FAMILY = "DejaVu Sans, Verdana, Arial, sans-serif"
MARGIN = 32.0
HALO_PAD = 5.0
#: How much wider than a strand (a stroke, line or arrow) its AI glow is.
HALO_STRAND_GLOW = 5.0
#: Default stroke of a symbol glyph, in the units of its 100-unit box.
GLYPH_STROKE = 4.0
EMPTY_BOX = Box(-50, -50, 50, 50)


@dataclass(frozen=True, slots=True)
class RenderLimits:
    """How much of a tapestry one render may draw."""

    max_fragments: int = 20_000
    max_points: int = 250_000
    max_text_chars: int = 200_000
    max_side: int = 4096


DEFAULT_RENDER_LIMITS = RenderLimits()


# -- escaping ------------------------------------------------------------------
def _xml_char_ok(c: str) -> bool:
    o = ord(c)
    return o in (0x9, 0xA, 0xD) or 0x20 <= o <= 0xD7FF or 0xE000 <= o <= 0xFFFD or 0x10000 <= o <= 0x10FFFF


def escape(text: str) -> str:
    """Text safe in XML content and in double-quoted attributes.

    Characters XML 1.0 cannot hold at all (most control characters, lone
    surrogates) become U+FFFD rather than making the document unreadable.
    """
    if not all(map(_xml_char_ok, text)):
        text = "".join(c if _xml_char_ok(c) else "\ufffd" for c in text)
    return (
        text.replace("&", "&amp;")
        .replace("<", "&lt;")
        .replace(">", "&gt;")
        .replace('"', "&quot;")
        .replace("'", "&#39;")
    )


def _colour(value: Any, default: str) -> str:
    return value if isinstance(value, str) and COLOR_RE.match(value) else default


def _fill(style: Mapping[str, Any]) -> str:
    return _colour(style.get("fill"), "none")


# -- the scene -------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class _Item:
    frag: Fragment
    local: Box
    world: Box


@dataclass(slots=True)
class _Budget:
    text_chars: int


@dataclass(frozen=True, slots=True)
class Scene:
    """What one render draws: the fragments kept, their bounds, and the view box."""

    items: tuple[_Item, ...]
    box: Box
    omitted: int
    stride: int


def build_scene(tapestry: Tapestry, *, box: Box | None = None, limits: RenderLimits = DEFAULT_RENDER_LIMITS) -> Scene:
    """Choose what to draw (see the bounds in the module docstring) and where the view box goes."""
    ordered = tapestry.ordered()
    omitted = max(0, len(ordered) - limits.max_fragments)
    kept = ordered[omitted:]
    points = sum(_point_count(f) for f in kept)
    stride = math.ceil(points / limits.max_points) if points > limits.max_points else 1
    items = []
    for frag in map(partial(bindings.resolve, lookup=tapestry.get), kept):
        local = local_box(frag, stride)
        if local is None:
            continue
        items.append(_Item(frag, local, rotate_box(local, rotation(frag), frag.x, frag.y)))
    if box is None:
        content = Box.union(i.world for i in items)
        box = EMPTY_BOX if content is None else content.grow(MARGIN)
    if box.width <= 0 or box.height <= 0:
        box = Box(box.x0, box.y0, box.x0 + max(box.width, 1), box.y0 + max(box.height, 1))
    return Scene(tuple(items), box, omitted, stride)


def _point_count(frag: Fragment) -> int:
    pts = frag.geom.get("pts") if frag.kind == "stroke" else None
    return len(pts) // 2 if isinstance(pts, list) else 0


# -- drawing one fragment --------------------------------------------------------
def _stroke_body(frag: Fragment, stride: int) -> str:
    pts = stroke_points(frag, stride)
    if not pts:
        return ""
    style = frag.style
    pressed = pressure_body(frag, stride, _fill(style), _colour(style.get("color"), DEFAULT_COLOR), smooth_path(pts))
    if pressed is not None:
        return pressed
    return (
        f'<path d="{smooth_path(pts)}" fill="{_fill(style)}" stroke="{_colour(style.get("color"), DEFAULT_COLOR)}" '
        f'stroke-width="{fmt(stroke_width(style))}" stroke-linecap="round" stroke-linejoin="round"{_dash(style)}/>'
    )


def _dash(style: Mapping[str, Any]) -> str:
    pattern = dash_array(style)
    return f' stroke-dasharray="{pattern}"' if pattern else ""


def _shape_body(frag: Fragment) -> str:
    spec = shape_spec(frag)
    if spec is None:
        return ""
    shape, w, h = spec
    style = frag.style
    width = stroke_width(style)
    paint = f'stroke="{_colour(style.get("color"), DEFAULT_COLOR)}" stroke-width="{fmt(width)}"{_dash(style)}'
    x, y = frag.x, frag.y
    if shape == "rect":
        return (
            f'<rect x="{fmt(min(x, x + w))}" y="{fmt(min(y, y + h))}" width="{fmt(abs(w))}" height="{fmt(abs(h))}" '
            f'fill="{_fill(style)}" {paint} stroke-linejoin="round"/>'
        )
    if shape == "ellipse":
        return (
            f'<ellipse cx="{fmt(x + w / 2)}" cy="{fmt(y + h / 2)}" rx="{fmt(abs(w) / 2)}" ry="{fmt(abs(h) / 2)}" '
            f'fill="{_fill(style)}" {paint}/>'
        )
    d = f"M{fmt(x)},{fmt(y)} L{fmt(x + w)},{fmt(y + h)}"
    if shape == "arrow":
        d += " " + arrow_head(x, y, x + w, y + h, width)
    return f'<path d="{d}" fill="none" {paint} stroke-linecap="round" stroke-linejoin="round"/>'


def _symbol_body(frag: Fragment, symbols: Mapping[str, Symbol]) -> str:
    spec = symbol_spec(frag)
    if spec is None:
        return ""
    name, size = spec
    style = frag.style
    colour = _colour(style.get("color"), DEFAULT_COLOR)
    k = size / GLYPH_BOX
    width = GLYPH_STROKE if "width" not in style else stroke_width(style) / k
    place = f'transform="translate({fmt(frag.x - size / 2)} {fmt(frag.y - size / 2)}) scale({k:.6g})"'
    sym = symbols.get(name)
    if sym is None:
        # a name the catalogue does not know (yet): a dashed ring with a question mark
        return (
            f'<g {place}><circle cx="50" cy="50" r="40" fill="none" stroke="{colour}" stroke-width="{fmt(width)}" '
            f'stroke-dasharray="8 6"/><text x="50" y="64" font-size="40" text-anchor="middle" '
            f'font-family="{FONT_FAMILY}" fill="{colour}">?</text></g>'
        )
    fill = _fill(style)
    if sym.fill and fill == "none":
        fill = colour
    return (
        f'<g {place}><path d="{escape(sym.path)}" fill="{fill}" fill-rule="evenodd" stroke="{colour}" '
        f'stroke-width="{fmt(width)}" stroke-linecap="round" stroke-linejoin="round"/></g>'
    )


def _text_body(frag: Fragment, budget: _Budget) -> str:
    spec = text_spec(frag)
    if spec is None:
        return ""
    lines, size = spec
    out = []
    for i, line in enumerate(lines):
        if budget.text_chars <= 0:
            break
        if len(line) > budget.text_chars:
            line = line[: budget.text_chars] + "\u2026"
        budget.text_chars -= len(line)
        dy = "0" if i == 0 else fmt(size * 1.25)
        out.append(f'<tspan x="{fmt(frag.x)}" dy="{dy}">{escape(line)}</tspan>')
    colour = _colour(frag.style.get("color"), DEFAULT_COLOR)
    anchor = {"left": "", "center": ' text-anchor="middle"', "right": ' text-anchor="end"'}[text_align(frag)]
    return (
        f'<text x="{fmt(frag.x)}" y="{fmt(frag.y)}" font-size="{fmt(size)}" font-family="{FONT_FAMILY}" '
        f'fill="{colour}"{anchor} xml:space="preserve">{"".join(out)}</text>'
    )


def _strand(frag: Fragment, stride: int) -> tuple[str, float] | None:
    """The path and width of a stroke, line or arrow: its AI mark follows it."""
    if frag.kind == "stroke":
        pts = stroke_points(frag, stride)
        return (smooth_path(pts), stroke_width(frag.style)) if pts else None
    spec = shape_spec(frag) if frag.kind == "shape" else None
    if spec is None or spec[0] not in ("line", "arrow"):
        return None
    _, w, h = spec
    return f"M{fmt(frag.x)},{fmt(frag.y)} L{fmt(frag.x + w)},{fmt(frag.y + h)}", stroke_width(frag.style)


def _halo(frag: Fragment, local: Box, stride: int) -> str:
    strand = _strand(frag, stride)
    if strand is not None:
        d, width = strand
        return (
            f'<g class="ai-halo"><path d="{d}" fill="none" stroke="{AI_ACCENT}" '
            f'stroke-width="{fmt(width + HALO_STRAND_GLOW)}" stroke-opacity="0.22" stroke-linecap="round" '
            'stroke-linejoin="round"/></g>'
        )
    b = local.grow(HALO_PAD)
    rect = f'x="{fmt(b.x0)}" y="{fmt(b.y0)}" width="{fmt(b.width)}" height="{fmt(b.height)}" rx="6" fill="none"'
    return (
        f'<g class="ai-halo"><rect {rect} stroke="{AI_ACCENT}" stroke-width="3" stroke-opacity="0.12"/>'
        f'<rect {rect} stroke="{AI_ACCENT}" stroke-width="1.25" stroke-opacity="0.7" stroke-dasharray="4 3"/></g>'
    )


def _fragment(item: _Item, scene: Scene, symbols: Mapping[str, Symbol], budget: _Budget) -> str:
    frag = item.frag
    kind = frag.kind
    if kind == "stroke":
        body = _stroke_body(frag, scene.stride)
    elif kind == "shape":
        body = _shape_body(frag)
    elif kind == "symbol":
        body = _symbol_body(frag, symbols)
    else:
        body = _text_body(frag, budget)
    attrs = [f'data-id="{escape(frag.id)}"', f'data-kind="{escape(kind)}"', f'data-origin="{escape(frag.origin)}"']
    if kind == "symbol":
        attrs.append(f'data-sym="{escape(str(frag.geom.get("sym")))}"')
    opacity = num(frag.style.get("opacity"), 1.0)
    if opacity < 1:
        attrs.append(f'opacity="{fmt(max(opacity, 0.0))}"')
    rot = rotation(frag)
    if rot:
        attrs.append(f'transform="rotate({math.degrees(rot):.4g} {fmt(frag.x)} {fmt(frag.y)})"')
    halo = _halo(frag, item.local, scene.stride) if frag.origin == "ai" else ""
    return f"<g {' '.join(attrs)}>{halo}{body}</g>"


def _threads(scene: Scene) -> Iterator[str]:
    centres = {i.frag.id: i.world.centre for i in scene.items}
    for item in scene.items:
        to = centres[item.frag.id]
        for source in item.frag.inspired_by:
            start = centres.get(source)
            if start is None or start == to:
                continue
            (x0, y0), (x1, y1) = start, to
            # bow the curve sideways by a fifth of its length, so threads read as threads, not edges
            cx, cy = (x0 + x1) / 2 - (y1 - y0) / 5, (y0 + y1) / 2 + (x1 - x0) / 5
            yield (
                f'<path data-from="{escape(source)}" data-to="{escape(item.frag.id)}" '
                f'd="M{fmt(x0)},{fmt(y0)} Q{fmt(cx)},{fmt(cy)} {fmt(x1)},{fmt(y1)}"/>'
            )


def scene_svg(
    scene: Scene,
    *,
    width: float,
    height: float,
    background: str | None = DEFAULT_BACKGROUND,
    threads: bool = False,
    limits: RenderLimits = DEFAULT_RENDER_LIMITS,
) -> str:
    """The SVG document of ``scene``, ``width`` x ``height`` units on the page."""
    symbols = load_symbols()
    budget = _Budget(limits.max_text_chars)
    b = scene.box
    view = f"{fmt(b.x0)} {fmt(b.y0)} {fmt(b.width)} {fmt(b.height)}"
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{fmt(width)}" height="{fmt(height)}" viewBox="{view}" '
        f'data-fragments="{len(scene.items)}" data-omitted="{scene.omitted}">'
    ]
    if background is not None:
        bg = _colour(background, DEFAULT_BACKGROUND)
        parts.append(
            f'<rect x="{fmt(b.x0)}" y="{fmt(b.y0)}" width="{fmt(b.width)}" height="{fmt(b.height)}" fill="{bg}"/>'
        )
    parts.append('<g class="fragments">')
    parts.extend(_fragment(item, scene, symbols, budget) for item in scene.items)
    parts.append("</g>")
    if threads:
        parts.append(
            f'<g class="threads" fill="none" stroke="{THREAD_COLOR}" stroke-width="1.5" stroke-opacity="0.45">'
        )
        parts.extend(_threads(scene))
        parts.append("</g>")
    parts.append("</svg>")
    return "".join(parts)


def _fit(w: float, h: float, max_side: int) -> tuple[int, int]:
    k = min(1.0, max_side / max(w, h))
    return max(1, round(w * k)), max(1, round(h * k))


def render_svg(
    tapestry: Tapestry,
    *,
    box: Box | None = None,
    background: str | None = DEFAULT_BACKGROUND,
    threads: bool = False,
    limits: RenderLimits = DEFAULT_RENDER_LIMITS,
) -> str:
    """The tapestry as an SVG document (see the module docstring for what it shows).

    ``box`` fixes the view box (canvas coordinates); by default it is the
    content's bounds plus a margin. ``background`` is a ``#rrggbb[aa]`` colour,
    or ``None`` for a transparent page.
    """
    scene = build_scene(tapestry, box=box, limits=limits)
    w, h = _fit(scene.box.width, scene.box.height, limits.max_side)
    return scene_svg(scene, width=w, height=h, background=background, threads=threads, limits=limits)


def render_png(
    tapestry: Tapestry,
    *,
    width: int | None = None,
    scale: float = 1.0,
    box: Box | None = None,
    background: str | None = DEFAULT_BACKGROUND,
    threads: bool = False,
    limits: RenderLimits = DEFAULT_RENDER_LIMITS,
) -> bytes:
    """The tapestry as PNG bytes.

    The image is ``width`` pixels wide (default: the view box's width times
    ``scale``), its height follows the view box's proportions, and neither side
    exceeds ``limits.max_side``. CPU-bound: call it off the event loop.
    """
    if width is not None and width < 1:
        raise ValueError("width must be at least 1 pixel")
    if not (scale > 0 and math.isfinite(scale)):
        raise ValueError("scale must be a positive number")
    scene = build_scene(tapestry, box=box, limits=limits)
    px_w, px_h = png_size(scene, width=width, scale=scale, limits=limits)
    svg = scene_svg(scene, width=px_w, height=px_h, background=background, threads=threads, limits=limits)
    return bytes(rasterizer().svg_to_bytes(svg_string=svg, width=px_w, height=px_h))


def png_size(
    scene: Scene, *, width: int | None = None, scale: float = 1.0, limits: RenderLimits = DEFAULT_RENDER_LIMITS
) -> tuple[int, int]:
    """The pixel size of the PNG of ``scene`` (see :func:`render_png`)."""
    vw, vh = scene.box.width, scene.box.height
    target_w = float(width) if width is not None else vw * scale
    return _fit(target_w, target_w * vh / vw, limits.max_side)


class RenderUnavailable(Exception):
    """PNG rendering needs the ``resvg_py`` package, which cannot be imported here."""


def rasterizer() -> Any:
    """The SVG rasterizer module, or :class:`RenderUnavailable` saying why not.

    Imported on first use, so that a server without it still serves everything else
    (the image route answers 503) instead of failing to start or losing routes.
    """
    try:
        return importlib.import_module("resvg_py")
    except ImportError as exc:
        raise RenderUnavailable(f"PNG rendering is unavailable on this server: {exc}") from None
