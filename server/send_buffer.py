"""The send side of one connection: a bounded buffer drained by one writer task (SPEC F3).

The sanctuary never awaits a socket: it hands the same encoded bytes to every
connection's outbox, which returns at once. A writer task per connection does
the sending. When a peer stops reading, its buffer fills; presence frames are
dropped first (they are superseded by the next tick anyway), and past the
bound the connection is closed with ``slow_consumer`` (4008): it resumes by seq
when it comes back. Other connections never wait for it.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import deque
from collections.abc import Awaitable, Callable

SendFn = Callable[[bytes], Awaitable[None]]
CloseFn = Callable[[int, str], Awaitable[None]]
WriteNowFn = Callable[[bytes], bool]

#: Per kind (index 0: text, 1: binary), the last payload framed and its whole frame. Holding the
#: payload keeps its identity from being reused by another object while it is cached.
last_wire: list[list[bytes]] = [[b"", b""], [b"", b""]]


def wire_frame(payload: bytes, binary: bool) -> bytes:
    """The whole unmasked server WebSocket frame (RFC 6455 §5.2) carrying ``payload``.

    A broadcast hands the same payload object to every connection of a codec one
    after the other, so the last frame built is cached: the header is built and
    the bytes joined once per broadcast, not once per connection (a caller may
    look in :data:`last_wire` itself and skip the call).
    """
    last = last_wire[binary]
    if last[0] is payload:
        return last[1]
    frame = _header(0x82 if binary else 0x81, len(payload)) + payload  # FIN + binary/text opcode
    last[0], last[1] = payload, frame
    return frame


#: A frame above this goes out as a fragmented message (RFC 6455 §5.4) of pieces this size.
FRAGMENT_BYTES = 1 << 20


def wire_fragment(piece: bytes | memoryview, binary: bool, first: bool, last: bool) -> bytes:
    """One frame of a fragmented message: the first carries the opcode, the others continue it."""
    opcode = (0x2 if binary else 0x1) if first else 0x0
    return _header((0x80 if last else 0x00) | opcode, len(piece)) + piece


def _header(head: int, n: int) -> bytes:
    """A server frame's header: its first byte, then the payload length in 7, 16 or 64 bits."""
    if n < 126:
        return bytes((head, n))
    if n < 1 << 16:
        return bytes((head, 126)) + n.to_bytes(2, "big")
    return bytes((head, 127)) + n.to_bytes(8, "big")


class SendBuffer:
    """Bounded FIFO of frames for one connection.

    Most frames never wait: an idle connection's socket takes them at once (``write_now``).
    The writer task exists only while frames wait (or a close is to be sent) and ends when
    it has caught up, so an idle connection holds no task, no event and no queue.
    """

    def __init__(
        self,
        send: SendFn,
        close: CloseFn,
        limit_bytes: int,
        on_overflow: Callable[[], None],
        write_now: WriteNowFn | None = None,
    ) -> None:
        self._send = send
        self._write_now = write_now
        self._close = close
        self.limit = limit_bytes
        self._on_overflow = on_overflow
        self._frames: deque[bytes] | None = None  # made when a frame first has to wait
        self.queued_bytes = 0
        self._in_flight = 0  # size of the frame the writer is sending now
        self._writer: asyncio.Task[None] | None = None
        self._closing: tuple[int, str] | None = None
        self.closed = False
        self.dropped = 0
        self.sent = 0
        #: Nothing waits, nothing is being sent, no close asked: a frame may be written in place.
        self.idle = True
        #: The connection is being welcomed: what is queued now is its welcome (and its parts, W36).
        self.welcoming = False
        self._ahead = 0  # bytes of the welcome still queued: the bound is on what waits behind them

    @property
    def writer(self) -> asyncio.Task[None] | None:
        """The writer task while one runs (frames wait, or the close is being sent)."""
        return self._writer

    def put(self, frame: bytes, *, droppable: bool = False) -> bool:
        """Queue a frame; never blocks. Returns False if it was dropped or the outbox is closing."""
        if self._closing is not None or self.closed:
            return False
        if not self._frames and not self._in_flight and self._write_now is not None:
            # The common case of fan-out, checked first: an idle connection with an empty socket
            # buffer is written in place, no task wake-up (nothing queued: droppable frames fit).
            if (not droppable or len(frame) <= self.limit // 2) and self._write_now(frame):
                self.sent += 1
                return True
        size = len(frame)
        if droppable and self.queued_bytes + size > self.limit // 2:
            self.dropped += 1
            return False
        # The bound is on what waits behind the frame being written: one frame bigger than the
        # bound (a group commit of big strokes) must not make every connection a slow consumer.
        # Nor must a welcome in parts (W36): its parts are one welcome, and the bound is on what
        # waits behind all of them, as it is behind a whole welcome.
        frames = self._frames
        if self.welcoming:
            self._ahead += size
        else:
            head = max(self._in_flight or (len(frames[0]) if frames else 0), self._ahead)
            if self.queued_bytes and self.queued_bytes - head + size > self.limit:
                self._on_overflow()
                return False
        if frames is None:
            frames = self._frames = deque()
        frames.append(frame)
        self.queued_bytes += size
        self.idle = False
        self._start_writer()
        return True

    def close(self, code: int, reason: str, *, drain: bool = True) -> None:
        """Close the connection after the queued frames; ``drain=False``: drop them and stop sending now
        (the caller closes the socket itself)."""
        if self._closing is not None:
            return
        self._closing = (code, reason[:120])
        self.idle = False
        if drain:
            self._start_writer()
            return
        if self._writer is not None:
            self._writer.cancel()
        self._finish()

    def _start_writer(self) -> None:
        if self._writer is None and not self.closed:
            self._writer = asyncio.get_running_loop().create_task(self._run())

    async def _run(self) -> None:
        """The writer: send waiting frames in order; then, if closing, the close; else end until needed."""
        try:
            while self._frames:
                frame = self._frames.popleft()
                self._in_flight = len(frame)
                await self._send(frame)
                self._in_flight = 0
                self.queued_bytes -= len(frame)
                if self._ahead:
                    self._ahead = max(0, self._ahead - len(frame))
                self.sent += 1
            if self._closing is None:
                self.idle = True
                return  # caught up: no await since the check, so no frame was queued meanwhile
            code, reason = self._closing
            with contextlib.suppress(Exception):
                await self._close(code, reason)
            self._finish()
        except asyncio.CancelledError:
            self._finish()
            raise
        except Exception:
            self._finish()  # the socket failed: nothing more goes out; its reader sees it end
        finally:
            self._writer = None

    def _finish(self) -> None:
        self.closed = True
        self.idle = False
        self._frames = None
        self._in_flight = 0
        self.queued_bytes = 0
        self._ahead = 0
