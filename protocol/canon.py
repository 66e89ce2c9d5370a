"""The canonical form of values: one byte string per state, on every replica.

Rules (SPEC M9): maps are emitted with keys sorted; a float with an integral
value is emitted as an integer (``1.0`` and ``1`` are the same value, as in
JavaScript); other floats are float64; everything is packed with msgpack.
"""

from __future__ import annotations

from typing import Any

import msgpack

_SAFE = 2**53


def canon(value: Any) -> Any:
    """Return ``value`` in canonical form (sorted maps, integral floats as ints)."""
    if value is None or value is True or value is False or type(value) is str:
        return value
    if type(value) is int:
        return value
    if type(value) is float:
        if value.is_integer() and -_SAFE < value < _SAFE:
            return int(value)
        return value
    if isinstance(value, dict):
        return {k: canon(value[k]) for k in sorted(value)}
    if isinstance(value, (list, tuple)):
        # Stroke points are most of a tapestry: numbers are settled here without a call each.
        return [
            (int(v) if v.is_integer() and -_SAFE < v < _SAFE else v)
            if type(v) is float
            else v
            if type(v) is int or type(v) is str
            else canon(v)
            for v in value
        ]
    raise TypeError(f"not a canonical value: {type(value).__name__}")


def pack(value: Any) -> bytes:
    """Canonical bytes of ``value``."""
    return msgpack.packb(canon(value), use_bin_type=True)  # type: ignore[no-any-return]
