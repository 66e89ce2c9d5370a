"""Loop lag and loop hold (server/loop_lag.py): work that holds the loop shows in both."""

from __future__ import annotations

import asyncio
import time

from kit.timing import poll_until

from dreamloom.server.loop_lag import LoopLag
from dreamloom.server.metrics import Metrics


def _count_over(metrics: Metrics, name: str, bound: float) -> float:
    """Observations of histogram ``name`` above ``bound`` seconds."""
    total = above = 0.0
    for family in metrics.registry.collect():
        if family.name != name:
            continue
        for sample in family.samples:
            if sample.name.endswith("_bucket"):
                le = float(sample.labels["le"])
                if le == float("inf"):
                    total = sample.value
                elif le == bound:
                    above = -sample.value
    return total + above


async def test_work_on_the_loop_shows_as_hold_and_lag() -> None:
    metrics = Metrics()
    lag = LoopLag(metrics)
    lag.start()
    try:
        await asyncio.sleep(0)  # one turn: the watcher starts and sleeps; what follows holds the loop
        started = time.thread_time()
        while time.thread_time() - started < 0.15:  # 150 ms of the loop thread's CPU, without yielding
            pass
        await poll_until(lambda: _count_over(metrics, "dreamloom_event_loop_hold_seconds", 0.1) >= 1, "a hold")
        assert _count_over(metrics, "dreamloom_event_loop_lag_seconds", 0.1) >= 1
    finally:
        await lag.stop()
