"""Fractional z-order keys (SPEC M7).

A key is a string of base-62 digits ``0-9A-Za-z`` compared in ASCII order; it
never ends in ``0``, so it reads as the fraction ``0.d1d2d3...`` and string order
is numeric order. Keys are made of *cells*, read from the left: a
variable-length integer (a head character that says how many digits follow:
``a``-``z`` 1 to 26, ``A``-``Z`` 26 to 1, the scheme of common fractional-indexing
libraries) and a 3-digit slot, where the writer's replica tag goes. A short last
cell reads as padded with zeros, so any key, including one written before cells
existed, has a cell reading.

Bring to front moves the top key's first integer up by one, send to back moves
the bottom key's down by one: integers grow by one digit per ~62^k moves, so a
key stays short however many fragments are stacked at an end. ``between`` takes
an integer strictly between its neighbours' when there is one, else nests one
cell deeper and steps there by ``NESTED_STEP``, which keeps repeated inserts
just above or just below a fragment short too (SPEC M7 gives the bounds). Two
replicas inserting at the same spot concurrently get different keys (their
tags); fragments with equal keys still order totally, by ``(z, id)``.
"""

from __future__ import annotations

from .errors import UsageError

DIGITS = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
_INDEX = {c: i for i, c in enumerate(DIGITS)}
_BASE = len(DIGITS)
TAG_LEN = 3
FIRST = "a1"
"""The key of the first fragment (the integer one)."""
NESTED_STEP = 16
"""How far a nested integer steps: room for 15 inserts between neighbours before nesting again."""


def _width(head: str) -> int:
    """Digits after a head: ``a``-``z`` 1..26, ``A``-``Z`` 26..1; ``0``-``9`` (only in older keys) 26."""
    i = _INDEX[head]
    if i >= 36:
        return i - 35
    if i >= 10:
        return 36 - i
    return 26


def _first_cell(key: str) -> str:
    """The cell ``key`` starts with, padded with zeros when ``key`` ends inside it."""
    size = 1 + _width(key[0]) + TAG_LEN
    return key[:size].ljust(size, "0")


def _cells(key: str) -> list[str]:
    out: list[str] = []
    while key:
        out.append(_first_cell(key))
        key = key[len(out[-1]) :]
    return out


def _integer(cell: str) -> str:
    return cell[: 1 + _width(cell[0])]


def _step(integer: str, up: bool) -> str | None:
    """The integer just above (below) ``integer``; ``None`` past ``z`` + 26 ``z`` (``0`` + 26 ``0``)."""
    digits = [_INDEX[c] for c in integer[1:]]
    edge, wrap = (_BASE - 1, 0) if up else (0, _BASE - 1)
    for j in range(len(digits) - 1, -1, -1):
        if digits[j] != edge:
            digits[j] += 1 if up else -1
            return integer[0] + "".join(DIGITS[d] for d in digits)
        digits[j] = wrap
    head = _INDEX[integer[0]] + (1 if up else -1)
    if not 0 <= head < _BASE:
        return None
    return DIGITS[head] + DIGITS[wrap] * _width(DIGITS[head])


def _move(integer: str, up: bool, times: int) -> str | None:
    """``times`` integers up (down), skipping those ending in ``0``; ``None`` if it cannot move at all."""
    out = integer
    for _ in range(times):
        nxt = _step(out, up)
        while nxt is not None and nxt.endswith("0"):
            nxt = _step(nxt, up)
        if nxt is None:
            break
        out = nxt
    return None if out == integer else out


def _middle(lo: str, hi: str) -> str | None:
    """An integer strictly between ``lo`` and ``hi`` not ending in ``0`` (the rounded-up mean when
    they have one head, else the one after ``lo``), or ``None`` if there is none."""
    after = _move(lo, True, 1)
    if after is None or after >= hi:
        return None
    if lo[0] != hi[0]:
        return after
    total, carry = [], 1  # the 1 rounds the mean up
    for x, y in zip(reversed(lo[1:]), reversed(hi[1:]), strict=True):
        carry, digit = divmod(_INDEX[x] + _INDEX[y] + carry, _BASE)
        total.append(digit)
    half, odd = [], carry  # halve from the top; the sum's top digit (0 or 1) carries down
    for digit in reversed(total):
        value, odd = divmod(odd * _BASE + digit, 2)
        half.append(value)
    mid = lo[0] + "".join(DIGITS[d] for d in half)
    if mid.endswith("0"):
        mid = _move(mid, True, 1) or mid
        if mid >= hi:
            mid = _move(mid, False, 1) or mid
    return mid if lo < mid < hi else after


def midpoint(a: str, b: str | None) -> str:
    """A key strictly between ``a`` (``""`` = 0) and ``b`` (``None`` = 1), digit by digit.

    Only for the far ends of the key space (below ``0`` + 26 ``0`` + ``1``), where no
    integer is left.
    """
    if b is not None and a >= b:
        raise UsageError(f"midpoint needs a < b, got {a!r} >= {b!r}")
    if a.endswith("0") or (b is not None and b.endswith("0")):
        raise UsageError("keys must not end in 0")
    if b is not None:
        n = 0
        while (_INDEX[a[n]] if n < len(a) else 0) == _INDEX[b[n]]:
            n += 1
        if n:
            return b[:n] + midpoint(a[n:], b[n:])
    lo = _INDEX[a[0]] if a else 0
    hi = _INDEX[b[0]] if b is not None else _BASE
    if hi - lo > 1:
        return DIGITS[(lo + hi + 1) // 2]
    if b is not None and len(b) > 1:
        return b[0]
    return DIGITS[lo] + midpoint(a[1:], None)


def _up(rest: str, times: int) -> str:
    """A key above ``rest`` (``FIRST`` above nothing) that no tag can push past its successor:
    the first integer moved up, or, at the largest integer, that cell kept and the rest raised."""
    if not rest:
        return FIRST
    cell = _first_cell(rest)
    moved = _move(_integer(cell), True, times)
    if moved is not None:
        return moved
    return cell + _up(rest[len(cell) :], times)


def _down(rest: str, times: int) -> str:
    """A key below ``rest`` and not a prefix of it: the first integer moved down, or, at the very
    bottom of the integers, a digit-by-digit midpoint."""
    moved = _move(_integer(_first_cell(rest)), False, times)
    if moved is not None:
        return moved
    key = midpoint("", rest)
    while rest.startswith(key):
        key = midpoint(key, rest)
    return key


def _between(a: str, b: str) -> str:
    cells_a, cells_b = _cells(a), _cells(b)
    i = 0
    while i < len(cells_a) and i < len(cells_b) and cells_a[i] == cells_b[i]:
        i += 1
    prefix = "".join(cells_a[:i])
    if i == len(cells_a):  # b goes on past a: nest under a, below the rest of b
        return prefix + _down(b[len(prefix) :], NESTED_STEP)
    low, high = _integer(cells_a[i]), _integer(cells_b[i])
    if low < high and (mid := _middle(low, high)) is not None:
        return prefix + mid
    # Neighbouring integers: keep a's cell and go above the rest of a.
    return prefix + cells_a[i] + _up(a[len(prefix) + len(cells_a[i]) :], NESTED_STEP)


def replica_tag(replica: str) -> str:
    """Three base-62 digits derived from a replica id (FNV-1a), never ending in 0."""
    h = 0x811C9DC5
    for byte in replica.encode():
        h = ((h ^ byte) * 0x01000193) & 0xFFFFFFFF
    d1, d2, d3 = h % _BASE, (h // _BASE) % _BASE, (h // _BASE**2) % (_BASE - 1) + 1
    return DIGITS[d1] + DIGITS[d2] + DIGITS[d3]


def validate_key(key: str) -> None:
    """Raise :class:`UsageError` unless ``key`` is a well-formed z key."""
    if not key or key.endswith("0") or any(c not in _INDEX for c in key):
        raise UsageError(f"invalid z key {key!r}")


def between(a: str | None, b: str | None, replica: str | None = None) -> str:
    """A key strictly between ``a`` and ``b`` (``None`` = open end), tagged with ``replica``'s tag.

    >>> between(None, None)
    'a1'
    >>> between("a1", None), between(None, "a1"), between("a1", "a5")
    ('a2', 'Zz', 'a3')
    >>> "V" < between("V", "W", "r1") < "W"
    True
    """
    if a is not None:
        validate_key(a)
    if b is not None:
        validate_key(b)
    if a is not None and b is not None and a >= b:
        raise UsageError(f"between needs a < b, got {a!r} >= {b!r}")
    if a is None:
        key = FIRST if b is None else _down(b, 1)
    else:
        key = _up(a, 1) if b is None else _between(a, b)
    return key if replica is None else key + replica_tag(replica)


def before_first(first: str | None, replica: str | None = None) -> str:
    """A key below ``first`` (the current bottom): "send to back". Its first integer, minus one.

    >>> before_first("a1"), before_first("Z1"), before_first(None)
    ('Zz', 'Yzz', 'a1')
    """
    return between(None, first, replica)


def after_last(last: str | None, replica: str | None = None) -> str:
    """A key above ``last`` (the current top): "bring to front". Its first integer, plus one.

    >>> after_last("a1"), after_last("az"), after_last("V")
    ('a2', 'b01', 'V00001')
    """
    return between(last, None, replica)
