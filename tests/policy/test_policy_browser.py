"""The steward panel in Chromium: the steward lowers the AI share cap and a weaver's next op is refused."""

from __future__ import annotations

from typing import Any

from harmony_client import acked, rejected
from harmony_kit import Harmony
from kit.chromium import CHROMIUM, CHROMIUM_ARGS, require_chromium


async def test_the_steward_changes_the_cap_in_the_panel(harmony: Harmony) -> None:
    require_chromium()
    from playwright.async_api import async_playwright

    owner = await harmony.connect("dreamer")
    weaver = await harmony.connect("weaver")
    for i in range(3):
        acked(await owner.write(owner.symbol(f"o{i}")))
    acked(await weaver.write(weaver.symbol("w0")))  # 1 of 4 live fragments is AI
    steward_token = harmony.token("steward", "*", sub="steward-ana", name="Ana")
    errors: list[str] = []
    async with async_playwright() as p:
        browser = await p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            ctx = await browser.new_context(bypass_csp=True, viewport={"width": 1280, "height": 800})
            await ctx.add_init_script("localStorage.setItem('dreamloom:name', JSON.stringify('Ana'))")
            page: Any = await ctx.new_page()
            page.on("pageerror", lambda exc: errors.append(str(exc)))
            await page.goto(f"{harmony.server.url}/s/garden?token={steward_token}")
            await page.wait_for_function("!location.search.includes('token')")
            await page.click("#steward-button", timeout=10_000)
            cap = page.locator("#steward-cap")
            await cap.wait_for(state="visible")
            assert await cap.input_value() == "0.5"
            await cap.fill("0.25")
            await page.click("#steward-save")
            await page.wait_for_function(
                "document.querySelector('.steward-status')?.textContent.startsWith('Policy saved')", timeout=10_000
            )
            # The weaver hears of it, and its next op over the new cap (2 of 5 = 40% > 25%) is refused.
            await weaver.wait_for(lambda: any(pol["ai_share_cap"] == 0.25 for pol in weaver.policies), "policy")
            refused = rejected(await weaver.write(weaver.symbol("w1")), "ai_share_cap")
            assert "25%" in refused["reason"]
            # The panel's audit view shows the change; the page joined as the steward.
            await page.click("button[data-tab=audit]")
            await page.locator("#steward-audit li[data-act=policy]").first.wait_for(timeout=10_000)
            members = await harmony.steward().call("GET", "/members")
            assert any(m["id"] == "steward-ana" and m["role"] == "steward" for m in members["connected"])
        finally:
            await browser.close()
    assert not errors, errors


async def test_P14_an_invited_browser_reads_history_and_the_list_of_an_invite_sanctuary(harmony: Harmony) -> None:
    require_chromium()
    from playwright.async_api import async_playwright

    await harmony.steward().call("PATCH", "/policy", {"access": "invite"})
    owner = await harmony.connect("dreamer")
    acked(await owner.write(owner.symbol("o1")))
    invite = harmony.token("dreamer", "garden", sub="dreamer-bo", name="Bo")
    errors: list[str] = []
    async with async_playwright() as p:
        browser = await p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            ctx = await browser.new_context(bypass_csp=True, viewport={"width": 1280, "height": 800})
            await ctx.add_init_script("localStorage.setItem('dreamloom:name', JSON.stringify('Bo'))")
            page: Any = await ctx.new_page()
            page.on("pageerror", lambda exc: errors.append(str(exc)))
            # The app's own HTTP reads carry the token it holds: history loads every op (no 401).
            await page.goto(f"{harmony.server.url}/s/garden?token={invite}")
            await page.wait_for_function("!location.search.includes('token')")
            await page.click("#history-button", timeout=10_000)
            await page.wait_for_function("Number(document.getElementById('scrub').max) >= 1", timeout=10_000)
            anonymous = await ctx.new_page()
            await anonymous.goto(f"{harmony.server.url}/")
            status = await anonymous.evaluate("fetch('/api/sanctuaries/garden/ops').then((r) => r.status)")
            assert status == 401  # the same read without the token is refused
        finally:
            await browser.close()
    assert errors == []
