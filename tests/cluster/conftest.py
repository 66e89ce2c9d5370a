"""Fixtures of the cluster tests: nodes on the real PostgreSQL and Redis (see cluster_kit)."""

import sys
from pathlib import Path

# The raw WebSocket client of the server tests.
sys.path.insert(0, str(Path(__file__).parent.parent / "server"))

from cluster_kit import cluster, wire

__all__ = ["cluster", "wire"]
