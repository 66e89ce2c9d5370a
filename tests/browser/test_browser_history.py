"""Replay, versions, exports, the landing page and the main screen in a real browser."""

from __future__ import annotations

import asyncio
import io
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from browser_kit import OUTPUT, Dreamer, NewDreamer, converged, non_background_pixels
from PIL import Image

from dreamloom.server.testing import InProcessServer

pytestmark = pytest.mark.asyncio(loop_scope="module")


async def draw_scene(d: Dreamer) -> None:
    """A small tapestry with every kind of fragment."""
    await d.stroke(-250, -120)
    await d.stroke(-250, -60, n=20)
    await d.tool("r")
    await d.drag([(-80, -150), (60, -60)])
    await d.tool("o")
    await d.drag([(100, -150), (220, -50)])
    await d.tool("a")
    await d.drag([(-200, 60), (-40, 140)])
    await d.tool("s")
    await d.click(120, 100)
    await d.tool("t")
    await d.click(-60, 200)
    await d.page.keyboard.type("the tide remembers")
    await d.page.keyboard.press("Enter")
    await d.wait("d.fragmentCount === 7")
    texts = [f["geom"]["text"] for f in await d.fragments() if f["kind"] == "text"]
    assert texts == ["the tide remembers"]


async def test_main_screen_is_not_blank_after_drawing(dreamers: NewDreamer, server: InProcessServer) -> None:
    a = await dreamers("Alice")
    canvas = a.page.locator("#canvas")
    empty = non_background_pixels(await canvas.screenshot())
    await draw_scene(a)
    await converged(server, dreamers.sanctuary, a)  # type: ignore[attr-defined]
    await a.wait("d.drawn === 7")
    drawn = non_background_pixels(await canvas.screenshot())
    assert drawn > empty + 2000, f"the canvas shows {drawn} lit pixels (empty: {empty})"
    OUTPUT.mkdir(parents=True, exist_ok=True)
    await a.page.screenshot(path=str(OUTPUT / "main-screen.png"))
    await a.page.keyboard.press("?")
    assert await a.page.locator("#help").is_visible()
    await a.page.screenshot(path=str(OUTPUT / "help-overlay.png"))
    await a.page.keyboard.press("Escape")
    await a.tool("s")
    await a.page.screenshot(path=str(OUTPUT / "symbol-palette.png"))
    assert await a.page.locator("#symbol-grid button").count() >= 40


async def test_replay_slider_runs_from_empty_to_the_full_tapestry(
    dreamers: NewDreamer, server: InProcessServer
) -> None:
    a = await dreamers("Alice")
    await draw_scene(a)
    await converged(server, dreamers.sanctuary, a)  # type: ignore[attr-defined]
    await a.page.locator("#history-button").click()
    await a.wait("d.replaying")
    scrub = a.page.locator("#scrub")
    assert await scrub.get_attribute("max") == "7"
    await scrub.fill("0")
    await a.wait("d.replayFragmentCount === 0 && d.drawn === 0")
    empty = non_background_pixels(await a.page.locator("#canvas").screenshot())
    await scrub.fill("3")
    await a.wait("d.replayFragmentCount === 3 && d.drawn === 3")
    # Name this point of the history: a checkpoint the server keeps.
    a.page.once("dialog", lambda dialog: dialog.accept("three marks"))
    await a.page.locator("#save-checkpoint").click()
    option = a.page.locator("#checkpoints option", has_text="three marks")
    await option.wait_for(state="attached")
    assert await option.get_attribute("value") == "3"
    await scrub.fill("7")
    await a.wait("d.replayFragmentCount === 7 && d.drawn === 7")
    full = non_background_pixels(await a.page.locator("#canvas").screenshot())
    assert full > empty + 2000
    await a.page.screenshot(path=str(_out("replay.png")))
    await a.page.locator("#checkpoints").select_option("3")
    await a.wait("d.replayFragmentCount === 3")
    # Play from the start runs to the end on its own.
    await scrub.fill("0")
    await a.page.locator("#play").click()
    await a.wait("d.replayFragmentCount === 7")
    await a.page.keyboard.press("Escape")
    await a.wait("!d.replaying && d.drawn === 7")


async def test_restoring_an_earlier_version_is_new_ops_and_one_undo_step(
    dreamers: NewDreamer, server: InProcessServer
) -> None:
    a = await dreamers("Alice")
    b = await dreamers("Bob")
    sanctuary = dreamers.sanctuary  # type: ignore[attr-defined]
    await a.stroke(-200, 0)
    await b.stroke(0, 0)
    await converged(server, sanctuary, a, b)
    early = await a.hook("canonicalHex()")
    await b.stroke(100, 100)
    await a.tool("v")
    first = (await a.fragments())[0]
    await a.drag([(first["x"], first["y"]), (first["x"] + 50, first["y"] + 50)])
    await converged(server, sanctuary, a, b)
    await a.page.locator("#history-button").click()
    await a.wait("d.replaying")
    await a.page.locator("#scrub").fill("2")
    await a.wait("d.replayFragmentCount === 2")
    await a.page.locator("#restore-here").click()
    await a.wait("!d.replaying")
    await converged(server, sanctuary, a, b)
    restored = await b.fragments()
    assert len(restored) == 2
    assert {(f["x"], f["y"]) for f in restored} == {(-200, 0), (0, 0)}
    assert await a.hook("canonicalHex()") != early  # nothing was erased: new ops, new stamps
    await a.page.locator("#canvas").focus()
    await a.page.keyboard.press("Control+z")
    await converged(server, sanctuary, a, b)
    assert await b.hook("fragmentCount") == 3


async def test_exports_are_valid_png_and_svg(dreamers: NewDreamer, server: InProcessServer) -> None:
    a = await dreamers("Alice")
    await draw_scene(a)
    await converged(server, dreamers.sanctuary, a)  # type: ignore[attr-defined]
    files = {}
    for kind in ("png-view", "png-all", "svg-view", "svg-all"):
        await a.page.locator("#export-button").click()
        async with a.page.expect_download() as info:
            await a.page.locator(f"[data-export={kind}]").click()
        download = await info.value
        path = await download.path()
        files[kind] = path.read_bytes()
    for kind in ("png-view", "png-all"):
        img = Image.open(io.BytesIO(files[kind]))
        img.verify()
        img = Image.open(io.BytesIO(files[kind]))
        assert img.format == "PNG"
        assert non_background_pixels(files[kind]) > 1000, f"{kind} is blank"
    whole = Image.open(io.BytesIO(files["png-all"]))
    assert whole.width > 400
    for kind in ("svg-view", "svg-all"):
        root = ET.fromstring(files[kind])
        assert root.tag.endswith("svg")
        assert len(root.findall(".//{http://www.w3.org/2000/svg}g[@data-id]")) == 7
    assert ET.fromstring(files["svg-view"]).get("viewBox") != ET.fromstring(files["svg-all"]).get("viewBox")
    _out("export-all.png").write_bytes(files["png-all"])


async def test_landing_lists_sanctuaries_and_creates_one(browser: object, server: InProcessServer) -> None:
    from browser_kit import VIEWPORT

    ctx = await browser.new_context(bypass_csp=True, viewport=VIEWPORT, color_scheme="dark")  # type: ignore[attr-defined]
    try:
        page = await ctx.new_page()
        await page.goto(server.url + "/")
        await page.locator("#create-title").fill("Tidal Archive")
        await page.locator("#create button").click()
        await page.wait_for_url("**/s/*")
        assert await page.locator("#name-dialog").is_visible()  # asked once...
        await page.locator("#name-input").fill("Mara")
        await page.locator("#name-form button").click()
        await page.wait_for_function("window.dreamloom && window.dreamloom.connected")
        await page.goto(server.url + "/")
        row = page.locator("#list tbody tr", has_text="Tidal Archive")
        await row.wait_for()
        await page.screenshot(path=str(_out("landing.png")))
        await row.locator("a").click()
        await page.wait_for_function("window.dreamloom && window.dreamloom.connected")
        assert not await page.locator("#name-dialog").is_visible()  # ...and remembered
    finally:
        await ctx.close()


def _out(name: str) -> Path:
    OUTPUT.mkdir(parents=True, exist_ok=True)
    return OUTPUT / name


async def test_timelapse_of_the_weaving_is_a_video(dreamers: NewDreamer, server: InProcessServer) -> None:
    a = await dreamers("Alice")
    sanctuary = dreamers.sanctuary  # type: ignore[attr-defined]
    for i in range(4):
        await a.stroke(-200 + i * 80, (i % 2) * 60)
    await converged(server, sanctuary, a)
    await a.page.locator("#history-button").click()
    await a.wait("d.replaying")
    async with a.page.expect_download() as info:
        result = await a.page.evaluate("window.dreamloom.timelapse(1.5)")
    download = await info.value
    assert result["size"] > 1000
    assert download.suggested_filename.startswith(f"{sanctuary}-timelapse.")
    path = Path(await download.path())
    head = await asyncio.to_thread(lambda: path.read_bytes()[:16])
    if result["type"] == "video/mp4":
        assert head[4:8] == b"ftyp", head
    else:
        assert head[:4] == b"\x1a\x45\xdf\xa3", head  # WebM (EBML)
    # The history is where it was.
    assert await a.hook("replayFragmentCount") == 4
