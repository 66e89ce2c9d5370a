"""The dream symbol catalogue: glyphs a ``symbol`` fragment may name.

The catalogue lives in ``symbols.json`` next to this module, shared by the
server (rendering), the browser (drawing, via ``GET /api/symbols``) and the
built-in interpreter weaver (keyword matching). Each glyph's ``path`` is SVG
path data drawn in a ``box`` x ``box`` square (100 x 100) centred on
``(box/2, box/2)``, meant to be stroked; ``fill`` says whether it should also
be filled (with the even-odd rule, so inner outlines stay open).

Only this module's own package data is read; the parsed result is cached.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache
from importlib.resources import files
from types import MappingProxyType
from typing import Any

from .validate import SYMBOL_RE

#: Side of the square each glyph is drawn in.
GLYPH_BOX = 100


@dataclass(frozen=True, slots=True)
class Symbol:
    """One dream symbol: its glyph and what it stands for."""

    name: str
    label: str
    path: str
    fill: bool
    meaning: str
    keywords: tuple[str, ...]

    def to_data(self) -> dict[str, Any]:
        """The symbol as the plain map of ``symbols.json``."""
        return {
            "name": self.name,
            "label": self.label,
            "path": self.path,
            "fill": self.fill,
            "meaning": self.meaning,
            "keywords": list(self.keywords),
        }


class CatalogueError(ValueError):
    """``symbols.json`` is malformed: a packaging mistake, never user input."""


def _symbol(entry: Any) -> Symbol:
    if not isinstance(entry, dict):
        raise CatalogueError("each symbol must be an object")
    name = entry.get("name")
    if not isinstance(name, str) or not SYMBOL_RE.match(name):
        raise CatalogueError(f"bad symbol name {name!r}")
    label, path, fill, meaning = entry.get("label"), entry.get("path"), entry.get("fill"), entry.get("meaning")
    keywords = entry.get("keywords")
    if not (isinstance(label, str) and isinstance(path, str) and isinstance(meaning, str) and label and path):
        raise CatalogueError(f"symbol {name!r} needs label, path and meaning strings")
    if not isinstance(fill, bool):
        raise CatalogueError(f"symbol {name!r}: fill must be a boolean")
    if not isinstance(keywords, list) or not all(isinstance(k, str) and k for k in keywords):
        raise CatalogueError(f"symbol {name!r}: keywords must be a list of words")
    return Symbol(name, label, path, fill, meaning, tuple(keywords))


def parse_catalogue(text: str) -> dict[str, Symbol]:
    """Parse the text of ``symbols.json`` into name -> :class:`Symbol`, in catalogue order."""
    data = json.loads(text)
    if not isinstance(data, dict) or not isinstance(data.get("symbols"), list):
        raise CatalogueError("the catalogue must be an object with a list of symbols")
    if data.get("box") != GLYPH_BOX:
        raise CatalogueError(f"glyphs must be drawn in a {GLYPH_BOX} box")
    out: dict[str, Symbol] = {}
    for entry in data["symbols"]:
        sym = _symbol(entry)
        if sym.name in out:
            raise CatalogueError(f"symbol {sym.name!r} listed twice")
        out[sym.name] = sym
    return out


@cache
def _catalogue() -> Mapping[str, Symbol]:
    text = files(__package__ or "dreamloom.protocol").joinpath("symbols.json").read_text(encoding="utf-8")
    return MappingProxyType(parse_catalogue(text))


def load_symbols() -> dict[str, Symbol]:
    """The catalogue, name -> :class:`Symbol` in catalogue order.

    The file is read and parsed once; each call returns a fresh dict (a copy
    of 70-odd references), so a caller that edits its dict cannot change the
    catalogue anyone else sees.
    """
    return dict(_catalogue())
