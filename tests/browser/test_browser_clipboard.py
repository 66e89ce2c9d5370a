"""Copy and paste through the clipboard, within and across sanctuaries; exports with options and
straight to the clipboard."""

from __future__ import annotations

import asyncio
import io
from pathlib import Path

import pytest
from browser_kit import Dreamer, NewDreamer, converged
from PIL import Image

from dreamloom.server.testing import InProcessServer

pytestmark = pytest.mark.asyncio(loop_scope="module")


async def test_copy_and_paste_within_and_across_sanctuaries(dreamers: NewDreamer, server: InProcessServer) -> None:
    a = await dreamers("Alice")
    sanctuary = dreamers.sanctuary  # type: ignore[attr-defined]
    await a.context.grant_permissions(["clipboard-read", "clipboard-write"], origin=server.url)
    await a.tool("r")
    await a.drag([(0, 0), (80, 50)])
    await a.stroke(-200, 100)
    await a.wait("d.fragmentCount === 2")
    page = a.page
    await page.locator("#canvas").focus()
    await page.keyboard.press("Control+a")
    await page.keyboard.press("Control+c")
    # The clipboard holds Dreamloom JSON as text, for any window or app.
    text = await page.evaluate("navigator.clipboard.readText()")
    assert '"format":"dreamloom/fragments"' in text
    await page.mouse.move(*(await a.client_xy(300, -150)))
    await page.keyboard.press("Control+v")
    await a.wait("d.fragmentCount === 4 && d.selection.length === 2")
    pasted = [await a.hook(f"fragment({fid!r})") for fid in await a.hook("selection")]
    assert sorted(f["kind"] for f in pasted) == ["shape", "stroke"]
    assert all(f["x"] > 150 for f in pasted), "pasted around the pointer"
    # One undo step takes the paste back.
    await page.keyboard.press("Control+z")
    await a.wait("d.fragmentCount === 2")
    await converged(server, sanctuary, a)
    # Another sanctuary, another tab of the same browser.
    other = await a.context.new_page()
    await other.goto(f"{server.url}/s/{sanctuary}-other")
    b = Dreamer(a.context, other, "Alice")
    await b.wait("d.connected")
    await other.locator("#canvas").focus()
    await other.keyboard.press("Control+v")
    await b.wait("d.fragmentCount === 2")
    await b.settled()
    kinds = sorted(f["kind"] for f in await b.fragments())
    assert kinds == ["shape", "stroke"]
    # Cut removes what it copies.
    await page.bring_to_front()
    await page.locator("#canvas").focus()
    await page.keyboard.press("Control+a")
    await page.keyboard.press("Control+x")
    await a.wait("d.fragmentCount === 0")
    # Plain text from elsewhere becomes a caption.
    await page.evaluate("navigator.clipboard.writeText('a line from elsewhere')")
    await page.keyboard.press("Control+v")
    await a.wait("d.fragmentCount === 1")
    (caption,) = await a.fragments()
    assert caption["kind"] == "text"
    assert caption["geom"]["text"] == "a line from elsewhere"


async def test_exports_with_a_light_or_no_background_and_to_the_clipboard(
    dreamers: NewDreamer, server: InProcessServer
) -> None:
    a = await dreamers("Alice")
    await a.context.grant_permissions(["clipboard-read", "clipboard-write"], origin=server.url)
    await a.stroke(-50, 0)
    await a.wait("d.fragmentCount === 1")
    page = a.page

    async def export(kind: str, background: str, scale: str = "1") -> bytes:
        await page.locator("#export-button").click()
        await page.locator("#export-background").select_option(background)
        await page.locator("#export-scale").select_option(scale)
        async with page.expect_download() as info:
            await page.locator(f"[data-export={kind}]").click()
        path = Path(await (await info.value).path())
        return await asyncio.to_thread(path.read_bytes)

    dark = Image.open(io.BytesIO(await export("png-all", "dark"))).convert("RGBA")
    assert dark.getpixel((1, 1)) == (15, 16, 32, 255)
    clear = Image.open(io.BytesIO(await export("png-all", "transparent", "2"))).convert("RGBA")
    assert clear.getpixel((1, 1))[3] == 0, "no background"
    assert clear.size[0] >= dark.size[0] * 2 - 2, "twice the scale"
    light = Image.open(io.BytesIO(await export("png-all", "light"))).convert("RGB")
    assert sum(light.getpixel((1, 1))) > 600, "a light background"
    svg = (await export("svg-all", "transparent")).decode()
    assert "<svg" in svg
    assert 'fill="#0f1020"' not in svg
    # Straight to the clipboard, as a picture.
    await page.locator("#export-button").click()
    await page.locator("[data-export=clip-all]").click()
    await a.wait("[...document.querySelectorAll('#toasts div')].some((t) => t.textContent.includes('clipboard'))")
    types = await page.evaluate("navigator.clipboard.read().then((items) => items.flatMap((i) => i.types))")
    assert "image/png" in types
