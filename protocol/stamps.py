"""Stamps: the totally ordered logical clock that orders concurrent writes.

A stamp is ``(counter, replica)``. Stamps compare as tuples: first by counter,
then by replica id, so two different replicas never produce equal stamps and
every pair of writes has a winner (SPEC M1).
"""

from __future__ import annotations

from typing import NamedTuple

from .errors import ErrorCode, OpError

#: Largest counter a stamp may carry: JavaScript numbers are exact up to 2**53.
MAX_COUNTER = 2**53 - 1


class Stamp(NamedTuple):
    """A logical timestamp. ``Stamp(3, "a") < Stamp(3, "b") < Stamp(4, "a")``."""

    counter: int
    replica: str


class Clock:
    """A Lamport clock owned by one replica.

    ``tick()`` stamps a local write; ``observe()`` folds in a stamp seen from
    elsewhere so the next local write beats it (SPEC M2).
    """

    __slots__ = ("counter", "replica")

    def __init__(self, replica: str, counter: int = 0) -> None:
        self.replica = replica
        self.counter = counter

    def tick(self) -> Stamp:
        """Advance and return a stamp greater than every stamp seen so far."""
        self.counter += 1
        return Stamp(self.counter, self.replica)

    def observe(self, stamp: Stamp) -> None:
        """Remember a stamp written elsewhere."""
        if stamp.counter > self.counter:
            self.counter = stamp.counter

    def observe_counter(self, counter: int) -> None:
        """Remember a bare counter (e.g. the highest counter of a loaded snapshot)."""
        if counter > self.counter:
            self.counter = counter

    def check(self, stamp: Stamp, max_ahead: int) -> None:
        """Raise :class:`OpError` ``stamp_ahead`` if ``stamp`` is more than
        ``max_ahead`` ticks past what this clock has seen (SPEC M8): a client
        must not win every future conflict by inflating its counter."""
        if stamp.counter > self.counter + max_ahead:
            raise OpError(
                ErrorCode.STAMP_AHEAD,
                f"stamp counter {stamp.counter} is more than {max_ahead} ahead of {self.counter}",
            )
