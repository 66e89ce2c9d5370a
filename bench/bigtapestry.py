"""Big tapestry: fill one sanctuary with 100,000 fragments, then join it and read it over HTTP.

The question: do writes stay fast as a tapestry grows, and does a join or an HTTP read of a big
tapestry ever stall the server's event loop (every other sanctuary waits while it does)?

- **fill**: one writer sends creates in batches of 256 ops (70 % strokes of 20-60 points, then
  symbols, shapes and text), keeping four batches in flight; accepted ops/s is reported for each
  tenth of the fill, and the last tenth's share of the first.
- **joins**: a fresh connection's time from opening the socket to a decoded ``welcome`` — the first
  warm join after the fill (compact, as the SDK and the browser ask), later warm joins of each form,
  warm right after one op, and cold (the first join after a server restart) — and the welcome's
  size in each codec. Warm, after-op, JSON and cold joins are also measured in parts (SPEC W36:
  the hello asks for ``parts``; the time is to the last part decoded), alternating with whole ones,
  twice each; the SDK's way (parts and compact) is a row of its own.
- **memory**: the server's RSS after the fill, after the joins, and after the cold load.
- **stalls**: a probe process, connected to another sanctuary of the same server, sends an
  application ``ping`` every 5 ms and records each round trip; the longest round trip during a join
  or an HTTP read is the longest the event loop was held (a stalled loop answers nothing).
- **holds**: the same question asked inside the server: its ``dreamloom_event_loop_hold_seconds``
  histogram bounds how long the loop's own thread held it, which the machine's load does not
  lengthen (a busy machine lengthens the probe's round trips however idle the loop). The longest
  hold during the fill, each join and the HTTP reads is printed as its bucket's upper bound.
- **HTTP**: ``GET /api/sanctuaries/{id}/tapestry.json`` while the sanctuary is loaded: plain,
  gzip, and again with the ETag (a 304).
- **CPU**: the server's user + system CPU per op by tenth of the fill, per join and per read.

The baseline for the stall is the probe's longest round trip while nothing else happens.

    .venv/bin/python bench/bigtapestry.py                 # 100,000 fragments
    .venv/bin/python bench/bigtapestry.py --quick         # 10,000 fragments
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import itertools
import json
import os
import random
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

from websockets.asyncio.client import connect

from dreamloom.protocol import (
    CLIENT_SIDE_LIMITS,
    JSON,
    MSGPACK,
    Ack,
    Clock,
    Hello,
    Op,
    Ops,
    Ping,
    Pong,
    Reject,
    SnapshotPart,
    Tapestry,
    Welcome,
    codec_for,
    ops,
)
from dreamloom.protocol.codec import collector_paused

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
OUTPUT = ROOT / "bench-output"
sys.path.insert(0, str(BENCH))

from fanout import free_port, proc_cpu, proc_status_kb, stop, wait_listening  # noqa: E402
from serving import dreamloom_command, spawn  # noqa: E402

FRAGMENTS = 100_000
QUICK_FRAGMENTS = 10_000
BATCH = 256
IN_FLIGHT = 4
PROBE_EVERY = 0.005
SANCTUARY = "vast"


def start_server(port: int, data_dir: Path, log: Any) -> subprocess.Popen[bytes]:
    # Every budget well above what one writer sends: the fill measures the server, not its limits.
    big = 1 << 30
    cmd = dreamloom_command(
        port,
        data_dir,
        ops_rate=1000000,
        ops_burst=1000000,
        ops_bytes_rate=big,
        ops_bytes_burst=big,
        client_bytes_rate=big,
        client_bytes_burst=big,
        live_bytes_per_sanctuary=big,
        idle_unload=3600,
    )
    return spawn(cmd, log)


# -- the probe ------------------------------------------------------------------
async def probe(url: str, out: Path) -> None:
    """Ping every 5 ms until terminated; append ``sent_at rtt`` lines (monotonic seconds) to ``out``."""
    codec = codec_for(MSGPACK, CLIENT_SIDE_LIMITS)
    async with connect(url, subprotocols=[MSGPACK], max_size=None) as ws:  # type: ignore[list-item]
        await ws.send(codec.encode(Hello(name="probe", replica=f"probe-{os.getpid()}", seq=None)))
        while not isinstance(codec.decode_server(await ws.recv()), Welcome):
            pass
        sent: dict[int, float] = {}

        async def reader() -> None:
            with out.open("a") as f:
                async for frame in ws:
                    msg = codec.decode_server(frame)  # type: ignore[arg-type]
                    if isinstance(msg, Pong) and msg.t in sent:
                        t0 = sent.pop(msg.t)
                        f.write(f"{t0:.6f} {time.monotonic() - t0:.6f}\n")
                        f.flush()

        task = asyncio.create_task(reader())
        n = 0
        while not task.done():
            n += 1
            sent[n] = time.monotonic()
            await ws.send(codec.encode(Ping(n)))
            await asyncio.sleep(PROBE_EVERY)


def hold_buckets(port: int) -> dict[float, float]:
    """The server's loop-hold histogram (cumulative counts by upper bound, seconds)."""
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=30) as resp:
        text = resp.read().decode()
    out: dict[float, float] = {}
    for line in text.splitlines():
        if line.startswith("dreamloom_event_loop_hold_seconds_bucket"):
            le = line.split('le="')[1].split('"')[0]
            out[float("inf") if le == "+Inf" else float(le)] = float(line.rsplit(" ", 1)[1])
    return out


def longest_hold_ms(before: dict[float, float], after: dict[float, float]) -> float:
    """The upper bound of the highest bucket that gained an observation: the longest the loop was held, in ms.

    A hold is what the loop's own thread ran while a 20 ms sleep was late (server/loop_lag.py): unlike the
    probe's round trip, the machine's load does not lengthen it.
    """
    total = after[float("inf")] - before.get(float("inf"), 0.0)
    for le in sorted(after):
        if after[le] - before.get(le, 0.0) >= total:
            return le * 1000
    return float("inf")


def longest_stall(samples: Path, start: float, end: float) -> float:
    """The longest probe round trip of a ping sent in [start, end] (seconds)."""
    worst = 0.0
    for line in samples.read_text().splitlines():
        t0, rtt = map(float, line.split())
        if start <= t0 <= end or (t0 < start and t0 + rtt > start):
            worst = max(worst, rtt)
    return worst


# -- the fill --------------------------------------------------------------------
def fragment(rng: random.Random, n: int, stamp: Any) -> Op:
    fid = f"f{n:06d}"
    x, y = rng.uniform(-5000, 5000), rng.uniform(-5000, 5000)
    roll = rng.random()
    if roll < 0.7:
        pts = [round(rng.uniform(-200, 200), 1) for _ in range(2 * rng.randint(20, 60))]
        return ops.create(fid, stamp, kind="stroke", x=x, y=y, geom={"pts": pts}, z="V")
    if roll < 0.8:
        return ops.create(fid, stamp, kind="symbol", x=x, y=y, geom={"sym": "moon", "size": 40}, z="V")
    if roll < 0.9:
        geom = {"shape": rng.choice(["rect", "ellipse"]), "w": 80, "h": 50}
        return ops.create(fid, stamp, kind="shape", x=x, y=y, geom=geom, z="V")
    return ops.create(fid, stamp, kind="text", x=x, y=y, geom={"text": "a dream of the sea " * 3, "size": 14}, z="V")


def rss_mb(pid: int) -> float:
    """The server's resident memory now (MB)."""
    return round(proc_status_kb(pid, "VmRSS") / 1024, 1)


def server_cpu(pid: int) -> float:
    """User + system CPU seconds of the server so far: a figure the machine's load does not inflate."""
    user, system = proc_cpu(pid)
    return user + system


async def fill(url: str, total: int, pid: int) -> tuple[list[float], list[float]]:
    """Write ``total`` creates; returns when each tenth was acknowledged, and the server's CPU then."""
    codec = codec_for(MSGPACK, CLIENT_SIDE_LIMITS)
    rng = random.Random(16)
    clock = Clock("filler")
    async with connect(url, subprotocols=[MSGPACK], max_size=None) as ws:  # type: ignore[list-item]
        await ws.send(codec.encode(Hello(name="filler", replica="filler", seq=None)))
        while not isinstance(codec.decode_server(await ws.recv()), Welcome):
            pass
        progress = [(time.monotonic(), 0)]  # (when, ops acknowledged so far)
        cpu = [(0, server_cpu(pid))]  # (ops acknowledged so far, server CPU seconds)
        in_flight = asyncio.Semaphore(IN_FLIGHT)
        done = asyncio.Event()

        async def reader() -> None:
            acked = pending = 0
            async for frame in ws:
                msg = codec.decode_server(frame)  # type: ignore[arg-type]
                if isinstance(msg, Ack):
                    acked += len(msg.acks)
                    pending += len(msg.acks)
                    progress.append((time.monotonic(), acked))
                    cpu.append((acked, server_cpu(pid)))
                    while pending >= BATCH:
                        pending -= BATCH
                        in_flight.release()
                    if acked >= total:
                        done.set()
                        return
                elif isinstance(msg, Reject):
                    raise RuntimeError(f"op refused: {msg.code.value} {msg.reason}")

        task = asyncio.create_task(reader())
        for start in range(0, total, BATCH):
            await _acquire(in_flight, task)
            batch = tuple(fragment(rng, n, clock.tick()) for n in range(start, min(total, start + BATCH)))
            await ws.send(codec.encode(Ops(batch)))
        await asyncio.wait_for(done.wait(), 1200)
        await task
    cpu_progress = [(float(c), float(n)) for n, c in cpu]  # (cpu, ops): interpolated as time is
    return [_when(progress, total * k / 10) for k in range(11)], [
        _when(cpu_progress, total * k / 10) for k in range(11)
    ]


async def _acquire(slots: asyncio.Semaphore, reader: asyncio.Task[None]) -> None:
    """A slot for one more batch; the reader's failure (a refused op, a closed socket) is raised."""
    waiter = asyncio.ensure_future(slots.acquire())
    await asyncio.wait([waiter, reader], return_when=asyncio.FIRST_COMPLETED)
    if not waiter.done():
        waiter.cancel()
        reader.result()
        raise RuntimeError("the server stopped answering")


def _when(progress: list[tuple[float, float]] | list[tuple[float, int]], ops_done: float) -> float:
    """When ``ops_done`` ops were acknowledged, interpolated between ack frames."""
    for (t0, n0), (t1, n1) in itertools.pairwise(progress):
        if n0 <= ops_done <= n1:
            return t0 if n1 == n0 else t0 + (t1 - t0) * (ops_done - n0) / (n1 - n0)
    return progress[-1][0]


async def one_op(url: str) -> None:
    codec = codec_for(MSGPACK, CLIENT_SIDE_LIMITS)
    async with connect(url, subprotocols=[MSGPACK], max_size=None) as ws:  # type: ignore[list-item]
        replica = f"nudge{time.monotonic_ns()}"  # a guest each time: each its own replica id
        await ws.send(codec.encode(Hello(name="nudge", replica=replica, seq=None)))
        while not isinstance(codec.decode_server(await ws.recv()), Welcome):
            pass
        clock = Clock(replica)
        await ws.send(codec.encode(Ops((ops.set_fields("f000000", clock.tick(), x=1),))))
        while not isinstance(codec.decode_server(await ws.recv()), Ack):
            pass


#: What a joiner's hello says it handles: nothing beyond the base protocol, or the compact form (W37).
CANONICAL: tuple[str, ...] = ()
COMPACT = ("compact",)
#: What the SDK and the browser app ask for: a welcome in parts (W36) in the compact form (W37).
SDK = ("parts", "compact")
#: Warm joins of each form, alternated, for the A/B rows.
AB_JOINS = 3


async def join(url: str, codec_name: str, features: tuple[str, ...] = CANONICAL) -> tuple[float, int, float, float]:
    """(seconds to the whole tapestry decoded: the welcome, and its last part when in parts, W36;
    the bytes of the welcome and its parts; start; end).

    A hello with ``parts`` takes a welcome in parts as the SDK does: no collection between parts
    (none runs while a whole welcome is decoded).
    """
    codec = codec_for(codec_name, CLIENT_SIDE_LIMITS)
    start = time.monotonic()
    size = 0
    async with connect(url, subprotocols=[codec_name], max_size=None) as ws:  # type: ignore[list-item]
        hello = Hello(name="joiner", replica=f"j{start}".replace(".", ""), seq=None, features=features)
        await ws.send(codec.encode(hello))
        with contextlib.ExitStack() as paused:
            while True:
                frame = await ws.recv()
                msg = codec.decode_server(frame)
                if isinstance(msg, Welcome):
                    assert msg.snapshot is not None
                    # Compact only when asked; a cold welcome (S11) is canonical either way.
                    assert msg.form is None or "compact" in features, msg.form
                    if msg.parts is not None:
                        paused.enter_context(collector_paused())
                if isinstance(msg, Welcome | SnapshotPart):
                    size += len(frame)
                if (isinstance(msg, Welcome) and msg.parts is None) or (
                    isinstance(msg, SnapshotPart) and msg.part == msg.parts - 1
                ):
                    end = time.monotonic()
                    return end - start, size, start, end


async def join_frame(url: str, codec_name: str, features: tuple[str, ...] = CANONICAL) -> bytes | str:
    """A whole welcome's frame (``features`` without ``parts``).

    The decoded welcome is dropped before returning: a client that kept tens of millions of
    objects alive would make every later decode in this process pay for the garbage
    collector's walks over them.
    """
    codec = codec_for(codec_name, CLIENT_SIDE_LIMITS)
    async with connect(url, subprotocols=[codec_name], max_size=None) as ws:  # type: ignore[list-item]
        hello = Hello(name="joiner", replica=f"j{time.monotonic()}".replace(".", ""), seq=None, features=features)
        await ws.send(codec.encode(hello))
        while True:
            frame = await ws.recv()
            msg = codec.decode_server(frame)
            if isinstance(msg, Welcome):
                assert msg.parts is None
                assert (msg.form == "compact") == ("compact" in features), msg.form
                return frame


def client_costs(url: str, features: tuple[str, ...]) -> tuple[float, float]:
    """(seconds to decode a welcome's msgpack frame, seconds for the SDK to load its snapshot).

    Each the best of three, from a fresh heap: the welcome is decoded, loaded into a tapestry
    (validated, as the SDK does) and dropped each time.
    """
    frame = asyncio.run(join_frame(url, MSGPACK, features))
    codec = codec_for(MSGPACK, CLIENT_SIDE_LIMITS)
    decode = load = float("inf")
    for _ in range(3):
        gc.collect()
        start = time.perf_counter()
        welcome = codec.decode_server(frame)
        decoded = time.perf_counter()
        assert isinstance(welcome, Welcome)
        if welcome.form == "compact":
            Tapestry.from_compact(welcome.snapshot, CLIENT_SIDE_LIMITS)
        else:
            Tapestry.from_data(welcome.snapshot, CLIENT_SIDE_LIMITS)
        loaded = time.perf_counter()
        decode, load = min(decode, decoded - start), min(load, loaded - decoded)
        del welcome
    return decode, load


def joins(
    url: str,
    codec_name: str,
    row: dict[str, Any],
    name: str,
    samples: Path,
    stalls: list[float],
    features: tuple[str, ...] = CANONICAL,
) -> None:
    """Join whole and in parts (``features`` with ``parts`` added), alternating, twice each, each
    time two joins in a row: row[name + " s"] and row[name + " parts s"] list the pairs' seconds."""
    for parts in (False, True, False, True):
        pair = []
        for _ in range(2):
            asked = (*features, "parts") if parts else features
            secs, _, a, b = asyncio.run(join(url, codec_name, asked))
            stalls.append(longest_stall(samples, a, b))
            pair.append(round(secs, 3))
        row.setdefault(f"{name} parts s" if parts else f"{name} s", []).append(pair)


def http_read(url: str, headers: dict[str, str] | None = None) -> tuple[float, int, float, float, str]:
    """(seconds, body bytes as sent, start, end, ETag); a 304 has no body."""
    start = time.monotonic()
    try:
        with urllib.request.urlopen(urllib.request.Request(url, headers=headers or {}), timeout=600) as resp:
            body, tag = resp.read(), resp.headers.get("ETag", "")
    except urllib.error.HTTPError as exc:
        if exc.code != 304:
            raise
        body, tag = b"", exc.headers.get("ETag", "")
    end = time.monotonic()
    return end - start, len(body), start, end, tag


# -- the run -----------------------------------------------------------------------
def run(total: int, workdir: Path) -> dict[str, Any]:
    port = free_port()
    ws_url = f"ws://127.0.0.1:{port}/ws/{SANCTUARY}"
    samples = workdir / "probe.txt"
    samples.touch()
    row: dict[str, Any] = {"fragments": total, "uptime": _uptime()}
    with (workdir / "server.log").open("ab") as log:
        server = start_server(port, workdir / "data", log)
        probe_proc: subprocess.Popen[bytes] | None = None
        try:
            wait_listening(port, server)
            probe_proc = subprocess.Popen(
                [sys.executable, __file__, "--probe", f"ws://127.0.0.1:{port}/ws/probe", str(samples)],
                cwd=ROOT,
            )
            time.sleep(1.0)  # the probe connects
            quiet_start = time.monotonic()
            time.sleep(1.0)
            row["idle stall ms"] = round(1000 * longest_stall(samples, quiet_start, time.monotonic()), 1)

            fill_holds = hold_buckets(port)
            marks, cpus = asyncio.run(fill(ws_url, total, server.pid))
            rates = [round((total / 10) / (b - a)) for a, b in itertools.pairwise(marks)]
            row["fill ops/s by tenth"] = rates
            row["last/first"] = round(rates[-1] / rates[0], 2)
            per_op = [1e6 * (b - a) / (total / 10) for a, b in itertools.pairwise(cpus)]
            row["fill server CPU us/op by tenth"] = [round(x) for x in per_op]
            row["CPU/op first/last"] = round(per_op[0] / max(per_op[-1], 1e-9), 2)
            fill_stall = longest_stall(samples, marks[0], marks[-1])
            row["fill stall ms"] = round(1000 * fill_stall, 1)

            row["fill hold ms"] = longest_hold_ms(fill_holds, hold_buckets(port))
            row["RSS MB after fill"] = rss_mb(server.pid)
            holds = []
            stalls = []
            # The first join after the fill asks for the compact form, as the SDK and the browser do
            # (W37): what a newcomer to a freshly filled sanctuary waits for.
            h0 = hold_buckets(port)
            before = server_cpu(server.pid)
            secs, size, a, b = asyncio.run(join(ws_url, MSGPACK, COMPACT))
            row["first warm join after fill s (compact)"] = round(secs, 3)
            row["first warm join after fill server CPU s"] = round(server_cpu(server.pid) - before, 3)
            row["compact welcome MB"] = round(size / 1e6, 1)
            holds.append(longest_hold_ms(h0, hold_buckets(port)))
            stalls.append(longest_stall(samples, a, b))

            h0 = hold_buckets(port)
            before = server_cpu(server.pid)
            secs, size, a, b = asyncio.run(join(ws_url, MSGPACK))
            row["first canonical join s"] = round(secs, 3)
            row["first canonical join server CPU s"] = round(server_cpu(server.pid) - before, 3)
            row["welcome MB"] = round(size / 1e6, 1)
            row["first canonical join hold ms"] = longest_hold_ms(h0, hold_buckets(port))
            stalls.append(longest_stall(samples, a, b))
            ab: dict[str, list[float]] = {"canonical": [], "compact": []}
            h0 = hold_buckets(port)
            for _ in range(AB_JOINS):  # alternated, so the machine's load weighs on both alike
                for form, features in (("canonical", CANONICAL), ("compact", COMPACT)):
                    secs, size, a, b = asyncio.run(join(ws_url, MSGPACK, features))
                    ab[form].append(round(secs, 3))
                    stalls.append(longest_stall(samples, a, b))
            row["later warm joins s canonical A/B"] = ab["canonical"]
            row["later warm joins s compact A/B"] = ab["compact"]
            row["A/B join hold ms"] = longest_hold_ms(h0, hold_buckets(port))
            row["uptime at A/B"] = _uptime()
            # Whole and in parts (W36), canonical, then compact: the SDK's and the browser's way.
            joins(ws_url, MSGPACK, row, "warm join", samples, stalls)
            joins(ws_url, MSGPACK, row, "warm compact join", samples, stalls, COMPACT)
            row["uptime at compact parts"] = _uptime()
            costs = [client_costs(ws_url, features) for features in (CANONICAL, COMPACT)]
            row["decode s canonical/compact"] = [round(decode, 3) for decode, _ in costs]
            row["SDK load s canonical/compact"] = [round(load, 3) for _, load in costs]
            asyncio.run(one_op(ws_url))
            h0 = hold_buckets(port)
            secs, size, a, b = asyncio.run(join(ws_url, MSGPACK))
            stalls.append(longest_stall(samples, a, b))
            row["warm join after op s"] = round(secs, 3)
            asyncio.run(one_op(ws_url))
            secs, size, a, b = asyncio.run(join(ws_url, MSGPACK, SDK))
            stalls.append(longest_stall(samples, a, b))
            row["warm join after op compact+parts s"] = round(secs, 3)
            holds.append(longest_hold_ms(h0, hold_buckets(port)))
            h0 = hold_buckets(port)
            before = server_cpu(server.pid)
            secs, size, a, b = asyncio.run(join(ws_url, JSON, COMPACT))  # the browser's join
            row["json compact join server CPU s"] = round(server_cpu(server.pid) - before, 3)
            stalls.append(longest_stall(samples, a, b))
            row["json compact join s"] = round(secs, 3)
            row["json compact welcome MB"] = round(size / 1e6, 1)
            before = server_cpu(server.pid)
            secs, size, a, b = asyncio.run(join(ws_url, JSON))
            row["json join server CPU s"] = round(server_cpu(server.pid) - before, 3)
            stalls.append(longest_stall(samples, a, b))
            row["first json join s"] = round(secs, 3)
            row["json welcome MB"] = round(size / 1e6, 1)
            joins(ws_url, JSON, row, "json join", samples, stalls)
            row["RSS MB after joins"] = rss_mb(server.pid)

            holds.append(longest_hold_ms(h0, hold_buckets(port)))
            h0 = hold_buckets(port)
            http = f"http://127.0.0.1:{port}/api/sanctuaries/{SANCTUARY}/tapestry.json"
            before = server_cpu(server.pid)
            secs, size, a, b, tag = http_read(http)
            row["GET json s"] = round(secs, 3)
            row["GET json server CPU s"] = round(server_cpu(server.pid) - before, 3)
            row["GET json MB"] = round(size / 1e6, 1)
            http_stalls = [longest_stall(samples, a, b)]
            secs, size, a, b, _ = http_read(http, {"Accept-Encoding": "gzip"})
            row["GET json gzip s"] = round(secs, 3)
            row["GET json gzip MB"] = round(size / 1e6, 1)
            http_stalls.append(longest_stall(samples, a, b))
            secs, size, a, b, _ = http_read(http, {"If-None-Match": tag})
            row["GET json 304 s"] = round(secs, 3)
            http_stalls.append(longest_stall(samples, a, b))
            row["GET stall ms"] = round(1000 * max(http_stalls), 1)
            row["GET hold ms"] = longest_hold_ms(h0, hold_buckets(port))

            # Cold: restart the server; the probe reconnects to the new one. Whole, then as the SDK
            # asks (parts and compact: a cold welcome is the stored snapshot, canonical, cut into
            # parts, S11), twice each.
            for parts in (False, True, False, True):
                stop(probe_proc)
                stop(server)
                server = start_server(port, workdir / "data", log)
                wait_listening(port, server)
                probe_proc = subprocess.Popen(
                    [sys.executable, __file__, "--probe", f"ws://127.0.0.1:{port}/ws/probe", str(samples)],
                    cwd=ROOT,
                )
                time.sleep(1.0)
                h0 = hold_buckets(port)
                before = server_cpu(server.pid)
                secs, size, a, b = asyncio.run(join(ws_url, MSGPACK, SDK if parts else CANONICAL))
                holds.append(longest_hold_ms(h0, hold_buckets(port)))
                stalls.append(longest_stall(samples, a, b))
                row.setdefault("cold join compact+parts s" if parts else "cold join s", []).append(round(secs, 3))
                row.setdefault("cold join server CPU s", []).append(round(server_cpu(server.pid) - before, 3))
            time.sleep(3.0)  # the decode ends, and what the sanctuary keeps after it is built
            row["RSS MB after cold load"] = rss_mb(server.pid)
            row["join stall ms"] = round(1000 * max(stalls), 1)
            row["stalls ms, in join order"] = [round(1000 * x) for x in stalls]
            row["join hold ms first/canonical/A-B/after op/json/cold x4"] = holds
            row["stall ratio"] = round(max(stalls) / max(row["idle stall ms"] / 1000, 1e-3), 1)
        finally:
            if probe_proc is not None:
                stop(probe_proc, grace=5)
            stop(server)
    row["uptime after"] = _uptime()
    return row


def _uptime() -> str:
    return subprocess.run(["uptime"], capture_output=True, text=True, check=False).stdout.strip()


def main(quick: bool = False) -> list[dict[str, Any]]:
    """One row: fill rates by tenth, joins, welcome sizes, the longest loop stalls."""
    total = QUICK_FRAGMENTS if quick else FRAGMENTS
    with tempfile.TemporaryDirectory(prefix="dreamloom-bigtapestry-") as tmp:
        row = run(total, Path(tmp))
    OUTPUT.mkdir(exist_ok=True)
    (OUTPUT / "bigtapestry-latest.json").write_text(json.dumps(row, indent=2))
    return [row]


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help=f"{QUICK_FRAGMENTS:,} fragments")
    parser.add_argument("--fragments", type=int, help="how many fragments to write")
    parser.add_argument("--probe", nargs=2, metavar=("URL", "OUT"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.probe:
        asyncio.run(probe(args.probe[0], Path(args.probe[1])))
    elif args.fragments:
        with tempfile.TemporaryDirectory(prefix="dreamloom-bigtapestry-") as tmp:
            print(json.dumps(run(args.fragments, Path(tmp)), indent=2))
    else:
        for r in main(quick=args.quick):
            print(json.dumps(r, indent=2))
