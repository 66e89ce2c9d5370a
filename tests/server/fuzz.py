"""Random ops for server tests: creates, conflicting sets of shared fragments, deletes, restores."""

from __future__ import annotations

import os
import random
from typing import Any

from wire import WireClient

from dreamloom.protocol import Op, ops

KIND_GEOMS = ("stroke", "shape", "symbol", "text")
_Z = "123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"


def seed() -> int:
    """The seed of a randomised test: ``DREAMLOOM_TEST_SEED`` replays a failure."""
    raw = os.environ.get("DREAMLOOM_TEST_SEED")
    return int(raw) if raw else random.SystemRandom().randrange(2**32)


def geom(rng: random.Random, kind: str) -> dict[str, Any]:
    if kind == "stroke":
        return {"pts": [round(rng.uniform(-50, 50), 2) for _ in range(2 * rng.randint(1, 6))]}
    if kind == "shape":
        return {"shape": rng.choice(("rect", "ellipse", "line", "arrow")), "w": rng.randint(1, 90), "h": 7.5}
    if kind == "symbol":
        return {"sym": rng.choice(("moon", "sun", "key", "door")), "size": rng.randint(8, 80)}
    return {"text": rng.choice(("", "a dream", "über", "🌙 tide")), "size": 12, "rot": rng.uniform(-3, 3)}


def style(rng: random.Random) -> dict[str, Any]:
    out: dict[str, Any] = {"color": f"#{rng.randrange(2**24):06x}"}
    if rng.random() < 0.5:
        out["opacity"] = rng.choice((0, 0.5, 1, 0.25))
    if rng.random() < 0.3:
        out["width"] = rng.randint(0, 20)
    return out


def z(rng: random.Random) -> str:
    return "".join(rng.choice(_Z + "0") for _ in range(rng.randint(0, 2))) + rng.choice(_Z)


def create(rng: random.Random, client: WireClient, fid: str, kind: str | None = None) -> Op:
    kind = kind or rng.choice(KIND_GEOMS)
    return ops.create(
        fid,
        client.stamp(),
        kind=kind,  # type: ignore[arg-type]
        geom=geom(rng, kind),
        z=z(rng),
        x=rng.uniform(-500, 500),
        y=rng.randint(-500, 500),
        style=style(rng),
        remixable=rng.random() < 0.5,
    )


class RandomWriter:
    """Makes random valid ops for one client, over shared fragments (id -> kind) and its own."""

    def __init__(self, rng: random.Random, client: WireClient, shared: dict[str, str]) -> None:
        self.rng = rng
        self.client = client
        self.shared = shared
        self.own: dict[str, str] = {}

    def op(self) -> Op:
        rng, c = self.rng, self.client
        roll = rng.random()
        pool = self.shared if not self.own or rng.random() < 0.75 else self.own
        fid = rng.choice(sorted(pool))
        if roll < 0.2:
            new = f"{c.replica}-{len(self.own)}"
            op = create(rng, c, new)
            self.own[new] = op.fields["kind"]
            return op
        if roll < 0.8:
            fields: dict[str, Any] = {}
            names = ["x", "y", "style", "z", "geom", "inspired_by"]
            if pool is self.own:
                names.append("remixable")  # consent is its author's to give (P: consent)
            for name in rng.sample(names, rng.randint(1, 3)):
                if name in ("x", "y"):
                    fields[name] = rng.choice((rng.uniform(-900, 900), rng.randint(-9, 9)))
                elif name == "style":
                    fields[name] = style(rng)
                elif name == "z":
                    fields[name] = z(rng)
                elif name == "geom":
                    fields[name] = geom(rng, pool[fid])
                elif name == "remixable":
                    fields[name] = rng.random() < 0.5
                else:
                    fields[name] = rng.sample(sorted(self.shared), rng.randint(0, 2))
            return c.set(fid, **fields)
        if roll < 0.9:
            return c.delete(fid)
        return c.restore(fid)
