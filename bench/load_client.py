"""Load generator of the fan-out benchmark: one process driving a share of the clients.

Run by ``bench/fanout.py`` as a child process, so that its CPU never counts as the
server's. It talks to its parent in JSON lines (commands on stdin, reports on stdout):

    child  -> {"event": "ready", ...}                  every client connected (and welcomed)
    parent -> {"cmd": "level", "index": i, "rate": r, "start": T, "duration": d}
    child  -> {"event": "sent", "index": i, "sent": n, ...}   its writers are done
    parent -> {"cmd": "drain", "index": i, "expected": E, "timeout": s}
    child  -> {"event": "level", "index": i, "received": [...], "lat_file": path, ...}
    parent -> {"cmd": "quit"}

Every op carries its send time in ``x`` (milliseconds since the parent's epoch on
``time.monotonic()``, one clock for every process of this machine) so each
receiver measures send-to-receive latency of each op it gets. Against Dreamloom
the clients speak the real protocol (subprotocol ``dreamloom.v1.msgpack``,
``hello``, ops stamped from a :class:`Clock`); against the baseline they send the
very same bytes, which the baseline relays untouched.
"""

from __future__ import annotations

import argparse
import array
import asyncio
import contextlib
import json
import random
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import msgpack
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from dreamloom.protocol import MSGPACK, Clock, Hello, MsgpackCodec, Op, Ops, ops, zorder

POINTS_PER_STROKE = 20
CREATE_EVERY = 4  # one create, then three sets of the fragment just made


def _say(obj: dict[str, Any]) -> None:
    sys.stdout.write(json.dumps(obj) + "\n")
    sys.stdout.flush()


def _stroke_points(rng: random.Random) -> list[float]:
    """A hand-drawn-looking stroke: a wobbly walk, coordinates relative to its origin, to 0.1 px."""
    pts: list[float] = []
    x = y = 0.0
    for _ in range(POINTS_PER_STROKE):
        x += rng.uniform(2.0, 14.0)
        y += rng.uniform(-9.0, 9.0)
        pts += [round(x, 1), round(y, 1)]
    return pts


@dataclass
class Client:
    """One connection and what it has received in the current level."""

    index: int
    ws: ClientConnection
    received: int = 0
    stale: int = 0  # ops of an earlier level that arrived after its drain ended
    frames: int = 0
    acked: int = 0
    rejected: int = 0
    gaps: int = 0
    next_seq: int | None = None
    closed_code: int | None = None
    last_recv: float = 0.0
    latencies: array.array[float] = field(default_factory=lambda: array.array("d"))


class Writer:
    """Makes realistic ops for one writing client: a stroke, then moves and reshapes of it."""

    def __init__(self, number: int, replica: str, seed: int) -> None:
        self.number = number
        self.clock = Clock(replica)
        self.rng = random.Random(seed)
        self.shapes = [_stroke_points(self.rng) for _ in range(16)]
        self.tag = zorder.replica_tag(replica)
        self.codec = MsgpackCodec()
        self.made = 0
        self.current = ""
        self.style = {"color": "#5cd3ff", "width": 3, "opacity": 1}

    def next_frame(self, k: int, t_ms: float) -> bytes:
        """The ``k``-th op of this writer as a client ``ops`` frame, sent at ``t_ms``."""
        y = round(self.rng.uniform(0, 2000), 1)
        if k % CREATE_EVERY == 0:
            self.made += 1
            self.current = f"w{self.number}-{self.made}"
            op: Op = ops.create(
                self.current,
                self.clock.tick(),
                kind="stroke",
                geom={"pts": self.rng.choice(self.shapes)},
                z=f"V{self.made:07d}{self.tag}",
                x=t_ms,
                y=y,
                style=self.style,
            )
        elif k % 2:
            op = ops.set_fields(self.current, self.clock.tick(), x=t_ms, y=y)  # a drag
        else:  # a reshape while dragging
            op = ops.set_fields(
                self.current, self.clock.tick(), x=t_ms, y=y, geom={"pts": self.rng.choice(self.shapes)}
            )
        return self.codec.encode(Ops((op,)))


class Load:
    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.epoch: float = args.epoch
        self.dreamloom = args.server == "dreamloom"
        self.clients: list[Client] = []
        self.writers: dict[int, Writer] = {}
        self.level = -1
        self.level_start_ms = 0.0
        self.ops_sent = 0  # ops sent by writers of this process over the whole run
        self.expected: int | None = None
        self.drained = asyncio.Event()
        self.outdir = Path(args.outdir)
        # Writers are spread evenly over the clients, so each process gets its share.
        self.stride = max(1, args.total_clients // max(1, args.writers))

    def now_ms(self) -> float:
        return (time.monotonic() - self.epoch) * 1000.0

    # -- connecting -------------------------------------------------------
    async def connect_all(self) -> None:
        first = self.args.first_client
        for i in range(first, first + self.args.clients):
            ws = await connect(
                self.args.url,
                subprotocols=[MSGPACK] if self.dreamloom else None,  # type: ignore[list-item]
                compression=None,
                proxy=None,
                ping_interval=None,
                max_size=64 * 1024 * 1024,
                max_queue=1024,
                open_timeout=20,
                close_timeout=2,
            )
            client = Client(i, ws)
            self.clients.append(client)
            replica = f"bench-{i}"
            if i % self.stride == 0 and i // self.stride < self.args.writers:
                self.writers[i] = Writer(i // self.stride, replica, seed=1000 + i)
            if self.dreamloom:
                await ws.send(MsgpackCodec().encode(Hello(name=f"dreamer {i}", replica=replica)))
                welcome = msgpack.unpackb(await asyncio.wait_for(ws.recv(), 20), raw=False)
                if welcome.get("type") != "welcome":
                    raise RuntimeError(f"expected a welcome, got {welcome.get('type')!r}")
                client.next_seq = welcome["seq"] + 1

    # -- receiving --------------------------------------------------------
    async def read(self, client: Client) -> None:
        unpack = msgpack.unpackb
        try:
            async for data in client.ws:
                now = self.now_ms()
                msg = unpack(data, raw=False)
                kind = msg.get("type")
                if kind != "ops":
                    if kind == "ack":
                        client.acked += len(msg["acks"])
                    elif kind == "reject":
                        client.rejected += 1
                    continue
                client.frames += 1
                batch = msg["ops"]
                if self.dreamloom:
                    seq = msg["seq"]
                    if seq != client.next_seq:
                        client.gaps += 1
                    client.next_seq = seq + len(batch)
                start = self.level_start_ms
                lat = client.latencies
                for op in batch:
                    sent = op["f"]["x"]
                    if sent < start:
                        client.stale += 1
                        continue
                    lat.append(now - sent)
                client.received += len(batch)
                client.last_recv = now
                if self.expected is not None and client.received >= self.expected:
                    self._check_drained()
        except ConnectionClosed as exc:
            client.closed_code = exc.rcvd.code if exc.rcvd is not None else 1006
        finally:
            if client.closed_code is None:
                client.closed_code = 1006
            self._check_drained()

    def _check_drained(self) -> None:
        if self.expected is None:
            return
        if all(c.received >= self.expected or c.closed_code is not None for c in self.clients):
            self.drained.set()

    # -- writing ----------------------------------------------------------
    async def write(self, client: Client, writer: Writer, rate: float, start: float, duration: float) -> float:
        """Send ``rate`` ops/s for ``duration`` seconds on a fixed schedule; return the worst lateness (s)."""
        n = round(rate * duration)
        # Spread the writers over one period so their sends do not all fall on the same tick.
        offset = (writer.number / max(1, self.args.writers)) / rate
        worst = 0.0
        base_k = writer.made * CREATE_EVERY
        for k in range(n):
            due = start + offset + k / rate
            delay = due - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
            else:
                worst = max(worst, -delay)
            frame = writer.next_frame(base_k + k, self.now_ms())
            try:
                await client.ws.send(frame)
            except ConnectionClosed:
                break
            self.ops_sent += 1
        return worst

    # -- levels -----------------------------------------------------------
    async def run_level(self, cmd: dict[str, Any]) -> None:
        self.level = cmd["index"]
        self.expected = None
        self.drained.clear()
        for c in self.clients:
            c.received = c.stale = c.frames = c.acked = c.rejected = c.gaps = 0
            c.latencies = array.array("d")
        start: float = cmd["start"]
        self.level_start_ms = (start - self.epoch) * 1000.0
        self.cpu0 = time.process_time()
        self.wall0 = time.monotonic()
        sent0 = self.ops_sent
        lateness = await asyncio.gather(
            *(
                self.write(self.clients[i - self.args.first_client], w, cmd["rate"], start, cmd["duration"])
                for i, w in self.writers.items()
            )
        )
        _say(
            {
                "event": "sent",
                "index": self.level,
                "sent": self.ops_sent - sent0,
                "worst_send_lateness_s": max(lateness, default=0.0),
                "cpu_s": time.process_time() - self.cpu0,
            }
        )

    async def drain(self, cmd: dict[str, Any]) -> None:
        self.expected = cmd["expected"]
        self._check_drained()
        timed_out = False
        try:
            await asyncio.wait_for(self.drained.wait(), cmd["timeout"])
        except TimeoutError:
            timed_out = True
        cpu = time.process_time() - self.cpu0
        wall = time.monotonic() - self.wall0
        path = self.outdir / f"lat-{self.args.tag}-{self.level}.bin"
        merged = array.array("d")
        for c in self.clients:
            merged.extend(c.latencies)
        with path.open("wb") as f:
            merged.tofile(f)
        _say(
            {
                "event": "level",
                "index": self.level,
                "received": [c.received for c in self.clients],
                "stale": sum(c.stale for c in self.clients),
                "frames": sum(c.frames for c in self.clients),
                "acked": sum(c.acked for c in self.clients),
                "rejected": sum(c.rejected for c in self.clients),
                "gaps": sum(c.gaps for c in self.clients),
                "closed": [c.closed_code for c in self.clients if c.closed_code is not None],
                "last_recv_ms": max((c.last_recv for c in self.clients), default=0.0),
                "drain_timed_out": timed_out,
                "cpu_s": cpu,
                "wall_s": wall,
                "lat_file": str(path),
            }
        )

    async def main(self) -> None:
        await self.connect_all()
        readers = [asyncio.create_task(self.read(c)) for c in self.clients]
        _say({"event": "ready", "clients": len(self.clients), "writers": len(self.writers)})
        loop = asyncio.get_running_loop()
        try:
            while True:
                line = await loop.run_in_executor(None, sys.stdin.readline)
                if not line:
                    break
                cmd = json.loads(line)
                if cmd["cmd"] == "level":
                    await self.run_level(cmd)
                elif cmd["cmd"] == "drain":
                    await self.drain(cmd)
                else:
                    break
        finally:
            for c in self.clients:
                with contextlib.suppress(Exception):
                    await asyncio.wait_for(c.ws.close(), 2)
            for r in readers:
                r.cancel()
            await asyncio.gather(*readers, return_exceptions=True)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description="fan-out benchmark load generator (run by bench/fanout.py)")
    p.add_argument("--url", required=True)
    p.add_argument("--server", choices=("dreamloom", "baseline"), required=True)
    p.add_argument("--first-client", type=int, required=True, help="index of this process's first client")
    p.add_argument("--clients", type=int, required=True, help="clients in this process")
    p.add_argument("--total-clients", type=int, required=True, help="clients of the whole run")
    p.add_argument("--writers", type=int, required=True, help="writing clients of the whole run")
    p.add_argument("--epoch", type=float, required=True, help="time.monotonic() value that x timestamps count from")
    p.add_argument("--outdir", required=True)
    p.add_argument("--tag", required=True)
    args = p.parse_args(argv)
    asyncio.run(Load(args).main())
    return 0


if __name__ == "__main__":
    sys.exit(main())
