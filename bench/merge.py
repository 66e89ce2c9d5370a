"""Merge and codec throughput of protocol/ (``python bench/merge.py``).

Rows:

- ``apply``: ops applied per second on a tapestry already holding 100,000
  fragments, workload 60% create, 30% set (two fields), 10% delete. The
  long-lived state is moved out of the collector's young generations first
  (``gc.freeze()``), as a server does after loading a sanctuary.
- ``encode+decode``: one 100-op ``ops`` batch encoded by the server side and
  decoded (validated) by a client, per codec: batches/s and ops/s.

Rates are per CPU second of this process (``time.process_time``), the best of
several rounds: on a shared machine, wall-clock time measures the neighbours.
"""

from __future__ import annotations

import gc
import random
import time
from typing import Any

from dreamloom.protocol import JsonCodec, MsgpackCodec, Op, Ops, Stamp, Tapestry, ops

BASE_FRAGMENTS = 100_000
WORK_OPS = 100_000
BATCH = 100
ROUNDS = 5


def _create(fid: str, stamp: Stamp, rng: random.Random) -> Op:
    kind = rng.choice(("stroke", "symbol"))
    geom: dict[str, Any] = (
        {"pts": [rng.randint(0, 500) for _ in range(16)]} if kind == "stroke" else {"sym": "moon", "size": 24}
    )
    return ops.create(
        fid,
        stamp,
        kind=kind,
        geom=geom,
        z="V",
        x=rng.uniform(0, 2000),
        y=rng.uniform(0, 2000),
        style={"color": "#3a1f5d", "width": 2},
        author="u1",
    )


def workload(seed: int = 1) -> tuple[list[Op], list[Op]]:
    """The base tapestry's creates and the measured ops (60% create, 30% set, 10% delete)."""
    rng = random.Random(seed)
    base = [_create(f"f{i}", Stamp(i + 1, "seed"), rng) for i in range(BASE_FRAGMENTS)]
    work: list[Op] = []
    counter, next_id = BASE_FRAGMENTS, BASE_FRAGMENTS
    for _ in range(WORK_OPS):
        counter += 1
        stamp = Stamp(counter, rng.choice(("r1", "r2", "r3")))
        roll = rng.random()
        if roll < 0.6:
            work.append(_create(f"f{next_id}", stamp, rng))
            next_id += 1
        elif roll < 0.9:
            work.append(ops.set_fields(f"f{rng.randrange(next_id)}", stamp, x=rng.uniform(0, 2000), y=12.5))
        else:
            work.append(ops.delete(f"f{rng.randrange(next_id)}", stamp))
    return base, work


def bench_apply() -> dict[str, Any]:
    base, work = workload()
    best = 0.0
    for _ in range(ROUNDS):
        t = Tapestry()
        for op in base:
            t.apply(op)
        gc.collect()
        gc.freeze()
        apply = t.apply
        start = time.process_time()
        for op in work:
            apply(op)
        elapsed = time.process_time() - start
        gc.unfreeze()
        best = max(best, len(work) / elapsed)
    return {
        "bench": "apply",
        "codec": "-",
        "detail": f"{BASE_FRAGMENTS:,} fragments, 60/30/10 create/set/delete",
        "per_s": round(best),
        "ops_per_s": round(best),
    }


def bench_codec(codec: MsgpackCodec | JsonCodec) -> dict[str, Any]:
    _, work = workload(seed=2)
    batch = Ops(tuple(work[:BATCH]), seq=1)
    n = 300
    best = 0.0
    for _ in range(ROUNDS):
        start = time.process_time()
        for _ in range(n):
            codec.decode_server(codec.encode(batch))
        best = max(best, n / (time.process_time() - start))
    return {
        "bench": "encode+decode",
        "codec": codec.name,
        "detail": f"{BATCH}-op batch, {len(codec.encode(batch)):,} bytes",
        "per_s": round(best),
        "ops_per_s": round(best * BATCH),
    }


def main() -> list[dict[str, Any]]:
    """Run every benchmark and return one row per figure (``bench/run_all.py`` collects them)."""
    return [bench_apply(), bench_codec(MsgpackCodec()), bench_codec(JsonCodec())]


def print_table(rows: list[dict[str, Any]]) -> None:
    header = f"{'bench':<14} {'codec':<21} {'per second':>12} {'ops/s':>12}  detail"
    print(header)
    print("-" * len(header))
    for row in rows:
        print(f"{row['bench']:<14} {row['codec']:<21} {row['per_s']:>12,} {row['ops_per_s']:>12,}  {row['detail']}")


if __name__ == "__main__":
    print_table(main())
