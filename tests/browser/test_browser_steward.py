"""Moderation as people see it (SPEC P10): the steward's panel (no kick or ban of yourself, fragments
picked on the canvas, an audit log in sentences), and a lasting banner with the tools turned off for
whoever is muted or locked out. History mode says it is history, with its own diversity figures."""

from __future__ import annotations

from typing import Any

import pytest
from browser_kit import OUTPUT, Dreamer, NewDreamer, converged

from dreamloom.client.testing import issue_token
from dreamloom.server.testing import InProcessServer

pytestmark = pytest.mark.asyncio(loop_scope="module")


async def _steward(browser: Any, dreamers: NewDreamer, server: InProcessServer) -> Dreamer:
    sanctuary = dreamers.sanctuary  # type: ignore[attr-defined]
    token = issue_token(server, sanctuary, name="Ana", role="steward")
    ctx = await browser.new_context(bypass_csp=True, viewport={"width": 1400, "height": 900}, color_scheme="dark")
    await ctx.add_init_script("localStorage.setItem('dreamloom:name', JSON.stringify('Ana'))")
    page = await ctx.new_page()
    d = Dreamer(ctx, page, "Ana")
    page.on("pageerror", lambda exc: d.errors.append(str(exc)))
    await page.goto(f"{server.url}/s/{sanctuary}?token={token}")
    await d.wait("d.connected && d.identity.role === 'steward'")
    await page.locator("#steward-button").click()
    return d


async def test_P10_steward_panel_and_what_the_moderated_see(
    browser: Any, dreamers: NewDreamer, server: InProcessServer
) -> None:
    sanctuary = dreamers.sanctuary  # type: ignore[attr-defined]
    bob = await dreamers("Bob")
    ana = await _steward(browser, dreamers, server)
    await bob.stroke(-100, 0)
    await bob.stroke(100, 100)
    await converged(server, sanctuary, bob, ana)
    page = ana.page
    await page.locator("button[data-tab=members]").click()
    mine = page.locator("#steward-panel li.me")
    await mine.wait_for()
    assert "(you)" in await mine.inner_text()
    assert await mine.locator("button, select").count() == 0, "no kick, ban, mute or role change of yourself"
    bobs = page.locator("#steward-panel li[data-identity]:not(.me)")
    assert "Bob" in await bobs.inner_text()
    assert await bobs.locator("button", has_text="Ban").count() == 1
    # Remove a fragment by picking it on the canvas, no id to type.
    (first, _) = await bob.fragments()
    await page.locator("#steward-pick").click()
    await ana.wait("d.tool === 'select'")
    await ana.click(first["x"], first["y"])
    await bob.wait("d.fragmentCount === 1")
    # Mute Bob: a banner that lasts, and his drawing tools off.
    await bobs.locator("button", has_text="Mute").click()
    banner = bob.page.locator("#banner")
    await banner.wait_for(state="visible")
    assert "muted" in await banner.inner_text()
    await bob.wait("d.readOnly && document.body.classList.contains('readonly')")
    assert await bob.page.locator("#undo").is_disabled()
    OUTPUT.mkdir(parents=True, exist_ok=True)
    await bob.page.screenshot(path=str(OUTPUT / "moderation-muted.png"))
    # Lock the canvas: the banner says so.
    await page.locator("button[data-tab=policy]").click()
    await page.locator("#steward-policy input[name=locked]").check()
    await page.locator("#steward-save").click()
    await bob.wait("document.getElementById('banner').dataset.kind === 'locked'")
    assert "locked" in await banner.inner_text()
    assert await ana.hook("readOnly") is False, "the steward still writes on a locked canvas"
    # The audit log: sentences with names, no raw ids or JSON.
    await page.locator("button[data-tab=audit]").click()
    audit = page.locator("#steward-audit")
    await audit.locator("li[data-act=mute]").wait_for()
    text = await audit.inner_text()
    assert "Ana muted Bob for 10 minutes." in text
    assert "Ana removed a fragment." in text
    assert "Ana locked the canvas." in text
    assert "{" not in text
    assert "guest-" not in text
    box = await audit.bounding_box()
    assert box is not None
    assert await audit.evaluate("(el) => el.scrollWidth <= el.clientWidth"), "nothing runs off the edge"
    await page.screenshot(path=str(OUTPUT / "steward-audit.png"))


async def test_history_mode_says_history_and_shows_its_own_diversity(
    dreamers: NewDreamer, server: InProcessServer
) -> None:
    a = await dreamers("Alice")
    sanctuary = dreamers.sanctuary  # type: ignore[attr-defined]
    await a.stroke(-100, 0)
    await a.stroke(100, 0)
    await converged(server, sanctuary, a)
    await a.page.locator("#history-button").click()
    await a.wait("d.replaying")
    await a.page.evaluate("window.dreamloom.seek(1)")
    status = a.page.locator("#status")
    await a.wait("document.getElementById('status').dataset.state === 'history'")
    assert "live" not in (await status.inner_text()).lower()
    figures = a.page.locator("#diversity .figures")
    assert (await figures.inner_text()).startswith("#1:")
    await a.page.keyboard.press("Escape")
    await a.wait("!d.replaying && document.getElementById('status').dataset.state === 'live'")
    assert not (await figures.inner_text()).startswith("#")
