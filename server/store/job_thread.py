"""One thread that runs blocking jobs in order and answers each on the event loop.

The SQLite store sends every group commit to its thread: a commit happens tens of
times a second, so the hand-over is kept to a queue put, one wake-up of the
thread and one ``call_soon_threadsafe`` back (an executor adds a concurrent
future, its condition and locks, and a second future chained to it). A job
given with :meth:`JobThread.call` skips even the future: the thread schedules
the caller's callback itself, which runs as one plain callback on the loop.
"""

from __future__ import annotations

import asyncio
import contextlib
import queue
import threading
from collections.abc import Callable
from typing import Any, TypeVar

T = TypeVar("T")

#: Called on the event loop with a job's result and its exception (None when it returned).
Done = Callable[[Any, BaseException | None], None]
_Job = tuple[Callable[[], Any], asyncio.AbstractEventLoop, "asyncio.Future[Any] | None", Done | None]


def _resolve(future: asyncio.Future[Any], result: Any, error: BaseException | None) -> None:
    if future.cancelled():
        return  # the caller stopped waiting; the job ran all the same
    if error is not None:
        future.set_exception(error)
    else:
        future.set_result(result)


class JobThread:
    """Jobs run one at a time, in the order given, on one thread named ``name``."""

    def __init__(self, name: str) -> None:
        self._jobs: queue.SimpleQueue[_Job | None] = queue.SimpleQueue()
        # A daemon: a process that exits without closing its store is not held up by it (what the
        # thread had not committed is rolled back by SQLite, and was never acknowledged).
        self._thread = threading.Thread(target=self._work, name=name, daemon=True)
        self._thread.start()

    def run(self, fn: Callable[[], T]) -> asyncio.Future[T]:
        """Queue ``fn``; the returned future (of the running loop) gets its result or its exception."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future[T] = loop.create_future()
        self._jobs.put((fn, loop, future, None))
        return future

    def call(self, fn: Callable[[], Any], done: Done) -> None:
        """Queue ``fn``; ``done(result, error)`` is then called on the running loop (no future, no task)."""
        self._jobs.put((fn, asyncio.get_running_loop(), None, done))

    async def stop(self) -> None:
        """Let the jobs queued so far finish, then end the thread."""
        self._jobs.put(None)
        await asyncio.get_running_loop().run_in_executor(None, self._thread.join)

    def _work(self) -> None:
        while True:
            job = self._jobs.get()
            if job is None:
                return
            fn, loop, future, done = job
            result: Any = None
            error: BaseException | None = None
            try:
                result = fn()
            except BaseException as exc:  # handed to the caller, whatever it is
                error = exc
            with contextlib.suppress(RuntimeError):  # the loop closed meanwhile: nobody waits
                if done is not None:
                    loop.call_soon_threadsafe(done, result, error)
                else:
                    assert future is not None
                    loop.call_soon_threadsafe(_resolve, future, result, error)
            del job, fn, future, done, result, error


__all__ = ["JobThread"]
