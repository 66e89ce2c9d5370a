"""Provenance in the browser: a real weaver (the Python SDK) beside a person."""

from __future__ import annotations

import io

import pytest
from browser_kit import OUTPUT, NewDreamer, converged
from PIL import Image

from dreamloom.client.testing import dreamer, issue_token
from dreamloom.server.testing import InProcessServer

pytestmark = pytest.mark.asyncio(loop_scope="module")


def accent_pixels(png: bytes) -> int:
    """Pixels of the AI accent (#9ad0ff, drawn translucent over the dark background):
    clearly blue, unlike the default near-white ink."""
    raw = Image.open(io.BytesIO(png)).convert("RGB").tobytes()
    return sum(1 for i in range(0, len(raw), 3) if raw[i + 2] - raw[i] > 50 and raw[i + 1] - raw[i] > 20)


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
