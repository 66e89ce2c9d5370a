"""Fractional z-order keys (SPEC M7).

A key is a string of base-62 digits ``0-9A-Za-z`` read as the fraction
``0.d1d2d3...``; ASCII order of the strings is the numeric order. A key never
ends in ``0`` (so there is always room below it). ``between(a, b)`` returns a
key strictly between ``a`` and ``b``; given a replica id it appends a short tag
derived from it, so two replicas inserting at the same spot concurrently get
different keys. Fragments with equal keys still order totally: by ``(z, id)``.
"""

from __future__ import annotations

from .errors import UsageError

DIGITS = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
_INDEX = {c: i for i, c in enumerate(DIGITS)}
_BASE = len(DIGITS)


def _digit(s: str, i: int) -> int:
    return _INDEX[s[i]] if i < len(s) else 0


def midpoint(a: str, b: str | None) -> str:
    """A key strictly between ``a`` (``""`` = 0) and ``b`` (``None`` = 1)."""
    if b is not None and a >= b:
        raise UsageError(f"midpoint needs a < b, got {a!r} >= {b!r}")
    if a.endswith("0") or (b is not None and b.endswith("0")):
        raise UsageError("keys must not end in 0")
    if b is not None:
        # Skip the common prefix (a is padded with zeros): the answer shares it.
        n = 0
        while _digit(a, n) == _INDEX[b[n]]:
            n += 1
        if n:
            return b[:n] + midpoint(a[n:], b[n:])
    lo = _digit(a, 0) if a else 0
    hi = _INDEX[b[0]] if b is not None else _BASE
    if hi - lo > 1:
        return DIGITS[(lo + hi + 1) // 2]
    # Adjacent digits: take b's first digit if b goes on, else descend under a.
    if b is not None and len(b) > 1:
        return b[0]
    return DIGITS[lo] + midpoint(a[1:], None)


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
    """A key strictly between ``a`` and ``b`` (``None`` = open end).

    >>> between(None, None)
    'V'
    >>> "V" < between("V", None) and between(None, "V") < "V"
    True
    """
    lo = a or ""
    if a is not None:
        validate_key(a)
    if b is not None:
        validate_key(b)
    key = midpoint(lo, b)
    if replica is None:
        return key
    # A tag appended to key stays below b unless key is a prefix of b.
    while b is not None and b.startswith(key):
        key = midpoint(key, b)
    return key + replica_tag(replica)


def _bump_up(key: str) -> str:
    """A short key above ``key``: its first digit below ``z`` raised by one (the rest dropped)."""
    for i, c in enumerate(key):
        if c != "z":
            return key[:i] + DIGITS[_INDEX[c] + 1]
    return key + "V"


def _bump_down(key: str) -> str | None:
    """A short key below ``key``: its first non-zero digit lowered by one (``1`` becomes ``0z``)."""
    for i, c in enumerate(key):
        d = _INDEX[c]
        if d > 1:
            return key[:i] + DIGITS[d - 1]
        if d == 1:
            return key[:i] + "0z"
    return None


def before_first(first: str | None, replica: str | None = None) -> str:
    """A key below ``first`` (the current bottom), or the first key of an empty tapestry.

    Steps down one digit instead of halving the gap, so sending to the back over
    and over grows keys by one character per ~60 moves, not per ~6.
    """
    if first is None:
        return between(None, None, replica)
    validate_key(first)
    key = _bump_down(first)
    if key is None:
        return between(None, first, replica)
    return key + (replica_tag(replica) if replica is not None else "")


def after_last(last: str | None, replica: str | None = None) -> str:
    """A key above ``last`` (the current top): "bring to front".

    Steps up one digit instead of halving the gap (see :func:`before_first`).
    """
    if last is None:
        return between(None, None, replica)
    validate_key(last)
    return _bump_up(last) + (replica_tag(replica) if replica is not None else "")
