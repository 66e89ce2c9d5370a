"""Provenance in the browser: a real weaver (the Python SDK) beside a person."""

from __future__ import annotations

import io

import pytest
from browser_kit import OUTPUT, NewDreamer, converged
from PIL import Image

from dreamloom.client.testing import dreamer, issue_token
from dreamloom.server.testing import InProcessServer

pytestmark = pytest.mark.asyncio(loop_scope="module")


def accent_pixels(png: bytes, faint: bool = False) -> int:
    """Pixels of the AI accent (#9ad0ff, drawn translucent over the dark background):
    clearly blue, unlike the default near-white ink (``faint``: the glow along a strand too)."""
    raw = Image.open(io.BytesIO(png)).convert("RGB").tobytes()
    blue, green = (28, 8) if faint else (50, 20)
    return sum(1 for i in range(0, len(raw), 3) if raw[i + 2] - raw[i] > blue and raw[i + 1] - raw[i] > green)


async def test_weaver_fragments_are_told_apart_filtered_and_threaded(
    dreamers: NewDreamer, server: InProcessServer
) -> None:
    a = await dreamers("Alice")
    sanctuary = dreamers.sanctuary  # type: ignore[attr-defined]
    await a.stroke(-200, 0)
    await converged(server, sanctuary, a)
    (stroke,) = await a.fragments()
    token = issue_token(server, sanctuary, name="echo")
    async with dreamer(server.url, sanctuary, name="echo", token=token) as weaver:
        await a.wait("d.peers.length === 1")
        badge = a.page.locator("#people li.weaver")
        assert "weaver" in await badge.inner_text()
        weaver.add_symbol("moon", 150, 0, size=80, inspired_by=[stroke["id"]])
        await weaver.flush()
        await converged(server, sanctuary, a)
        await a.wait("d.fragmentCount === 2 && d.drawn === 2")
        moon = next(f for f in await a.fragments() if f["kind"] == "symbol")
        assert moon["origin"] == "ai"
        assert moon["inspired_by"] == [stroke["id"]]
        assert await a.hook("liveCounts()") == {"organic": 1, "ai": 1}
        assert "50% AI" in await a.page.locator("#diversity").inner_text()
        OUTPUT.mkdir(parents=True, exist_ok=True)
        x0, y0 = await a.client_xy(80, -70)
        x1, y1 = await a.client_xy(220, 70)
        clip = {"x": x0, "y": y0, "width": x1 - x0, "height": y1 - y0}
        with_ai = accent_pixels(await a.page.screenshot(clip=clip))
        await a.page.screenshot(path=str(OUTPUT / "provenance-ai-outline.png"), clip=clip)
        assert with_ai > 30, "the AI fragment has no accent outline"
        # Organic only: the weaver's moon (and its outline) disappear.
        await a.page.locator("[data-filter=organic]").click()
        await a.wait("d.drawn === 1")
        assert accent_pixels(await a.page.screenshot(clip=clip)) < with_ai / 4
        await a.page.locator("[data-filter=ai]").click()
        await a.wait("d.drawn === 1")
        await a.page.locator("[data-filter=all]").click()
        await a.wait("d.drawn === 2")
        await a.page.locator("#threads").check()
        OUTPUT.mkdir(parents=True, exist_ok=True)
        await a.page.screenshot(path=str(OUTPUT / "provenance-threads.png"))
        # The weaver's fragment is not the person's to undo.
        await a.page.locator("#canvas").focus()
        await a.page.keyboard.press("Control+z")
        await converged(server, sanctuary, a)
        assert [f["origin"] for f in await a.fragments()] == ["ai"]


async def test_ai_mark_stays_thin_at_any_zoom_and_never_boxes_a_strand(
    dreamers: NewDreamer, server: InProcessServer
) -> None:
    a = await dreamers("Alice")
    sanctuary = dreamers.sanctuary  # type: ignore[attr-defined]
    # Two organic strokes first: the AI share cap (50%) leaves room for two AI fragments.
    await a.stroke(-500, 200)
    await a.stroke(-500, 300)
    token = issue_token(server, sanctuary, name="loom")
    async with dreamer(server.url, sanctuary, name="loom", token=token) as weaver:
        weaver.add_shape("rect", -20, -20, 40, 40, style={"color": "#ece8ff", "width": 1})
        weaver.add_stroke([0, 0, 60, 60, 120, 120], x=200, y=-60, style={"color": "#ece8ff", "width": 2})
        await weaver.flush()
        await converged(server, sanctuary, a)
        await a.wait("d.fragmentCount === 4 && d.drawn === 4")

        async def mark(x0: float, y0: float, x1: float, y1: float) -> int:
            cx0, cy0 = await a.client_xy(x0, y0)
            cx1, cy1 = await a.client_xy(x1, y1)
            clip = {"x": cx0, "y": cy0, "width": cx1 - cx0, "height": cy1 - cy0}
            return accent_pixels(await a.page.screenshot(clip=clip), faint=True)

        near = await mark(-40, -40, 40, 40)
        assert near > 30, "the AI rectangle has its mark"
        # Zoomed in 4x, the outline is 4x longer on screen but no thicker: far fewer than 16x the pixels.
        await a.page.locator("#canvas").focus()
        for _ in range(6):
            await a.page.keyboard.press("+")
        await a.wait("d.camera().zoom > 3.5")
        zoom = await a.hook("camera().zoom")
        zoomed = await mark(-40, -40, 40, 40)
        assert zoomed < near * zoom * 2, (near, zoomed, zoom)
        # The strand is marked along itself: the empty corners of its bounds stay dark.
        await a.page.keyboard.press("0")
        await a.wait("d.camera().zoom === 1")
        assert await mark(200, -60, 320, 60) > 30
        assert await mark(290, -60, 320, -30) == 0, "a box around the diagonal stroke"
        assert await mark(200, 30, 230, 60) == 0, "a box around the diagonal stroke"
        OUTPUT.mkdir(parents=True, exist_ok=True)
        await a.page.screenshot(path=str(OUTPUT / "provenance-ai-marks.png"))
