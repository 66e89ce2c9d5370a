"""Budgets: how much one connection, one identity and one sanctuary may cost (SPEC W17-W19).

Theory of operation:

0. Reading is paced: every WebSocket message costs its size against the
   connection's inbound budget (its op and presence byte rates together) and
   its client address's (``client_bytes_rate``, shared by every socket of the
   address). Past either, the connection stops reading until the budget
   allows: the bytes wait in the peer's socket, so a flood costs the server no
   decoding at all, and one address cannot buy more with more sockets.
1. Ops cost twice: by count and by bytes (the size of the ``ops`` message as
   received). Each connection has an ops bucket and a bytes bucket, and so has
   each identity over all its connections: opening more sockets buys nothing.
   A batch passes only if every bucket holds enough; then it is taken from all
   of them at once, so a refused batch costs nothing. A refusal names the limit
   (``ops_rate``, ``ops_bytes_rate``, ``identity_ops_rate``,
   ``identity_bytes_rate``) and when the same batch would fit.
2. Presence costs bytes: a connection past its presence byte budget has its
   presence messages dropped (latest-wins state is best effort) and is told
   once per second with an ``error`` ``rate_limited`` naming
   ``presence_bytes_rate``.
3. A sanctuary holds at most ``live_bytes_per_sanctuary`` of geometry and
   text: 16 bytes a stroke point (two float64), the UTF-8 bytes of a text.
   Deleted fragments count (their registers stay, so a delete may be undone).
   The check wraps the sanctuary's gate, so it runs inside the actor, after the
   policy and before the merge; an op that would pass the budget is rejected
   ``over_budget`` with ``rule`` ``live_bytes_per_sanctuary``.
"""

from __future__ import annotations

import functools
import math
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from dreamloom.protocol import ErrorCode, Fragment, Op, Tapestry
from dreamloom.protocol.messages import MAX_RETRY_AFTER

from .encodings import Pacer
from .gate import Gate, PolicyError
from .rate import TokenBucket, retry_seconds

if TYPE_CHECKING:
    from .config import ServerConfig
    from .member import Member

#: Identities whose buckets are remembered; the least recently active is forgotten first.
MAX_IDENTITIES = 65_536
POINT_BYTES = 16
#: What a pressure value adds to its point (SPEC W19, W38).
PRESSURE_BYTES = 8


@dataclass(frozen=True, slots=True)
class Refusal:
    """A budget that would be overdrawn: its option name, what it allows, and when the same cost fits."""

    limit: str
    allowed: str
    retry_after: float

    @property
    def reason(self) -> str:
        return f"over {self.limit} ({self.allowed}): retry in {self.retry_after:g} s"


@dataclass(slots=True)
class _Named:
    limit: str
    allowed: str
    bucket: TokenBucket


def _wait(named: _Named, cost: float) -> float:
    return retry_seconds(named.bucket.wait(cost))


def _take_all(buckets: list[tuple[_Named, float]]) -> Refusal | None:
    for named, cost in buckets:
        if named.bucket.wait(cost) > 0:  # rounded only when it refuses: this runs for every op
            wait = _wait(named, cost)
            if wait > 0:
                return Refusal(named.limit, named.allowed, wait)
    for named, cost in buckets:
        named.bucket.spend(cost)
    return None


class Pace:
    """A byte budget that may run into debt: the debt says how long reading must pause."""

    __slots__ = ("_clock", "_last", "burst", "rate", "tokens")

    def __init__(self, rate: float, burst: float, clock: Callable[[], float]) -> None:
        self.rate, self.burst, self.tokens = rate, burst, burst
        self._clock = clock
        self._last = clock()

    def charge(self, n: float) -> float:
        """Take ``n`` (into debt if need be); seconds until the budget is out of debt again."""
        now = self._clock()
        self.tokens = min(self.burst, self.tokens + (now - self._last) * self.rate) - n
        self._last = now
        if self.tokens >= 0:
            return 0.0
        return -self.tokens / self.rate if self.rate > 0 else MAX_RETRY_AFTER


class SharedBudgets:
    """Budgets shared by connections: each identity's ops and bytes, each client address's reading pace."""

    def __init__(self, config: ServerConfig, clock: Callable[[], float] = time.monotonic) -> None:
        self.config = config
        self.clock = clock
        self._buckets: OrderedDict[str, tuple[_Named, _Named]] = OrderedDict()
        self._paces: OrderedDict[str, Pace] = OrderedDict()

    def address(self, client: str) -> Pace:
        """The reading pace of one client address."""
        pace = self._paces.get(client)
        if pace is None:
            c = self.config
            pace = self._paces[client] = Pace(c.client_bytes_rate, c.client_bytes_burst, self.clock)
            while len(self._paces) > MAX_IDENTITIES:
                self._paces.popitem(last=False)
        else:
            self._paces.move_to_end(client)
        return pace

    def of(self, identity: str) -> tuple[_Named, _Named]:
        pair = self._buckets.get(identity)
        if pair is None:
            c = self.config
            # Unset (0): twice a connection's budget, so two tabs of one person both work at full speed.
            ops = c.identity_ops_rate or 2 * c.ops_rate
            size = c.identity_bytes_rate or 2 * c.ops_bytes_rate
            pair = (
                _Named(
                    "identity_ops_rate",
                    f"{ops:g} ops per second per identity, bursts of {2 * c.ops_burst:g}",
                    TokenBucket(ops, 2 * c.ops_burst, self.clock),
                ),
                _Named(
                    "identity_bytes_rate",
                    f"{size} bytes of ops per second per identity, bursts of {2 * c.ops_bytes_burst}",
                    TokenBucket(size, 2 * c.ops_bytes_burst, self.clock),
                ),
            )
            self._buckets[identity] = pair
            while len(self._buckets) > MAX_IDENTITIES:
                self._buckets.popitem(last=False)
        else:
            self._buckets.move_to_end(identity)
        return pair


class ConnectionBudget:
    """What one connection may still send: ops by count and bytes, and presence by bytes."""

    def __init__(
        self,
        config: ServerConfig,
        shared: SharedBudgets,
        client: str = "?",
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        c = config
        self._config = config
        self.identities = shared
        self._reading = Pace(
            c.ops_bytes_rate + c.presence_bytes_rate, c.ops_bytes_burst + c.presence_bytes_burst, clock
        )
        self._address = shared.address(client)
        self._clock = clock
        self._last_presence_notice = -math.inf

    # The buckets of what a connection writes are made when it first writes: most members of a
    # crowded room only watch, and an idle connection should cost as little memory as it can.
    @functools.cached_property
    def ops(self) -> _Named:
        c = self._config
        return _Named(
            "ops_rate",
            f"{c.ops_rate:g} ops per second, bursts of {c.ops_burst:g}",
            TokenBucket(c.ops_rate, c.ops_burst, self._clock),
        )

    @functools.cached_property
    def bytes(self) -> _Named:
        c = self._config
        return _Named(
            "ops_bytes_rate",
            f"{c.ops_bytes_rate} bytes of ops per second, bursts of {c.ops_bytes_burst}",
            TokenBucket(c.ops_bytes_rate, c.ops_bytes_burst, self._clock),
        )

    @functools.cached_property
    def presence(self) -> _Named:
        c = self._config
        return _Named(
            "presence_bytes_rate",
            f"{c.presence_bytes_rate} bytes of presence per second, bursts of {c.presence_bytes_burst}",
            TokenBucket(c.presence_bytes_rate, c.presence_bytes_burst, self._clock),
        )

    def read(self, size: int) -> float:
        """Charge a message of ``size`` bytes as read; seconds to pause reading before the next one."""
        return max(self._reading.charge(size), self._address.charge(size))

    def take_ops(self, identity: str, count: int, size: int) -> Refusal | None:
        """Charge a batch of ``count`` ops in a message of ``size`` bytes, or say which budget refuses it."""
        id_ops, id_bytes = self.identities.of(identity)
        a, b, c, d = self.ops.bucket, self.bytes.bucket, id_ops.bucket, id_bytes.bucket
        if a.fits(count) and b.fits(size) and c.fits(count) and d.fits(size):
            # Every budget holds enough (the case of every op): taken from all at once.
            a.spend(count)
            b.spend(size)
            c.spend(count)
            d.spend(size)
            return None
        return _take_all([(self.ops, count), (self.bytes, size), (id_ops, count), (id_bytes, size)])

    def take_presence(self, size: int) -> Refusal | None:
        """Charge a presence message of ``size`` bytes, or the refusal (the message is to be dropped)."""
        return _take_all([(self.presence, size)])

    def notice_due(self) -> bool:
        """Whether a dropped presence should be told now (at most once a second)."""
        now = self._clock()
        if now - self._last_presence_notice < 1.0:
            return False
        self._last_presence_notice = now
        return True


# -- live bytes of a sanctuary -------------------------------------------------------
def geom_bytes(geom: Any) -> int:
    """The weight of a geometry: 16 bytes a stroke point (8 more with pressure), the UTF-8 bytes of a text."""
    if not isinstance(geom, dict):
        return 0
    weight = 0
    pts = geom.get("pts")
    if isinstance(pts, list):
        weight += (len(pts) // 2) * POINT_BYTES
    pressure = geom.get("pressure")
    if isinstance(pressure, list):
        weight += len(pressure) * PRESSURE_BYTES
    text = geom.get("text")
    if isinstance(text, str):
        weight += len(text.encode("utf-8", "surrogatepass"))
    return weight


def fragment_bytes(frag: Fragment | None) -> int:
    return 0 if frag is None else geom_bytes(frag.geom)


def tapestry_bytes(tapestry: Tapestry) -> int:
    """Live bytes of a whole tapestry, deleted fragments included."""
    return sum(fragment_bytes(f) for f in tapestry.fragments(include_deleted=True))


class BudgetGate(Gate):
    """A sanctuary's gate with the live-bytes budget checked after the gate's own rules."""

    def __init__(self, inner: Gate, limit: int) -> None:
        self.inner = inner
        self.limit = limit
        self.total: int | None = None  # counted from the tapestry at the first op
        # What check weighed for the op it passed: its id, the weight it replaces, its own weight.
        self._before: tuple[str, int, int] = ("", 0, 0)

    def policy(self) -> dict[str, Any]:
        return self.inner.policy()

    async def prepare(self, tapestry: Tapestry) -> None:
        # A 100,000-fragment tapestry takes a good part of a second to weigh: in slices, at load,
        # not at its first op (which would hold the loop, and every sanctuary with it, meanwhile).
        await self.inner.prepare(tapestry)
        total = 0
        pacer = Pacer()
        for fid in tapestry.ids():  # nothing writes the tapestry during its load
            total += geom_bytes(tapestry.value(fid, "geom"))
            await pacer.pace()
        self.total = total

    def check(self, member: Member, op: Op, tapestry: Tapestry) -> None:
        self.inner.check(member, op, tapestry)
        if self.total is None:
            self.total = tapestry_bytes(tapestry)
        geom = op.fields.get("geom") if op.t in ("c", "s") else None
        if geom is None:
            # No geometry written (a drag, a restyle, a delete): the weight stays as it is, and the
            # hot path skips reading the fragment twice (deleted fragments keep counting).
            self._before = ("", 0, 0)
            return
        before = geom_bytes(tapestry.value(op.id, "geom")) if op.t != "c" else 0
        weight = geom_bytes(geom)
        self._before = (op.id, before, weight)
        grows = weight - before
        if grows > 0 and self.total + grows > self.limit:
            raise PolicyError(
                ErrorCode.OVER_BUDGET,
                f"this sanctuary holds {self.total} of its {self.limit} bytes of geometry and text",
                rule="live_bytes_per_sanctuary",
                allowed=f"{max(0, self.limit - self.total)} more bytes (16 a point, UTF-8 bytes of text)",
            )

    def admitted(self, member: Member, op: Op, tapestry: Tapestry) -> None:
        self.inner.admitted(member, op, tapestry)
        fid, before, weight = self._before
        if self.total is not None and fid == op.id:
            # The op's geometry won (the usual case): its weight is known, nothing is unpacked.
            if tapestry.stamp(op.id, "geom") != op.stamp:
                weight = geom_bytes(tapestry.value(op.id, "geom"))
            self.total += weight - before


def budget_gates(factory: Callable[[str], Gate] | None, config: ServerConfig) -> Callable[[str], Gate]:
    """The hub's gate factory with every gate wrapped in the live-bytes budget."""

    def gate_for(name: str) -> Gate:
        inner = factory(name) if factory is not None else Gate()
        return BudgetGate(inner, config.live_bytes_per_sanctuary)

    return gate_for
