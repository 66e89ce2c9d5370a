"""One connection's send side (SPEC F3): frames in order, a writer only while frames wait, bounded.

The socket is a fake whose readiness the test decides: ``write_now`` takes a frame
only while the socket is "empty", and ``send`` (the writer's path) waits until the
test lets it through, as a socket that a slow peer drains would.
"""

from __future__ import annotations

import asyncio

from dreamloom.server.send_buffer import SendBuffer


class FakeSocket:
    def __init__(self) -> None:
        self.wire: list[bytes] = []
        self.ready = True  # an empty socket buffer: frames go out at once
        self.drained = asyncio.Event()
        self.drained.set()
        self.closed_with: tuple[int, str] | None = None
        self.overflowed = False

    def write_now(self, frame: bytes) -> bool:
        if not self.ready:
            return False
        self.wire.append(frame)
        return True

    async def send(self, frame: bytes) -> None:
        await self.drained.wait()
        self.wire.append(frame)

    async def close(self, code: int, reason: str) -> None:
        self.closed_with = (code, reason)

    def overflow(self) -> None:
        self.overflowed = True

    def buffer(self, limit: int = 100) -> SendBuffer:
        return SendBuffer(self.send, self.close, limit, self.overflow, write_now=self.write_now)


async def until(condition: object) -> None:
    for _ in range(1000):
        if callable(condition) and condition():
            return
        await asyncio.sleep(0)
    raise AssertionError("condition never held")


async def test_F3_an_idle_connection_writes_in_place_and_holds_no_writer() -> None:
    sock = FakeSocket()
    buf = sock.buffer()
    assert buf.put(b"a")
    assert buf.put(b"b")
    assert sock.wire == [b"a", b"b"]
    assert buf.writer is None


async def test_F3_frames_that_wait_keep_their_order_and_the_writer_ends_once_caught_up() -> None:
    sock = FakeSocket()
    buf = sock.buffer()
    buf.put(b"1")
    sock.ready = False  # the peer is behind: frames wait for the writer
    sock.drained.clear()
    buf.put(b"2")
    buf.put(b"3")
    assert buf.writer is not None
    sock.ready = True  # the socket is empty again, but frames still wait: none may jump the queue
    buf.put(b"4")
    assert sock.wire == [b"1"]
    sock.drained.set()
    await until(lambda: buf.writer is None)
    assert sock.wire == [b"1", b"2", b"3", b"4"]
    assert buf.queued_bytes == 0
    buf.put(b"5")  # caught up: written in place again
    assert sock.wire[-1] == b"5"
    assert buf.writer is None


async def test_F3_close_goes_out_after_what_waits() -> None:
    sock = FakeSocket()
    buf = sock.buffer()
    sock.ready = False
    sock.drained.clear()
    buf.put(b"x")
    buf.close(1000, "bye")
    assert not buf.put(b"late")  # nothing is queued behind a close
    sock.drained.set()
    await until(lambda: buf.closed)
    assert sock.wire == [b"x"]
    assert sock.closed_with == (1000, "bye")
    assert buf.writer is None


async def test_F3_closing_an_idle_connection_sends_the_close() -> None:
    sock = FakeSocket()
    buf = sock.buffer()
    buf.close(1001, "going away")
    await until(lambda: buf.closed)
    assert sock.closed_with == (1001, "going away")


async def test_F3_past_the_bound_the_connection_is_a_slow_consumer_and_dropping_stops_the_writer() -> None:
    sock = FakeSocket()
    buf = sock.buffer(limit=10)
    sock.ready = False
    sock.drained.clear()
    assert buf.put(b"0123456789")  # the frame being written does not count toward the bound
    await until(lambda: buf.writer is not None and buf.queued_bytes == 10)
    assert buf.put(b"abcdefgh")
    assert not buf.put(b"ijk")  # 8 + 3 wait behind the one being written: over 10
    assert sock.overflowed
    writer = buf.writer
    buf.close(4008, "slow", drain=False)
    assert buf.closed
    assert buf.queued_bytes == 0
    assert writer is not None
    await until(writer.done)
    assert writer.cancelled()
    assert sock.closed_with is None  # the caller closes the socket itself
    assert not buf.put(b"more")


async def test_F3_presence_is_dropped_first_under_pressure() -> None:
    sock = FakeSocket()
    buf = sock.buffer(limit=10)
    sock.ready = False
    sock.drained.clear()
    buf.put(b"12345")
    assert not buf.put(b"pp", droppable=True)  # 5 + 2 is over half the bound
    assert buf.dropped == 1
    assert buf.put(b"ops")  # what is not droppable still fits


async def test_w36_a_welcome_in_parts_is_bounded_as_one_welcome_what_waits_behind_it_by_the_bound() -> None:
    sock = FakeSocket()
    sock.ready = False
    sock.drained.clear()  # the peer reads nothing yet
    buf = sock.buffer(limit=100)
    buf.welcoming = True
    for _ in range(5):  # the welcome and its parts: 400 bytes, four times the bound
        assert buf.put(b"w" * 80)
    buf.welcoming = False
    assert not sock.overflowed
    assert buf.put(b"o" * 60)  # a broadcast behind them: within the bound
    assert buf.put(b"o" * 40)
    assert not sock.overflowed
    assert not buf.put(b"o")  # one byte more waits behind the welcome than the bound allows
    assert sock.overflowed


async def test_w36_the_welcomes_parts_leave_the_bound_as_they_are_sent() -> None:
    sock = FakeSocket()
    sock.ready = False
    sock.drained.clear()
    buf = sock.buffer(limit=100)
    buf.welcoming = True
    for _ in range(3):
        buf.put(b"w" * 80)
    buf.welcoming = False
    sock.drained.set()
    await until(lambda: buf.writer is None)
    assert sock.wire == [b"w" * 80] * 3
    sock.drained.clear()
    assert buf.put(b"o" * 80)  # the head, as any frame
    assert buf.put(b"o" * 100)  # the bound behind it, exactly
    assert not buf.put(b"o")
    assert sock.overflowed
