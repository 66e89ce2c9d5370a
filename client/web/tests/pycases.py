"""Random cases computed by the Python merge layer, for the JavaScript port to match.

Usage: ``python pycases.py SEED COUNT`` prints one JSON document:
``{"merge": [...], "pack": [...], "zorder": [...], "undo": [...], "colours": [...]}``. Merge cases
have the shape of ``protocol/vectors/*.json``; the others pair inputs with the
Python results. The node suite runs this and fails on any divergence.
"""

from __future__ import annotations

import json
import random
import sys
from typing import Any

from dreamloom.protocol import Clock, Op, Stamp, Tapestry, inverse, ops, zorder
from dreamloom.protocol.canon import pack
from dreamloom.server.identity import PALETTE, colour_for

REPLICAS = ("a", "b", "c", "r1", "weaver-7")
IDS = ("f1", "f2", "f3", "g:1", "h_2")
COLORS = ("#112233", "#ffaa00", "#9ad0ff80", "#000000")
FLOATS = (0.1, 1.5, -2.25, 3.0, 1e-7, 12.75, -0.0)


def number(rng: random.Random) -> float:
    choice = rng.random()
    if choice < 0.4:
        return rng.randint(-300, 70000)
    if choice < 0.7:
        return rng.choice(FLOATS)
    return round(rng.uniform(-1000, 1000), rng.randint(0, 6))


def geom(rng: random.Random, kind: str) -> dict[str, Any]:
    if kind == "stroke":
        n = rng.randint(1, 6)
        out: dict[str, Any] = {"pts": [number(rng) for _ in range(2 * n)]}
        if rng.random() < 0.3:  # a pen's pressure (SPEC W38)
            out["pressure"] = [rng.choice((0, 1, 0.5, 1.0, round(rng.random(), 3))) for _ in range(n)]
        return out
    if kind == "shape":
        return {"shape": rng.choice(("rect", "ellipse", "line", "arrow")), "w": number(rng), "h": number(rng)}
    if kind == "symbol":
        return {"sym": rng.choice(("moon", "eye", "key")), "size": abs(number(rng)) + 1}
    return {"text": rng.choice(("", "dream", "lune é", "夢 🌙", "x" * 40)), "size": 16, "rot": number(rng)}


def style(rng: random.Random) -> dict[str, Any]:
    out: dict[str, Any] = {"color": rng.choice(COLORS)}
    if rng.random() < 0.5:
        out["width"] = rng.choice((1, 2.5, 8))
    if rng.random() < 0.5:
        out["opacity"] = rng.choice((0, 0.5, 1))
    if rng.random() < 0.3:
        out["fill"] = rng.choice(("none", "#abcdef"))
    return out


def random_op(rng: random.Random, clocks: dict[str, Clock]) -> Op:
    replica = rng.choice(REPLICAS)
    clock = clocks[replica]
    # Equal stamps from different writers only come from misbehaving clients: exercise the tie-break.
    stamp = Stamp(rng.randint(1, 4), replica) if rng.random() < 0.2 else clock.tick()
    fid = rng.choice(IDS)
    t = rng.random()
    if t < 0.35:
        kind = rng.choice(("stroke", "shape", "symbol", "text"))
        return ops.create(
            fid,
            stamp,
            kind=kind,  # type: ignore[arg-type,unused-ignore]
            geom=geom(rng, kind),
            z=zorder.between(None, None, replica),
            x=number(rng),
            y=number(rng),
            style=style(rng),
            author=replica,
            origin=rng.choice(("organic", "ai")),
            inspired_by=rng.sample(IDS, rng.randint(0, 2)),
            remixable=rng.random() < 0.5,
        )
    if t < 0.75:
        fields: dict[str, Any] = {}
        names = ("x", "y", "style", "z", "remixable", "inspired_by", "group", "start", "end")
        for name in rng.sample(names, rng.randint(1, 3)):
            if name in ("group", "start", "end"):
                # Optional registers (M13, M14): an id, often another fragment's, or None.
                fields[name] = rng.choice([None, "g1", "g2", *IDS[:3]])
            elif name in ("x", "y"):
                fields[name] = number(rng)
            elif name == "style":
                fields[name] = style(rng)
            elif name == "z":
                fields[name] = zorder.after_last("V", replica)
            elif name == "remixable":
                fields[name] = rng.random() < 0.5
            else:
                fields[name] = rng.sample(IDS, rng.randint(0, 3))
        return ops.set_fields(fid, stamp, **fields)
    if t < 0.88:
        return ops.delete(fid, stamp)
    return ops.restore(fid, stamp)


def merge_case(rng: random.Random, n: int) -> dict[str, Any]:
    clocks = {r: Clock(r) for r in REPLICAS}
    base = Tapestry()
    for _ in range(rng.randint(0, 6)):
        base.apply(random_op(rng, clocks))
    batch = [random_op(rng, clocks) for _ in range(rng.randint(1, 25))]
    orders: list[list[Op]] = [list(batch)]
    for _ in range(3):
        order = list(batch) + rng.sample(batch, rng.randint(0, len(batch)))  # with duplicates
        rng.shuffle(order)
        orders.append(order)
    results = []
    for order in orders:
        t = base.copy()
        t.apply_many(order)
        results.append(t)
    expected = results[0]
    for other in results[1:]:
        assert other.encode() == expected.encode(), "the Python merge layer diverged on its own"
    return {
        "name": f"random-{n}",
        "rule": "M5",
        "description": "random ops from several replicas, applied in shuffled orders with duplicates",
        "initial": base.to_data(),
        "orders": [[op.to_wire() for op in order] for order in orders],
        "expected": expected.to_data(),
        "digest": expected.digest(),
        "live_counts": dict(expected.live_counts),
    }


def pack_value(rng: random.Random, depth: int = 0) -> Any:
    choice = rng.random()
    if depth < 2 and choice < 0.15:
        return [pack_value(rng, depth + 1) for _ in range(rng.choice((0, 3, 15, 16, 20)))]
    if depth < 2 and choice < 0.3:
        return {f"k{rng.randint(0, 40)}": pack_value(rng, depth + 1) for _ in range(rng.choice((0, 2, 15, 17)))}
    if choice < 0.6:
        bound = rng.choice((31, 127, 128, 255, 256, 65535, 65536, 2**32 - 1, 2**32, 2**53 - 1))
        return rng.randint(-bound, bound)
    if choice < 0.75:
        return rng.choice((*FLOATS, 1e20, -1e300, 2.0**53, 0.5, float(2**52 + 1)))
    if choice < 0.9:
        return rng.choice(("", "a" * 31, "b" * 32, "c" * 255, "d" * 256, "é" * 40000, "夢🌙"))
    return rng.choice((None, True, False))


def zorder_case(rng: random.Random) -> dict[str, Any]:
    keys: list[str | None] = [None]
    for _ in range(rng.randint(1, 6)):
        a = rng.choice(keys)
        bigger = sorted(k for k in keys if k is not None and (a is None or k > a))
        b = bigger[0] if bigger and rng.random() < 0.7 else None
        replica = rng.choice((None, *REPLICAS))
        keys.append(zorder.between(a, b, replica))
    a = rng.choice(keys)
    bigger = sorted(k for k in keys if k is not None and (a is None or k > a))
    b = bigger[0] if bigger else None
    replica = rng.choice((None, *REPLICAS))
    return {"a": a, "b": b, "replica": replica, "key": zorder.between(a, b, replica)}


def undo_case(rng: random.Random) -> dict[str, Any]:
    clocks = {r: Clock(r) for r in REPLICAS}
    t = Tapestry()
    applied = []
    for _ in range(rng.randint(2, 14)):
        op = random_op(rng, clocks)
        change = t.apply(op)
        applied.append((op, change))
    index = rng.randrange(len(applied))
    target, change = applied[index]
    before = change.before if change is not None else {}
    clock = Clock("undoer", t.max_counter)
    inv = inverse(target, before, t, clock)
    return {
        "ops": [op.to_wire() for op, _ in applied],
        "target": index,
        "inverse": [op.to_wire() for op in inv],
    }


def colour_case(rng: random.Random) -> dict[str, Any]:
    """A presence colour (SPEC W11a): an identity id and the colours taken around it."""
    key = rng.choice(["guest-", "steward-", "w-", "夢-"]) + f"{rng.getrandbits(40):x}"
    taken = rng.sample(PALETTE, rng.choice([0, 1, 3, len(PALETTE) - 1, len(PALETTE)]))
    if len(taken) == len(PALETTE) and rng.random() < 0.5:
        taken.append(colour_for(key, taken))  # the first colour past the palette is taken too
    return {"key": key, "taken": taken, "colour": colour_for(key, taken), "palette": list(PALETTE)}


def main(argv: list[str]) -> int:
    seed, count = int(argv[0]), int(argv[1])
    rng = random.Random(seed)
    out = {
        "merge": [merge_case(rng, i) for i in range(count)],
        "pack": [{"value": v, "hex": pack(v).hex()} for v in (pack_value(rng) for _ in range(count * 2))],
        "zorder": [zorder_case(rng) for _ in range(count)],
        "undo": [undo_case(rng) for _ in range(count)],
        "colours": [colour_case(rng) for _ in range(count)],
    }
    json.dump(out, sys.stdout, ensure_ascii=False)
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
