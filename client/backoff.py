"""Jittered exponential back-off, shared by reconnects and rejected-op retries."""

from __future__ import annotations

import random


class Backoff:
    """Delays that double on each failure, up to ``maximum``, with "equal jitter": each
    delay is drawn uniformly from the upper half of the current step, so many clients
    that failed together do not come back together, yet none retries at once.

    >>> b = Backoff(initial=1.0, maximum=4.0, rng=random.Random(7))
    >>> [0.5 <= b.next() <= 1.0, 1.0 <= b.next() <= 2.0, 2.0 <= b.next() <= 4.0, b.next() <= 4.0]
    [True, True, True, True]
    >>> b.reset(); b.attempts
    0
    """

    def __init__(
        self,
        initial: float = 0.25,
        maximum: float = 15.0,
        factor: float = 2.0,
        rng: random.Random | None = None,
    ) -> None:
        if initial <= 0 or maximum < initial or factor < 1:
            raise ValueError("need 0 < initial <= maximum and factor >= 1")
        self.initial = initial
        self.maximum = maximum
        self.factor = factor
        self.attempts = 0
        self._rng = rng or random.Random()

    def next(self) -> float:
        """The delay before the next attempt (and count this failure)."""
        step = min(self.maximum, self.initial * self.factor**self.attempts)
        self.attempts += 1
        return step / 2 + self._rng.uniform(0, step / 2)

    def reset(self) -> None:
        """Forget past failures (after a success)."""
        self.attempts = 0

    def copy(self) -> Backoff:
        """A fresh back-off with the same settings (and its own random state)."""
        return Backoff(self.initial, self.maximum, self.factor, random.Random(self._rng.random()))
