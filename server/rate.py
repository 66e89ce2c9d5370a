"""Token buckets for per-connection rate limits, with an injectable clock."""

from __future__ import annotations

import math
import time
from collections.abc import Callable

from dreamloom.protocol.messages import MAX_RETRY_AFTER


class TokenBucket:
    """``rate`` tokens per second, holding at most ``burst``.

    >>> b = TokenBucket(rate=1, burst=2, clock=lambda: 0.0)
    >>> b.take(), b.take(), b.take()
    (True, True, False)
    """

    __slots__ = ("_clock", "_last", "burst", "rate", "tokens")

    def __init__(self, rate: float, burst: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.rate = rate
        self.burst = burst
        self.tokens = burst
        self._clock = clock
        self._last = clock()

    def _refill(self) -> None:
        now = self._clock()
        self.tokens = min(self.burst, self.tokens + (now - self._last) * self.rate)
        self._last = now

    def wait(self, n: float = 1.0) -> float:
        """Seconds until ``n`` tokens are there (0 when they are now; ``n`` above the burst never fits)."""
        self._refill()
        return max(0.0, (min(n, self.burst) - self.tokens) / self.rate) if self.rate > 0 else float("inf")

    def take(self, n: float = 1.0) -> bool:
        """Take ``n`` tokens if there are enough; say whether they were taken."""
        self._refill()
        if self.tokens >= n:
            self.tokens -= n
            return True
        return False

    def fits(self, n: float) -> bool:
        """Whether :meth:`wait` would say 0 for ``n`` now (refills, takes nothing)."""
        now = self._clock()
        tokens = self.tokens = min(self.burst, self.tokens + (now - self._last) * self.rate)
        self._last = now
        return self.rate > 0 and tokens >= (n if n < self.burst else self.burst)

    def spend(self, n: float = 1.0) -> bool:
        """:meth:`take` right after :meth:`wait` said ``n`` fits: the tokens were just refilled."""
        if self.tokens >= n:
            self.tokens -= n
            return True
        return False


def retry_seconds(wait: float) -> float:
    """A wait as ``retry_after`` says it (W9a): rounded up to a millisecond, so a client that waits
    exactly this long finds room, and never beyond what the protocol lets it carry."""
    return math.ceil(min(wait, MAX_RETRY_AFTER) * 1000) / 1000
