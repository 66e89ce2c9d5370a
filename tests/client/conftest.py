"""Fixtures of the weaver SDK tests: a real server in-process and fast back-offs."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

#: Every wait of these tests, scaled for slow machines by DREAMLOOM_TEST_TIMEOUT_FACTOR.
from dreamloom.client.testing import serve_in_process


@pytest.fixture
async def server(tmp_path: Path) -> AsyncIterator[Any]:
    async with serve_in_process(data_dir=tmp_path) as srv:
        yield srv
