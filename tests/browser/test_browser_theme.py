"""A light theme that follows the system's preference, with a toggle that is kept."""

from __future__ import annotations

import io
from typing import Any

import pytest
from browser_kit import OUTPUT, Dreamer, NewDreamer
from PIL import Image

from dreamloom.server.testing import InProcessServer

pytestmark = pytest.mark.asyncio(loop_scope="module")


async def _canvas_pixel(d: Dreamer) -> tuple[int, int, int]:
    png = await d.page.screenshot(clip={"x": 600, "y": 600, "width": 4, "height": 4})
    r, g, b = Image.open(io.BytesIO(png)).convert("RGB").getpixel((1, 1))  # type: ignore[misc]
    return r, g, b


async def test_light_theme_follows_the_system_and_the_toggle_is_kept(
    browser: Any, dreamers: NewDreamer, server: InProcessServer
) -> None:
    ctx = await browser.new_context(bypass_csp=True, viewport={"width": 1280, "height": 800}, color_scheme="light")
    await ctx.add_init_script("localStorage.setItem('dreamloom:name', JSON.stringify('Ana'))")
    a = await dreamers("Ana", context=ctx)
    await a.stroke(-100, 0)
    assert await a.page.evaluate("document.documentElement.dataset.theme") == "light"
    assert sum(await _canvas_pixel(a)) > 600, "a light canvas"
    OUTPUT.mkdir(parents=True, exist_ok=True)
    await a.page.screenshot(path=str(OUTPUT / "theme-light.png"))
    # The toggle switches to dark, and the choice outlives a reload.
    await a.page.locator("#theme-button").click()
    await a.wait("document.documentElement.dataset.theme === 'dark'")
    assert sum(await _canvas_pixel(a)) < 100, "a dark canvas"
    await a.page.reload()
    await a.wait("d.connected && document.documentElement.dataset.theme === 'dark'")
    await a.page.locator("#theme-button").click()
    await a.wait("document.documentElement.dataset.theme === 'light'")
    # Exports start on the theme's background.
    assert await a.page.locator("#export-background").input_value() == "light"
