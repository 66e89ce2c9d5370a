"""Fan-out benchmark: one sanctuary, 50 clients, 10 of them writing, at rising rates.

For each level (every writer at 20, 50, 75, 100 ops/s for 10 s) it reports
deliveries per second, loss (ops sent versus ops received by every client),
send-to-receive latency (p50/p95/p99/max), the server's CPU seconds (user + sys
of the server process only) per 1,000 deliveries, the server's peak RSS, and
for Dreamloom a histogram of its group-commit times (from its metrics). The
same load then runs against a naive aiohttp broadcast server
(``baseline_server.py``: relay every frame to every socket, nothing else), the
limit any relaying server pays, and Dreamloom is reported as a ratio to it.

Servers run as separate processes on free loopback ports; the clients run in
their own processes (``load_client.py``) so their CPU is never counted as the
server's. Each generator process reports its own CPU use so a generator that
cannot keep up is visible in the table (``gen``) instead of passing as server lag.

Dreamloom runs with its default store (SQLite, strict durability: every group
commit is fsynced) and with the per-connection op rate limit raised
(``--ops-rate``/``--ops-burst``) out of the way. More server flags can be given
in ``DREAMLOOM_BENCH_SERVER_ARGS`` (e.g. ``--durability relaxed``).

    .venv/bin/python bench/fanout.py [--quick] [--levels 20,50] [--duration 10] [--procs 2]
"""

from __future__ import annotations

import argparse
import array
import importlib.util
import json
import os
import platform
import select
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from serving import dreamloom_command, spawn

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
OUTPUT = ROOT / "bench-output"

LEVELS = (20, 50, 75, 100)
CLIENTS = 50
WRITERS = 10
DURATION = 10.0
QUICK_DURATION = 2.0
PROCS = 2
OPS_LIMIT = 100_000  # per-connection ops rate and burst given to the server: out of the way
CLIENT_BYTES = 1 << 30  # bytes per second of one client address (every load client shares 127.0.0.1)
WARMUP_RATE = 10
WARMUP_DURATION = 1.0

TICKS = os.sysconf("SC_CLK_TCK")
#: Extra py-spy flags, e.g. DREAMLOOM_BENCH_PYSPY="--gil" to count only samples holding the GIL.
PROFILE_FLAGS = os.environ.get("DREAMLOOM_BENCH_PYSPY", "").split()


# -- measuring a process ------------------------------------------------------
def proc_cpu(pid: int) -> tuple[float, float]:
    """(user, system) CPU seconds of a process, all its threads, from /proc."""
    data = Path(f"/proc/{pid}/stat").read_text()
    fields = data[data.rindex(")") + 2 :].split()
    return int(fields[11]) / TICKS, int(fields[12]) / TICKS


def loop_cpu(pids: list[int]) -> float:
    """CPU seconds of the processes' main threads only: the event loop, not the store's threads."""
    total = 0.0
    for p in pids:
        data = Path(f"/proc/{p}/task/{p}/stat").read_text()
        fields = data[data.rindex(")") + 2 :].split()
        total += (int(fields[11]) + int(fields[12])) / TICKS
    return total


def cpu_of(pids: list[int]) -> tuple[float, float]:
    """(user, system) CPU seconds of several processes together."""
    times = [proc_cpu(p) for p in pids]
    return sum(t[0] for t in times), sum(t[1] for t in times)


def proc_status_kb(pid: int, key: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(key + ":"):
            return int(line.split()[1])
    return 0


def machine_busy() -> tuple[float, float]:
    """(busy, total) jiffies of all CPUs since boot."""
    parts = [int(v) for v in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    total = sum(parts[:8])
    idle = parts[3] + parts[4]
    return total - idle, total


def scrape(port: int | None) -> dict[str, float]:
    """Dreamloom's Prometheus counters (summed over labels); empty for the baseline or on failure."""
    if port is None:
        return {}
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as resp:
            text = resp.read().decode()
    except OSError:
        return {}
    out: dict[str, float] = {}
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        name_labels, _, value = line.rpartition(" ")
        name = name_labels.split("{", 1)[0]
        if name.endswith("_bucket") and 'le="' in name_labels:
            name += "{le=" + name_labels.split('le="', 1)[1].split('"', 1)[0] + "}"
        out[name] = out.get(name, 0.0) + float(value)
    return out


COMMIT_BUCKET = "dreamloom_commit_latency_seconds_bucket{le="


def histogram(m0: dict[str, float], m1: dict[str, float]) -> list[tuple[str, int]]:
    """Commits per latency bucket over a level: (upper bound in ms, or '+Inf', count)."""
    bounds = sorted((float(k[len(COMMIT_BUCKET) : -1]), k) for k in m1 if k.startswith(COMMIT_BUCKET))
    out: list[tuple[str, int]] = []
    below = 0
    for bound, key in bounds:
        cumulative = int(m1[key] - m0.get(key, 0.0))
        label = "+Inf" if bound == float("inf") else f"{1000 * bound:g}"
        out.append((label, cumulative - below))
        below = cumulative
    return out


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def wait_listening(port: int, proc: subprocess.Popen[bytes], timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited with {proc.returncode} before listening")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"server did not listen on port {port} within {timeout:.0f} s")


def stop(proc: subprocess.Popen[Any], grace: float = 15.0) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(grace)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)


# -- the generator processes ---------------------------------------------------
class Child:
    """One load_client.py process, spoken to in JSON lines."""

    def __init__(self, args: list[str], log: IO[bytes]) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, str(BENCH / "load_client.py"), *args],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=log,
        )
        self._buf = b""

    def send(self, obj: dict[str, Any]) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write((json.dumps(obj) + "\n").encode())
        self.proc.stdin.flush()

    def recv(self, timeout: float) -> dict[str, Any]:
        assert self.proc.stdout is not None
        fd = self.proc.stdout.fileno()
        deadline = time.monotonic() + timeout
        while b"\n" not in self._buf:
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError("load generator did not answer in time")
            ready, _, _ = select.select([fd], [], [], left)
            if ready:
                chunk = os.read(fd, 65536)
                if not chunk:
                    raise RuntimeError(f"load generator exited ({self.proc.wait(5)}); see its log")
                self._buf += chunk
        line, self._buf = self._buf.split(b"\n", 1)
        reply: dict[str, Any] = json.loads(line)
        return reply

    def expect(self, event: str, timeout: float) -> dict[str, Any]:
        reply = self.recv(timeout)
        if reply.get("event") != event:
            raise RuntimeError(f"expected {event!r} from the load generator, got {reply}")
        return reply

    def close(self) -> None:
        if self.proc.poll() is None:
            try:
                self.send({"cmd": "quit"})
                self.proc.wait(10)
            except (OSError, subprocess.TimeoutExpired):
                self.proc.kill()
                self.proc.wait(5)


def percentile(sorted_values: array.array[float] | list[float], q: float) -> float:
    if not sorted_values:
        return float("nan")
    i = min(len(sorted_values) - 1, max(0, round(q * (len(sorted_values) - 1))))
    return float(sorted_values[i])


# -- one server under the whole ladder of levels ---------------------------------
@dataclass
class Plan:
    levels: tuple[int, ...]
    duration: float
    clients: int = CLIENTS
    writers: int = WRITERS
    procs: int = PROCS


def server_command(kind: str, port: int, data_dir: Path) -> list[str]:
    """The command line of either server, as every fan-out benchmark starts it."""
    if kind == "dreamloom":
        cmd = dreamloom_command(
            port,
            data_dir,
            ops_rate=OPS_LIMIT,
            ops_burst=OPS_LIMIT,
            # Fifty clients of one loopback address stand for fifty people: lift the per-address pace.
            client_bytes_rate=CLIENT_BYTES,
            client_bytes_burst=CLIENT_BYTES,
        )
        return cmd + os.environ.get("DREAMLOOM_BENCH_SERVER_ARGS", "").split()
    return [sys.executable, str(BENCH / "baseline_server.py"), "--port", str(port)]


def start_server(kind: str, port: int, data_dir: Path, log: IO[bytes]) -> subprocess.Popen[bytes]:
    return spawn(server_command(kind, port, data_dir), log)


def start_profiler(pid: int, out: Path) -> subprocess.Popen[bytes] | None:
    """Sample the server with py-spy (if installed) into collapsed stacks; it runs in its own process."""
    spy = Path(sys.executable).with_name("py-spy")
    if not spy.exists():
        print("py-spy is not installed in this environment: no profile", file=sys.stderr)
        return None
    cmd = [
        str(spy),
        "record",
        "--pid",
        str(pid),
        "--format",
        "raw",
        "--rate",
        "200",
        "--nonblocking",
        "--output",
        str(out),
    ]
    return subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def _short_frame(frame: str) -> str:
    """``func (/long/path/file.py:12)`` -> ``func (file.py)``: one entry per function, not per line."""
    name, sep, where = frame.rpartition(" (")
    if not sep:
        return frame
    return f"{name} ({where.split(':')[0].rsplit('/', 1)[-1].rstrip(')')})"


def profile_summary(path: Path, top: int = 25) -> str:
    """Self and inclusive shares of the hottest functions in py-spy's collapsed stacks."""
    own: dict[str, int] = {}
    inclusive: dict[str, int] = {}
    total = 0
    for line in path.read_text().splitlines():
        stack, _, count_s = line.rpartition(" ")
        if not stack:
            continue
        count = int(count_s)
        total += count
        frames = [_short_frame(f) for f in stack.split(";")]
        own[frames[-1]] = own.get(frames[-1], 0) + count
        for f in set(frames):
            inclusive[f] = inclusive.get(f, 0) + count
    lines = [f"{total} samples", "self%  incl%  function"]
    for name, n in sorted(own.items(), key=lambda kv: -kv[1])[:top]:
        lines.append(f"{100 * n / total:5.1f}  {100 * inclusive[name] / total:5.1f}  {name}")
    lines.append("")
    lines.append("incl%  function (inclusive, top)")
    for name, n in sorted(inclusive.items(), key=lambda kv: -kv[1])[:top]:
        lines.append(f"{100 * n / total:5.1f}  {name}")
    return "\n".join(lines)


def run_server(kind: str, plan: Plan, workdir: Path, profile: bool = False) -> list[dict[str, Any]]:
    port = free_port()
    url = f"ws://127.0.0.1:{port}/ws/bench-fanout"
    log = (OUTPUT / f"fanout-{kind}.log").open("wb")
    server = start_server(kind, port, workdir / f"data-{kind}", log)
    children: list[Child] = []
    rows: list[dict[str, Any]] = []
    spy: subprocess.Popen[bytes] | None = None
    try:
        wait_listening(port, server)
        epoch = time.monotonic()
        per = -(-plan.clients // plan.procs)
        for p in range(plan.procs):
            first = p * per
            count = min(per, plan.clients - first)
            if count <= 0:
                break
            args = [
                "--url",
                url,
                "--server",
                kind,
                "--first-client",
                str(first),
                "--clients",
                str(count),
                "--total-clients",
                str(plan.clients),
                "--writers",
                str(plan.writers),
                "--epoch",
                repr(epoch),
                "--outdir",
                str(workdir),
                "--tag",
                f"{kind}-{p}",
            ]
            children.append(Child(args, log))
        for child in children:
            child.expect("ready", 60)
        ladder = [(WARMUP_RATE, WARMUP_DURATION, True)] + [(r, plan.duration, False) for r in plan.levels]
        for index, (rate, duration, warmup) in enumerate(ladder):
            if profile and not warmup and spy is None:
                spy = start_profiler(server.pid, OUTPUT / f"profile-{kind}.txt")
            metrics_port = port if kind == "dreamloom" else None
            row = run_level(kind, server.pid, metrics_port, children, plan, epoch, index, rate, duration)
            if not warmup:
                rows.append(row)
                print(f"  {kind:9} {rate:>4} ops/s/writer: {summary(row)}", file=sys.stderr, flush=True)
    finally:
        if spy is not None:
            spy.send_signal(signal.SIGINT)
            try:
                spy.wait(30)
            except subprocess.TimeoutExpired:
                spy.kill()
                spy.wait(5)
        for child in children:
            child.close()
        stop(server)
        log.close()
    return rows


def run_level(
    kind: str,
    pid: int | list[int],
    metrics_port: int | None,
    children: list[Child],
    plan: Plan,
    epoch: float,
    index: int,
    rate: int,
    duration: float,
) -> dict[str, Any]:
    """Run one level on every generator; measure the server over the level and its drain.

    ``pid`` may list several server processes (the nodes of a cluster): their CPU is summed.
    """
    pids = pid if isinstance(pid, list) else [pid]
    start = time.monotonic() + 0.3
    m0 = scrape(metrics_port)
    user0, sys0 = cpu_of(pids)
    loop0 = loop_cpu(pids)
    busy0, total0 = machine_busy()
    for child in children:
        child.send({"cmd": "level", "index": index, "rate": rate, "start": start, "duration": duration})
    sent_reports = [child.expect("sent", duration + 60) for child in children]
    sent = sum(r["sent"] for r in sent_reports)
    drain_timeout = max(5.0, duration)
    for child in children:
        child.send({"cmd": "drain", "index": index, "expected": sent, "timeout": drain_timeout})
    reports = [child.expect("level", drain_timeout + 60) for child in children]
    user1, sys1 = cpu_of(pids)
    loop1 = loop_cpu(pids)
    busy1, total1 = machine_busy()
    wall = time.monotonic() - start
    m1 = scrape(metrics_port)
    peak_rss_kb = max(proc_status_kb(p, "VmHWM") for p in pids)

    lat = array.array("d")
    for r in reports:
        path = Path(r["lat_file"])
        with path.open("rb") as f:
            lat.frombytes(f.read())
        path.unlink()
    ordered = sorted(lat)
    received = [n for r in reports for n in r["received"]]
    delivered = sum(received)
    expected = sent * len(received)
    # Deliveries per second over the span from the level's start to its last delivery.
    last_ms = max(r["last_recv_ms"] for r in reports)
    span = max(duration, last_ms / 1000.0 - (start - epoch))
    cpu_user, cpu_sys = user1 - user0, sys1 - sys0
    cpu = cpu_user + cpu_sys
    frames = sum(r["frames"] for r in reports)
    gen_util = [r["cpu_s"] / r["wall_s"] for r in reports if r["wall_s"] > 0]
    row: dict[str, Any] = {
        "server": kind,
        "rate_per_writer": rate,
        "offered_ops_s": rate * plan.writers,
        "duration_s": duration,
        "clients": len(received),
        "sent": sent,
        "expected_deliveries": expected,
        "delivered": delivered,
        "deliveries_per_s": delivered / span if span > 0 else 0.0,
        "loss_pct": 100.0 * (expected - delivered) / expected if expected else 0.0,
        "min_received_by_a_client": min(received) if received else 0,
        "p50_ms": percentile(ordered, 0.50),
        "p95_ms": percentile(ordered, 0.95),
        "p99_ms": percentile(ordered, 0.99),
        "max_ms": ordered[-1] if ordered else float("nan"),
        "server_cpu_s": cpu,
        "server_user_s": cpu_user,
        "server_sys_s": cpu_sys,
        "cpu_s_per_1k_deliveries": 1000.0 * cpu / delivered if delivered else float("nan"),
        "us_per_delivery": 1e6 * cpu / delivered if delivered else float("nan"),
        # The same split by thread: the event loop versus the others (the store's commits, snapshots).
        "loop_us_per_delivery": 1e6 * (loop1 - loop0) / delivered if delivered else float("nan"),
        "threads_us_per_delivery": 1e6 * max(0.0, cpu - (loop1 - loop0)) / delivered if delivered else float("nan"),
        "peak_rss_mb": peak_rss_kb / 1024.0,
        "frames_received": frames,
        "ops_per_frame": delivered / frames if frames else 0.0,
        "gen_cpu_util_max": max(gen_util, default=0.0),
        "gen_worst_send_lateness_ms": 1000.0 * max(r["worst_send_lateness_s"] for r in sent_reports),
        "machine_busy_pct": 100.0 * (busy1 - busy0) / max(1, total1 - total0),
        "load_1m": os.getloadavg()[0],
        "server_cpu_share": cpu / wall if wall > 0 else 0.0,
        # CPU used by everything else on the machine meanwhile: the noise of a shared host.
        "others_cpu_s": max(0.0, (busy1 - busy0) / TICKS - cpu - sum(r["cpu_s"] for r in reports)),
        "wall_s": wall,
        "acked": sum(r["acked"] for r in reports),
        "rejected": sum(r["rejected"] for r in reports),
        "seq_gaps": sum(r["gaps"] for r in reports),
        "stale": sum(r["stale"] for r in reports),
        "closed_connections": [c for r in reports for c in r["closed"]],
        "drain_timed_out": any(r["drain_timed_out"] for r in reports),
    }
    if m0 and m1:
        # Where a Dreamloom batch's time goes: the group commit (fsync) versus the rest.
        def delta(name: str) -> float:
            return m1.get(name, 0.0) - m0.get(name, 0.0)

        commits = delta("dreamloom_commit_latency_seconds_count")
        row["commits"] = int(commits)
        row["mean_commit_ms"] = 1000.0 * delta("dreamloom_commit_latency_seconds_sum") / commits if commits else 0.0
        row["slow_consumers_closed"] = int(delta("dreamloom_slow_consumers_closed_total"))
        # Wall time the sanctuary spent handing broadcasts to its sockets, per delivery.
        fan_out = delta("dreamloom_broadcast_latency_seconds_sum")
        row["fanout_us_per_delivery"] = 1e6 * fan_out / delivered if delivered else float("nan")
        row["commit_histogram_ms"] = histogram(m0, m1)
    return row


# -- reporting -------------------------------------------------------------------
def summary(row: dict[str, Any]) -> str:
    return (
        f"{row['deliveries_per_s']:,.0f} deliveries/s, loss {row['loss_pct']:.2f}%, "
        f"p50 {row['p50_ms']:.1f} ms, p95 {row['p95_ms']:.1f} ms, p99 {row['p99_ms']:.1f} ms, "
        f"{row['us_per_delivery']:.1f} us CPU/delivery, gen {100 * row['gen_cpu_util_max']:.0f}%"
    )


def add_ratios(rows: list[dict[str, Any]]) -> None:
    """Dreamloom's figures over the baseline's at the same level."""
    base = {r["rate_per_writer"]: r for r in rows if r["server"] == "baseline"}
    for row in rows:
        ref = base.get(row["rate_per_writer"])
        if row["server"] != "dreamloom" or ref is None:
            continue
        row["cpu_per_delivery_ratio"] = row["us_per_delivery"] / ref["us_per_delivery"]
        row["p50_ratio"] = row["p50_ms"] / ref["p50_ms"] if ref["p50_ms"] else float("nan")
        row["p99_ratio"] = row["p99_ms"] / ref["p99_ms"] if ref["p99_ms"] else float("nan")
        row["deliveries_ratio"] = row["deliveries_per_s"] / ref["deliveries_per_s"]


COLUMNS = (
    ("server", "server", "{}"),
    ("rate_per_writer", "ops/s/w", "{}"),
    ("deliveries_per_s", "deliv/s", "{:,.0f}"),
    ("loss_pct", "loss%", "{:.2f}"),
    ("p50_ms", "p50 ms", "{:.1f}"),
    ("p95_ms", "p95 ms", "{:.1f}"),
    ("p99_ms", "p99 ms", "{:.1f}"),
    ("max_ms", "max ms", "{:.0f}"),
    ("cpu_s_per_1k_deliveries", "cpu s/1k", "{:.4f}"),
    ("us_per_delivery", "us/deliv", "{:.1f}"),
    ("loop_us_per_delivery", "loop us", "{:.1f}"),
    ("threads_us_per_delivery", "thr us", "{:.1f}"),
    ("fanout_us_per_delivery", "fan-out us", "{:.1f}"),
    ("server_sys_s", "sys s", "{:.2f}"),
    ("server_cpu_s", "cpu s", "{:.2f}"),
    ("peak_rss_mb", "peakRSS MB", "{:.0f}"),
    ("ops_per_frame", "ops/frame", "{:.1f}"),
    ("mean_commit_ms", "commit ms", "{:.1f}"),
    ("gen_cpu_util_max", "gen cpu", "{:.0%}"),
    ("server_cpu_share", "srv core", "{:.0%}"),
    ("others_cpu_s", "others s", "{:.1f}"),
    ("load_1m", "load", "{:.1f}"),
    ("cpu_per_delivery_ratio", "cpu ratio", "{:.2f}x"),
    ("p50_ratio", "p50 ratio", "{:.2f}x"),
    ("p99_ratio", "p99 ratio", "{:.2f}x"),
    ("deliveries_ratio", "deliv ratio", "{:.2f}x"),
)


def table(rows: list[dict[str, Any]]) -> str:
    head = [title for _, title, _ in COLUMNS]
    body = []
    for row in rows:
        cells = []
        for key, _, fmt in COLUMNS:
            value = row.get(key)
            cells.append("-" if value is None else fmt.format(value))
        body.append(cells)
    widths = [max(len(h), *(len(b[i]) for b in body)) if body else len(h) for i, h in enumerate(head)]
    lines = ["  ".join(h.rjust(w) for h, w in zip(head, widths, strict=True))]
    lines += ["  ".join(c.rjust(w) for c, w in zip(cells, widths, strict=True)) for cells in body]
    return "\n".join(lines)


def commit_histograms(rows: list[dict[str, Any]]) -> str:
    """Dreamloom's group commits per latency bucket, one line per level."""
    lines = []
    for r in rows:
        hist = r.get("commit_histogram_ms")
        if not hist:
            continue
        cells = ", ".join(f"<={b}: {n}" if b != "+Inf" else f">{hist[-2][0]}: {n}" for b, n in hist)
        lines.append(f"commits at {r['rate_per_writer']:>3} ops/s/writer (ms): {cells}")
    return "\n".join(lines)


def notes(rows: list[dict[str, Any]]) -> list[str]:
    """What makes a figure suspect: a saturated generator, loss, closed connections, rejects."""
    out = []
    for r in rows:
        where = f"{r['server']} at {r['rate_per_writer']} ops/s/writer"
        if r["gen_cpu_util_max"] > 0.9:
            out.append(
                f"{where}: a load generator used {r['gen_cpu_util_max']:.0%} of a core: it could not keep up, "
                "latency includes its lag"
            )
        elif r["gen_worst_send_lateness_ms"] > 100:
            out.append(
                f"{where}: writers sent up to {r['gen_worst_send_lateness_ms']:.0f} ms late with the generators "
                f"mostly idle (at most {r['gen_cpu_util_max']:.0%} of a core): they were not given the CPU in time "
                f"or the server pushed back; others used {r['others_cpu_s']:.1f} s of CPU meanwhile"
            )
        if r.get("slow_consumers_closed"):
            out.append(f"{where}: {r['slow_consumers_closed']} clients closed as slow consumers (4008)")
        if r["closed_connections"]:
            out.append(f"{where}: connections closed by the server: {sorted(set(r['closed_connections']))}")
        if r["rejected"] or r["seq_gaps"]:
            out.append(f"{where}: {r['rejected']} rejects, {r['seq_gaps']} seq gaps")
        if r["drain_timed_out"]:
            out.append(f"{where}: not every op reached every client before the drain timeout")
    return out


def environment() -> dict[str, Any]:
    return {
        "python": platform.python_version(),
        "machine": platform.machine(),
        "cpus": os.cpu_count(),
        "event_loop": "uvloop" if importlib.util.find_spec("uvloop") else "asyncio",
        "dreamloom_flags": f"--ops-rate {OPS_LIMIT} --ops-burst {OPS_LIMIT} --client-bytes-rate {CLIENT_BYTES} "
        + (os.environ.get("DREAMLOOM_BENCH_SERVER_ARGS", "") or "(store: SQLite, durability strict)"),
        "load_average": os.getloadavg(),
    }


def main(
    quick: bool = False,
    *,
    levels: tuple[int, ...] = LEVELS,
    duration: float | None = None,
    procs: int = PROCS,
    servers: tuple[str, ...] = ("dreamloom", "baseline"),
    profile: bool = False,
) -> list[dict[str, Any]]:
    """Run the benchmark against Dreamloom and the baseline; print the table; return the rows."""
    plan = Plan(levels=levels, duration=duration or (QUICK_DURATION if quick else DURATION), procs=procs)
    OUTPUT.mkdir(exist_ok=True)
    print(
        f"fan-out: {plan.clients} clients ({plan.writers} writing) in one sanctuary, "
        f"{plan.duration:g} s per level, {plan.procs} generator processes",
        file=sys.stderr,
        flush=True,
    )
    rows: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="dreamloom-bench-") as tmp:
        for kind in servers:
            rows += run_server(kind, plan, Path(tmp), profile)
    add_ratios(rows)
    result = {
        "benchmark": "fanout",
        "time": time.time(),
        "quick": quick,
        "plan": vars(plan) | {"levels": list(levels)},
        "environment": environment(),
        "rows": rows,
    }
    stamp = time.strftime("%Y%m%d-%H%M%S")
    for name in (f"fanout-{stamp}.json", "fanout-latest.json"):
        (OUTPUT / name).write_text(json.dumps(result, indent=2))
    print(table(rows))
    hist = commit_histograms(rows)
    if hist:
        print(hist)
    for note in notes(rows):
        print(f"note: {note}")
    print(f"raw results: {OUTPUT / 'fanout-latest.json'}")
    for kind in servers if profile else ():
        raw = OUTPUT / f"profile-{kind}.txt"
        if raw.exists():
            text = profile_summary(raw)
            (OUTPUT / f"profile-{kind}-summary.txt").write_text(text + "\n")
            print(f"\nprofile of {kind} (py-spy, all levels):\n{text}")
    return rows


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help=f"{QUICK_DURATION:g} s per level instead of {DURATION:g}")
    ap.add_argument("--levels", default=",".join(map(str, LEVELS)), help="ops/s per writer, comma-separated")
    ap.add_argument("--duration", type=float, default=None, help="seconds per level")
    ap.add_argument("--procs", type=int, default=PROCS, help="load generator processes")
    ap.add_argument("--only", choices=("dreamloom", "baseline"), help="run one server only")
    ap.add_argument("--profile", action="store_true", help="sample the server with py-spy during the levels")
    a = ap.parse_args()
    main(
        a.quick,
        levels=tuple(int(v) for v in a.levels.split(",")),
        duration=a.duration,
        procs=a.procs,
        servers=(a.only,) if a.only else ("dreamloom", "baseline"),
        profile=a.profile,
    )
