"""Who may create a sanctuary, and how many (SPEC W21).

Anyone may create a sanctuary — the product is a link anyone opens — either by
``POST /api/sanctuaries`` or by joining a sanctuary id nobody used yet. What
bounds it:

1. Each client address, and each identity (a token's ``sub``, guests included),
   may create ``sanctuaries_per_hour`` sanctuaries per hour: a token bucket
   holding that many, refilled evenly over the hour. Creating under a fresh
   guest identity does not help: the address is charged too.
2. The server holds at most ``max_sanctuaries`` in all.
3. The operator — a steward token for every sanctuary (``snc`` ``*``, the
   link ``dreamloom serve`` prints) — is not rate limited, but counts toward
   the total.

A refusal is :class:`CreationRefused`: ``too_many_sanctuaries`` (time cures
it: ``retry_after`` says when) or ``sanctuary_limit`` (the total).
"""

from __future__ import annotations

import asyncio
import math
import time
from collections import OrderedDict
from collections.abc import Callable
from typing import TYPE_CHECKING

from .rate import TokenBucket

if TYPE_CHECKING:
    from .config import ServerConfig
    from .store import Store

HOUR = 3600.0
MAX_TRACKED = 65_536


class CreationRefused(Exception):
    """A sanctuary may not be created now: ``code`` and a message naming the limit."""

    def __init__(self, code: str, message: str, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.retry_after = retry_after


class Creation:
    """Counts creations per client address, per identity and in total."""

    def __init__(self, config: ServerConfig, store: Store, clock: Callable[[], float] = time.monotonic) -> None:
        self.config = config
        self.store = store
        self.clock = clock
        self._buckets: OrderedDict[str, TokenBucket] = OrderedDict()
        self._total: int | None = None
        #: Held while checking and creating, so two requests cannot both take the last place.
        self.lock = asyncio.Lock()

    def _bucket(self, key: str) -> TokenBucket:
        bucket = self._buckets.get(key)
        if bucket is None:
            per_hour = self.config.sanctuaries_per_hour
            bucket = self._buckets[key] = TokenBucket(per_hour / HOUR, per_hour, self.clock)
            while len(self._buckets) > MAX_TRACKED:
                self._buckets.popitem(last=False)
        else:
            self._buckets.move_to_end(key)
        return bucket

    async def admit(self, client: str, identity: str | None, *, operator: bool = False) -> None:
        """Charge one creation (call with :attr:`lock` held), or raise :class:`CreationRefused`."""
        if self._total is None:
            self._total = len(await self.store.list_sanctuaries())
        if self._total >= self.config.max_sanctuaries:
            raise CreationRefused(
                "sanctuary_limit", f"max_sanctuaries: this server holds its {self.config.max_sanctuaries} sanctuaries"
            )
        if not operator:
            buckets = [self._bucket(f"addr:{client}")]
            if identity is not None:
                buckets.append(self._bucket(f"id:{identity}"))
            for bucket in buckets:
                wait = bucket.wait(1)
                if wait > 0:
                    per_hour = self.config.sanctuaries_per_hour
                    raise CreationRefused(
                        "too_many_sanctuaries",
                        f"sanctuaries_per_hour: at most {per_hour} new sanctuaries per hour from one client",
                        retry_after=math.ceil(min(wait, HOUR)),
                    )
            for bucket in buckets:
                bucket.take(1)
        self._total += 1
