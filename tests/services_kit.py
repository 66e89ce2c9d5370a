"""PostgreSQL and Redis for the cluster tests, on the servers this machine runs.

Each test gets a schema and a key prefix of its own on the shared servers and removes them
after. Where a server is missing the tests skip with the reason; under ``CI=true`` they fail
instead: there they must run.
"""

from __future__ import annotations

import contextlib
import os
import secrets
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest

POSTGRES = os.environ.get("DREAMLOOM_TEST_POSTGRES", "postgresql://postgres@127.0.0.1:5432/test")
REDIS = os.environ.get("DREAMLOOM_TEST_REDIS", "redis://127.0.0.1:6379/0")


def unavailable(what: str, exc: BaseException) -> None:
    message = f"{what} is not reachable ({exc}): the cluster tests need it (see docs/operations.md)"
    if os.environ.get("CI") == "true":
        pytest.fail(message + "; under CI=true they never skip")
    pytest.skip(message)


@contextlib.asynccontextmanager
async def _scoped(what: str, url: str, probe: Any, clean: Callable[[], Awaitable[None]]) -> AsyncIterator[str]:
    """``url`` once ``probe`` opened (else a skip, or a failure under CI); ``clean`` and close afterwards."""
    try:
        await probe.open()
    except Exception as exc:
        unavailable(what, exc)
    try:
        yield url
    finally:
        await clean()
        await probe.close()


def postgres_schema() -> contextlib.AbstractAsyncContextManager[str]:
    """A PostgreSQL store URL on a fresh schema, dropped afterwards."""
    from dreamloom.server.store.postgres import PostgresStore

    url = f"{POSTGRES}?schema=dl_{secrets.token_hex(6)}"
    probe = PostgresStore(url)
    return _scoped(f"PostgreSQL at {POSTGRES}", url, probe, probe.drop_schema)


def redis_prefix() -> contextlib.AbstractAsyncContextManager[str]:
    """A Redis bus URL under a fresh key prefix, whose keys are deleted afterwards."""
    from dreamloom.server.bus.redis import RedisBus

    url = f"{REDIS}?prefix=dl-{secrets.token_hex(6)}"
    probe = RedisBus(url)
    return _scoped(f"Redis at {REDIS}", url, probe, probe.delete_all)


@pytest.fixture
async def pg_url() -> AsyncIterator[str]:
    async with postgres_schema() as url:
        yield url


@pytest.fixture
async def redis_url() -> AsyncIterator[str]:
    async with redis_prefix() as url:
        yield url
