"""Hypothesis profiles for the whole suite.

``ci`` (selected when the environment has ``CI=true``) runs enough examples that
each convergence property sees at least 10,000 ops; ``dev`` is lighter for the
edit-test loop. ``HYPOTHESIS_PROFILE`` overrides the choice.
"""

from __future__ import annotations

import os

from hypothesis import HealthCheck, settings

_SLOW_OK = [HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.large_base_example]

settings.register_profile("ci", max_examples=200, deadline=None, suppress_health_check=_SLOW_OK, print_blob=True)
settings.register_profile("dev", max_examples=40, deadline=None, suppress_health_check=_SLOW_OK)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE") or ("ci" if os.environ.get("CI") == "true" else "dev"))


# PostgreSQL and Redis for the cluster tests: see services_kit.py.
from services_kit import pg_url, redis_url  # noqa: E402

__all__ = ["pg_url", "redis_url"]
