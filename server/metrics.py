"""Prometheus metrics of one server (one registry per app, so in-process servers never collide)."""

from __future__ import annotations

import bisect
import time
from collections.abc import Iterator, Sequence

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.metrics_core import CounterMetricFamily, HistogramMetricFamily, Metric
from prometheus_client.registry import Collector

_LATENCY_BUCKETS = (0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5)
_LAG_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1.0, 2.0, 5.0)
_RENDER_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


class LightCounter(Collector):
    """A counter of the op path: exposed as a Prometheus ``Counter`` is, but counted without a lock.

    Prometheus' own counter takes a lock and checks its arguments at every ``inc``; an op passes
    several. These are counted by the event loop's thread only, so a plain number will do.
    """

    def __init__(self, name: str, documentation: str, registry: CollectorRegistry) -> None:
        self.name, self.documentation = name, documentation
        self.value = 0.0
        self.created = time.time()
        registry.register(self)

    def inc(self, amount: float = 1) -> None:
        self.value += amount

    def collect(self) -> Iterator[Metric]:
        yield CounterMetricFamily(self.name, self.documentation, value=self.value, created=self.created)


class LightHistogram(Collector):
    """A histogram of the op path, exposed as a Prometheus ``Histogram`` is (see :class:`LightCounter`)."""

    def __init__(self, name: str, documentation: str, buckets: Sequence[float], registry: CollectorRegistry) -> None:
        self.name, self.documentation = name, documentation
        self.bounds = tuple(float(b) for b in buckets)
        self.counts = [0] * (len(self.bounds) + 1)  # the last one: above every bound (+Inf)
        self.sum = 0.0
        self.created = time.time()
        registry.register(self)

    def observe(self, amount: float) -> None:
        self.counts[bisect.bisect_left(self.bounds, amount)] += 1  # a bucket holds what is <= its bound
        self.sum += amount

    def collect(self) -> Iterator[Metric]:
        cumulative, total = [], 0
        for bound, count in zip((*self.bounds, float("inf")), self.counts, strict=True):
            total += count
            cumulative.append((_bound_text(bound), total))
        family = HistogramMetricFamily(self.name, self.documentation, buckets=cumulative, sum_value=self.sum)
        yield family
        created = Metric(self.name + "_created", self.documentation, "gauge")
        created.add_sample(self.name + "_created", {}, self.created)
        yield created


def _bound_text(bound: float) -> str:
    # As prometheus_client writes a bucket's bound (floatToGoString): "0.005", "1.0", "+Inf".
    return "+Inf" if bound == float("inf") else repr(bound)


class Metrics:
    """Every metric the server updates."""

    content_type = CONTENT_TYPE_LATEST

    def __init__(self) -> None:
        r = self.registry = CollectorRegistry()
        self.connections = Gauge("dreamloom_connections", "Open WebSocket connections in sanctuaries", registry=r)
        self.sanctuaries_loaded = Gauge("dreamloom_sanctuaries_loaded", "Sanctuaries in memory", registry=r)
        self.ops_accepted = LightCounter("dreamloom_ops_accepted", "Ops merged and committed", registry=r)
        self.ops_rejected = Counter("dreamloom_ops_rejected", "Ops rejected, by code", ["code"], registry=r)
        self.commit_latency = LightHistogram(
            "dreamloom_commit_latency_seconds", "Store commit time per batch", buckets=_LATENCY_BUCKETS, registry=r
        )
        self.broadcast_latency = LightHistogram(
            "dreamloom_broadcast_latency_seconds",
            "From merge to the frames of a broadcast queued for every connection",
            buckets=_LATENCY_BUCKETS,
            registry=r,
        )
        self.frames_sent = LightCounter("dreamloom_frames_sent", "WebSocket frames written", registry=r)
        self.presence_dropped = Counter(
            "dreamloom_presence_dropped", "Presence updates dropped (throttled or slow consumer)", registry=r
        )
        self.slow_consumers_closed = Counter(
            "dreamloom_slow_consumers_closed", "Connections closed because their send buffer overflowed", registry=r
        )
        self.bus_ops_healed = Counter(
            "dreamloom_bus_ops_healed", "Ops lost on the cluster bus and back-filled from the store", registry=r
        )

        self.render_seconds = Histogram(
            "dreamloom_render_seconds",
            "Time to draw a tapestry image for the HTTP API, by format",
            ["format"],
            buckets=_RENDER_BUCKETS,
            registry=r,
        )
        self.loop_lag = Histogram(
            "dreamloom_event_loop_lag_seconds",
            "How late the event loop woke a task that asked to sleep (sampled every 20 ms)",
            buckets=_LAG_BUCKETS,
            registry=r,
        )
        self.loop_hold = Histogram(
            "dreamloom_event_loop_hold_seconds",
            "Of that lateness, the CPU time the event loop's thread spent meanwhile: what held the loop,"
            " whatever else the machine ran (sampled every 20 ms)",
            buckets=_LAG_BUCKETS,
            registry=r,
        )
        self.refused = Counter(
            "dreamloom_limit_refusals", "Sockets, requests and messages refused, by limit", ["limit"], registry=r
        )

    def render(self) -> bytes:
        """The exposition text for ``GET /metrics``."""
        return generate_latest(self.registry)
