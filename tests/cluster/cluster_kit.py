"""Nodes of one cluster for tests: in-process servers, or ``dreamloom serve`` subprocesses, on one
PostgreSQL schema and one Redis key prefix of their own."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from server_kit import Wire
from services_kit import postgres_schema, redis_prefix
from wire import scaled

from dreamloom.server.app import CLUSTER
from dreamloom.server.cluster import ClusterNode
from dreamloom.server.store.postgres import PostgresStore
from dreamloom.server.testing import InProcessServer, free_port, serve_in_process

#: Short leases keep the failover tests quick; production defaults to 3 s.
LEASE = 1.5


class Node:
    """A ``dreamloom serve`` subprocess: kill -9 it like a crashed machine."""

    def __init__(self, process: subprocess.Popen[bytes], port: int, log: Path, node_id: str) -> None:
        self.node_id = node_id
        self.process = process
        self.port = port
        self.log = log

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def ws_url(self, sanctuary: str) -> str:
        return f"ws://127.0.0.1:{self.port}/ws/{sanctuary}"

    def kill(self) -> None:
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(timeout=10)


class Cluster:
    """Starts nodes on one store and one bus; stops them all at the end."""

    def __init__(self, pg: str, redis: str, tmp: Path, stack: contextlib.AsyncExitStack) -> None:
        self.pg = pg
        self.redis = redis
        self.tmp = tmp
        self._stack = stack
        self._count = 0
        self.processes: list[Node] = []

    async def node(self, **config: Any) -> InProcessServer:
        """An in-process node (its hub, store and cluster node at hand)."""
        self._count += 1
        config.setdefault("lease_ttl", LEASE)
        config.setdefault("node_id", f"n{self._count}")
        return await self._stack.enter_async_context(
            serve_in_process(self.tmp / f"node{self._count}", store=PostgresStore(self.pg), bus=self.redis, **config)
        )

    async def process(self, **config: Any) -> Node:
        """A ``dreamloom serve`` subprocess node, ready to serve."""
        self._count += 1
        port = free_port()
        log = self.tmp / f"node{self._count}.log"
        env = dict(os.environ, DREAMLOOM_STORE=self.pg, DREAMLOOM_BUS=self.redis)
        env["DREAMLOOM_NODE_ID"] = f"p{self._count}"
        env["DREAMLOOM_LEASE_TTL"] = str(config.pop("lease_ttl", LEASE))
        for key, value in config.items():
            env[f"DREAMLOOM_{key.upper()}"] = str(value)
        args = [sys.executable, "-m", "dreamloom", "serve", "--port", str(port)]
        args += ["--data-dir", str(self.tmp / f"node{self._count}")]
        node = Node(_spawn(args, env, log), port, log, env["DREAMLOOM_NODE_ID"])
        self.processes.append(node)
        await _until_listening(node)
        return node

    async def stop_processes(self) -> None:
        for node in self.processes:
            if node.process.poll() is None:
                node.process.send_signal(signal.SIGTERM)
        for node in self.processes:
            with contextlib.suppress(subprocess.TimeoutExpired):
                await asyncio.to_thread(node.process.wait, 15)
            if node.process.poll() is None:
                node.kill()


def _spawn(args: list[str], env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    with open(log, "wb") as out:
        return subprocess.Popen(args, env=env, stdout=out, stderr=subprocess.STDOUT)


def cluster_node(server: InProcessServer) -> ClusterNode:
    assert server.app is not None
    return server.app[CLUSTER]


async def _until_listening(node: Node) -> None:
    async def ready() -> None:
        while True:
            if node.process.poll() is not None:
                raise AssertionError(f"node exited with {node.process.returncode}: {node.log.read_text()[-2000:]}")
            try:
                _, writer = await asyncio.open_connection("127.0.0.1", node.port)
            except OSError:
                await asyncio.sleep(0.1)  # polling a subprocess's port: no event to wait on
                continue
            writer.close()
            await writer.wait_closed()
            return

    await asyncio.wait_for(ready(), scaled(30))


@pytest.fixture
async def cluster(tmp_path: Path) -> AsyncIterator[Cluster]:
    """Nodes on a fresh PostgreSQL schema and Redis prefix, all stopped and cleaned up at the end."""
    async with postgres_schema() as pg, redis_prefix() as redis, contextlib.AsyncExitStack() as stack:
        made = Cluster(pg, redis, tmp_path, stack)
        try:
            yield made
        finally:
            await made.stop_processes()


@pytest.fixture
async def wire(cluster: Cluster) -> AsyncIterator[Wire]:
    """Raw clients; closed before the nodes stop."""
    w = Wire()
    try:
        yield w
    finally:
        await w.close_all()
