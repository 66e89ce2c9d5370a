"""``GET /api/sanctuaries/{id}/tapestry.json`` of the current tapestry, without stalling the loop (SPEC W20).

The body is the sanctuary's kept JSON encoding of its tapestry spliced into
``{"seq", "digest", "snapshot"}``, never a structure built and encoded again per
request: the digest is the SHA-256 of the kept msgpack encoding, and the copy,
the hash and the compression run in worker threads (each releases the GIL
while it works on large buffers). A body is built once per seq and kept; the
ETag names that seq, so a client that has it gets a 304 and nothing is built.
"""

from __future__ import annotations

import asyncio
import gzip
import hashlib
import weakref
from dataclasses import dataclass

import orjson
from aiohttp import web

from dreamloom.protocol.codec import JSON, MSGPACK

from ..sanctuary import Sanctuary

#: gzip level of a tapestry body: level 1 already shrinks this repetitive JSON about 4x, at a
#: fraction of the CPU of the higher levels.
GZIP_LEVEL = 1
#: A body is written in slices of this many bytes, each drained before the next.
WRITE_BYTES = 1 << 20


@dataclass(slots=True)
class _Body:
    seq: int
    plain: bytes
    gzipped: bytes | None = None


_bodies: weakref.WeakKeyDictionary[Sanctuary, _Body] = weakref.WeakKeyDictionary()


def etag(sanctuary: str, seq: int) -> str:
    return f'W/"tapestry-{sanctuary}-{seq}"'


async def tapestry_json_now(request: web.Request, sanctuary: Sanctuary) -> web.StreamResponse:
    """The current tapestry as JSON: 304 on a matching ETag, gzip when the client accepts it."""
    tag = etag(sanctuary.name, sanctuary.seq)
    headers = {"ETag": tag, "Cache-Control": "no-cache", "Vary": "Accept-Encoding"}
    if request.headers.get("If-None-Match") == tag:
        return web.Response(status=304, headers=headers)
    body = _bodies.get(sanctuary)
    if body is None or body.seq != sanctuary.seq:
        body = _bodies[sanctuary] = await sanctuary.call(lambda: _build(sanctuary))
    headers["ETag"] = etag(sanctuary.name, body.seq)
    headers["X-Dreamloom-Seq"] = str(body.seq)
    data = body.plain
    if "gzip" in request.headers.get("Accept-Encoding", "") and len(data) > 1024:
        if body.gzipped is None:
            body.gzipped = await asyncio.to_thread(gzip.compress, data, GZIP_LEVEL)
        data = body.gzipped
        headers["Content-Encoding"] = "gzip"
    if len(data) <= WRITE_BYTES:
        return web.Response(body=data, content_type="application/json", headers=headers)
    return await _stream(request, data, headers)


async def _stream(request: web.Request, data: bytes, headers: dict[str, str]) -> web.StreamResponse:
    """Write a large body a slice at a time, each drained before the next.

    Handed over whole, the transport copies what the socket does not take at once: tens of
    megabytes copied in one call on the loop.
    """
    response = web.StreamResponse(headers=headers)
    response.content_type = "application/json"
    response.content_length = len(data)
    await response.prepare(request)
    view = memoryview(data)
    for start in range(0, len(data), WRITE_BYTES):
        await response.write(view[start : start + WRITE_BYTES])
    await response.write_eof()
    return response


async def _build(sanctuary: Sanctuary) -> _Body:
    # Inside the actor: both encodings are of one seq, whatever lands meanwhile.
    seq, packed = await sanctuary.encoded_snapshot(MSGPACK)
    _, snapshot = await sanctuary.encoded_snapshot(JSON)
    digest = await asyncio.to_thread(lambda: hashlib.sha256(packed).hexdigest())
    head = b'{"seq":' + orjson.dumps(seq) + b',"digest":' + orjson.dumps(digest) + b',"snapshot":'
    return _Body(seq, await asyncio.to_thread(b"".join, (head, snapshot, b"}")))


__all__ = ["tapestry_json_now"]
