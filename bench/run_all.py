"""Run every benchmark and print its table: ``make bench`` (add ``--quick`` for a short run).

Each benchmark is a module of this folder with ``main(quick: bool = False) -> list[dict]``:
``merge`` (the merge layer), ``zkeys`` (z key lengths after 100,000 inserts), ``fanout`` (one
sanctuary, 50 clients, against a naive broadcast server), ``cluster`` (the same on 1, 2 and 3
nodes on PostgreSQL and Redis) and,
when present, ``browser``, ``bigtapestry`` (100,000 fragments: fill rate by tenth, joins, loop
stalls) and ``bigroom`` (10, 1,000 and 5,000 connections against the naive relay); each of the last
two prints the machine's load with its row. The rows of all of them are also written to
``bench-output/all-latest.json``.
"""

from __future__ import annotations

import argparse
import importlib
import inspect
import json
import math
import sys
import time
import traceback
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent
OUTPUT = BENCH.parent / "bench-output"
BENCHMARKS = ("merge", "zkeys", "fanout", "cluster", "browser", "bigtapestry", "bigroom")


def _cell(value: Any) -> str:
    if isinstance(value, float):
        if math.isnan(value):
            return "-"
        return f"{value:,.0f}" if abs(value) >= 1000 else f"{value:.3g}"
    if isinstance(value, (list, tuple)):
        return ",".join(map(str, value)) or "-"
    return "-" if value is None else str(value)


def table(rows: list[dict[str, Any]]) -> str:
    """A plain text table of any rows: one column per key, in order of first appearance."""
    if not rows:
        return "(no rows)"
    keys: list[str] = []
    for row in rows:
        keys += [k for k in row if k not in keys]
    body = [[_cell(row.get(k)) for k in keys] for row in rows]
    widths = [max(len(k), *(len(b[i]) for b in body)) for i, k in enumerate(keys)]
    lines = ["  ".join(k.rjust(w) for k, w in zip(keys, widths, strict=True))]
    lines += ["  ".join(c.rjust(w) for c, w in zip(cells, widths, strict=True)) for cells in body]
    return "\n".join(lines)


def run(names: tuple[str, ...], quick: bool) -> int:
    sys.path.insert(0, str(BENCH))
    OUTPUT.mkdir(exist_ok=True)
    results: dict[str, Any] = {}
    modules: dict[str, Any] = {}
    failed = []
    for name in names:
        if not (BENCH / f"{name}.py").exists():
            print(f"== {name}: not present, skipped", flush=True)
            continue
        print(f"== {name}{' (quick)' if quick else ''}", flush=True)
        started = time.monotonic()
        try:
            module = importlib.import_module(name)
            # A benchmark without a short mode takes no argument.
            accepts_quick = "quick" in inspect.signature(module.main).parameters
            rows = module.main(quick=quick) if accepts_quick else module.main()
        except Exception:
            traceback.print_exc()
            failed.append(name)
            continue
        results[name] = rows
        modules[name] = module
        print(f"-- {name}: {len(rows)} rows in {time.monotonic() - started:.0f} s", flush=True)
    print("\n==== results")
    for name, rows in results.items():
        # A benchmark with its own layout (fanout's rows are wide) says so with a table() function.
        own = getattr(modules[name], "table", None)
        print(f"\n== {name}\n{own(rows) if callable(own) else table(rows)}")
    (OUTPUT / "all-latest.json").write_text(json.dumps({"quick": quick, "results": results}, indent=2, default=str))
    if failed:
        print(f"failed: {', '.join(failed)}", file=sys.stderr)
        return 1
    return 0


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description="run Dreamloom's benchmarks")
    p.add_argument("--quick", action="store_true", help="short runs (a smoke test of the benchmarks)")
    p.add_argument("names", nargs="*", help=f"benchmarks to run (default: {' '.join(BENCHMARKS)})")
    args = p.parse_args(argv)
    return run(tuple(args.names) or BENCHMARKS, args.quick)


if __name__ == "__main__":
    sys.exit(main())
