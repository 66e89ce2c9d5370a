"""Which names may name a sanctuary (SPEC W8a): the protocol's id rule, and nothing unsafe on top.

A sanctuary id ends up in URLs, file names of exports, keys of JavaScript objects and
log lines. The protocol admits ``[A-Za-z0-9_.:-]{1,64}`` for every id (W8); for
sanctuaries the server is stricter: the first character is a letter or a digit
(no ``.``, ``..``, ``.hidden`` or ``__proto__``), the last is not a dot, there is
no ``..`` inside, and the name, or its part before the first dot, is none of the
reserved words below (case-insensitive).
"""

from __future__ import annotations

import re

#: Device names Windows refuses as file names, and keys every JavaScript object already has.
RESERVED = frozenset(
    {"con", "prn", "aux", "nul", "clock$"}
    | {f"com{n}" for n in range(10)}
    | {f"lpt{n}" for n in range(10)}
    | {"constructor", "prototype", "__proto__", "tostring", "valueof", "hasownproperty", "null", "undefined"}
)

SAFE_ID = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9_.:-]*[A-Za-z0-9_:-])?\Z")


def sanctuary_id_problem(name: str, max_len: int) -> str | None:
    """Why ``name`` may not name a sanctuary, or ``None`` when it may."""
    if not 0 < len(name) <= max_len:
        return f"a sanctuary id has 1 to {max_len} characters"
    if SAFE_ID.match(name) is None or ".." in name:
        return "a sanctuary id starts with a letter or digit, then letters, digits and _ . : - (no '..', no final '.')"
    if name.lower() in RESERVED or name.split(".", 1)[0].lower() in RESERVED:
        return f"{name!r} is a reserved name"
    return None
