"""Crash safety (SPEC S1): the real server process is SIGKILLed at random moments while clients write;
every acknowledged op survives each kill, and the database stays sound."""

from __future__ import annotations

import asyncio
import contextlib
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

from acked import AckedLedger, contiguous, missing_from_log, read_log, unreflected
from fuzz import seed
from wire import WireClient, scaled

from dreamloom.protocol import Op, Tapestry
from dreamloom.server.testing import free_port

KILLS = 10
WRITERS = 3
SHARED = ("s0", "s1", "s2")


def start(port: int, data_dir: Path, log: Path) -> subprocess.Popen[bytes]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("DREAMLOOM_")}
    with log.open("ab") as out:
        return subprocess.Popen(
            [
                *(sys.executable, "-m", "dreamloom", "serve"),
                *("--port", str(port), "--data-dir", str(data_dir), "--snapshot-every", "50"),
                *("--log-level", "WARNING"),
            ],
            stdout=out,
            stderr=subprocess.STDOUT,
            env=env,
        )


async def wait_listening(proc: subprocess.Popen[bytes], port: int, log: Path) -> None:
    """Poll until the process accepts connections (there is no other signal across processes)."""
    deadline = time.monotonic() + scaled(15)
    while True:
        if proc.poll() is not None:
            raise AssertionError(f"server exited with {proc.returncode}; see {log}")
        with contextlib.suppress(OSError):
            _, writer = await asyncio.open_connection("127.0.0.1", port)
            writer.close()
            return
        assert time.monotonic() < deadline, "server did not start listening"
        await asyncio.sleep(0.02)


async def keep_writing(rng: random.Random, client: WireClient, sent: dict[int, Op]) -> None:
    """Pipelined writes, at most ~40 unsettled ops at a time, until cancelled or disconnected."""
    own: list[str] = []
    while not client.closed.is_set():
        batch = []
        for _ in range(rng.randint(1, 4)):
            roll = rng.random()
            if roll < 0.4 or not own:
                own.append(f"{client.replica}-{len(own)}")
                op = client.symbol(own[-1], x=rng.randint(-99, 99))
            elif roll < 0.8:
                op = client.set(rng.choice(SHARED), x=rng.uniform(-1e3, 1e3), y=len(sent))
            else:
                op = client.set(rng.choice(own), style={"color": f"#{rng.randrange(2**24):06x}"})
            sent[op.stamp.counter] = op
            batch.append(op)
        try:
            await client.send_ops(*batch)
        except Exception:
            return
        unsettled = [c for c in sent if c not in client.acks and c not in client.rejects]
        if len(unsettled) > 40:
            with contextlib.suppress(AssertionError):
                await client.wait_settled(unsettled[:-20], within=5)


async def test_S1_no_acknowledged_op_is_lost_across_sigkills(tmp_path: Path) -> None:
    s = seed()
    print(f"seed={s}")
    rng = random.Random(s)
    data_dir, log_file = tmp_path / "data", tmp_path / "server.log"
    db = data_dir / "dreamloom.db"
    port = free_port()
    url = f"ws://127.0.0.1:{port}/ws/garden"
    ledger = AckedLedger()
    kills = 0
    last_seq = 0  # the end of the log the next run loads
    started = time.monotonic()
    for incarnation in range(KILLS + 1):
        proc = start(port, data_dir, log_file)
        try:
            await wait_listening(proc, port, log_file)
            clients = [
                await WireClient.join(url, replica=f"w{incarnation}-{i}", name=f"writer {i}") for i in range(WRITERS)
            ]
            # After each restart the tapestry reflects every write acknowledged before any kill.
            assert clients[0].welcome is not None
            # A join while the snapshot decodes is welcomed at its seq, the log after it following (S11, W25).
            await clients[0].wait_seq(last_seq)
            assert unreflected(ledger, clients[0].tapestry) == [], f"seed={s}"
            if incarnation == 0:
                first = clients[0]
                await first.wait_acked(await first.send_ops(*(first.symbol(fid) for fid in SHARED)))
            if incarnation == KILLS:
                for c in clients:
                    await c.close()
                break
            sent: list[dict[int, Op]] = [{} for _ in clients]
            tasks = [
                asyncio.ensure_future(keep_writing(random.Random(rng.random()), c, box))
                for c, box in zip(clients, sent, strict=True)
            ]
            # A random moment: sometimes before the first commit is acked, mostly in full flow.
            await asyncio.sleep(rng.uniform(0.0, 0.4))
            proc.send_signal(signal.SIGKILL)
            proc.wait(timeout=scaled(10))
            kills += 1
            for t in tasks:
                t.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            for c, box in zip(clients, sent, strict=True):
                await c.wait_closed(within=5)
                ledger.record(c, box)
                await c.close()
            # What a restart will find is what the file holds now.
            oplog, integrity = read_log(db, "garden")
            last_seq = max(oplog, default=0)
            assert integrity == "ok", f"seed={s} after kill {kills}"
            assert contiguous(oplog), f"seed={s} after kill {kills}"
            assert missing_from_log(ledger, oplog) == [], f"seed={s} after kill {kills}"
        finally:
            if proc.poll() is None:
                proc.send_signal(signal.SIGKILL)
                proc.wait(timeout=scaled(10))
    elapsed = time.monotonic() - started
    print(f"{kills} kills, {len(ledger)} acknowledged ops checked, {elapsed:.1f} s")
    assert kills >= 10
    assert len(ledger) > 200, "too few writes were acknowledged for the test to mean anything"
    # The final log replays to a tapestry holding every acknowledged write too.
    oplog, _ = read_log(db, "garden")
    replay = Tapestry()
    replay.apply_many(oplog[seq] for seq in sorted(oplog))
    assert unreflected(ledger, replay) == []
