"""Shortcuts reach the app while a control has focus (they stop only in text fields), and the view:
wheel zoom that follows the wheel, zoom to fit clear of the bars, the view kept across reloads."""

from __future__ import annotations

import pytest
from browser_kit import NewDreamer, converged

from dreamloom.server.testing import InProcessServer

pytestmark = pytest.mark.asyncio(loop_scope="module")


async def test_shortcuts_work_after_touching_a_slider_a_checkbox_or_the_colour_input(
    dreamers: NewDreamer, server: InProcessServer
) -> None:
    a = await dreamers("Alice")
    page = a.page
    await a.stroke(0, 0)
    await a.wait("d.fragmentCount === 1")
    # A slider: its arrows stay its own, letters and Ctrl+Z are the app's.
    await page.locator("#opacity").click()
    assert await page.evaluate("document.activeElement.id") == "opacity"
    await page.keyboard.press("r")
    await a.wait("d.tool === 'rect'")
    before = await page.locator("#opacity").input_value()
    await page.keyboard.press("ArrowLeft")
    assert await page.locator("#opacity").input_value() != before, "the slider keeps its arrow keys"
    await page.keyboard.press("Control+z")
    await a.wait("d.fragmentCount === 0")
    await page.keyboard.press("Control+Shift+z")
    await a.wait("d.fragmentCount === 1")
    # A checkbox (Threads) and the colour input.
    await page.locator("#threads").click()
    assert await page.evaluate("document.activeElement.id") == "threads"
    await page.keyboard.press("v")
    await a.wait("d.tool === 'select'")
    await page.locator("#color").focus()
    await page.keyboard.press("h")
    await a.wait("d.tool === 'hand'")
    await page.keyboard.press("Control+z")
    await a.wait("d.fragmentCount === 0")
    # In a text field every key is typing.
    await page.locator("#share-button").click()
    await page.locator("#share-link").focus()
    await page.keyboard.press("p")
    assert await a.hook("tool") == "hand"
    await converged(server, dreamers.sanctuary, a)  # type: ignore[attr-defined]


async def test_ctrl_wheel_zoom_follows_the_wheel_within_bounds(dreamers: NewDreamer, server: InProcessServer) -> None:
    a = await dreamers("Alice")
    page = a.page
    await page.mouse.move(640, 400)
    await page.keyboard.down("Control")
    await page.mouse.wheel(0, -1000)  # one violent event: one notch's worth at most
    await a.wait("d.camera().zoom > 1")
    zoom = await a.hook("camera().zoom")
    assert 1.1 < zoom < 1.25, zoom
    for _ in range(40):
        await page.mouse.wheel(0, -100)
    await a.wait("d.camera().zoom >= 40")
    await page.keyboard.up("Control")
    assert await a.hook("camera().zoom") == 40, "zoom stops at its bound"
    assert await page.locator("#zoom-reset").inner_text() == "4000%"


async def test_zoom_to_fit_keeps_clear_of_the_bars_and_the_view_survives_a_reload(
    dreamers: NewDreamer, server: InProcessServer
) -> None:
    a = await dreamers("Alice")
    page = a.page
    await page.locator("#canvas").focus()
    for _ in range(5):
        await page.keyboard.press("-")
    for x, y in ((-900, -600), (900, 600), (-900, 600)):
        await a.tool("s")
        await a.click(x, y)
    await a.wait("d.fragmentCount === 3")
    before = await a.hook("camera()")
    await page.keyboard.press("Shift+Digit1")
    await a.wait(f"d.camera().x !== {before['x']} || d.camera().zoom !== {before['zoom']}")
    covered = await page.evaluate(
        """() => {
            const covers = ['.topbar', '#tools', '#style-panel', '#view-panel', '#symbols']
                .map((s) => document.querySelector(s)).filter((el) => el && !el.hidden && el.getClientRects().length)
                .map((el) => el.getBoundingClientRect());
            return window.dreamloom.ids().flatMap((id) => {
                const f = window.dreamloom.fragment(id);
                const [x0, y0] = window.dreamloom.toClient(f.x - f.geom.size / 2, f.y - f.geom.size / 2);
                const [x1, y1] = window.dreamloom.toClient(f.x + f.geom.size / 2, f.y + f.geom.size / 2);
                return covers.some((r) => x0 < r.right && r.left < x1 && y0 < r.bottom && r.top < y1) ? [id] : [];
            });
        }"""
    )
    assert covered == [], "zoom to fit put fragments under a panel"
    camera = await a.hook("camera()")
    label = await page.locator("#zoom-reset").inner_text()
    await page.reload()
    await a.wait("d.connected")
    again = await a.hook("camera()")
    assert again == pytest.approx(camera)
    assert await page.locator("#zoom-reset").inner_text() == label
