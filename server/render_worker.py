"""The body of a render worker process: rebuild a tapestry at a seq, check its size, answer it.

Runs in a child process (see :mod:`.render_pool`), so a dense tapestry costs the
worker's CPU and memory, never the event loop's. A job is a :class:`RenderJob`;
the answer is ``("ok", body)``, ``("refused", code, message)`` or
``("error", message)``. Nothing here touches the store or a socket.
"""

from __future__ import annotations

import os
import resource
from collections import Counter
from dataclasses import dataclass
from multiprocessing.connection import Connection
from typing import Any

import orjson

from dreamloom.protocol import Tapestry

from .render import RenderUnavailable, build_scene, png_size, render_png, render_svg
from .store.base import LogEntry

Answer = tuple[Any, ...]
RENDER_NICENESS = 10
MAX_CONTRIBUTORS = 1000


@dataclass(frozen=True, slots=True)
class RenderJob:
    """What to answer: the state after ``seq`` as ``fmt`` (json, svg, png), from a snapshot and the ops after it."""

    fmt: str
    seq: int
    snapshot: bytes | None
    ops: list[bytes]
    threads: bool = False
    width: int | None = None
    max_points: int = 2_000_000
    max_pixels: int = 16 * 1024 * 1024


class Refused(Exception):
    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


def rebuild(job: RenderJob) -> Tapestry:
    """The tapestry after ``job.seq``: its snapshot, then the ops of the log after it (SPEC S3)."""
    tapestry = Tapestry.decode(job.snapshot) if job.snapshot is not None else Tapestry()
    for data in job.ops:
        tapestry.apply(LogEntry.op_from_bytes(data))
    return tapestry


def _points(tapestry: Tapestry) -> int:
    total = 0
    for frag in tapestry.fragments(include_deleted=True):
        pts = frag.geom.get("pts") if frag.kind == "stroke" else None
        if isinstance(pts, list):
            total += len(pts) // 2
    return total


def summary(tapestry: Tapestry) -> dict[str, Any]:
    """Fragments by origin and state, and the top contributors (``GET /api/sanctuaries/{id}``)."""
    contributors: Counter[tuple[str, str]] = Counter()
    deleted = 0
    for frag in tapestry.fragments(include_deleted=True):
        if frag.deleted:
            deleted += 1
        else:
            contributors[(frag.author, frag.origin)] += 1
    organic, ai = tapestry.live_counts["organic"], tapestry.live_counts["ai"]
    top = sorted(contributors.items(), key=lambda kv: (-kv[1], kv[0]))[:MAX_CONTRIBUTORS]
    return {
        "fragments": {"organic": organic, "ai": ai, "deleted": deleted, "total": organic + ai + deleted},
        "contributors": [{"author": a, "origin": o, "fragments": n} for (a, o), n in top],
    }


def answer(job: RenderJob) -> bytes:
    """The body for ``job``, or :class:`Refused` when the tapestry or the image is over a limit."""
    tapestry = rebuild(job)
    points = _points(tapestry)
    if points > job.max_points:
        raise Refused(
            "render_too_large", f"render_max_points: the tapestry holds {points} points, more than {job.max_points}"
        )
    if job.fmt == "json":
        return orjson.dumps({"seq": job.seq, "digest": tapestry.digest(), "snapshot": tapestry.to_data()})
    if job.fmt == "info":
        return orjson.dumps(summary(tapestry))
    if job.fmt == "svg":
        return render_svg(tapestry, threads=job.threads).encode()
    w, h = png_size(build_scene(tapestry), width=job.width)
    if w * h > job.max_pixels:
        raise Refused("render_too_large", f"render_max_pixels: {w} x {h} pixels is more than {job.max_pixels}")
    return render_png(tapestry, width=job.width, threads=job.threads)


def serve(conn: Connection, memory: int) -> None:
    """A worker's loop: one job in, one answer out, until the pipe closes."""
    # Renders yield the CPU to the server's event loop: on a small machine they would otherwise starve it.
    os.nice(RENDER_NICENESS)
    if memory > 0:
        # A render that needs more than this fails alone (MemoryError) instead of swelling the host.
        resource.setrlimit(resource.RLIMIT_AS, (memory, memory))
    while True:
        try:
            job = conn.recv()
        except (EOFError, OSError):
            return
        result: Answer
        try:
            result = ("ok", answer(job))
        except Refused as exc:
            result = ("refused", exc.code, exc.message)
        except RenderUnavailable as exc:
            result = ("unavailable", str(exc))
        except MemoryError:
            result = ("refused", "render_too_large", "the render needs more memory than a worker may use")
        except Exception as exc:
            result = ("error", f"{type(exc).__name__}: {exc}")
        try:
            conn.send(result)
        except (BrokenPipeError, OSError):
            return
