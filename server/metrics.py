"""Prometheus metrics of one server (one registry per app, so in-process servers never collide)."""

from __future__ import annotations

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Gauge, Histogram, generate_latest

_LATENCY_BUCKETS = (0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5)
_LAG_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1.0, 2.0, 5.0)
_RENDER_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


class Metrics:
    """Every metric the server updates."""

    content_type = CONTENT_TYPE_LATEST

    def __init__(self) -> None:
        r = self.registry = CollectorRegistry()
        self.connections = Gauge("dreamloom_connections", "Open WebSocket connections in sanctuaries", registry=r)
        self.sanctuaries_loaded = Gauge("dreamloom_sanctuaries_loaded", "Sanctuaries in memory", registry=r)
        self.ops_accepted = Counter("dreamloom_ops_accepted", "Ops merged and committed", registry=r)
        self.ops_rejected = Counter("dreamloom_ops_rejected", "Ops rejected, by code", ["code"], registry=r)
        self.commit_latency = Histogram(
            "dreamloom_commit_latency_seconds", "Store commit time per batch", buckets=_LATENCY_BUCKETS, registry=r
        )
        self.broadcast_latency = Histogram(
            "dreamloom_broadcast_latency_seconds",
            "From merge to the frames of a broadcast queued for every connection",
            buckets=_LATENCY_BUCKETS,
            registry=r,
        )
        self.frames_sent = Counter("dreamloom_frames_sent", "WebSocket frames written", registry=r)
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
