"""Pressure-sensitive strokes in the browser (SPEC W38, M17): a pen's pressure, a mouse's speed, a
finger on a phone, the switch in the style panel, and a second page seeing the width vary."""

from __future__ import annotations

import io
from typing import Any

import pytest
from browser_kit import OUTPUT, Dreamer, NewDreamer
from PIL import Image

pytestmark = pytest.mark.asyncio(loop_scope="module")

LAPTOP = {"width": 1400, "height": 900}
PHONE = {"width": 390, "height": 844}


async def _open(browser: Any, dreamers: NewDreamer, name: str, viewport: dict[str, int]) -> Dreamer:
    touch = viewport["width"] < 600
    ctx = await browser.new_context(
        bypass_csp=True, viewport=viewport, has_touch=touch, is_mobile=touch, color_scheme="dark"
    )
    await ctx.add_init_script(f"localStorage.setItem('dreamloom:name', JSON.stringify({name!r}))")
    return await dreamers(name, context=ctx)


async def _strokes(d: Dreamer) -> list[dict[str, Any]]:
    return [f for f in await d.fragments() if f["kind"] == "stroke"]


async def _pen(cdp: Any, kind: str, x: float, y: float, force: float) -> None:
    """One trusted pen event at page point (x, y), pressed with ``force`` (0..1)."""
    await cdp.send(
        "Input.dispatchMouseEvent",
        {
            "type": kind,
            "x": x,
            "y": y,
            "button": "left",
            "buttons": 0 if kind == "mouseReleased" else 1,
            "clickCount": 1,
            "pointerType": "pen",
            "force": force,
        },
    )


def _ink_heights(png: bytes, columns: list[int], box: tuple[int, int]) -> list[int]:
    """How many bright pixels each screenshot column holds between rows ``box``."""
    img = Image.open(io.BytesIO(png)).convert("L")
    return [sum(1 for y in range(box[0], box[1]) if img.getpixel((x, y)) > 140) for x in columns]  # type: ignore[operator]


async def test_W38_pen_pressure_is_stored_drawn_wider_where_heavier_and_seen_live_by_another_page(
    browser: Any, dreamers: NewDreamer
) -> None:
    ana = await _open(browser, dreamers, "Ana", LAPTOP)
    ben = await dreamers("Ben")
    await ana.settled()
    cdp = await ana.context.new_cdp_session(ana.page)
    y = 450.0
    xs = [500.0 + 8 * i for i in range(51)]
    force = [0.05 + 0.9 * i / 50 for i in range(51)]
    await _pen(cdp, "mousePressed", xs[0], y, force[0])
    for i in range(1, 26):
        await _pen(cdp, "mouseMoved", xs[i], y, force[i])
    # Mid-stroke, the other page sees the preview with its pressure (presence, W11).
    await ben.wait(
        "d.peers.some((p) => p.preview && Array.isArray(p.preview.pressure) && p.preview.pressure.length > 10)"
    )
    for i in range(26, 51):
        await _pen(cdp, "mouseMoved", xs[i], y, force[i])
    await _pen(cdp, "mouseReleased", xs[-1], y, 0)
    await ana.settled()
    [stroke] = await _strokes(ana)
    pressure = stroke["geom"]["pressure"]
    assert len(pressure) * 2 == len(stroke["geom"]["pts"])
    assert max(pressure) - min(pressure) > 0.6, pressure
    assert pressure[5] < pressure[-5]
    # The outline is thin where the pen was light and wide where it pressed.
    columns = [560, 680, 800, 860]
    heights = _ink_heights(await ana.page.screenshot(), columns, (400, 500))
    assert heights[0] > 0
    assert heights[3] > heights[0] * 1.8, heights
    # The second page holds the same stroke and draws it the same way.
    await ben.wait("d.ids().length === 1")
    [seen] = await _strokes(ben)
    assert seen["geom"]["pressure"] == pressure
    await ben.page.evaluate("window.dreamloom.zoomToFit()")
    shot = await ben.page.screenshot()
    OUTPUT.mkdir(parents=True, exist_ok=True)
    (OUTPUT / "pressure-pen-second-page.png").write_bytes(shot)
    box = await ben.page.evaluate(
        """(() => { const f = window.dreamloom.fragment(window.dreamloom.ids()[0]);
            const [x0, y0] = window.dreamloom.toClient(f.x, f.y);
            const [x1] = window.dreamloom.toClient(f.x + f.geom.pts[f.geom.pts.length - 2], f.y);
            return [x0, x1, y0]; })()"""
    )
    x0, x1, yc = box
    cols = [round(x0 + (x1 - x0) * k) for k in (0.15, 0.85)]
    light, heavy = _ink_heights(shot, cols, (round(yc) - 60, round(yc) + 60))
    assert light > 0
    assert heavy > light * 1.8, (light, heavy)
    # The server's SVG (what the SVG export crops) fills the same outline.
    sanctuary = dreamers.sanctuary  # type: ignore[attr-defined]
    svg = await ben.page.evaluate(f"fetch('/api/sanctuaries/{sanctuary}/tapestry.svg').then((r) => r.text())")
    assert svg.count('data-pressure="1"') == 1


async def test_W38_a_mouse_gets_pressure_from_its_speed_fast_is_thinner(browser: Any, dreamers: NewDreamer) -> None:
    ana = await _open(browser, dreamers, "Ana", LAPTOP)
    mouse = ana.page.mouse

    async def frame() -> None:
        await ana.page.evaluate("new Promise((r) => requestAnimationFrame(() => requestAnimationFrame(r)))")

    # Slow: 3 pixels every two frames (at most 0.1 px/ms); fast: 60 pixels an event.
    await mouse.move(300, 300)
    await mouse.down()
    for i in range(1, 30):
        await mouse.move(300 + 3 * i, 300 + (i % 2))
        await frame()
    await mouse.up()
    await mouse.move(300, 600)
    await mouse.down()
    for i in range(1, 16):
        await mouse.move(300 + 60 * i, 600 + (i % 2))
    await mouse.up()
    await ana.settled()
    slow, fast = sorted(await _strokes(ana), key=lambda f: f["y"])
    for f in (slow, fast):
        assert len(f["geom"]["pressure"]) * 2 == len(f["geom"]["pts"])
    slow_p, fast_p = slow["geom"]["pressure"][4:-2], fast["geom"]["pressure"][4:-2]
    assert sum(slow_p) / len(slow_p) > sum(fast_p) / len(fast_p) + 0.2, (slow_p, fast_p)


async def test_W38_a_finger_on_a_phone_draws_and_the_switch_is_in_reach(browser: Any, dreamers: NewDreamer) -> None:
    ana = await _open(browser, dreamers, "Ana", PHONE)
    page = ana.page
    cdp = await ana.context.new_cdp_session(page)

    async def swipe(y: float) -> None:
        await cdp.send("Input.dispatchTouchEvent", {"type": "touchStart", "touchPoints": [{"x": 60, "y": y}]})
        for i in range(1, 16):
            point = {"x": 60 + i * 15, "y": y + i}
            await cdp.send("Input.dispatchTouchEvent", {"type": "touchMove", "touchPoints": [point]})
        await cdp.send("Input.dispatchTouchEvent", {"type": "touchEnd", "touchPoints": []})

    async def switch(on: bool) -> None:
        """Open the style sheet, check the switch is on screen, flip it to ``on``, close the sheet."""
        await page.locator("[data-open=style-panel]").tap()
        toggle = page.locator("#pressure")
        await toggle.wait_for(state="visible")
        await ana.wait("document.getAnimations().every((a) => a.playState !== 'running')")
        r = await toggle.bounding_box()
        assert r is not None
        assert 0 <= r["x"]
        assert r["x"] + r["width"] <= PHONE["width"]
        assert 0 <= r["y"]
        assert r["y"] + r["height"] <= PHONE["height"]
        assert await toggle.is_checked() is not on
        OUTPUT.mkdir(parents=True, exist_ok=True)
        await page.screenshot(path=str(OUTPUT / f"pressure-phone-switch-{'on' if on else 'off'}.png"))
        await toggle.tap()
        await ana.wait(f"document.getElementById('pressure').checked === {'true' if on else 'false'}")
        await page.locator("#style-panel [data-close=style-panel]").tap()
        await page.locator("#style-panel").wait_for(state="hidden")

    # On by default; switched off, a finger draws strokes of constant width.
    await switch(False)
    await swipe(400)
    await ana.wait("d.ids().length === 1")
    [plain] = await _strokes(ana)
    assert "pressure" not in plain["geom"]
    # The switch is remembered across a reload; back on, the finger's stroke has a pressure a point.
    await page.reload()
    await ana.wait("d.connected && d.ids().length === 1")
    await switch(True)
    await swipe(560)
    await ana.wait("d.ids().length === 2")
    await ana.settled()
    pressed = next(f for f in await _strokes(ana) if f["id"] != plain["id"])
    assert len(pressed["geom"]["pressure"]) * 2 == len(pressed["geom"]["pts"])
