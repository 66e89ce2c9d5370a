"""Big room: 10, 1,000 and 5,000 connections in one sanctuary, against the naive relay.

The question: does a join cost the server about the same whether the room holds 10 people or
5,000, and does one op still reach everyone quickly?

For each size, into one sanctuary of 100 fragments:

- **fill**: the connections open and join, 64 handshakes at a time per generator process
  (three processes); `joins/s` is connections over the time until all are welcomed, `cpu ms/join`
  the server's CPU (user + system, from /proc) over that time per join, `join p99 ms` the
  slowest percentile of socket-open to welcome.
- **churn**: with the room full, 400 more connections each join and leave again (16 at a time),
  so the room keeps its size; `churn cpu ms` is the server's CPU per join and leave. This is the
  cost of one join *in a room of that size*, the figure that must not grow with the room.
- **KiB/conn**: the growth of the server's resident memory over the fill, per connection, once
  the room is idle.
- **fan-out**: one writer sends one op, five times; every connection records when the next `ops`
  frame reaches it; `p50/p99 ms` are over every delivery; `loop ms/op` is the server's own (wall)
  time handing one op's frame to every socket (from its metrics), `cpu ms/op` its CPU from the
  send until every connection heard it. On a loaded machine the loop's wall time is several
  times its CPU: the server waits for a core between writes.

The generators are cheap on purpose (they share the machine's cores with the server): raw asyncio
protocols on uvloop, a hand-made WebSocket handshake, the hello encoded once, and of each frame
only the header and the first bytes of the payload read (enough to tell a `welcome` or an `ops`).

The server's default caps would refuse such a crowd from one address, so the bench raises them by
flags (see ``SERVER_FLAGS``): ``--max-connections`` and ``--max-connections-per-client`` (4,096 and
256 by default), ``--max-connections-per-sanctuary`` (100), ``--client-bytes-rate`` and
``--client-bytes-burst`` (every generator shares 127.0.0.1), ``--ops-rate``/``--ops-burst`` for the
writer, and a long ``--heartbeat`` so that no pings run during the measure.

The baseline is ``baseline_server.py`` (relays every frame to every socket, no protocol): the
same connections open (a WebSocket handshake, no hello), and the same op bytes are relayed to all.
`ratio` columns are Dreamloom over the baseline. Every row carries the 1-minute load average
(`uptime`) before and after it.

    .venv/bin/python bench/bigroom.py                 # 10, 1,000 and 5,000
    .venv/bin/python bench/bigroom.py --quick         # 10, 200 and 1,000
    .venv/bin/python bench/bigroom.py --sizes 5000 --no-baseline --profile /tmp/prof
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import contextlib
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, cast

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
OUTPUT = ROOT / "bench-output"
sys.path.insert(0, str(BENCH))

from fanout import free_port, proc_cpu, proc_status_kb, scrape, stop, wait_listening  # noqa: E402
from serving import dreamloom_command, spawn  # noqa: E402

SIZES = (10, 1000, 5000)
QUICK_SIZES = (10, 200, 1000)
PROCS = 3
CONCURRENT = 64
CHURN = 400
CHURN_CONCURRENT = 16
ROUNDS = 5
SANCTUARY = "crowd"
#: Seconds for a roster to go out: every 2 s in a room of 5,000 (SPEC W24).
ROSTER_WAIT = 2.5
SUBPROTOCOL = "dreamloom.v1.msgpack"
#: The server's caps raised out of the way of one address opening thousands of sockets.
SERVER_FLAGS: dict[str, Any] = {
    "max_connections": 20000,
    "max_connections_per_client": 20000,
    "max_connections_per_sanctuary": 20000,
    "client_bytes_rate": 1 << 30,
    "client_bytes_burst": 1 << 30,
    "ops_rate": 100000,
    "ops_burst": 100000,
    "heartbeat": 600,
    "heartbeat_timeout": 1200,
}


def start(kind: str, port: int, data_dir: Path, log: Any) -> subprocess.Popen[bytes]:
    if kind == "baseline":
        cmd = [sys.executable, str(BENCH / "baseline_server.py"), "--port", str(port)]
    else:
        cmd = dreamloom_command(port, data_dir, **SERVER_FLAGS)
    return spawn(cmd, log)


# -- a generator process: raw sockets, minimal decoding -------------------------------
def _msgpack_str(s: str) -> bytes:
    raw = s.encode()
    assert len(raw) < 32
    return bytes((0xA0 | len(raw),)) + raw


def hello_frame(name: str) -> bytes:
    """A masked client frame carrying ``hello`` in msgpack (mask key 0: the payload as is)."""
    payload = (
        b"\x85"
        + _msgpack_str("type")
        + _msgpack_str("hello")
        + _msgpack_str("v")
        + b"\x01"
        + _msgpack_str("name")
        + _msgpack_str(name)
        + _msgpack_str("replica")
        + _msgpack_str(name)
        + _msgpack_str("seq")
        + b"\xc0"
    )
    assert len(payload) < 126
    return bytes((0x82, 0x80 | len(payload))) + b"\0\0\0\0" + payload


CLOSE_FRAME = bytes((0x88, 0x82)) + b"\0\0\0\0" + (1000).to_bytes(2, "big")
WELCOME = _msgpack_str("type") + _msgpack_str("welcome")
OPS = _msgpack_str("type") + _msgpack_str("ops")


class Crowd:
    """The connections of one generator process, and what they heard."""

    def __init__(self, kind: str, host: str, port: int, path: str) -> None:
        self.kind, self.host, self.port, self.path = kind, host, port, path
        self.armed = 0
        self.heard: list[float] = []
        self.all_heard = asyncio.Event()
        self.members: list[Member] = []

    def request(self) -> bytes:
        key = base64.b64encode(os.urandom(16)).decode()
        return (
            f"GET {self.path} HTTP/1.1\r\nHost: {self.host}:{self.port}\r\nUpgrade: websocket\r\n"
            f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n"
            f"Sec-WebSocket-Protocol: {SUBPROTOCOL}\r\n\r\n"
        ).encode()

    async def join(self, name: str) -> Member:
        loop = asyncio.get_running_loop()
        joined: asyncio.Future[None] = loop.create_future()
        _, member = await loop.create_connection(lambda: Member(self, name, joined), self.host, self.port)
        await asyncio.wait_for(joined, 120)
        return member

    def ops_heard(self, member: Member) -> None:
        if member.armed:
            member.armed = False
            self.heard.append(time.monotonic())
            self.armed -= 1
            if self.armed == 0:
                self.all_heard.set()


class Member(asyncio.Protocol):
    """One connection: handshake, hello, then frames read header-deep."""

    def __init__(self, crowd: Crowd, name: str, joined: asyncio.Future[None]) -> None:
        self.crowd, self.name, self.joined = crowd, name, joined
        self.transport: asyncio.Transport | None = None
        self.head = b""
        self.upgraded = False
        self.buf = bytearray()
        self.skip = 0
        self.armed = False
        self.opened = time.monotonic()
        self.join_s = 0.0

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)  # uvloop's transports are not asyncio's classes
        self.transport.write(self.crowd.request())

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.joined.done():
            self.joined.set_exception(ConnectionError(f"{self.name}: closed before its welcome"))

    def data_received(self, data: bytes) -> None:
        if not self.upgraded:
            self.head += data
            end = self.head.find(b"\r\n\r\n")
            if end < 0:
                return
            if not self.head.startswith(b"HTTP/1.1 101"):
                self.joined.set_exception(ConnectionError(self.head[:200].decode(errors="replace")))
                return
            self.upgraded = True
            data, self.head = self.head[end + 4 :], b""
            assert self.transport is not None
            if self.crowd.kind == "dreamloom":
                self.transport.write(hello_frame(self.name))
            else:
                self._welcomed()
        self._frames(data)

    def _frames(self, data: bytes) -> None:
        if self.skip:
            if len(data) <= self.skip:
                self.skip -= len(data)
                return
            data = data[self.skip :]
            self.skip = 0
        buf = self.buf
        buf += data
        while len(buf) >= 2:
            n = buf[1] & 0x7F
            head = 2
            if n == 126:
                if len(buf) < 4:
                    return
                n, head = int.from_bytes(buf[2:4], "big"), 4
            elif n == 127:
                if len(buf) < 10:
                    return
                n, head = int.from_bytes(buf[2:10], "big"), 10
            peek = min(n, 16)
            if len(buf) < head + peek:
                return
            self._frame(buf[0] & 0x0F, bytes(buf[head : head + peek]))
            total = head + n
            if len(buf) >= total:
                del buf[:total]
            else:
                self.skip = total - len(buf)
                buf.clear()
                return

    def _frame(self, opcode: int, start: bytes) -> None:
        if opcode not in (1, 2):
            return  # continuations, pings and close: nothing this bench waits for
        if not self.joined.done():
            if WELCOME in start:
                self._welcomed()
            else:
                self.joined.set_exception(ConnectionError(f"{self.name}: first frame {start!r}"))
        elif OPS in start:
            self.crowd.ops_heard(self)

    def _welcomed(self) -> None:
        self.join_s = time.monotonic() - self.opened
        if not self.joined.done():
            self.joined.set_result(None)

    def leave(self) -> None:
        if self.transport is not None:
            self.transport.write(CLOSE_FRAME)
            self.transport.close()


async def churn(crowd: Crowd, names: list[str]) -> None:
    """Each name joins and leaves again, ``CHURN_CONCURRENT`` at a time."""
    gate = asyncio.Semaphore(CHURN_CONCURRENT)

    async def join_and_leave(name: str) -> None:
        async with gate:
            (await crowd.join(name)).leave()

    await asyncio.gather(*(join_and_leave(name) for name in names))


async def generator(kind: str, url: str, count: int, first: int) -> None:
    """Open ``count`` connections, then obey commands on stdin: ``arm``, ``report``, ``churn N``, ``quit``."""
    host_port, path = url.removeprefix("ws://").split("/", 1)
    host, port = host_port.rsplit(":", 1)
    crowd = Crowd(kind, host, int(port), "/" + path)
    gate = asyncio.Semaphore(CONCURRENT)
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    print("up", flush=True)
    await reader.readline()  # "go": the clock starts once every generator has started

    async def one(i: int) -> None:
        async with gate:
            crowd.members.append(await crowd.join(f"p{first + i}"))

    await asyncio.gather(*(one(i) for i in range(count)))
    joins = sorted(m.join_s for m in crowd.members)
    print("ready " + json.dumps(joins), flush=True)
    churned = 0
    while line := (await reader.readline()).decode().strip():
        if line == "arm":
            crowd.heard.clear()
            crowd.all_heard.clear()
            for m in crowd.members:
                m.armed = True
            crowd.armed = len(crowd.members)
            print("armed", flush=True)
        elif line == "report":
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(crowd.all_heard.wait(), 30)
            print(json.dumps(crowd.heard), flush=True)
        elif line.startswith("churn "):
            n = int(line.split()[1])
            await churn(crowd, [f"c{first}-{churned + i}" for i in range(n)])
            churned += n
            print("churned", flush=True)
        elif line == "quit":
            break
    for m in crowd.members:
        m.leave()


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
        if not line.startswith(word):
            raise RuntimeError(f"generator said {line!r}, expected {word!r}")
        return line[len(word) :].strip() if word != "[" else line

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
    from websockets.asyncio.client import connect

    from dreamloom.protocol import CLIENT_SIDE_LIMITS, MSGPACK, Ack, Clock, Hello, Ops, Welcome, codec_for, ops

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


async def fan_out(kind: str, url: str, gens: list[Generator], server_pid: int) -> tuple[list[float], float]:
    """Send one op ``ROUNDS`` times; the delay to every connection that heard it, and the server's
    CPU seconds per op (from the send until every connection heard it: nothing else runs then)."""
    from websockets.asyncio.client import connect

    from dreamloom.protocol import CLIENT_SIDE_LIMITS, MSGPACK, Clock, Hello, Ops, Welcome, codec_for, ops

    codec = codec_for(MSGPACK, CLIENT_SIDE_LIMITS)
    latencies: list[float] = []
    cpu = 0.0
    clock = Clock("writer")
    async with connect(url, subprotocols=[MSGPACK], max_size=None) as ws:  # type: ignore[list-item]
        if kind == "dreamloom":
            await ws.send(codec.encode(Hello(name="writer", replica="writer", seq=None)))
            while not isinstance(codec.decode_server(await ws.recv()), Welcome):
                pass
        await asyncio.sleep(ROSTER_WAIT)  # the writer's own roster goes out first
        for n in range(ROUNDS):
            for g in gens:
                g.tell("arm")
                g.expect("armed")
            op = codec.encode(Ops((ops.set_fields(f"f{n}", clock.tick(), x=n + 0.5),)))
            cpu0 = server_cpu(server_pid)
            sent = time.monotonic()
            await ws.send(op)
            for g in gens:
                g.tell("report")
                latencies.extend(t - sent for t in json.loads(g.expect("[")))
            cpu += server_cpu(server_pid) - cpu0
    return latencies, cpu / ROUNDS


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] if ordered else float("nan")


def server_cpu(pid: int) -> float:
    return sum(proc_cpu(pid))


def profiler(pid: int, out: Path) -> subprocess.Popen[bytes] | None:
    """py-spy recording the server (collapsed stacks), if py-spy is installed."""
    spy = shutil.which("py-spy") or str(Path(sys.executable).parent / "py-spy")
    if not Path(spy).exists():
        print("py-spy not found: no profile", file=sys.stderr)
        return None
    cmd = [spy, "record", "--pid", str(pid), "--format", "raw", "--rate", "200", "--output", str(out)]
    return subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def end_profile(spy: subprocess.Popen[bytes] | None) -> None:
    if spy is not None:
        spy.send_signal(2)
        with contextlib.suppress(subprocess.TimeoutExpired):
            spy.wait(30)


def measure(kind: str, size: int, workdir: Path, profile: Path | None = None) -> dict[str, Any]:
    port = free_port()
    url = f"ws://127.0.0.1:{port}/ws/{SANCTUARY}"
    row: dict[str, Any] = {"server": kind, "conns": size, "load1": round(os.getloadavg()[0], 2)}
    with (workdir / f"{kind}.log").open("ab") as log:
        server = start(kind, port, workdir / f"data-{size}", log)
        gens: list[Generator] = []
        try:
            wait_listening(port, server)
            if kind == "dreamloom":
                asyncio.run(seed(url))
            rss0 = proc_status_kb(server.pid, "VmRSS")
            spy = profiler(server.pid, profile / f"{kind}-{size}-fill.txt") if profile else None
            procs = min(PROCS, size)
            shares = [size // procs + (1 if i < size % procs else 0) for i in range(procs)]
            firsts = [sum(shares[:i]) for i in range(procs)]
            gens = [Generator(kind, url, n, f) for n, f in zip(shares, firsts, strict=True)]
            for g in gens:
                g.expect("up")
            cpu0 = server_cpu(server.pid)
            started = time.monotonic()
            for g in gens:
                g.tell("go")
            joins: list[float] = []
            for g in gens:
                joins += json.loads(g.expect("ready"))
            elapsed = time.monotonic() - started
            cpu = server_cpu(server.pid) - cpu0
            end_profile(spy)
            row["joins/s"] = round(size / elapsed)
            row["cpu ms/join"] = round(1000 * cpu / size, 2)
            row["join p99 ms"] = round(1000 * percentile(joins, 0.99), 1)
            time.sleep(ROSTER_WAIT)  # the last roster goes out and the room is idle before measuring memory
            row["KiB/conn"] = round((proc_status_kb(server.pid, "VmRSS") - rss0) / size, 1)

            spy = profiler(server.pid, profile / f"{kind}-{size}-churn.txt") if profile else None
            cpu0 = server_cpu(server.pid)
            per = CHURN // len(gens)
            for g in gens:
                g.tell(f"churn {per}")
            for g in gens:
                g.expect("churned")
            row["churn cpu ms"] = round(1000 * (server_cpu(server.pid) - cpu0) / (per * len(gens)), 2)
            end_profile(spy)
            time.sleep(ROSTER_WAIT)  # the churn's leaves go out before the fan-out

            before = scrape(port if kind == "dreamloom" else None)
            latencies, cpu_per_op = asyncio.run(fan_out(kind, url, gens, server.pid))
            after = scrape(port if kind == "dreamloom" else None)
            spent = "dreamloom_broadcast_latency_seconds_sum"
            if spent in after:
                # The server's wall time in the fan-out loop of one op (on a loaded machine, more than its CPU).
                row["loop ms/op"] = round(1000 * (after[spent] - before.get(spent, 0.0)) / ROUNDS, 1)
            row["cpu ms/op"] = round(1000 * cpu_per_op, 1)
            row["p50 ms"] = round(1000 * percentile(latencies, 0.5), 1)
            row["p99 ms"] = round(1000 * percentile(latencies, 0.99), 1)
            row["delivered"] = f"{len(latencies)}/{ROUNDS * size}"
        finally:
            for g in gens:
                g.close()
            stop(server)
    row["load1 after"] = round(os.getloadavg()[0], 2)
    return row


def main(
    quick: bool = False, sizes: tuple[int, ...] | None = None, baseline: bool = True, profile: Path | None = None
) -> list[dict[str, Any]]:
    """Rows for each size: Dreamloom, the baseline, and their ratios."""
    rows: list[dict[str, Any]] = []
    print(f"uptime: {subprocess.run(['uptime'], capture_output=True, text=True).stdout.strip()}", flush=True)
    if profile is not None:
        profile.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="dreamloom-bigroom-") as tmp:
        for size in sizes or (QUICK_SIZES if quick else SIZES):
            ours = measure("dreamloom", size, Path(tmp), profile)
            print(json.dumps(ours), flush=True)
            rows.append(ours)
            if not baseline:
                continue
            base = measure("baseline", size, Path(tmp))
            print(json.dumps(base), flush=True)
            for key in ("joins/s", "cpu ms/join", "churn cpu ms", "p99 ms", "KiB/conn"):
                if base.get(key):
                    ours[f"{key} ratio"] = round(ours[key] / base[key], 2)
            rows.append(base)
    print(f"uptime: {subprocess.run(['uptime'], capture_output=True, text=True).stdout.strip()}", flush=True)
    OUTPUT.mkdir(exist_ok=True)
    (OUTPUT / "bigroom-latest.json").write_text(json.dumps(rows, indent=2))
    return rows


def _raise_fd_limit() -> None:
    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    with contextlib.suppress(ValueError, OSError):
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="10, 200 and 1,000 connections")
    parser.add_argument("--sizes", help="comma-separated connection counts")
    parser.add_argument("--no-baseline", action="store_true", help="skip the naive relay")
    parser.add_argument("--profile", type=Path, help="record the server with py-spy into this folder")
    parser.add_argument("--generator", nargs=4, help=argparse.SUPPRESS)
    args = parser.parse_args()
    _raise_fd_limit()
    if args.generator:
        with contextlib.suppress(ImportError):
            import uvloop

            asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())
        kind, url, count, first = args.generator
        asyncio.run(generator(kind, url, int(count), int(first)))
    else:
        sizes = tuple(int(s) for s in args.sizes.split(",")) if args.sizes else None
        main(quick=args.quick, sizes=sizes, baseline=not args.no_baseline, profile=args.profile)
