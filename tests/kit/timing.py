"""Timeouts of the tests, all stretched by one factor on slow machines.

Set ``DREAMLOOM_TEST_TIMEOUT_FACTOR`` (for example ``3``) to give every wait of
every suite more time; nothing else changes.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Callable

FACTOR = float(os.environ.get("DREAMLOOM_TEST_TIMEOUT_FACTOR", "1"))


def scaled(seconds: float) -> float:
    """A test timeout, stretched on slow machines."""
    return seconds * FACTOR


#: Seconds a test waits for something that should happen at once.
WAIT = scaled(10.0)


async def poll_until(predicate: Callable[[], bool], what: str, within: float = 5.0) -> None:
    """For state that has no event to await: a short poll bounded by a deadline."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + scaled(within)
    while not predicate():
        assert loop.time() < deadline, f"no {what} within {scaled(within):g} s"
        await asyncio.sleep(0.005)
