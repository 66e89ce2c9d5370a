"""``make soak``: a bounded abuse run against a real server, with an honest client watching.

Starts ``dreamloom serve`` (default limits) on a free port, an honest client in its
own process (pings every 50 ms, one write every 200 ms, from 127.0.0.1), then plays
each attack of the abuse checklist for a few seconds from other loopback addresses
(127.0.0.x: each is a different client to the server):

    render      8 at a time: 4,096-pixel PNGs and JSON reads at random seqs of a dense
                tapestry (60 strokes of 4,096 points)
    memory      16 guests writing 4,096-point strokes as fast as they can send
    half-open   1,100 sockets sending half a request head and holding it
    sanctuaries 300 POSTs, 300 joins of new ids and unsafe ids, from one address
    presence    4,096-point previews as fast as possible, into the honest client's
                sanctuary with 20 members
    static      /static/%00, the web tests, the README

The attacks run at a lower CPU priority than the server and the honest client: on a
real deployment they come from other machines. It prints one row per attack: the
honest client's ping and write p99, the server's event-loop lag p99 (from its
``/metrics``), RSS peak (server and its render workers) and descriptors, and the
typed errors the attacker got.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import random
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import aiohttp
import msgpack
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from dreamloom.protocol import MSGPACK, Clock, Hello, MsgpackCodec, Ops, Ping, Presence, PresenceState, ops, zorder

CODEC = MsgpackCodec()
HONEST = "127.0.0.1"
WATCH = "127.0.0.2"  # the soak's own reads of /metrics and /healthz
DENSE_STROKES = 60
POINTS = 4096
RSS_CEILING_MIB = 600
ATTACKER_NICENESS = 10
Z = zorder.between(None, None)


def _pts(seed: int, n: int = POINTS) -> list[float]:
    rng = random.Random(seed)
    out: list[float] = []
    for i in range(n):
        out += [round(i * 0.5, 1), round(rng.uniform(-200, 200), 1)]
    return out


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


# -- a WebSocket member --------------------------------------------------------------
class Member:
    """One raw protocol connection: hello, then whatever the attack sends; it counts what comes back."""

    def __init__(self, ws: ClientConnection, replica: str) -> None:
        self.ws = ws
        self.clock = Clock(replica)
        self.replica = replica
        self.codes: Counter[str] = Counter()
        self.acked: dict[int, float] = {}
        self.pongs: dict[int, float] = {}
        self._reader: asyncio.Task[None] | None = None
        self._arrived = asyncio.Condition()

    async def until(self, predicate: Callable[[], bool], within: float = 30.0) -> bool:
        """Wait (at most ``within`` seconds) until ``predicate()`` holds after a message arrived."""

        async def wait() -> None:
            async with self._arrived:
                await self._arrived.wait_for(predicate)

        try:
            await asyncio.wait_for(wait(), within)
        except TimeoutError:
            return False
        return True

    @classmethod
    async def join(cls, base: str, sanctuary: str, source: str, replica: str) -> Member:
        ws = await connect(
            f"{base.replace('http', 'ws')}/ws/{sanctuary}",
            subprotocols=[MSGPACK],  # type: ignore[list-item]
            max_size=64 * 1024 * 1024,
            ping_interval=None,
            compression=None,
            local_addr=(source, 0),
            open_timeout=10,
        )
        member = cls(ws, replica)
        await ws.send(CODEC.encode(Hello(name="soak", replica=replica, seq=None)))
        first = msgpack.unpackb(await asyncio.wait_for(ws.recv(), 10), raw=False)
        if first.get("type") == "error":
            member.codes[f"{first['code']}"] += 1
        member._reader = asyncio.create_task(member._read())
        return member

    async def _read(self) -> None:
        with contextlib.suppress(ConnectionClosed, asyncio.CancelledError):
            async for data in self.ws:
                msg = msgpack.unpackb(data, raw=False)
                kind = msg.get("type")
                if kind == "ack":
                    now = time.monotonic()
                    for counter, _seq in msg["acks"]:
                        self.acked[counter] = now
                elif kind == "reject":
                    self.codes[f"{msg['code']}:{msg.get('rule')}"] += 1
                elif kind == "error":
                    self.codes[str(msg["code"])] += 1
                elif kind == "pong":
                    self.pongs[int(msg["t"])] = time.monotonic()
                async with self._arrived:
                    self._arrived.notify_all()
        if self.ws.close_code not in (None, 1000, 1001):
            self.codes[f"close {self.ws.close_code}"] += 1

    def stroke(self, n: int, pts: list[float]) -> bytes:
        op = ops.create(f"{self.replica}-{n}", self.clock.tick(), kind="stroke", geom={"pts": pts}, z=Z)
        return CODEC.encode(Ops((op,)))

    async def close(self) -> None:
        with contextlib.suppress(Exception):
            await asyncio.wait_for(self.ws.close(), 2)
        if self._reader is not None:
            self._reader.cancel()


# -- the honest client (its own process) ---------------------------------------------
async def honest(base: str) -> None:
    me = await Member.join(base, "honest", HONEST, "honest-1")
    t0 = time.monotonic()
    n = 0

    async def pings() -> None:
        k = 0
        while True:
            k += 1
            sent = time.monotonic()
            await me.ws.send(CODEC.encode(Ping(k)))
            await me.until(lambda k=k: k in me.pongs)  # type: ignore[misc]
            print(json.dumps({"kind": "ping", "t": sent, "ms": (me.pongs[k] - sent) * 1000}), flush=True)
            await asyncio.sleep(0.05)

    async def writes() -> None:
        nonlocal n
        while True:
            n += 1
            op = ops.create(f"h{n}", me.clock.tick(), kind="symbol", geom={"sym": "moon", "size": 20}, z=Z, x=n)
            sent = time.monotonic()
            await me.ws.send(CODEC.encode(Ops((op,))))
            counter = op.stamp.counter
            await me.until(lambda c=counter: c in me.acked or bool(me.codes))  # type: ignore[misc]
            if counter in me.acked:
                print(json.dumps({"kind": "write", "t": sent, "ms": (me.acked[counter] - sent) * 1000}), flush=True)
            await asyncio.sleep(0.2)

    del t0
    await asyncio.gather(pings(), writes())


# -- server measurements --------------------------------------------------------------
def _tree(pid: int) -> list[int]:
    pids, frontier = [pid], [pid]
    while frontier:
        parent = frontier.pop()
        for entry in os.listdir("/proc"):
            if entry.isdigit():
                with contextlib.suppress(OSError):
                    stat = Path(f"/proc/{entry}/stat").read_text()
                    if int(stat.rsplit(")", 1)[1].split()[1]) == parent:
                        pids.append(int(entry))
                        frontier.append(int(entry))
    return pids


def _rss_mib(pids: list[int]) -> float:
    total = 0
    for pid in pids:
        with contextlib.suppress(OSError):
            for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1])
    return total / 1024


def _fds(pid: int) -> int:
    try:
        return len(os.listdir(f"/proc/{pid}/fd"))
    except OSError:
        return 0


async def _lag_buckets(http: aiohttp.ClientSession, base: str) -> dict[float, float]:
    async with http.get(base + "/metrics") as resp:
        text = await resp.text()
    out: dict[float, float] = {}
    for line in text.splitlines():
        if line.startswith("dreamloom_event_loop_lag_seconds_bucket"):
            le = line.split('le="')[1].split('"')[0]
            out[float("inf") if le == "+Inf" else float(le)] = float(line.rsplit(" ", 1)[1])
    return out


def _p99_of_buckets(before: dict[float, float], after: dict[float, float]) -> float:
    deltas = sorted((le, after[le] - before.get(le, 0.0)) for le in after)
    total = deltas[-1][1] if deltas else 0.0
    if total <= 0:
        return 0.0
    for le, count in deltas:
        if count >= 0.99 * total:
            return le * 1000
    return float("inf")


def _p99(values: list[float]) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(0.99 * len(ordered)))]


# -- attacks ----------------------------------------------------------------------
Attack = Callable[[str, float, Counter[str]], Awaitable[None]]


async def _http_codes(resp: aiohttp.ClientResponse, codes: Counter[str]) -> None:
    body = await resp.read()
    if resp.status >= 400:
        try:
            codes[f"{resp.status} {json.loads(body)['error']['code']}"] += 1
        except (ValueError, KeyError, TypeError):
            codes[str(resp.status)] += 1
    else:
        codes[str(resp.status)] += 1


async def render(base: str, until: float, codes: Counter[str]) -> None:
    connector = aiohttp.TCPConnector(local_addr=("127.0.0.10", 0), limit=0)
    async with aiohttp.ClientSession(connector=connector) as http:

        async def one(k: int) -> None:
            rng = random.Random(k)
            while time.monotonic() < until:
                seq = rng.randint(1, DENSE_STROKES)
                path = f"tapestry.png?width=4096&at={seq}" if k % 2 else f"tapestry.json?at={seq}"
                async with http.get(f"{base}/api/sanctuaries/dense/{path}") as resp:
                    await _http_codes(resp, codes)
                    if resp.status in (429, 503):
                        await asyncio.sleep(0.05)

        await asyncio.gather(*(one(k) for k in range(8)))


async def memory(base: str, until: float, codes: Counter[str]) -> None:
    members = [await Member.join(base, "flood", "127.0.0.30", f"flood{i}") for i in range(16)]
    pts = _pts(7)

    async def flood(m: Member) -> None:
        n = 0
        with contextlib.suppress(ConnectionClosed):
            while time.monotonic() < until:
                n += 1
                await m.ws.send(m.stroke(n, pts))
                await asyncio.sleep(0)

    await asyncio.gather(*(flood(m) for m in members))
    for m in members:
        await m.close()
        codes.update(m.codes)


async def half_open(base: str, until: float, codes: Counter[str]) -> None:
    port = int(base.rsplit(":", 1)[1])
    held: list[asyncio.StreamWriter] = []

    async def one() -> None:
        try:
            reader, writer = await asyncio.open_connection("127.0.0.1", port, local_addr=("127.0.0.40", 0))
        except OSError as exc:
            codes[f"connect failed: {exc.errno}"] += 1
            return
        try:
            # A socket over a cap is answered as soon as it is accepted: look before writing.
            head = await asyncio.wait_for(reader.read(4096), 0.2)
        except TimeoutError:
            writer.write(b"GET /healthz HTTP/1.1\r\nHost: soak\r\n")  # half a head, then nothing
            held.append(writer)
            return
        if not head:
            codes["closed by the server"] += 1
        elif b'"code":"' in head:
            codes[f"{head.split()[1].decode()} " + head.split(b'"code":"')[1].split(b'"')[0].decode()] += 1
        writer.close()

    for start in range(0, 1100, 100):
        await asyncio.gather(*(one() for _ in range(100)))
        del start
    await asyncio.sleep(max(0.0, until - time.monotonic()))
    codes[f"held open {len(held)}"] += 1
    for writer in held:
        writer.close()


async def sanctuaries(base: str, until: float, codes: Counter[str]) -> None:
    connector = aiohttp.TCPConnector(local_addr=("127.0.0.50", 0))
    async with aiohttp.ClientSession(connector=connector) as http:
        for i in range(300):
            async with http.post(f"{base}/api/sanctuaries", json={"id": f"spam-{i}"}) as resp:
                await _http_codes(resp, codes)
        for bad in ("..", ".", "__proto__", "CON", "nul.txt"):
            async with http.post(f"{base}/api/sanctuaries", json={"id": bad}) as resp:
                await _http_codes(resp, codes)
    for i in range(300):
        if time.monotonic() > until + 10:
            break
        try:
            m = await Member.join(base, f"spamws-{i}", "127.0.0.50", f"w{i}")
        except Exception as exc:  # a refusal before the upgrade
            codes[type(exc).__name__] += 1
            continue
        await m.close()
        codes.update(f"ws {c}" for c in m.codes.elements())
    await asyncio.sleep(max(0.0, until - time.monotonic()))


async def presence(base: str, until: float, codes: Counter[str]) -> None:
    idle = [await Member.join(base, "honest", "127.0.0.60", f"idle{i}") for i in range(18)]
    attacker = await Member.join(base, "honest", "127.0.0.61", "preview")
    preview = {"pts": _pts(3), "style": {"color": "#ff00ff"}}
    k = 0
    with contextlib.suppress(ConnectionClosed):
        while time.monotonic() < until:
            k += 1
            await attacker.ws.send(CODEC.encode(Presence(PresenceState(cursor=(float(k), 0.0), preview=preview))))
            await asyncio.sleep(1 / 60)
    for m in [*idle, attacker]:
        await m.close()
    codes.update(attacker.codes)


async def static(base: str, until: float, codes: Counter[str]) -> None:
    connector = aiohttp.TCPConnector(local_addr=("127.0.0.70", 0))
    async with aiohttp.ClientSession(connector=connector) as http:
        while time.monotonic() < until:
            for path in PROBES:
                async with http.get(base + path) as resp:
                    await resp.read()
                    codes[f"{path} {resp.status}"] += 1
            await asyncio.sleep(0.01)


PROBES = ("/static/%00", "/static/tests/helpers.mjs", "/static/README.md", "/static/..%2F..%2Fpyproject.toml")
ATTACKS: dict[str, Attack] = {
    "render": render,
    "memory": memory,
    "half-open": half_open,
    "sanctuaries": sanctuaries,
    "presence": presence,
    "static": static,
}


async def _idle(base: str, until: float, codes: Counter[str]) -> None:
    await asyncio.sleep(max(0.0, until - time.monotonic()))


async def _prepare(base: str) -> None:
    """The dense tapestry the render attack reads: 60 strokes of 4,096 points, from six writers."""

    async def writer(i: int) -> None:
        m = await Member.join(base, "dense", f"127.0.0.{20 + i}", f"dense{i}")
        for n in range(DENSE_STROKES // 6):
            await m.ws.send(m.stroke(n, _pts(i * 100 + n)))
        await m.until(lambda: len(m.acked) >= DENSE_STROKES // 6)
        await m.close()

    first = await Member.join(base, "dense", "127.0.0.20", "dense-create")
    await first.close()
    await asyncio.gather(*(writer(i) for i in range(6)))


async def _read_honest(proc: asyncio.subprocess.Process, samples: list[dict[str, Any]]) -> None:
    assert proc.stdout is not None
    while line := await proc.stdout.readline():
        with contextlib.suppress(ValueError):
            samples.append(json.loads(line))


async def soak(seconds: float) -> list[dict[str, Any]]:
    port = _free_port()
    base = f"http://127.0.0.1:{port}"
    with tempfile.TemporaryDirectory(prefix="dreamloom-soak-") as data:
        server = await asyncio.create_subprocess_exec(
            *[sys.executable, "-m", "dreamloom", "serve", "--port", str(port), "--data-dir", data],
            stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.DEVNULL,
        )
        connector = aiohttp.TCPConnector(local_addr=(WATCH, 0))
        async with aiohttp.ClientSession(connector=connector) as http:
            try:
                for _ in range(200):
                    with contextlib.suppress(aiohttp.ClientError):
                        async with http.get(base + "/healthz") as resp:
                            if resp.status == 200:
                                break
                    await asyncio.sleep(0.05)
                async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(local_addr=(HONEST, 0))) as h:
                    await (await h.post(base + "/api/sanctuaries", json={"id": "honest"})).read()
                await _prepare(base)
                honest_proc = await asyncio.create_subprocess_exec(
                    sys.executable, __file__, "--honest", base, stdout=asyncio.subprocess.PIPE
                )
                samples: list[dict[str, Any]] = []
                reading = asyncio.create_task(_read_honest(honest_proc, samples))
                # Real attackers run on their own machines: here they share two cores with the server,
                # so they yield the CPU first instead of slowing it down by sheer competition.
                os.nice(ATTACKER_NICENESS)
                await asyncio.sleep(1.0)
                rows = []
                for name, attack in [("(none)", _idle), *ATTACKS.items()]:
                    rows.append(await _phase(http, base, server.pid, name, attack, seconds, samples))
                honest_proc.terminate()
                await honest_proc.wait()
                reading.cancel()
                return rows
            finally:
                server.terminate()
                await asyncio.wait_for(server.wait(), 20)


async def _phase(
    http: aiohttp.ClientSession,
    base: str,
    pid: int,
    name: str,
    attack: Attack,
    seconds: float,
    samples: list[dict[str, Any]],
) -> dict[str, Any]:
    before = await _lag_buckets(http, base)
    start = time.monotonic()
    until = start + seconds
    codes: Counter[str] = Counter()
    peak = {"rss": 0.0, "fds": 0}
    health: list[int] = []

    async def sample() -> None:
        while True:
            peak["rss"] = max(peak["rss"], _rss_mib(_tree(pid)))
            peak["fds"] = max(peak["fds"], _fds(pid))
            with contextlib.suppress(Exception):
                async with http.get(base + "/healthz", timeout=aiohttp.ClientTimeout(total=2)) as resp:
                    health.append(resp.status)
            await asyncio.sleep(0.1)

    sampler = asyncio.create_task(sample())
    try:
        await attack(base, until, codes)
    finally:
        sampler.cancel()
    end = time.monotonic()
    after = await _lag_buckets(http, base)
    pings = [s["ms"] for s in samples if s["kind"] == "ping" and start <= s["t"] <= end]
    writes = [s["ms"] for s in samples if s["kind"] == "write" and start <= s["t"] <= end]
    return {
        "attack": name,
        "ping p99 ms": round(_p99(pings), 1),
        "write p99 ms": round(_p99(writes), 1),
        "loop lag p99 ms": _p99_of_buckets(before, after),
        "RSS peak MiB": round(peak["rss"]),
        "fds peak": peak["fds"],
        "healthz": f"{sum(1 for h in health if h == 200)}/{len(health)} ok",
        "typed errors": ", ".join(f"{c} x{n}" for c, n in codes.most_common(6)) or "-",
    }


def table(rows: list[dict[str, Any]]) -> str:
    keys = list(rows[0])
    lines = ["| " + " | ".join(keys) + " |", "|" + "---|" * len(keys)]
    lines += ["| " + " | ".join(str(r[k]) for k in keys) + " |" for r in rows]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    p.add_argument("--seconds", type=float, default=4.0, help="length of each attack (default: 4)")
    p.add_argument("--honest", metavar="URL", help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.honest:
        asyncio.run(honest(args.honest))
        return 0
    rows = asyncio.run(soak(args.seconds))
    print(table(rows))
    worst_ping = max(r["ping p99 ms"] for r in rows)
    worst_rss = max(r["RSS peak MiB"] for r in rows)
    print(
        f"\nhonest ping p99, worst attack: {worst_ping} ms (goal < 100 ms); "
        f"RSS peak {worst_rss} MiB (ceiling {RSS_CEILING_MIB} MiB)"
    )
    return 0 if worst_ping < 100 and worst_rss < RSS_CEILING_MIB else 1


if __name__ == "__main__":
    sys.exit(main())
