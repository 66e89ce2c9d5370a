"""Interpreter: answers people's captions and symbols with dream symbols of related meaning.

Scoring is deterministic: the words of the source (a caption's text, or a symbol's
name, keywords and meaning) are reduced to stems; each catalogue symbol scores 2 per
stem shared with its name, label or keywords and 1 per stem shared with its meaning.
The best one to three symbols (each at least half the best score) answer, placed in free
space next to the source (never over anyone's fragment) and linked to it.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Mapping
from typing import Any, Final

from dreamloom.protocol import Fragment
from dreamloom.protocol.symbols import Symbol, load_symbols

from ..events import FragmentEvent
from ..geometry import Box, bounds
from ..weaver import Weaver

_WORD = re.compile(r"[a-z]+")
_STOP: Final = frozenset(
    "a an and are as at be been but by for from has have he her his i in into is it its me my no not of on or "
    "our she so that the their them then there they this to was we were what when where which while who will "
    "with you your all any can do does did just very".split()
)
_SUFFIXES: Final = (
    ("sses", "ss"),
    ("ies", "y"),
    ("ches", "ch"),
    ("shes", "sh"),
    ("xes", "x"),
    ("ness", ""),
    ("ing", ""),
    ("ed", ""),
    ("ly", ""),
    ("s", ""),
)


def stem(word: str) -> str:
    """A crude stem, the same for the common inflections of a word.

    >>> [stem(w) for w in ("tides", "tide", "flying", "wishes", "wish", "changed", "change")]
    ['tid', 'tid', 'fly', 'wish', 'wish', 'chang', 'chang']
    """
    for suffix, replacement in _SUFFIXES:
        if word.endswith(suffix) and len(word) - len(suffix) >= 3:
            word = word[: -len(suffix)] + replacement
            break
    if word.endswith("e") and len(word) > 3:
        word = word[:-1]
    return word


def stems(text: str) -> set[str]:
    """The stems of the meaningful words of ``text``.

    >>> sorted(stems("The tide was changing under a silver moon"))
    ['chang', 'moon', 'silver', 'tid', 'under']
    """
    return {stem(w) for w in _WORD.findall(text.lower()) if w not in _STOP and len(w) > 2}


class Lexicon:
    """The symbol catalogue indexed by stems, for scoring.

    >>> lex = Lexicon(load_symbols())
    >>> lex.answer(stems("a silver tide under the night sky"))[0] in lex.symbols
    True
    """

    def __init__(self, symbols: Mapping[str, Symbol]) -> None:
        self.symbols = dict(symbols)
        self._strong = {
            s.name: stems(" ".join((s.name.replace("_", " "), s.label, *s.keywords))) for s in symbols.values()
        }
        self._weak = {s.name: stems(s.meaning) for s in symbols.values()}

    def words_of(self, fragment: Fragment) -> set[str]:
        """The stems a fragment speaks of: a caption's words, a symbol's name, keywords and meaning."""
        if fragment.kind == "text":
            return stems(str(fragment.geom.get("text", "")))
        sym = self.symbols.get(str(fragment.geom.get("sym", "")))
        if sym is None:
            return stems(str(fragment.geom.get("sym", "")).replace("_", " "))
        return self._strong[sym.name] | self._weak[sym.name]

    def score(self, words: set[str], name: str) -> int:
        """How strongly a catalogue symbol relates to the stems ``words``."""
        return 2 * len(words & self._strong[name]) + len(words & self._weak[name])

    def answer(self, words: set[str], exclude: Iterable[str] = (), most: int = 3) -> list[str]:
        """The names of up to ``most`` related symbols, best first (ties by name)."""
        skip = set(exclude)
        scored = sorted((-self.score(words, n), n) for n in self.symbols if n not in skip)
        best = -scored[0][0] if scored else 0
        if best <= 0:
            return []
        return [n for neg, n in scored[:most] if -neg * 2 >= best]


class Interpreter(Weaver):
    """Reads the captions and symbols people place and answers each with one to three
    dream symbols whose meanings relate, placed in free space beside the source (never over
    anyone's fragment) and linked to it; it sends no more than the AI share cap and the AI
    rate leave room for.

    Example: ``Interpreter(size=40).run(url, "dreams")``.
    """

    name = "interpreter"
    description = "answers human captions and symbols with dream symbols of related meaning"

    def __init__(self, *, most: int = 3, size: float = 44.0, **options: Any) -> None:
        """``most`` (1-3) answers at most per source, each ``size`` units wide.

        Example: ``Interpreter(most=2)``.
        """
        super().__init__(**options)
        self.lexicon = Lexicon(load_symbols())
        self.most = max(1, min(3, int(most)))
        self.size = float(size)

    async def on_fragment_added(self, event: FragmentEvent) -> None:
        """Answer a person's new caption or symbol."""
        src = event.fragment
        if event.action != "added" or event.mine or not event.organic or src.kind not in ("text", "symbol"):
            return
        if src.inspired_by or self.backing_off:
            return  # answer people's own marks, not other weavers' answers
        exclude = [str(src.geom["sym"])] if src.kind == "symbol" else []
        answer = self.lexicon.answer(self.lexicon.words_of(src), exclude, self.most)
        if not answer:
            return
        spots = self.free_spots(src, min(len(answer), self.ai_room, self.ai_rate_room))
        if not spots:
            return  # no room on the canvas near it, or none left under the cap or the rate
        with self.batch():
            for name, (x, y) in zip(answer, spots, strict=False):
                self.add_symbol(name, x, y, size=self.size, inspired_by=[src.id])
        self.show_cursor(*spots[0])

    def free_spots(self, src: Fragment, count: int) -> list[tuple[float, float]]:
        """Up to ``count`` centres next to ``src`` where a symbol covers no fragment (people's
        or weavers'), nearest first: on its right, below, on its left, above, then further out.
        """
        half, gap = self.size / 2, self.size / 4
        taken = [_grow(bounds(f), gap) for f in self.tapestry]
        spots: list[tuple[float, float]] = []
        for x, y in _around(bounds(src), half + gap, self.size + gap, rings=6):
            if len(spots) >= count:
                break
            spot = Box(x - half, y - half, x + half, y + half)
            if not any(spot.intersects(t) for t in taken):
                spots.append((round(x, 2), round(y, 2)))
                taken.append(_grow(spot, gap))
        return spots


def _grow(box: Box, by: float) -> Box:
    return Box(box.x0 - by, box.y0 - by, box.x1 + by, box.y1 + by)


def _around(box: Box, first: float, step: float, rings: int) -> Iterator[tuple[float, float]]:
    """Candidate centres in rings around ``box``: the sides' middles, their neighbours, the corners.

    >>> list(_around(Box(0, 0, 10, 10), 5, 10, 1))[:4]
    [(15, 5.0), (15, -5.0), (15, 15.0), (5.0, 15)]
    """
    cx, cy = box.center
    for ring in range(rings):
        d = first + ring * step
        x0, y0, x1, y1 = box.x0 - d, box.y0 - d, box.x1 + d, box.y1 + d
        yield from ((x1, cy), (x1, cy - step), (x1, cy + step))  # right
        yield from ((cx, y1), (cx + step, y1), (cx - step, y1))  # below
        yield from ((x0, cy), (x0, cy - step), (x0, cy + step))  # left
        yield from ((cx, y0), (cx + step, y0), (cx - step, y0))  # above
        yield from ((x1, y1), (x0, y1), (x1, y0), (x0, y0))  # corners
