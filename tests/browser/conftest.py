"""Browser tests: Debian's Chromium driven by Playwright against a real in-process server.

One browser and one server per module (starting Chromium costs about a second);
each test uses its own sanctuary and its own browser contexts, so tests do not
share state. Pages open in the dark theme, whose canvas the pixel counts
expect. Pages are driven through real pointer and keyboard events; the
page's ``window.dreamloom`` hook exposes the local replica's canonical bytes so
tests can compare them with the server's.
"""

from __future__ import annotations

import os
import re
from collections.abc import AsyncIterator
from typing import Any

import pytest
import pytest_asyncio
from browser_kit import VIEWPORT, Dreamer, NewDreamer
from kit.chromium import CHROMIUM, CHROMIUM_ARGS, require_chromium

from dreamloom.server.testing import InProcessServer, serve_in_process


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def browser() -> AsyncIterator[Any]:
    require_chromium()
    try:
        from playwright.async_api import async_playwright
    except ImportError:
        if os.environ.get("CI") == "true":
            pytest.fail("playwright is not installed: pip install -e '.[dev]'")
        pytest.skip("playwright is not installed: pip install -e '.[dev]'")
    async with async_playwright() as p:
        b = await p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            yield b
        finally:
            await b.close()


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def server(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[InProcessServer]:
    async with serve_in_process(data_dir=tmp_path_factory.mktemp("browser-data")) as s:
        yield s


@pytest_asyncio.fixture(loop_scope="module")
async def dreamers(browser: Any, server: InProcessServer, request: pytest.FixtureRequest) -> AsyncIterator[NewDreamer]:
    """Open participants in a sanctuary named after the test."""
    sanctuary = re.sub(r"[^A-Za-z0-9_-]", "-", request.node.name)[:60]
    opened: list[Dreamer] = []

    async def open_dreamer(name: str, *, wait_live: bool = True, context: Any = None) -> Dreamer:
        ctx = context or await browser.new_context(bypass_csp=True, viewport=VIEWPORT, color_scheme="dark")
        if context is None:
            await ctx.add_init_script(f"localStorage.setItem('dreamloom:name', JSON.stringify({name!r}))")
        page = await ctx.new_page()
        d = Dreamer(ctx, page, name)
        page.on("pageerror", lambda exc: d.errors.append(str(exc)))
        await page.goto(f"{server.url}/s/{sanctuary}")
        if wait_live:
            await d.wait("d.connected")
        opened.append(d)
        return d

    open_dreamer.sanctuary = sanctuary  # type: ignore[attr-defined]
    yield open_dreamer
    contexts = {id(d.context): d.context for d in opened}
    errors = [f"{d.name}: {e}" for d in opened for e in d.errors]
    for ctx in contexts.values():
        await ctx.close()
    assert not errors, f"uncaught errors in the pages: {errors}"
