"""z keys (SPEC M7): how long keys get after 100,000 inserts at one kind of spot.

Each row starts from one fragment and inserts 100,000 keys with the protocol's own
``zorder.between``, each by one of four replicas (or untagged): on top, at the bottom,
between random neighbours, just above one fragment, just below one fragment, a mix of
these, and on top of a tapestry whose keys were written before integer cells. The
columns are the longest key, the 99th percentile and the mean, in characters; the
limit is 128 (W-limits). Lengths only: the figures do not depend on the load.

Run: ``python bench/run_all.py zkeys`` (``--quick`` for 10,000 inserts).
"""

from __future__ import annotations

import bisect
import random
import statistics
from typing import Any

from dreamloom.protocol import zorder

REPLICAS = ("r-ana", "r-ben", "weaver-1", "guest-7f3a", None)


def _spot(pattern: str, order: list[str], fixed: str, rng: random.Random) -> int:
    if pattern == "mixed":
        pattern = rng.choices(("top", "bottom", "random", "above", "below"), (3, 1, 4, 1, 1))[0]
    return {
        "top": lambda: len(order),
        "bottom": lambda: 0,
        "random": lambda: rng.randrange(len(order) + 1),
        "above": lambda: bisect.bisect_right(order, fixed),
        "below": lambda: bisect.bisect_left(order, fixed),
    }[pattern]()


def run(pattern: str, n: int, start: list[str], seed: int = 1) -> dict[str, Any]:
    rng = random.Random(seed)
    order = sorted(start)
    fixed = order[len(order) // 2]
    lengths = []
    for _ in range(n):
        i = _spot(pattern, order, fixed, rng)
        lo, hi = (order[i - 1] if i else None), (order[i] if i < len(order) else None)
        key = zorder.between(lo, hi, rng.choice(REPLICAS))
        order.insert(i, key)
        lengths.append(len(key))
    lengths.sort()
    return {
        "pattern": pattern,
        "start": "older keys" if len(start) > 1 else start[0],
        "inserts": n,
        "max_len": lengths[-1],
        "p99_len": lengths[int(len(lengths) * 0.99)],
        "mean_len": statistics.fmean(lengths),
    }


def main(quick: bool = False) -> list[dict[str, Any]]:
    n = 10_000 if quick else 100_000
    rows = [run(p, n, [zorder.FIRST]) for p in ("top", "bottom", "random", "above", "below", "mixed")]
    # A tapestry from before integer cells: keys stepped one digit at a time up to long z runs.
    older = ["0z", "U", "V", "VVk3Q", "W1ab", "kx", "zzzV", "zzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzV7Q1"]
    rows += [run(p, n, older) for p in ("top", "bottom", "mixed")]
    return rows


if __name__ == "__main__":
    import sys

    from run_all import table

    print(table(main(quick="--quick" in sys.argv)))
