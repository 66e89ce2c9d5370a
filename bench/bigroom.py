"""Big room: 1,000 and 5,000 connections in one sanctuary, against the naive relay.

The question: does a join cost the server about the same whether the room holds 10 people or
5,000, and does one op still reach everyone quickly?

For each size, into one sanctuary of 100 fragments:

- **joins**: the connections open and join, 64 at a time per generator process (two processes);
  `joins/s` is connections over the time until all are welcomed, `cpu ms/join` the server's CPU
  (user + system, from /proc) over that time per join.
- **KiB/conn**: the growth of the server's resident memory over the joins, per connection.
- **fan-out**: one writer sends one op, five times; every connection records when it receives
  the next frame after being armed; `p50/p99 ms` are over every delivery.

The baseline is ``baseline_server.py`` (relays every frame to every socket, no protocol): the
same connections open (a WebSocket handshake, no hello), and the same op bytes are relayed to all.
`ratio` columns are Dreamloom over the baseline.

    .venv/bin/python bench/bigroom.py               # 1,000 and 5,000
    .venv/bin/python bench/bigroom.py --quick       # 200 and 1,000
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from websockets.asyncio.client import ClientConnection, connect

from dreamloom.protocol import CLIENT_SIDE_LIMITS, MSGPACK, Ack, Clock, Hello, Ops, Welcome, codec_for, ops

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
OUTPUT = ROOT / "bench-output"
sys.path.insert(0, str(BENCH))

from fanout import free_port, proc_cpu, proc_status_kb, stop, wait_listening  # noqa: E402
from serving import dreamloom_command, spawn  # noqa: E402

SIZES = (1000, 5000)
QUICK_SIZES = (200, 1000)
PROCS = 2
CONCURRENT = 64
ROUNDS = 5
SANCTUARY = "crowd"


def start(kind: str, port: int, data_dir: Path, log: Any) -> subprocess.Popen[bytes]:
    if kind == "baseline":
        cmd = [sys.executable, str(BENCH / "baseline_server.py"), "--port", str(port)]
    else:
        cmd = dreamloom_command(
            port,
            data_dir,
            max_connections_per_sanctuary=10000,
            ops_rate=100000,
            ops_burst=100000,
            heartbeat=600,
            heartbeat_timeout=1200,
        )
    return spawn(cmd, log)


# -- a generator process ------------------------------------------------------------
async def generator(kind: str, url: str, count: int, first: int) -> None:
    """Open ``count`` connections, then obey commands on stdin: ``arm`` / ``report`` / ``quit``."""
    codec = codec_for(MSGPACK, CLIENT_SIDE_LIMITS)
    sockets: list[ClientConnection] = []
    armed: list[bool] = []
    received: list[float] = []
    joined, heard = asyncio.Event(), asyncio.Event()
    waiting = 0
    gate = asyncio.Semaphore(CONCURRENT)

    async def one(i: int) -> None:
        nonlocal waiting
        async with gate:
            ws = await connect(url, subprotocols=[MSGPACK], max_size=None, ping_interval=None, open_timeout=120)  # type: ignore[list-item]
            if kind == "dreamloom":
                await ws.send(codec.encode(Hello(name=f"p{first + i}", replica=f"g{first + i}", seq=None)))
                while not isinstance(codec.decode_server(await ws.recv()), Welcome):
                    pass
        sockets.append(ws)
        if len(sockets) == count:
            joined.set()
        slot = len(armed)
        armed.append(False)
        async for _ in ws:
            if armed[slot]:
                received.append(time.monotonic())
                armed[slot] = False
                waiting -= 1
                if waiting == 0:
                    heard.set()

    tasks = [asyncio.create_task(one(i)) for i in range(count)]
    await joined.wait()
    print("ready", flush=True)
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    while line := (await reader.readline()).decode().strip():
        if line == "arm":
            received.clear()
            heard.clear()
            armed[:] = [True] * len(armed)
            waiting = len(armed)
            print("armed", flush=True)
        elif line == "report":
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(heard.wait(), 30)
            print(json.dumps(received), flush=True)
        elif line == "quit":
            break
    for t in tasks:
        t.cancel()


class Generator:
    def __init__(self, kind: str, url: str, count: int, first: int) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, __file__, "--generator", kind, url, str(count), str(first)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            cwd=ROOT,
        )

    def expect(self, word: str) -> str:
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline().decode().strip()
        if not line.startswith(word) and not (word == "[" and line.startswith("[")):
            raise RuntimeError(f"generator said {line!r}, expected {word!r}")
        return line

    def tell(self, line: str) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write(f"{line}\n".encode())
        self.proc.stdin.flush()

    def close(self) -> None:
        try:
            self.tell("quit")
            self.proc.wait(30)
        except (OSError, subprocess.TimeoutExpired):
            self.proc.kill()
            self.proc.wait(5)


# -- the writer ------------------------------------------------------------------------
async def seed(url: str) -> None:
    """100 fragments in the sanctuary."""
    codec = codec_for(MSGPACK, CLIENT_SIDE_LIMITS)
    async with connect(url, subprotocols=[MSGPACK]) as ws:  # type: ignore[list-item]
        await ws.send(codec.encode(Hello(name="seed", replica="seed", seq=None)))
        while not isinstance(codec.decode_server(await ws.recv()), Welcome):
            pass
        clock = Clock("seed")
        batch = tuple(
            ops.create(f"f{n}", clock.tick(), kind="symbol", x=n, y=n, geom={"sym": "moon", "size": 9}, z="V")
            for n in range(100)
        )
        await ws.send(codec.encode(Ops(batch)))
        while not isinstance(codec.decode_server(await ws.recv()), Ack):
            pass


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] if ordered else float("nan")


def measure(kind: str, size: int, workdir: Path) -> dict[str, Any]:
    port = free_port()
    url = f"ws://127.0.0.1:{port}/ws/{SANCTUARY}"
    row: dict[str, Any] = {"server": kind, "conns": size, "load1": round(os.getloadavg()[0], 2)}
    with (workdir / f"{kind}.log").open("ab") as log:
        server = start(kind, port, workdir / f"data-{size}", log)
        gens: list[Generator] = []
        try:
            wait_listening(port, server)
            codec = codec_for(MSGPACK, CLIENT_SIDE_LIMITS)
            if kind == "dreamloom":
                asyncio.run(seed(url))
            rss0 = proc_status_kb(server.pid, "VmRSS")
            cpu0 = sum(proc_cpu(server.pid))
            started = time.monotonic()
            per = size // PROCS
            gens = [Generator(kind, url, per, i * per) for i in range(PROCS)]
            for g in gens:
                g.expect("ready")
            elapsed = time.monotonic() - started
            cpu = sum(proc_cpu(server.pid)) - cpu0
            row["joins/s"] = round(size / elapsed)
            row["cpu ms/join"] = round(1000 * cpu / size, 2)
            time.sleep(1.0)  # the last roster tick goes out before measuring
            row["KiB/conn"] = round((proc_status_kb(server.pid, "VmRSS") - rss0) / size, 1)

            latencies: list[float] = []

            async def fan_out() -> None:
                clock = Clock("writer")
                async with connect(url, subprotocols=[MSGPACK]) as ws:  # type: ignore[list-item]
                    if kind == "dreamloom":
                        await ws.send(codec.encode(Hello(name="writer", replica="writer", seq=None)))
                        while not isinstance(codec.decode_server(await ws.recv()), Welcome):
                            pass
                    await asyncio.sleep(0.5)  # the writer's own roster tick
                    for n in range(ROUNDS):
                        for g in gens:
                            g.tell("arm")
                            g.expect("armed")
                        sent = time.monotonic()
                        op = ops.set_fields(f"f{n}", clock.tick(), x=n + 0.5)
                        await ws.send(codec.encode(Ops((op,))))
                        for g in gens:
                            g.tell("report")
                            latencies.extend(t - sent for t in json.loads(g.expect("[")))

            asyncio.run(fan_out())
            row["p50 ms"] = round(1000 * percentile(latencies, 0.5), 1)
            row["p99 ms"] = round(1000 * percentile(latencies, 0.99), 1)
            row["delivered"] = f"{len(latencies)}/{ROUNDS * size}"
        finally:
            for g in gens:
                g.close()
            stop(server)
    return row


def main(quick: bool = False) -> list[dict[str, Any]]:
    """Rows for each size: Dreamloom, the baseline, and their ratios."""
    rows: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="dreamloom-bigroom-") as tmp:
        for size in QUICK_SIZES if quick else SIZES:
            ours = measure("dreamloom", size, Path(tmp))
            base = measure("baseline", size, Path(tmp))
            for key in ("joins/s", "cpu ms/join", "p99 ms", "KiB/conn"):
                if base.get(key):
                    ours[f"{key} ratio"] = round(ours[key] / base[key], 2)
            rows += [ours, base]
    OUTPUT.mkdir(exist_ok=True)
    (OUTPUT / "bigroom-latest.json").write_text(json.dumps(rows, indent=2))
    return rows


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="200 and 1,000 connections")
    parser.add_argument("--sizes", help="comma-separated connection counts")
    parser.add_argument("--generator", nargs=4, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.generator:
        kind, url, count, first = args.generator
        asyncio.run(generator(kind, url, int(count), int(first)))
    else:
        if args.sizes:
            SIZES = tuple(int(s) for s in args.sizes.split(","))
        for r in main(quick=args.quick):
            print(json.dumps(r))
