"""The app runs under its own Content-Security-Policy (SPEC W22): no bypass, no violation."""

from __future__ import annotations

from typing import Any

import pytest
from browser_kit import VIEWPORT

from dreamloom.server.testing import InProcessServer

pytestmark = pytest.mark.asyncio(loop_scope="module")


async def test_W22_the_pages_go_live_under_their_content_security_policy(browser: Any, server: InProcessServer) -> None:
    ctx = await browser.new_context(viewport=VIEWPORT)  # the policy applies in full
    try:
        await ctx.add_init_script("localStorage.setItem('dreamloom:name', JSON.stringify('Policy'))")
        page = await ctx.new_page()
        violations: list[str] = []
        page.on("console", lambda msg: violations.append(msg.text) if "Content Security Policy" in msg.text else None)
        page.on("pageerror", lambda exc: violations.append(str(exc)))
        response = await page.goto(f"{server.url}/s/policy-check")
        assert response is not None
        assert "script-src 'self'" in response.headers["content-security-policy"]
        await page.wait_for_selector('#status[data-state="live"]')
        await page.goto(f"{server.url}/")
        await page.wait_for_selector("#list tbody tr")  # the landing list loaded and drew its rows
        assert violations == []
    finally:
        await ctx.close()
