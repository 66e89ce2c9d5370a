"""CPU per op that the machine's load does not distort: instructions counted by callgrind.

``fanout.py`` measures CPU seconds, which move with the load of a shared machine (caches,
preemption, how many ops happen to share a frame). This runs each server under
``valgrind --tool=callgrind`` with a small fixed workload, slow enough that every op goes
out alone (the quiet case, where per-op overheads weigh most), and counts the
instructions of the whole process (every thread) between two points:

1. after the clients joined and a warm-up level, the counters are zeroed;
2. a level of ``--rate`` ops/s per writer for ``--duration`` seconds runs and drains;
3. the counters are dumped.

The same window with no ops at all (``idle``) is counted too: what timers cost per second
(presence ticks, heartbeats, the loop-lag probe) is subtracted. Run it at two client counts
to split an op's cost into a fixed part and a part per receiving connection:

    .venv/bin/python bench/opcost.py --clients 20
    .venv/bin/python bench/opcost.py --clients 40

Needs valgrind; each run takes about a minute (the server runs some 50x slower).
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from fanout import Child, free_port, server_command, wait_listening
from serving import ROOT

WARMUP_SECONDS = 3.0


def count(kind: str, clients: int, writers: int, rate: int, duration: float, idle: bool) -> tuple[int, int]:
    """(instructions in the measured window, ops sent in it) of one server run under callgrind."""
    with tempfile.TemporaryDirectory(prefix="dreamloom-opcost-") as tmp_name:
        tmp = Path(tmp_name)
        port = free_port()
        out = tmp / "callgrind.out"
        valgrind = ["valgrind", "--tool=callgrind", f"--callgrind-out-file={out}.%p", "--dump-instr=no"]
        log = (tmp / "server.log").open("wb")
        server = subprocess.Popen(valgrind + server_command(kind, port, tmp / "data"), stdout=log, stderr=log, cwd=ROOT)
        child: Child | None = None
        try:
            wait_listening(port, server, timeout=600)
            epoch = time.monotonic()
            args = ["--url", f"ws://127.0.0.1:{port}/ws/bench-opcost", "--server", kind]
            args += ["--first-client", "0", "--clients", str(clients), "--total-clients", str(clients)]
            args += ["--writers", str(writers), "--epoch", repr(epoch), "--outdir", str(tmp), "--tag", kind]
            child = Child(args, log)
            child.expect("ready", 600)

            def level(index: int, seconds: float) -> int:
                assert child is not None
                start = time.monotonic() + 0.3
                child.send({"cmd": "level", "index": index, "rate": rate, "start": start, "duration": seconds})
                sent = int(child.expect("sent", seconds + 600)["sent"])
                child.send({"cmd": "drain", "index": index, "expected": sent, "timeout": 120})
                report = child.expect("level", 300)
                if sum(report["received"]) != sent * clients:
                    raise RuntimeError(f"{kind}: not every op reached every client")
                return sent

            level(0, WARMUP_SECONDS)
            time.sleep(1.0)
            subprocess.run(["callgrind_control", "--zero", str(server.pid)], check=True, capture_output=True)
            if idle:
                time.sleep(duration + 1.0)
                sent = 0
            else:
                sent = level(1, duration)
            subprocess.run(["callgrind_control", "--dump=measured", str(server.pid)], check=True, capture_output=True)
        finally:
            if child is not None:
                child.close()
            server.terminate()
            try:
                server.wait(120)
            except subprocess.TimeoutExpired:
                server.kill()
                server.wait(10)
            log.close()
        for path in tmp.glob("callgrind.out.*"):
            text = path.read_text(errors="ignore")
            if "measured" not in text[:4000]:
                continue
            for line in text.splitlines():
                if line.startswith(("summary:", "totals:")):
                    return int(line.split()[1]), sent
        raise RuntimeError(f"{kind}: no callgrind dump found")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--clients", type=int, default=20)
    ap.add_argument("--writers", type=int, default=4)
    ap.add_argument("--rate", type=int, default=2, help="ops/s per writer (each op must go out alone)")
    ap.add_argument("--duration", type=float, default=10.0)
    ap.add_argument("--only", choices=("dreamloom", "baseline"))
    args = ap.parse_args()
    kinds = (args.only,) if args.only else ("dreamloom", "baseline")
    print(f"{args.clients} clients, {args.writers} writing {args.rate} ops/s each for {args.duration:g} s")
    for kind in kinds:
        busy, sent = count(kind, args.clients, args.writers, args.rate, args.duration, idle=False)
        quiet, _ = count(kind, args.clients, args.writers, args.rate, args.duration, idle=True)
        per_op = (busy - quiet) / sent
        print(
            f"{kind:9}  {sent} ops  {busy:,} instructions ({quiet:,} idle)  "
            f"{per_op:,.0f} per op  {per_op / args.clients:,.0f} per delivery",
            flush=True,
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
