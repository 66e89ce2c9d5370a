"""Layout on a laptop (1400x900) and on a phone (390x844, touch): the top bar holds a crowd, every
control and tool can be reached, panels never cover each other, every symbol is in the palette."""

from __future__ import annotations

import contextlib
from typing import Any

import pytest
from browser_kit import OUTPUT, Dreamer, NewDreamer

from dreamloom.client.testing import dreamer, issue_token
from dreamloom.server.testing import InProcessServer

pytestmark = pytest.mark.asyncio(loop_scope="module")

LAPTOP = {"width": 1400, "height": 900}
PHONE = {"width": 390, "height": 844}


async def _open(browser: Any, dreamers: NewDreamer, name: str, viewport: dict[str, int], **kw: Any) -> Dreamer:
    touch = viewport["width"] < 600
    ctx = await browser.new_context(
        bypass_csp=True, viewport=viewport, has_touch=touch, is_mobile=touch, color_scheme="dark"
    )
    await ctx.add_init_script(f"localStorage.setItem('dreamloom:name', JSON.stringify({name!r}))")
    return await dreamers(name, context=ctx, **kw)


async def _inside(d: Dreamer, selector: str) -> list[str]:
    """The elements matching ``selector`` that are not wholly inside the viewport (as descriptions)."""
    out: list[str] = await d.page.evaluate(
        """(sel) => [...document.querySelectorAll(sel)].filter((el) => el.getClientRects().length).flatMap((el) => {
            const r = el.getBoundingClientRect();
            const ok = r.left >= 0 && r.top >= 0 && r.right <= innerWidth + 0.5 && r.bottom <= innerHeight + 0.5;
            return ok ? [] : [`${el.id || el.className || el.tagName} ${JSON.stringify(r)}`];
        })""",
        selector,
    )
    return out


async def _crowd(server: InProcessServer, sanctuary: str, n: int, stack: contextlib.AsyncExitStack) -> None:
    """``n`` participants, every third a weaver, connected through the Python SDK."""
    for i in range(n):
        token = issue_token(server, sanctuary, name=f"weaver{i}") if i % 3 == 0 else None
        await stack.enter_async_context(dreamer(server.url, sanctuary, name=f"Dreamer number {i}", token=token))


@pytest.mark.parametrize("viewport", [LAPTOP, PHONE], ids=["laptop", "phone"])
async def test_top_bar_holds_fifty_participants_with_every_control_reachable(
    browser: Any, dreamers: NewDreamer, server: InProcessServer, viewport: dict[str, int]
) -> None:
    sanctuary = dreamers.sanctuary  # type: ignore[attr-defined]
    steward = issue_token(server, sanctuary, name="Stew", role="steward")
    async with contextlib.AsyncExitStack() as stack:
        await _crowd(server, sanctuary, 50, stack)
        ctx = await browser.new_context(
            bypass_csp=True,
            viewport=viewport,
            has_touch=viewport is PHONE,
            is_mobile=viewport is PHONE,
            color_scheme="dark",
        )
        await ctx.add_init_script("localStorage.setItem('dreamloom:name', JSON.stringify('Ana'))")
        page = await ctx.new_page()
        await page.goto(f"{server.url}/s/{sanctuary}?token={steward}")
        d = Dreamer(ctx, page, "Ana")
        await d.wait("d.connected && d.peers.length === 50")
        await page.locator("#steward-button").wait_for()
        await d.wait("document.getElementById('people-more')?.textContent.startsWith('+')")
        # The stack shows a few faces and "+N" for the rest: 50 others and us.
        faces = await page.locator("#avatars .avatar:not(.more)").count()
        more = int((await page.locator("#people-more").inner_text()).lstrip("+"))
        assert faces + more == 51
        assert await page.evaluate("document.documentElement.scrollWidth") <= viewport["width"]
        assert await _inside(d, ".topbar > *, .topbar .avatar") == []
        title = page.locator("#title")
        assert await title.evaluate("(el) => el.getBoundingClientRect().width") >= 40, "the title keeps some room"
        OUTPUT.mkdir(parents=True, exist_ok=True)
        shot = "laptop" if viewport is LAPTOP else "phone"
        await page.screenshot(path=str(OUTPUT / f"layout-topbar-50-{shot}.png"))
        # Each control works: help, the share panel (everyone listed), the steward panel.
        await page.locator("#help-button").click()
        await page.locator("#help").wait_for(state="visible")
        await page.keyboard.press("Escape")
        await page.locator("#help").wait_for(state="hidden")
        await page.locator("#people-more").click()
        await page.locator("#people-panel").wait_for(state="visible")
        assert await page.locator("#people li").count() == 51
        await page.locator("#steward-button").click()
        await page.locator("#steward-panel").wait_for(state="visible")
        assert await page.locator("#people-panel").is_hidden(), "one panel at a time on this side"
        assert await _inside(d, "#steward-panel") == []
        await page.locator("#share-button").click()
        await page.locator("#people-panel").wait_for(state="visible")
        assert await page.locator("#share-link").input_value() == f"{server.url}/s/{sanctuary}"
        await ctx.close()


async def test_phone_every_tool_and_panel_can_be_reached_by_touch(
    browser: Any, dreamers: NewDreamer, server: InProcessServer
) -> None:
    a = await _open(browser, dreamers, "Ana", PHONE)
    page = a.page
    viewport = await page.evaluate("document.querySelector('meta[name=viewport]').content")
    assert "user-scalable=no" not in viewport
    assert "maximum-scale" not in viewport
    assert await page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
    # Every tool, even those first scrolled out of the toolbar, can be tapped.
    tools = await page.locator("#tools [data-tool]").evaluate_all("(bs) => bs.map((b) => b.dataset.tool)")
    assert len(tools) == 10
    for tool in tools:
        button = page.locator(f"#tools [data-tool={tool}]")
        await button.tap()
        await a.wait(f"d.tool === {tool!r}")
        assert await _inside(a, f"#tools [data-tool={tool}]") == []
    for extra in ("#undo", "#redo"):
        await page.locator(extra).scroll_into_view_if_needed()
        assert await _inside(a, extra) == []
    # A tap with the symbol tool places a symbol (touch works on the canvas).
    await page.locator("#tools [data-tool=symbol]").tap()
    await page.locator("#symbols").wait_for(state="visible")
    await page.locator("#symbol-grid button[data-sym=eye]").tap()
    await page.locator("#symbols").wait_for(state="hidden")  # the sheet makes way for the canvas
    await page.touchscreen.tap(200, 420)
    await a.wait("d.fragmentCount === 1")
    # Sheets: one at a time, above the dock, never over the toolbar or each other.
    for sheet in ("style-panel", "symbols", "view-panel", "people-panel"):
        opener = f"[data-open={sheet}]" if sheet != "people-panel" else "#share-button"
        await page.locator(opener).tap()
        await page.locator(f"#{sheet}").wait_for(state="visible")
        await a.wait("[...document.querySelectorAll('.panel')].filter((p) => !p.hidden).length === 1")
        assert await _inside(a, f"#{sheet}") == []
        overlaps = await page.evaluate(
            """(id) => {
                const r = document.getElementById(id).getBoundingClientRect();
                return ['#tools', '#dock', '.topbar'].filter((s) => {
                    const o = document.querySelector(s).getBoundingClientRect();
                    return r.left < o.right && o.left < r.right && r.top < o.bottom && o.top < r.bottom;
                });
            }""",
            sheet,
        )
        assert overlaps == [], f"{sheet} covers {overlaps}"
        await page.screenshot(path=str(OUTPUT / f"layout-phone-{sheet}.png"))
    # A touch on the canvas closes the open sheet.
    await page.locator("#tools [data-tool=hand]").tap()
    await page.touchscreen.tap(200, 300)
    await a.wait("[...document.querySelectorAll('.panel')].every((p) => p.hidden)")


@pytest.mark.parametrize("viewport", [LAPTOP, PHONE], ids=["laptop", "phone"])
async def test_symbol_palette_shows_every_symbol(
    browser: Any, dreamers: NewDreamer, server: InProcessServer, viewport: dict[str, int]
) -> None:
    a = await _open(browser, dreamers, "Ana", viewport)
    page = a.page
    if viewport is PHONE:
        await page.locator("#tools [data-tool=symbol]").tap()
    else:
        await a.tool("s")
    grid = page.locator("#symbol-grid")
    await grid.wait_for(state="visible")
    assert await grid.locator("button").count() == 72
    # Nothing is clipped sideways: every symbol's button lies within the grid's width.
    clipped = await grid.evaluate(
        """(g) => {
            const box = g.getBoundingClientRect();
            const inner = box.left + g.clientWidth;
            return [...g.querySelectorAll('button')].filter((b) => {
                const r = b.getBoundingClientRect();
                return r.left < box.left - 0.5 || r.right > inner + 0.5 || r.width < 40;
            }).map((b) => b.dataset.sym);
        }"""
    )
    assert clipped == []
    assert await grid.evaluate("(g) => g.scrollWidth <= g.clientWidth")
    # Each one can be scrolled to and picked.
    for sym in ("moon", "hourglass", await grid.locator("button").last.get_attribute("data-sym")):
        button = grid.locator(f"button[data-sym={sym}]")
        await button.scroll_into_view_if_needed()
        assert await _inside(a, f"#symbol-grid button[data-sym={sym}]") == []


async def test_the_chip_and_the_tab_show_the_sanctuarys_title(
    browser: Any, dreamers: NewDreamer, server: InProcessServer
) -> None:
    a = await dreamers("Ana")
    made = await a.page.evaluate(
        """fetch('/api/sanctuaries', {method: 'POST', headers: {'Content-Type': 'application/json'},
            body: JSON.stringify({title: 'Moon Garden of slow dreams'})}).then((r) => r.json())"""
    )
    assert made["id"] != "Moon Garden of slow dreams"
    await a.page.goto(f"{server.url}/s/{made['id']}")
    await a.wait("d.connected && document.getElementById('title').textContent === 'Moon Garden of slow dreams'")
    assert await a.page.title() == "Moon Garden of slow dreams — Dreamloom"
