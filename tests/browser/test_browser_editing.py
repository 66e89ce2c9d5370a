"""Editing as in the anchors: an eraser, snapping with guides, a rotation handle, side handles,
a fill of its own colour, caption sizes."""

from __future__ import annotations

import math

import pytest
from browser_kit import OUTPUT, Dreamer, NewDreamer, converged

from dreamloom.server.testing import InProcessServer

pytestmark = pytest.mark.asyncio(loop_scope="module")


async def _rect(d: Dreamer, x: float, y: float, w: float = 100, h: float = 60) -> dict[str, object]:
    before = await d.hook("fragmentCount")
    await d.tool("r")
    await d.drag([(x, y), (x + w, y + h)])
    await d.wait(f"d.fragmentCount === {before + 1}")
    ids = await d.hook("ids()")
    frag: dict[str, object] = await d.hook(f"fragment({ids[-1]!r})")
    return frag


async def test_the_eraser_rubs_out_what_it_passes_over_as_one_undo_step(
    dreamers: NewDreamer, server: InProcessServer
) -> None:
    a = await dreamers("Alice")
    for y in (-100, 0, 100):
        await a.stroke(-60, y)
    await a.wait("d.fragmentCount === 3")
    await a.tool("e")
    assert await a.hook("tool") == "eraser"
    # Across the first two strokes, not the third.
    await a.drag([(-30, -140), (-20, -90), (-10, -40), (0, 10), (10, 30)])
    await a.wait("d.fragmentCount === 1")
    await a.page.keyboard.press("Control+z")
    await a.wait("d.fragmentCount === 3")
    await converged(server, dreamers.sanctuary, a)  # type: ignore[attr-defined]


async def test_moving_snaps_to_neighbours_with_guides_and_alt_moves_freely(
    dreamers: NewDreamer, server: InProcessServer
) -> None:
    a = await dreamers("Alice")
    first = await _rect(a, 0, -200)
    second = await _rect(a, 300, 100)
    fx, sx, sy = float(first["x"]), float(second["x"]), float(second["y"])  # type: ignore[arg-type]
    await a.tool("v")
    page = a.page
    # Drag the second so its left edge comes 3 units short of the first's: it lands on it.
    await page.mouse.move(*(await a.client_xy(sx, sy + 30)))
    await page.mouse.down()
    await page.mouse.move(*(await a.client_xy(fx + 3, sy + 20)), steps=4)
    OUTPUT.mkdir(parents=True, exist_ok=True)
    await page.screenshot(path=str(OUTPUT / "editing-snap-guide.png"))
    await page.mouse.up()
    fid = second["id"]
    await a.wait(f"d.fragment({fid!r}).x === {fx}")
    # With Alt held, it lands exactly where it is dropped.
    moved = await a.hook(f"fragment({fid!r})")
    # (Grabbed by its top edge: the middle of its left side is now a resize handle.)
    await a.drag([(moved["x"] + 25, moved["y"]), (moved["x"] + 28, moved["y"])], free=True)
    await a.wait(f"d.fragment({fid!r}).x === {fx + 3}")


async def test_rotation_and_side_handles(dreamers: NewDreamer, server: InProcessServer) -> None:
    a = await dreamers("Alice")
    b = await dreamers("Bob")
    sanctuary = dreamers.sanctuary  # type: ignore[attr-defined]
    rect = await _rect(a, -50, -30, 100, 60)
    fid = str(rect["id"])
    await a.tool("v")
    await a.click(-50, 0)
    await a.wait(f"d.selection.includes({fid!r})")
    box = await a.page.evaluate(f"(() => {{ const f = window.dreamloom.fragment({fid!r}); return f; }})()")
    cx, cy = box["x"] + 50, box["y"] + 30
    zoom = await a.hook("camera().zoom")
    # The rotation handle sits above the middle of the selection (4 px out, then 24 px up).
    top = box["y"] - 1.5 - 4 / zoom - 24 / zoom
    page = a.page
    await page.mouse.move(*(await a.client_xy(cx, top)))
    await page.mouse.down()
    radius = cy - top
    for step in range(1, 7):
        angle = -math.pi / 2 + step * (math.pi / 2) / 6
        await page.mouse.move(*(await a.client_xy(cx + radius * math.cos(angle), cy + radius * math.sin(angle))))
    # Bob sees the turn while it happens.
    await b.wait(f"Math.abs((d.shown({fid!r}).geom.rot ?? 0) - Math.PI / 2) < 0.1")
    await page.mouse.up()
    await a.wait(f"Math.abs((d.fragment({fid!r}).geom.rot ?? 0) - Math.PI / 2) < 0.1")
    await converged(server, sanctuary, a, b)
    # Undo, then stretch sideways by the east handle: the width grows, the height stays.
    await page.keyboard.press("Control+z")
    await a.wait(f"!d.fragment({fid!r}).geom.rot")
    await a.click(-50, 0)
    await a.wait(f"d.selection.includes({fid!r})")
    east = (box["x"] + 100 + 1.5 + 4 / zoom, cy)
    await a.drag([east, (east[0] + 40, east[1] + 25)], free=True)
    await a.wait(f"d.fragment({fid!r}).geom.w > 130")
    assert (await a.hook(f"fragment({fid!r})"))["geom"]["h"] == 60


async def test_fill_of_its_own_colour_and_caption_sizes(dreamers: NewDreamer, server: InProcessServer) -> None:
    a = await dreamers("Alice")
    rect = await _rect(a, 0, 0)
    fid = str(rect["id"])
    await a.tool("v")
    await a.click(0, 30)
    await a.wait(f"d.selection.includes({fid!r})")
    page = a.page
    await page.locator("#fill").select_option("own")
    await page.locator("#fill-color").evaluate(
        "(el) => { el.value = '#336699'; el.dispatchEvent(new Event('input')); el.dispatchEvent(new Event('change')); }"
    )
    await a.wait(f"d.fragment({fid!r}).style.fill === '#336699'")
    assert (await a.hook(f"fragment({fid!r})"))["style"]["color"] == rect["style"]["color"]  # type: ignore[index]
    # A large caption.
    await page.locator("#text-size").select_option("36")
    await a.tool("t")
    await a.click(-200, 200)
    await page.keyboard.type("big words")
    await page.keyboard.press("Enter")
    await a.wait("d.fragmentCount === 2")
    caption = next(f for f in await a.fragments() if f["kind"] == "text")
    assert caption["geom"]["size"] == 36


async def test_dashed_lines_and_centred_captions(dreamers: NewDreamer, server: InProcessServer) -> None:
    a = await dreamers("Alice")
    sanctuary = dreamers.sanctuary  # type: ignore[attr-defined]
    rect = await _rect(a, 0, 0)
    fid = str(rect["id"])
    await a.tool("v")
    await a.click(0, 30)
    await a.wait(f"d.selection.includes({fid!r})")
    page = a.page
    await page.locator("#dash").select_option("dashed")
    await a.wait(f"d.fragment({fid!r}).style.dash === 'dashed'")
    await page.locator("#dash").select_option("")
    await a.wait(f"d.fragment({fid!r}).style.dash === undefined")
    await page.locator("#dash").select_option("dotted")
    await a.wait(f"d.fragment({fid!r}).style.dash === 'dotted'")
    # A centred caption sits centred on the point where it was placed.
    await page.locator("#text-align [data-align=center]").click()
    await a.tool("t")
    await a.click(-200, 200)
    await page.keyboard.type("in the middle")
    await page.keyboard.press("Enter")
    await a.wait("d.fragmentCount === 2")
    caption = next(f for f in await a.fragments() if f["kind"] == "text")
    assert caption["geom"]["align"] == "center"
    await converged(server, sanctuary, a)
    OUTPUT.mkdir(parents=True, exist_ok=True)
    await page.screenshot(path=str(OUTPUT / "editing-dash-align.png"))
