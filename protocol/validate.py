"""Validation of untrusted structures into ops and field values.

Each function takes a value decoded from the wire and either returns it
checked (and normalised where the spec says so) or raises :class:`DecodeError`.
Nothing else escapes (SPEC W3). Checks are written out by hand: this is the
hot path of every frame the server receives.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Any, NoReturn

from .errors import DecodeError, ErrorCode
from .limits import Limits
from .ops import KINDS, ORIGINS, SETTABLE, SHAPES, Op
from .stamps import MAX_COUNTER, Stamp

ID_RE = re.compile(r"[A-Za-z0-9_.:\-]+\Z")
Z_RE = re.compile(r"[0-9A-Za-z]+\Z")
COLOR_RE = re.compile(r"#[0-9a-fA-F]{6}(?:[0-9a-fA-F]{2})?\Z")
SYMBOL_RE = re.compile(r"[a-z][a-z0-9_\-]*\Z")

STYLE_KEYS = frozenset({"color", "fill", "width", "opacity", "dash"})
#: Line patterns a style may ask for (none: a solid line).
DASHES = ("dashed", "dotted")
GEOM_KEYS = frozenset({"pts", "shape", "w", "h", "sym", "text", "size", "rot", "align"})
#: How a caption sits on its anchor (none: ``left``, the baseline starts there).
ALIGNS = ("left", "center", "right")
GEOM_REQUIRED = {
    "stroke": frozenset({"pts"}),
    "shape": frozenset({"shape", "w", "h"}),
    "symbol": frozenset({"sym", "size"}),
    "text": frozenset({"text", "size"}),
}
GEOM_ALLOWED = {kind: req | {"rot"} | ({"align"} if kind == "text" else set()) for kind, req in GEOM_REQUIRED.items()}
# A stroke may carry one pressure a point, its width following it (SPEC M17).
GEOM_KEYS = GEOM_KEYS | {"pressure"}
GEOM_ALLOWED["stroke"] = GEOM_ALLOWED["stroke"] | {"pressure"}


def fail(reason: str, code: ErrorCode = ErrorCode.BAD_MESSAGE) -> NoReturn:
    """Raise the one error type validation raises."""
    raise DecodeError(code, reason)


def check_dict(value: Any, what: str) -> dict[str, Any]:
    if type(value) is not dict:
        fail(f"{what} must be a map")
    return value


def check_keys(d: dict[str, Any], allowed: frozenset[str], what: str) -> None:
    for key in d:
        if key not in allowed:
            fail(f"unknown field {key!r} in {what}" if type(key) is str else f"non-string key in {what}")


def check_int(value: Any, what: str, lo: int = 0, hi: int = MAX_COUNTER) -> int:
    if type(value) is not int or not lo <= value <= hi:
        fail(f"{what} must be an integer in [{lo}, {hi}]")
    return value


def check_bool(value: Any, what: str) -> bool:
    if type(value) is not bool:
        fail(f"{what} must be a boolean")
    return value


def check_number(value: Any, what: str, limit: float) -> float:
    t = type(value)
    if t is int:
        if -limit <= value <= limit:
            return value  # type: ignore[no-any-return,unused-ignore]
    elif t is float:
        if math.isfinite(value) and -limit <= value <= limit:
            return value  # type: ignore[no-any-return,unused-ignore]
        if not math.isfinite(value):
            fail(f"{what} must be a finite number")
    else:
        fail(f"{what} must be a number")
    fail(f"{what} must be within ±{limit:g}")


def check_str(value: Any, what: str, max_len: int, min_len: int = 0) -> str:
    if type(value) is not str:
        fail(f"{what} must be a string")
    if not min_len <= len(value) <= max_len:
        fail(f"{what} must be {min_len}..{max_len} characters long")
    return value


def check_id(value: Any, what: str, limits: Limits) -> str:
    check_str(value, what, limits.max_id_len, 1)
    if not ID_RE.match(value):
        fail(f"{what} may contain only letters, digits and _ . : -")
    return value  # type: ignore[no-any-return]


def check_stamp(value: Any, limits: Limits) -> Stamp:
    if type(value) is not list or len(value) != 2:
        fail("stamp must be [counter, replica]")
    return Stamp(check_int(value[0], "stamp counter", 1), check_id(value[1], "stamp replica", limits))


def check_color(value: Any, what: str, allow_none: bool = False) -> str:
    if allow_none and value == "none":
        return "none"
    if type(value) is not str or not COLOR_RE.match(value):
        fail(f"{what} must be a colour like #a1b2c3" + (" or 'none'" if allow_none else ""))
    return value


_NUMBER_TYPES = frozenset({int, float})


def check_points(value: Any, what: str, limits: Limits, min_points: int = 1) -> list[Any]:
    if type(value) is not list:
        fail(f"{what} must be a flat list [x0, y0, x1, y1, ...]")
    n = len(value)
    if n % 2 or not min_points * 2 <= n <= limits.max_points_per_stroke * 2:
        fail(f"{what} must hold {min_points}..{limits.max_points_per_stroke} points as x, y pairs")
    bound = limits.max_coordinate
    # The common case at C speed: only ints and floats, finite (a NaN or an infinity makes the
    # sum one, or fails it), within the bound. Anything else is looked at one by one, for its error.
    if set(map(type, value)) <= _NUMBER_TYPES:
        try:
            total = math.fsum(value)
        except (OverflowError, ValueError):
            total = math.nan
        if math.isfinite(total) and -bound <= min(value) and max(value) <= bound:
            return value
    for v in value:
        t = type(v)
        if t is int:
            if not -bound <= v <= bound:
                fail(f"{what} coordinates must be within ±{bound:g}")
        elif t is float:
            if not (math.isfinite(v) and -bound <= v <= bound):
                fail(f"{what} coordinates must be finite and within ±{bound:g}")
        else:
            fail(f"{what} coordinates must be numbers")
    return value


def check_pressure(value: Any, pts: Any, limits: Limits) -> list[Any]:
    """A stroke's pressure: one number in [0, 1] for each of its points (SPEC M17)."""
    if type(value) is not list:
        fail("geom.pressure must be a list of numbers in [0, 1], one a point")
    if type(pts) is not list or len(pts) != 2 * len(value):
        fail("geom.pressure must hold one value for each point of geom.pts")
    if len(value) > limits.max_points_per_stroke:
        fail(f"geom.pressure may hold at most {limits.max_points_per_stroke} values")
    for v in value:
        t = type(v)
        if t is not int and t is not float:
            fail("geom.pressure values must be numbers")
        if not 0 <= v <= 1:  # NaN fails this too
            fail("geom.pressure values must be finite numbers in [0, 1]")
    return value


def check_style(value: Any, limits: Limits) -> dict[str, Any]:
    d = check_dict(value, "style")
    check_keys(d, STYLE_KEYS, "style")
    if "color" in d:
        check_color(d["color"], "style.color")
    if "fill" in d:
        check_color(d["fill"], "style.fill", allow_none=True)
    if "width" in d:
        w = check_number(d["width"], "style.width", 200)
        if w < 0:
            fail("style.width must not be negative")
    if "opacity" in d:
        o = check_number(d["opacity"], "style.opacity", 1)
        if o < 0:
            fail("style.opacity must be within [0, 1]")
    if "dash" in d and d["dash"] not in DASHES:
        fail("style.dash must be 'dashed' or 'dotted'")
    return d


def check_geom(value: Any, limits: Limits, kind: str | None = None) -> dict[str, Any]:
    """Check a geometry map; with ``kind``, also that it has exactly what that kind needs."""
    d = check_dict(value, "geom")
    check_keys(d, GEOM_KEYS, "geom")
    bound = limits.max_coordinate
    for key, v in d.items():
        if key == "pts":
            check_points(v, "geom.pts", limits)
        elif key == "pressure":
            check_pressure(v, d.get("pts"), limits)
        elif key == "shape":
            if v not in SHAPES:
                fail(f"geom.shape must be one of {', '.join(SHAPES)}")
        elif key == "sym":
            check_str(v, "geom.sym", limits.max_symbol_len, 1)
            if not SYMBOL_RE.match(v):
                fail("geom.sym must be a lowercase symbol name")
        elif key == "text":
            check_str(v, "geom.text", limits.max_text_len)
        elif key == "size":
            if check_number(v, "geom.size", bound) <= 0:
                fail("geom.size must be positive")
        elif key == "align":
            if v not in ALIGNS:
                fail("geom.align must be left, center or right")
        else:  # w, h, rot
            check_number(v, f"geom.{key}", bound)
    if kind is not None:
        check_geom_kind(d, kind)
    return d


def check_geom_kind(geom: dict[str, Any], kind: str) -> None:
    """Raise unless ``geom`` has every key ``kind`` requires and no key it forbids."""
    keys = geom.keys()
    missing = GEOM_REQUIRED[kind] - keys
    if missing:
        fail(f"geom of a {kind} needs {', '.join(sorted(missing))}")
    extra = keys - GEOM_ALLOWED[kind]
    if extra:
        fail(f"geom of a {kind} may not have {', '.join(sorted(extra))}")


def check_inspired_by(value: Any, limits: Limits) -> list[str]:
    if type(value) is not list:
        fail("inspired_by must be a list of fragment ids")
    if len(value) > limits.max_inspired_by:
        fail(f"inspired_by may hold at most {limits.max_inspired_by} ids")
    for v in value:
        check_id(v, "inspired_by id", limits)
    if len(set(value)) != len(value):
        fail("inspired_by ids must be unique")
    return value


def check_z(value: Any, limits: Limits) -> str:
    check_str(value, "z", limits.max_z_len, 1)
    if not Z_RE.match(value) or value[-1] == "0":
        # A key ending in 0 has no key between it and its prefix (SPEC M7).
        fail("z must be a base-62 fractional index key not ending in 0")
    return value  # type: ignore[no-any-return]


def check_field(name: str, value: Any, limits: Limits) -> Any:
    """Check one register value by its field name."""
    if name == "x" or name == "y":
        return check_number(value, name, limits.max_coordinate)
    if name == "geom":
        return check_geom(value, limits)
    if name == "style":
        return check_style(value, limits)
    if name == "z":
        return check_z(value, limits)
    if name == "inspired_by":
        return check_inspired_by(value, limits)
    if name == "remixable" or name == "deleted":
        return check_bool(value, name)
    if name == "kind":
        if value not in KINDS:
            fail(f"kind must be one of {', '.join(KINDS)}")
        return value
    if name == "origin":
        if value not in ORIGINS:
            fail("origin must be 'organic' or 'ai'")
        return value
    if name == "group" or name == "start" or name == "end":
        # None: no group, or a loose end (SPEC M13, M14).
        return None if value is None else check_id(value, name, limits)
    if name == "author":
        if value == "":
            return value
        return check_id(value, "author", limits)
    fail(f"unknown field {name!r}")


_OP_KEYS_FIELDS = frozenset({"t", "id", "s", "f"})
_OP_KEYS_BARE = frozenset({"t", "id", "s"})
_CREATE_DEFAULTS: dict[str, Any] = {
    "author": "",
    "origin": "organic",
    "x": 0,
    "y": 0,
    "style": {},
    "inspired_by": [],
    "remixable": False,
}


def check_op(value: Any, limits: Limits) -> Op:
    """Validate one wire op into an :class:`Op`."""
    d = check_dict(value, "op")
    t = d.get("t")
    if t == "c" or t == "s":
        check_keys(d, _OP_KEYS_FIELDS, "op")
    elif t == "d" or t == "r":
        check_keys(d, _OP_KEYS_BARE, "op")
    else:
        fail("op t must be one of c, s, d, r")
    if "id" not in d or "s" not in d:
        fail("op needs id and s")
    # The checks of check_id and check_stamp written out for the valid case (every op passes
    # here); whatever fails them goes through them, for their error.
    fid, s = d["id"], d["s"]
    n = limits.max_id_len
    if type(fid) is not str or not 1 <= len(fid) <= n or not ID_RE.match(fid):
        check_id(fid, "op id", limits)
    if (
        type(s) is list
        and len(s) == 2
        and type(s[0]) is int
        and 1 <= s[0] <= MAX_COUNTER
        and type(s[1]) is str
        and 1 <= len(s[1]) <= n
        and ID_RE.match(s[1])
    ):
        stamp = Stamp(s[0], s[1])
    else:
        stamp = check_stamp(s, limits)
    if t == "d":
        return Op("d", fid, stamp, {"deleted": True})
    if t == "r":
        return Op("r", fid, stamp, {"deleted": False})
    fields = check_dict(d.get("f"), "op f")
    if t == "s":
        if not fields:
            fail("a set op must write at least one field")
        for name, v in fields.items():
            if name not in SETTABLE:
                fail(f"field {name!r} cannot be set (settable: {', '.join(sorted(SETTABLE))})")
            check_field(name, v, limits)
        return Op("s", fid, stamp, fields)
    return Op("c", fid, stamp, check_create_fields(fields, limits))


def check_create_fields(fields: dict[str, Any], limits: Limits) -> dict[str, Any]:
    """Check a create's fields and fill in the defaults, so every register is written."""
    for required in ("kind", "geom", "z"):
        if required not in fields:
            fail(f"a create op needs {required}")
    if fields.get("deleted", False) is not False:
        fail("a create op writes deleted = false")
    out: dict[str, Any] = {}
    for name, v in fields.items():
        out[name] = check_field(name, v, limits)
    check_geom_kind(out["geom"], out["kind"])
    for name, default in _CREATE_DEFAULTS.items():
        if name not in out:
            out[name] = default.copy() if isinstance(default, (dict, list)) else default
    out["deleted"] = False
    return out


def check_ops(value: Any, limits: Limits) -> list[Op]:
    """Validate a batch of wire ops."""
    _check_batch(value, limits)
    return [check_op(v, limits) for v in value]


@dataclass(frozen=True, slots=True)
class InvalidOp:
    """An op of a client batch that broke a field rule but names its stamp and id (SPEC W10a)."""

    stamp: Stamp
    id: str
    code: ErrorCode
    reason: str


def check_client_ops(value: Any, limits: Limits) -> tuple[list[Op], list[InvalidOp]]:
    """Validate a client batch op by op (SPEC W10a).

    An op that breaks a rule but whose ``s`` and ``id`` are readable is returned
    as an :class:`InvalidOp`, to be rejected alone; the rest of the batch stands.
    An op whose stamp or id cannot be read cannot be answered by a reject, so
    it makes the whole message invalid (:class:`DecodeError`, nothing applied).
    """
    _check_batch(value, limits)
    valid: list[Op] = []
    invalid: list[InvalidOp] = []
    for i, item in enumerate(value):
        try:
            valid.append(check_op(item, limits))
        except DecodeError as exc:
            try:
                d = check_dict(item, "op")
                stamp = check_stamp(d.get("s"), limits)
                fid = check_id(d.get("id"), "op id", limits)
            except DecodeError:
                raise DecodeError(exc.code, f"op {i}: {exc.reason}") from None
            invalid.append(InvalidOp(stamp, fid, exc.code, exc.reason))
    return valid, invalid


def _check_batch(value: Any, limits: Limits) -> None:
    if type(value) is not list:
        fail("ops must be a list")
    if not 1 <= len(value) <= limits.max_ops_per_batch:
        fail(
            f"a batch holds 1..{limits.max_ops_per_batch} ops", ErrorCode.TOO_LARGE if value else ErrorCode.BAD_MESSAGE
        )
