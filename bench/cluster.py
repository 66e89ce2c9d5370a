"""Cluster fan-out benchmark: the fan-out workload on 1, 2 and 3 nodes, clients spread over them.

The same 50 clients (10 writing) in one sanctuary as ``fanout.py``, against ``dreamloom serve``
nodes sharing PostgreSQL and Redis (SPEC B1-B9). Generator process ``p`` connects its clients to
node ``p % nodes``, so with several nodes most clients are served through the bus by the owner
(one node runs the sanctuary). The naive aiohttp relay of ``fanout.py`` runs the same load once,
and each row is also given as a ratio to it. Server CPU is the sum over the nodes (user + sys);
the CPU of PostgreSQL and Redis is not in it (they are shared services here).

Needs PostgreSQL and Redis: by default the machine's (127.0.0.1:5432, database ``test``, and
127.0.0.1:6379); ``DREAMLOOM_TEST_POSTGRES`` and ``DREAMLOOM_TEST_REDIS`` override the URLs.
Without them it says so and returns no rows.

    .venv/bin/python bench/cluster.py [--quick] [--levels 20,50] [--duration 5] [--nodes 1,2,3]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import secrets
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import IO, Any

import fanout
from fanout import OPS_LIMIT, OUTPUT, ROOT, Child, Plan, free_port, run_level, stop, wait_listening

POSTGRES = os.environ.get("DREAMLOOM_TEST_POSTGRES", "postgresql://postgres@127.0.0.1:5432/test")
REDIS = os.environ.get("DREAMLOOM_TEST_REDIS", "redis://127.0.0.1:6379/0")
LEVELS = (20, 50)
DURATION = 5.0
QUICK_DURATION = 2.0
PROCS = 3


def start_node(index: int, port: int, store: str, bus: str, data_dir: Path, log: IO[bytes]) -> subprocess.Popen[bytes]:
    cmd = [sys.executable, "-m", "dreamloom", "serve", "--host", "127.0.0.1", "--port", str(port)]
    cmd += ["--data-dir", str(data_dir), "--store", store, "--bus", bus, "--node-id", f"bench{index}"]
    cmd += ["--ops-rate", str(OPS_LIMIT), "--ops-burst", str(OPS_LIMIT), "--log-level", "WARNING"]
    return subprocess.Popen(cmd, stdout=log, stderr=log, cwd=ROOT)


async def _services(schema: str, prefix: str, drop: bool) -> None:
    """Check PostgreSQL and Redis (raising if unreachable), or drop the run's schema and keys."""
    from dreamloom.server.bus.redis import RedisBus
    from dreamloom.server.store.postgres import PostgresStore

    store = PostgresStore(f"{POSTGRES}?schema={schema}")
    bus = RedisBus(f"{REDIS}?prefix={prefix}")
    await store.open()
    await bus.open()
    try:
        if drop:
            await store.drop_schema()
            await bus.delete_all()
    finally:
        await bus.close()
        await store.close()


def run_nodes(nodes: int, plan: Plan, workdir: Path) -> list[dict[str, Any]]:
    schema, prefix = f"bench_{secrets.token_hex(4)}", f"bench-{secrets.token_hex(4)}"
    asyncio.run(_services(schema, prefix, drop=False))
    store, bus = f"{POSTGRES}?schema={schema}", f"{REDIS}?prefix={prefix}"
    log = (OUTPUT / f"cluster-{nodes}.log").open("wb")
    ports = [free_port() for _ in range(nodes)]
    servers = [start_node(i, p, store, bus, workdir / f"n{nodes}-{i}", log) for i, p in enumerate(ports)]
    children: list[Child] = []
    rows: list[dict[str, Any]] = []
    try:
        for port, server in zip(ports, servers, strict=True):
            wait_listening(port, server)
        epoch = time.monotonic()
        per = -(-plan.clients // plan.procs)
        for p in range(plan.procs):
            url = f"ws://127.0.0.1:{ports[p % nodes]}/ws/bench-cluster"
            args = ["--url", url, "--server", "dreamloom", "--first-client", str(p * per)]
            args += ["--clients", str(min(per, plan.clients - p * per)), "--total-clients", str(plan.clients)]
            args += ["--writers", str(plan.writers), "--epoch", repr(epoch), "--outdir", str(workdir)]
            children.append(Child([*args, "--tag", f"cluster{nodes}-{p}"], log))
            # The first generator's clients join first: its node owns the sanctuary.
            children[-1].expect("ready", 60)
        pids = [s.pid for s in servers]
        ladder = [(fanout.WARMUP_RATE, fanout.WARMUP_DURATION, True)] + [(r, plan.duration, False) for r in plan.levels]
        for index, (rate, duration, warmup) in enumerate(ladder):
            row = run_level("dreamloom", pids, None, children, plan, epoch, index, rate, duration)
            if not warmup:
                row["nodes"] = nodes
                rows.append(row)
                print(f"  {nodes} node(s) {rate:>4} ops/s/writer: {fanout.summary(row)}", file=sys.stderr, flush=True)
    finally:
        for child in children:
            child.close()
        for server in servers:
            stop(server)
        log.close()
        asyncio.run(_services(schema, prefix, drop=True))
    return rows


def main(
    quick: bool = False,
    *,
    levels: tuple[int, ...] = LEVELS,
    duration: float | None = None,
    node_counts: tuple[int, ...] = (1, 2, 3),
) -> list[dict[str, Any]]:
    """Run the workload on each node count and on the baseline relay; print the table; return the rows."""
    plan = Plan(levels=levels, duration=duration or (QUICK_DURATION if quick else DURATION), procs=PROCS)
    OUTPUT.mkdir(exist_ok=True)
    try:
        asyncio.run(_services("bench_probe", "bench-probe", drop=False))
    except Exception as exc:
        print(f"cluster: PostgreSQL or Redis not reachable ({exc}); skipped", file=sys.stderr)
        return []
    print(
        f"cluster fan-out: {plan.clients} clients ({plan.writers} writing), {plan.duration:g} s per level, "
        f"nodes {node_counts}",
        file=sys.stderr,
        flush=True,
    )
    rows: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="dreamloom-bench-") as tmp:
        for nodes in node_counts:
            rows += run_nodes(nodes, plan, Path(tmp))
        baseline = fanout.run_server("baseline", plan, Path(tmp))
    by_rate = {r["rate_per_writer"]: r for r in baseline}
    table = []
    for row in rows:
        base = by_rate.get(row["rate_per_writer"], {})
        cpu = row["server_cpu_s"]
        table.append(
            {
                "nodes": row["nodes"],
                "rate_per_writer": row["rate_per_writer"],
                "deliveries_per_s": row["deliveries_per_s"],
                "deliveries_per_cpu_s": row["delivered"] / cpu if cpu else float("nan"),
                "us_per_delivery": row["us_per_delivery"],
                "baseline_us_per_delivery": base.get("us_per_delivery", float("nan")),
                "cpu_ratio_to_baseline": row["us_per_delivery"] / base["us_per_delivery"] if base else float("nan"),
                "p50_ms": row["p50_ms"],
                "p99_ms": row["p99_ms"],
                "baseline_p50_ms": base.get("p50_ms", float("nan")),
                "loss_pct": row["loss_pct"],
                "seq_gaps": row["seq_gaps"],
            }
        )
    result = {"benchmark": "cluster", "time": time.time(), "quick": quick, "rows": table, "raw": rows + baseline}
    (OUTPUT / "cluster-latest.json").write_text(json.dumps(result, indent=2))
    print(render(table))
    return table


def _cell(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:,.0f}" if abs(value) >= 1000 else f"{value:.3g}"
    return str(value)


def render(rows: list[dict[str, Any]]) -> str:
    keys = list(rows[0]) if rows else []
    cells = [[_cell(v) for v in row.values()] for row in rows]
    widths = [max(len(k), *(len(c[i]) for c in cells)) for i, k in enumerate(keys)]
    lines = ["  ".join(k.rjust(w) for k, w in zip(keys, widths, strict=True))]
    lines += ["  ".join(c.rjust(w) for c, w in zip(row, widths, strict=True)) for row in cells]
    return "\n".join(lines)


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--levels", default=",".join(map(str, LEVELS)))
    ap.add_argument("--duration", type=float, default=None)
    ap.add_argument("--nodes", default="1,2,3")
    a = ap.parse_args()
    main(
        a.quick,
        levels=tuple(int(v) for v in a.levels.split(",")),
        duration=a.duration,
        node_counts=tuple(int(v) for v in a.nodes.split(",")),
    )
