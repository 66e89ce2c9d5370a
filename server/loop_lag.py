"""Event-loop lag: how late the loop wakes a task that sleeps, as histograms (``/metrics``).

Whatever blocks the loop — a render, a big decode, a slow handler — shows here
as lag, for every connection at once; the soak run (``make soak``) reads it.
"""

from __future__ import annotations

import asyncio
import contextlib
import time

from .metrics import Metrics

INTERVAL = 0.02


class LoopLag:
    """A task that sleeps ``INTERVAL`` and records how much later it woke."""

    def __init__(self, metrics: Metrics) -> None:
        self.metrics = metrics
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._watch(), name="loop-lag")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def _watch(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            asked, cpu = loop.time(), time.thread_time()
            await asyncio.sleep(INTERVAL)
            lag = max(0.0, loop.time() - asked - INTERVAL)
            self.metrics.loop_lag.observe(lag)
            # On a busy machine the process also waits for a core: lag the loop's own work did not
            # cause. The loop cannot have been held longer than its thread ran meanwhile, so the
            # smaller of the two bounds the longest hold, whatever else the machine runs.
            self.metrics.loop_hold.observe(min(lag, time.thread_time() - cpu))
