"""Prometheus metrics: one registry per server, updated by real traffic, exposed on /metrics."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest
from prometheus_client.parser import text_string_to_metric_families
from test_api import connect, symbol

from dreamloom.protocol import Ops, Reject, ops
from dreamloom.server.metrics import Metrics
from dreamloom.server.testing import InProcessServer, serve_in_process

EXPECTED = {
    "dreamloom_connections": "gauge",
    "dreamloom_sanctuaries_loaded": "gauge",
    "dreamloom_ops_accepted": "counter",
    "dreamloom_ops_rejected": "counter",
    "dreamloom_commit_latency_seconds": "histogram",
    "dreamloom_broadcast_latency_seconds": "histogram",
    "dreamloom_frames_sent": "counter",
    "dreamloom_presence_dropped": "counter",
    "dreamloom_slow_consumers_closed": "counter",
    "dreamloom_render_seconds": "histogram",
}


def samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    out = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            out[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return out


def value(text: str, name: str, **labels: str) -> float:
    return samples(text).get((name, tuple(sorted(labels.items()))), 0.0)


async def scrape(http: aiohttp.ClientSession, server: InProcessServer) -> str:
    async with http.get(server.url + "/metrics") as resp:
        assert resp.status == 200
        assert resp.headers["Content-Type"] == Metrics.content_type
        return await resp.text()


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=30)) as session:
        yield session


def test_every_metric_is_registered_with_its_type() -> None:
    families = {f.name: f.type for f in text_string_to_metric_families(Metrics().render().decode())}
    assert {name: families.get(name) for name in EXPECTED} == EXPECTED


def test_registries_are_per_instance() -> None:
    a, b = Metrics(), Metrics()
    a.ops_accepted.inc(3)
    a.ops_rejected.labels(code="forbidden").inc()
    assert value(a.render().decode(), "dreamloom_ops_accepted_total") == 3
    assert value(b.render().decode(), "dreamloom_ops_accepted_total") == 0
    assert value(b.render().decode(), "dreamloom_ops_rejected_total", code="forbidden") == 0


async def test_traffic_moves_the_metrics_of_its_own_server_only(tmp_path: Path, http: aiohttp.ClientSession) -> None:
    async with (
        serve_in_process(data_dir=tmp_path / "a") as busy,
        serve_in_process(data_dir=tmp_path / "b") as idle,
    ):
        d = await connect(http, busy, "garden")
        await d.send([symbol(d, "m1", "moon", 0, "V"), symbol(d, "m2", "sun", 50, "W")])
        await d.send([symbol(d, "m3", "star", 100, "X")])
        # a set of a fragment that does not exist is rejected with a code
        await d.ws.send_bytes(d.codec.encode(Ops((ops.set_fields("no-such-fragment", d.stamp(), x=1),))))
        reject = None
        for _ in range(20):
            msg = await d.receive()
            if isinstance(msg, Reject):
                reject = msg
                break
        assert reject is not None
        async with http.get(busy.url + "/api/sanctuaries/garden/tapestry.png") as resp:
            assert resp.status == 200
        text = await scrape(http, busy)
        assert value(text, "dreamloom_ops_accepted_total") == 3
        assert value(text, "dreamloom_ops_rejected_total", code=reject.code.value) == 1
        assert value(text, "dreamloom_connections") == 1
        assert value(text, "dreamloom_sanctuaries_loaded") == 1
        assert value(text, "dreamloom_commit_latency_seconds_count") >= 2
        assert value(text, "dreamloom_broadcast_latency_seconds_count") >= 2
        assert value(text, "dreamloom_frames_sent_total") >= 4  # welcome, two broadcasts, acks, the reject
        assert value(text, "dreamloom_render_seconds_count", format="png") == 1
        quiet = await scrape(http, idle)
        assert value(quiet, "dreamloom_ops_accepted_total") == 0
        assert value(quiet, "dreamloom_connections") == 0
        await d.ws.close()


def test_light_counters_and_histograms_read_as_prometheus_own() -> None:
    # The op path's metrics are counted without Prometheus' lock: their exposition must not change.
    from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest

    from dreamloom.server.metrics import LightCounter, LightHistogram

    bounds = (0.0005, 0.001, 0.002, 0.005, 0.01, 2.5)
    theirs, ours = CollectorRegistry(), CollectorRegistry()
    counter, light_counter = Counter("c", "Counted", registry=theirs), LightCounter("c", "Counted", registry=ours)
    histogram = Histogram("h", "Timed", buckets=bounds, registry=theirs)
    light_histogram = LightHistogram("h", "Timed", bounds, registry=ours)
    for value in (0.0, 0.0005, 0.00051, 0.002, 0.7, 2.5, 3.0, 1e9):  # on, between and past the bounds
        histogram.observe(value)
        light_histogram.observe(value)
    counter.inc(3)
    light_counter.inc(3)
    counter.inc()
    light_counter.inc()

    def without_times(registry: CollectorRegistry) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
        return {key: v for key, v in samples(generate_latest(registry).decode()).items() if "_created" not in key[0]}

    assert without_times(ours) == without_times(theirs)
    assert generate_latest(ours).decode().count("_created") == generate_latest(theirs).decode().count("_created")
