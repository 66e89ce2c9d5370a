"""Undo in the browser reaches each of the participant's own edits in turn (SPEC M10)."""

from __future__ import annotations

import pytest
from browser_kit import Dreamer, NewDreamer, converged

from dreamloom.server.testing import InProcessServer

pytestmark = pytest.mark.asyncio(loop_scope="module")


async def _rectangle(d: Dreamer) -> dict[str, object]:
    await d.tool("r")
    await d.drag([(0, 0), (120, 80)])
    await d.wait("d.fragmentCount === 1")
    (frag,) = await d.fragments()
    return frag


async def _position(d: Dreamer, fid: str) -> tuple[float, float]:
    f = await d.hook(f"fragment({fid!r})")
    return f["x"], f["y"]


async def test_M10_undo_nudge_then_drag_then_the_rectangle(dreamers: NewDreamer, server: InProcessServer) -> None:
    a = await dreamers("Alice")
    b = await dreamers("Bob")
    sanctuary = dreamers.sanctuary  # type: ignore[attr-defined]
    rect = await _rectangle(a)
    fid = str(rect["id"])
    start = await _position(a, fid)
    await a.tool("v")
    await a.drag([(0, 40), (100, 90), (200, 140)])
    dragged = await _position(a, fid)
    assert dragged == (start[0] + 200, start[1] + 100)
    await a.page.keyboard.press("ArrowRight")
    await a.wait(f"d.fragment({fid!r}).x === {dragged[0] + 1}")
    await converged(server, sanctuary, a, b)
    # First undo: the nudge. Second: the drag (it used to be skipped). Third: the rectangle.
    await a.page.keyboard.press("Control+z")
    await a.wait(f"d.fragment({fid!r}).x === {dragged[0]}")
    await a.page.keyboard.press("Control+z")
    await a.wait(f"d.fragment({fid!r}).x === {start[0]} && d.fragment({fid!r}).y === {start[1]}")
    assert await a.hook("fragmentCount") == 1
    await converged(server, sanctuary, a, b)
    assert await _position(b, fid) == start
    await a.page.keyboard.press("Control+z")
    await a.wait("d.fragmentCount === 0")
    # Redo walks forward again: the rectangle, the drag, the nudge.
    for expect in (start, dragged, (dragged[0] + 1, dragged[1])):
        await a.page.keyboard.press("Control+Shift+z")
        await a.wait(f"d.fragmentCount === 1 && d.fragment({fid!r}).x === {expect[0]}")
    await converged(server, sanctuary, a, b)
    assert await _position(b, fid) == (dragged[0] + 1, dragged[1])


async def test_M10_undo_width_then_recolour(dreamers: NewDreamer, server: InProcessServer) -> None:
    a = await dreamers("Alice")
    sanctuary = dreamers.sanctuary  # type: ignore[attr-defined]
    rect = await _rectangle(a)
    fid = str(rect["id"])
    first = rect["style"]
    await a.tool("v")
    await a.click(60, 0)
    await a.wait(f"d.selection.includes({fid!r})")
    await a.page.locator('#swatches button[data-color="#ff7a90"]').click()
    await a.wait(f"d.fragment({fid!r}).style.color === '#ff7a90'")
    # Drag the width slider: one undo step, however many values it passed on the way.
    box = await a.page.locator("#width").bounding_box()
    y = box["y"] + box["height"] / 2
    await a.page.mouse.move(box["x"] + 4, y)
    await a.page.mouse.down()
    for i in range(1, 9):
        await a.page.mouse.move(box["x"] + 4 + i * (box["width"] - 8) / 16, y)
    await a.page.mouse.up()
    await a.wait(f"d.fragment({fid!r}).style.width > 10")
    # The slider keeps focus: Ctrl+Z is still undo (shortcuts stop only in text fields).
    await a.page.keyboard.press("Control+z")
    await a.wait(f"d.fragment({fid!r}).style.width === {first['width']}")  # type: ignore[index]
    assert (await a.hook(f"fragment({fid!r}).style"))["color"] == "#ff7a90"
    await a.page.keyboard.press("Control+z")
    await a.wait(f"d.fragment({fid!r}).style.color === {first['color']!r}")  # type: ignore[index]
    assert await a.hook(f"fragment({fid!r}).style") == first
    assert await a.hook("fragmentCount") == 1, "two undos undo the two restyles, not the rectangle"
    await converged(server, sanctuary, a)
