"""The compact snapshot form (SPEC M15, M16): a fragment's shared stamp written once.

A create writes every field of a fragment under one stamp, so in a filled tapestry
nearly every fragment's registers share it, and the canonical form (M9) repeats
that stamp, replica string included, once per register. A compact item writes it
once::

    [id, counter, replica, {field: value, ...}, {field: [counter, replica, value], ...}]

``(counter, replica)`` is the stamp held by the most registers of the fragment (ties:
the greatest stamp); the first map holds the fields with exactly that stamp, the
second every other field with its own stamp. Expanding an item gives back the
canonical item exactly, so digests stay defined on the canonical form.

These functions work on decoded structures and trust their input's shape (a
canonical item from a tapestry, or a compact item validated by
:meth:`~.tapestry.Tapestry.load_compact`); :func:`expand_entry` checks it for
anyone else.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from .validate import check_dict, check_int, fail


def shared_stamp(registers: dict[str, list[Any]]) -> tuple[int, str]:
    """The stamp held by the most registers; ties go to the greatest stamp (M15)."""
    counts: dict[tuple[int, str], int] = {}
    for reg in registers.values():
        key = (reg[0], reg[1])
        counts[key] = counts.get(key, 0) + 1
    if len(counts) == 1:
        return next(iter(counts))
    return max(counts, key=lambda s: (counts[s], s))


def compact_entry(entry: list[Any]) -> list[Any]:
    """A canonical item ``[id, {field: [counter, replica, value]}]`` in the compact form (M15)."""
    fid, registers = entry
    counter, replica = shared_stamp(registers)
    values: dict[str, Any] = {}
    others: dict[str, list[Any]] = {}
    for name, reg in registers.items():  # already sorted by name: both maps keep that order
        if reg[0] == counter and reg[1] == replica:
            values[name] = reg[2]
        else:
            others[name] = reg
    return [fid, counter, replica, values, others]


def expand_entry(item: Any) -> list[Any]:
    """A compact item back in the canonical form (M16): its registers merged and sorted by name.

    Only the item's shape is checked here (a list of five, two maps that share no field);
    register values and field names are checked where the item is loaded.
    """
    if type(item) is not list or len(item) != 5:
        fail("compact snapshot entry must be [id, counter, replica, values, others]")
    fid, counter, replica, values, others = item
    check_int(counter, "compact stamp counter", 1)
    registers: dict[str, list[Any]] = {
        name: [counter, replica, value] for name, value in check_dict(values, "values").items()
    }
    for name, reg in check_dict(others, "others").items():
        if name in registers:
            fail(f"field {name!r} is both in values and in others")
        registers[name] = reg
    return [fid, {name: registers[name] for name in sorted(registers)}]


def compact(data: Iterable[list[Any]]) -> list[list[Any]]:
    """A canonical structure (M9) in the compact form."""
    return [compact_entry(entry) for entry in data]


def expand(items: Any) -> list[list[Any]]:
    """A compact structure back in the canonical form (M9)."""
    if type(items) is not list:
        fail("snapshot must be a list")
    return [expand_entry(item) for item in items]


__all__ = ["compact", "compact_entry", "expand", "expand_entry", "shared_stamp"]
