"""Hypothesis strategies and helpers shared by the protocol tests.

Every generated op is a valid wire op (it passes ``check_op``), so the same
scripts drive the merge layer directly and through both codecs.
"""

from __future__ import annotations

import random
from collections.abc import Iterable, Sequence
from typing import Any

from hypothesis import strategies as st

from dreamloom.protocol import DEFAULT_LIMITS, Clock, Op, Stamp, Tapestry, ops
from dreamloom.protocol.canon import canon, pack
from dreamloom.protocol.ops import KINDS

REPLICAS = ("r0", "r1", "r2", "r3", "r4")
IDS = tuple(f"f{i}" for i in range(10))
KIND_OF = {fid: KINDS[i % len(KINDS)] for i, fid in enumerate(IDS)}
SETTABLE_FIELDS = ("x", "y", "geom", "style", "z", "inspired_by", "remixable")

numbers = st.one_of(
    st.integers(-1000, 1000),
    st.floats(-1e6, 1e6, allow_nan=False, allow_infinity=False),
    st.sampled_from([1.0, 1, 0, 0.0, -0.0, 2.5, -7.0]),
)
positive = st.one_of(st.integers(1, 500), st.floats(0.5, 500.0), st.sampled_from([12.0, 16]))
colors = st.sampled_from(["#000000", "#ff8800", "#FF8800", "#a1b2c3d4", "#ffffff00"])
z_keys = st.from_regex(r"[0-9A-Za-z]{0,4}[1-9A-Za-z]", fullmatch=True)
texts = st.text(max_size=24)
symbols = st.sampled_from(["moon", "eye", "key", "door", "spiral", "wave_2"])


def geoms(kind: str) -> st.SearchStrategy[dict[str, Any]]:
    rot: dict[str, st.SearchStrategy[Any]] = {"rot": numbers}
    if kind == "stroke":
        pts = st.integers(1, 6).flatmap(lambda n: st.lists(numbers, min_size=2 * n, max_size=2 * n))
        return st.fixed_dictionaries({"pts": pts}, optional=rot)
    if kind == "shape":
        shape = st.sampled_from(["rect", "ellipse", "line", "arrow"])
        return st.fixed_dictionaries({"shape": shape, "w": numbers, "h": numbers}, optional=rot)
    if kind == "symbol":
        return st.fixed_dictionaries({"sym": symbols, "size": positive}, optional=rot)
    return st.fixed_dictionaries({"text": texts, "size": positive}, optional=rot)


styles = st.fixed_dictionaries(
    {},
    optional={
        "color": colors,
        "fill": st.one_of(colors, st.just("none")),
        "width": st.one_of(st.integers(0, 20), st.floats(0, 200)),
        "opacity": st.one_of(st.sampled_from([0, 1, 0.5, 1.0]), st.floats(0, 1)),
    },
)


def field_values(kind: str) -> dict[str, st.SearchStrategy[Any]]:
    return {
        "x": numbers,
        "y": numbers,
        "geom": geoms(kind),
        "style": styles,
        "z": z_keys,
        "inspired_by": st.lists(st.sampled_from(IDS), max_size=3, unique=True),
        "remixable": st.booleans(),
    }


@st.composite
def rich_actions(draw: st.DrawFn) -> tuple[Any, ...]:
    """One step of a script with freely generated values: (replica index, verb, fragment id, payload)."""
    replica = draw(st.integers(0, len(REPLICAS) - 1))
    fid = draw(st.sampled_from(IDS))
    kind = KIND_OF[fid]
    verb = draw(st.sampled_from(["c", "c", "s", "s", "s", "s", "d", "r", "sync", "forge"]))
    payload: Any = None
    if verb == "c":
        payload = {
            "geom": draw(geoms(kind)),
            "z": draw(z_keys),
            "x": draw(numbers),
            "y": draw(numbers),
            "style": draw(styles),
            "origin": draw(st.sampled_from(["organic", "ai"])),
            "remixable": draw(st.booleans()),
        }
    elif verb in ("s", "forge"):
        names = draw(st.lists(st.sampled_from(SETTABLE_FIELDS), min_size=1, max_size=3, unique=True))
        values = field_values(kind)
        payload = {name: draw(values[name]) for name in names}
    elif verb == "sync":
        payload = draw(st.integers(0, 10_000))
    return (replica, verb, fid, payload)


# -- cheap scripts: one draw per value, from pools built once with a fixed seed ----------
_R = random.Random(20240611)
_TEXTS = ["", "dream", "夢の糸", "🌙✨", "cafe\u0301", "𝔡𝔯𝔢𝔞𝔪", "a" * 40, "línea\nnueva", "\u0000nul"]
NUMBER_POOL: list[Any] = [0, 0.0, -0.0, 1, 1.0, -1, 2.5, -7.0, 1e9, -1e9, 0.1, 1 / 3, 123456.789, 999_999_999, 5e-324]
NUMBER_POOL += [_R.randint(-1000, 1000) for _ in range(10)] + [_R.uniform(-1e4, 1e4) for _ in range(10)]


def _num() -> Any:
    return _R.choice(NUMBER_POOL)


def _geom_of(kind: str) -> dict[str, Any]:
    if kind == "stroke":
        g: dict[str, Any] = {"pts": [_num() for _ in range(2 * _R.randint(1, 5))]}
    elif kind == "shape":
        g = {"shape": _R.choice(["rect", "ellipse", "line", "arrow"]), "w": _num(), "h": _num()}
    elif kind == "symbol":
        g = {"sym": _R.choice(["moon", "eye", "key", "wave_2"]), "size": _R.choice([1, 12.0, 40.5, 1e9])}
    else:
        g = {"text": _R.choice(_TEXTS), "size": _R.choice([16, 16.0, 9.5])}
    if _R.random() < 0.3:
        g["rot"] = _R.choice([0, 0.0, 3.14159, -1.5])
    return g


def _style() -> dict[str, Any]:
    full = {
        "color": _R.choice(["#000000", "#ff8800", "#FF8800", "#a1b2c3d4"]),
        "fill": _R.choice(["none", "#ffffff00"]),
        "width": _R.choice([0, 1, 1.0, 2.5, 200]),
        "opacity": _R.choice([0, 0.5, 1, 1.0]),
    }
    return {k: v for k, v in full.items() if _R.random() < 0.6}


GEOM_POOL = {kind: [_geom_of(kind) for _ in range(12)] for kind in KINDS}
STYLE_POOL = [_style() for _ in range(12)]
Z_POOL = ["V", "W", "Vk", "a1", "z", "1", "VVV", "0V", "Zz"]
VALUE_POOL: dict[str, list[Any]] = {
    "x": NUMBER_POOL,
    "y": NUMBER_POOL,
    "style": STYLE_POOL,
    "z": Z_POOL,
    "inspired_by": [[], ["f1"], ["f2", "f9"], ["f0", "f1", "f2"]],
    "remixable": [True, False],
}


def _set_payload(kind: str, names: list[str], picks: list[int]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name, pick in zip(names, picks, strict=True):
        pool = GEOM_POOL[kind] if name == "geom" else VALUE_POOL[name]
        out[name] = pool[pick % len(pool)]
    return out


_VERBS = ("c", "s", "d", "r", "sync", "forge", "c", "s", "s", "s")


def _action(code: int) -> tuple[Any, ...]:
    """Decode one integer into a script step (one draw per step keeps thousands of ops cheap;
    shrinking towards 0 still means fewer replicas, ids and field kinds)."""
    code, replica = divmod(code, len(REPLICAS))
    code, fid_i = divmod(code, len(IDS))
    code, verb_i = divmod(code, len(_VERBS))
    code, n_names = divmod(code, 2)
    code, name1 = divmod(code, len(SETTABLE_FIELDS))
    code, name2 = divmod(code, len(SETTABLE_FIELDS))
    pick, pick2 = divmod(code, 1 << 12)
    fid, verb = IDS[fid_i], _VERBS[verb_i]
    kind = KIND_OF[fid]
    payload: Any = None
    if verb == "c":
        payload = {
            "geom": GEOM_POOL[kind][pick % 12],
            "z": Z_POOL[pick % len(Z_POOL)],
            "x": NUMBER_POOL[pick2 % len(NUMBER_POOL)],
            "style": STYLE_POOL[pick2 % 12],
            "origin": ("organic", "ai")[(pick // 7) % 2],
        }
    elif verb in ("s", "forge"):
        names = [SETTABLE_FIELDS[name1]]
        if n_names and name2 != name1:
            names.append(SETTABLE_FIELDS[name2])
        payload = _set_payload(kind, names, [pick, pick2][: len(names)])
    elif verb == "sync":
        payload = pick
    return (replica, verb, fid, payload)


actions = st.integers(0, 2**48).map(_action)


def build_ops(script: Sequence[tuple[Any, ...]]) -> list[Op]:
    """Turn a script into ops stamped by per-replica Lamport clocks.

    ``sync`` makes a replica observe an earlier op (so later writes are causally
    after it); without it, replicas write concurrently. ``forge`` reuses an
    earlier stamp with other values, as only a misbehaving client could (M4).
    """
    clocks = [Clock(r) for r in REPLICAS]
    out: list[Op] = []
    for replica, verb, fid, payload in script:
        clock = clocks[replica]
        if verb == "sync":
            if out:
                clock.observe(out[payload % len(out)].stamp)
            continue
        if verb == "forge":
            if not out:
                continue
            out.append(ops.set_fields(fid, out[-1].stamp, **payload))
            continue
        stamp = clock.tick()
        if verb == "c":
            out.append(ops.create(fid, stamp, kind=KIND_OF[fid], author=REPLICAS[replica], **payload))  # type: ignore[arg-type]
        elif verb == "s":
            out.append(ops.set_fields(fid, stamp, **payload))
        elif verb == "d":
            out.append(ops.delete(fid, stamp))
        else:
            out.append(ops.restore(fid, stamp))
    return out


def scripts(min_size: int = 1, max_size: int = 60, rich: bool = False) -> st.SearchStrategy[list[tuple[Any, ...]]]:
    return st.lists(rich_actions() if rich else actions, min_size=min_size, max_size=max_size)


def delivery(rng: random.Random, log: Sequence[Op], dup_rate: float = 0.2) -> list[Op]:
    """One replica's delivery: every op at least once, in a random order, with duplicates."""
    order = list(log)
    rng.shuffle(order)
    for op in log:
        if rng.random() < dup_rate:
            order.insert(rng.randint(0, len(order)), op)
    return order


def replay(log: Iterable[Op], initial: Tapestry | None = None) -> Tapestry:
    t = initial.copy() if initial is not None else Tapestry()
    for op in log:
        t.apply(op)
    return t


def recount(t: Tapestry) -> dict[str, int]:
    counts = {"organic": 0, "ai": 0}
    for frag in t.fragments():
        counts[frag.origin] += 1
    return counts


def oracle(log: Iterable[Op]) -> list[Any]:
    """The expected canonical structure, computed the slow obvious way (M3, M4, M6, M9):
    each register holds the write with the greatest (stamp, canonical bytes)."""
    best: dict[str, dict[str, tuple[Stamp, bytes, Any]]] = {}
    for op in log:
        regs = best.setdefault(op.id, {})
        for name, value in op.fields.items():
            cand = (op.stamp, pack(value), value)
            cur = regs.get(name)
            if cur is None or cand[:2] > cur[:2]:
                regs[name] = cand
    return [
        [fid, {f: [regs[f][0][0], regs[f][0][1], canon(regs[f][2])] for f in sorted(regs)}]
        for fid, regs in sorted(best.items())
        if regs
    ]


LIMITS = DEFAULT_LIMITS
