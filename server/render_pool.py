"""Renders and reads at a seq, off the event loop: worker processes, one bound, one cache (SPEC W20).

Theory of operation:

1. ``tapestry.json``, ``.svg`` and ``.png`` — now or ``?at=SEQ`` — and the
   counts of a sanctuary's summary (``info``) are answered by
   :meth:`Renders.answer`: the same cache, the same bound, the same workers.
2. The cache is keyed by (sanctuary, seq, format, size): a seq's state never
   changes, so an entry is never stale; it is bounded by bytes (least recently
   used out first).
3. On a miss, the nearest snapshot at or before the seq and the log after it
   are read from the store as stored bytes (never decoded here) and sent to a
   worker process, which rebuilds the tapestry, checks its size and draws it.
   The event loop only moves bytes.
4. At most ``render_workers`` jobs run and ``render_queue`` wait; one more is
   refused at once with 429 ``render_busy``. A job that runs past
   ``render_timeout`` has its worker killed (a new one starts on the next job)
   and is answered 503 ``render_timeout``. Both carry ``Retry-After``.
5. A tapestry over ``render_max_points`` points (or whose stored form is larger
   than that many points could be), or a PNG over ``render_max_pixels``, is
   refused 413 ``render_too_large``.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import logging
import multiprocessing
from collections import OrderedDict
from dataclasses import dataclass, replace
from multiprocessing.connection import Connection
from multiprocessing.process import BaseProcess
from typing import TYPE_CHECKING

from .render import RenderUnavailable, rasterizer
from .render_worker import Answer, RenderJob, serve

if TYPE_CHECKING:
    from .config import ServerConfig
    from .store import Store

log = logging.getLogger("dreamloom.render")

#: Stored bytes allowed per allowed point: a msgpack float64 pair is 18 bytes and its pressure
#: (SPEC W38) 9 more; the rest is slack for ids and styles.
BYTES_PER_POINT = 32
#: Address space of one worker process.
WORKER_MEMORY = 1024 * 1024 * 1024
_CTX = multiprocessing.get_context("spawn")


class RenderRefused(Exception):
    """A render or read refused: an API error ``code``, a message naming the limit, and when to retry."""

    def __init__(self, code: str, message: str, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.retry_after = retry_after


@dataclass
class _Worker:
    process: BaseProcess
    conn: Connection

    @classmethod
    def start(cls) -> _Worker:
        ours, theirs = _CTX.Pipe()
        process = _CTX.Process(target=serve, args=(theirs, WORKER_MEMORY), name="dreamloom-render", daemon=True)
        process.start()
        theirs.close()
        return cls(process, ours)

    def kill(self) -> None:
        with contextlib.suppress(Exception):
            self.process.kill()
            self.process.join(timeout=5)
        with contextlib.suppress(Exception):
            self.conn.close()


def _run(worker: _Worker | None, job: RenderJob, timeout: float) -> tuple[Answer, _Worker | None]:
    """In a thread: hand ``job`` to a worker (starting one if needed) and wait at most ``timeout``."""
    if worker is None or not worker.process.is_alive():
        worker = _Worker.start()
    try:
        worker.conn.send(job)
        if worker.conn.poll(timeout):
            return worker.conn.recv(), worker
    except (EOFError, OSError) as exc:
        worker.kill()
        return ("error", f"render worker failed: {exc}"), None
    worker.kill()  # past its wall time: the only way to stop a render is to end its process
    return ("timeout",), None


class RenderPool:
    """``size`` worker processes behind one bound; a thread per running job waits on its pipe."""

    def __init__(self, size: int, queue: int, timeout: float) -> None:
        self.size = max(1, size)
        self.queue = max(0, queue)
        self.timeout = timeout
        self._slots = asyncio.Semaphore(self.size)
        self._admitted = 0
        self._idle: list[_Worker] = []
        self._threads = concurrent.futures.ThreadPoolExecutor(self.size, thread_name_prefix="dreamloom-render")
        self._closed = False

    @property
    def busy(self) -> int:
        """Jobs running or waiting."""
        return self._admitted

    async def run(self, job: RenderJob) -> bytes:
        """The worker's answer to ``job``, or :class:`RenderRefused`."""
        if self._closed:
            raise RenderRefused("shutting_down", "server is shutting down")
        if self._admitted >= self.size + self.queue:
            raise RenderRefused(
                "render_busy",
                f"render_queue: {self.size} renders run and {self.queue} wait already",
                retry_after=max(1.0, self.timeout * self._admitted / self.size / 4),
            )
        self._admitted += 1
        try:
            async with self._slots:
                worker = self._idle.pop() if self._idle else None
                loop = asyncio.get_running_loop()
                result, worker = await loop.run_in_executor(self._threads, _run, worker, job, self.timeout)
                if worker is not None:
                    if self._closed:
                        worker.kill()
                    else:
                        self._idle.append(worker)
        finally:
            self._admitted -= 1
        return _body(result, self.timeout)

    def close(self) -> None:
        self._closed = True
        for worker in self._idle:
            worker.kill()
        self._idle.clear()
        self._threads.shutdown(wait=False, cancel_futures=True)


def _body(result: Answer, timeout: float) -> bytes:
    kind = result[0]
    if kind == "ok":
        body: bytes = result[1]
        return body
    if kind == "refused":
        raise RenderRefused(result[1], result[2])
    if kind == "timeout":
        raise RenderRefused(
            "render_timeout", f"render_timeout: the render took more than {timeout:g} s", retry_after=timeout
        )
    if kind == "unavailable":
        raise RenderRefused("render_unavailable", result[1])
    log.error("render failed: %s", result[1])
    raise RenderRefused("internal", "the render failed")


@dataclass(frozen=True, slots=True)
class Variant:
    """What is asked of a seq: the format and its size parameters (part of the cache key)."""

    fmt: str
    threads: bool = False
    width: int | None = None

    @property
    def key(self) -> str:
        return f"{self.fmt}-t{int(self.threads)}-w{self.width or 0}"


class Renders:
    """The shared front of every ``tapestry.*`` route: cache, then store, then a worker."""

    def __init__(self, config: ServerConfig, store: Store) -> None:
        self.config = config
        self.store = store
        self.pool = RenderPool(config.render_workers, config.render_queue, config.render_timeout)
        self._cache: OrderedDict[tuple[str, int, str], bytes] = OrderedDict()
        self._cached_bytes = 0
        self.hits = 0

    async def answer(self, sanctuary: str, seq: int, variant: Variant) -> bytes:
        """The body of ``variant`` for the state of ``sanctuary`` after ``seq``."""
        key = (sanctuary, seq, variant.key)
        hit = self._cache.get(key)
        if hit is not None:
            self._cache.move_to_end(key)
            self.hits += 1
            return hit
        if variant.fmt == "png":
            try:
                rasterizer()  # a server without it says so at once, without waking a worker
            except RenderUnavailable as exc:
                raise RenderRefused("render_unavailable", str(exc)) from None
        body = await self.pool.run(await self._job(sanctuary, seq, variant))
        self._remember(key, body)
        return body

    async def _job(self, sanctuary: str, seq: int, variant: Variant) -> RenderJob:
        c = self.config
        budget = c.render_max_points * BYTES_PER_POINT
        snap = await self.store.latest_snapshot(sanctuary, at_most=seq)
        snapshot = snap.data if snap is not None else None
        start = snap.seq if snap is not None else 0
        room = budget - (len(snapshot) if snapshot is not None else 0)
        ops = await self.store.read_op_bytes(sanctuary, start, seq, room) if room >= 0 else None
        if ops is None:
            raise RenderRefused(
                "render_too_large",
                f"render_max_points: the tapestry at seq {seq} is stored in more than {budget} bytes "
                f"({BYTES_PER_POINT} per allowed point)",
            )
        job = RenderJob(variant.fmt, seq, snapshot, ops, max_points=c.render_max_points)
        return replace(job, threads=variant.threads, width=variant.width, max_pixels=c.render_max_pixels)

    def _remember(self, key: tuple[str, int, str], body: bytes) -> None:
        limit = self.config.render_cache_bytes
        if len(body) > limit // 4:
            return  # one huge answer would push out everything else
        self._cache[key] = body
        self._cached_bytes += len(body)
        while self._cached_bytes > limit:
            _, old = self._cache.popitem(last=False)
            self._cached_bytes -= len(old)

    def close(self) -> None:
        self.pool.close()


__all__ = ["RenderPool", "RenderRefused", "Renders", "Variant"]
