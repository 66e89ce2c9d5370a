"""Gestures reach others while they happen (SPEC W11 `live`): a move, a resize and a restyle are
seen on a second page before the pointer is released; the op lands on release."""

from __future__ import annotations

import pytest
from browser_kit import NewDreamer, converged

from dreamloom.server.testing import InProcessServer

pytestmark = pytest.mark.asyncio(loop_scope="module")


async def test_W11_a_second_page_sees_a_move_before_the_pointer_is_released(
    dreamers: NewDreamer, server: InProcessServer
) -> None:
    a = await dreamers("Alice")
    b = await dreamers("Bob")
    sanctuary = dreamers.sanctuary  # type: ignore[attr-defined]
    await a.tool("r")
    await a.drag([(0, 0), (100, 60)])
    await converged(server, sanctuary, a, b)
    (rect,) = await a.fragments()
    fid, x0, y0 = rect["id"], rect["x"], rect["y"]
    await a.tool("v")
    page = a.page
    await page.mouse.move(*(await a.client_xy(x0, y0 + 30)))
    await page.mouse.down()
    # Halfway: Bob sees the rectangle move, though no op was written.
    await page.mouse.move(*(await a.client_xy(x0 + 60, y0 + 50)), steps=3)
    await b.wait(f"d.shown({fid!r}).x === {x0 + 60} && d.shown({fid!r}).y === {y0 + 20}")
    assert (await b.hook(f"fragment({fid!r})"))["x"] == x0, "still only a gesture"
    await page.mouse.move(*(await a.client_xy(x0 + 150, y0 + 30)), steps=3)
    await b.wait(f"d.shown({fid!r}).x === {x0 + 150}")
    await page.mouse.up()
    await converged(server, sanctuary, a, b)
    assert (await b.hook(f"fragment({fid!r})"))["x"] == x0 + 150
    await b.wait(f"d.shown({fid!r}).x === {x0 + 150} && d.shown({fid!r}).y === {y0}")
    # A resize by a corner handle is seen live too.
    frag = await a.hook(f"fragment({fid!r})")
    corner = (frag["x"] + frag["geom"]["w"] + 4, frag["y"] + frag["geom"]["h"] + 4)
    await page.mouse.move(*(await a.client_xy(*corner)))
    await page.mouse.down()
    await page.mouse.move(*(await a.client_xy(corner[0] + 100, corner[1] + 60)), steps=3)
    await b.wait(f"d.shown({fid!r}).geom.w > {frag['geom']['w'] + 50}")
    assert (await b.hook(f"fragment({fid!r})"))["geom"]["w"] == frag["geom"]["w"]
    await page.mouse.up()
    await converged(server, sanctuary, a, b)
    assert (await b.hook(f"fragment({fid!r})"))["geom"]["w"] > frag["geom"]["w"] + 50
    # A width slider being dragged restyles live; the op lands when it is let go.
    box = await page.locator("#width").bounding_box()
    assert box is not None
    mid = box["y"] + box["height"] / 2
    await page.mouse.move(box["x"] + 4, mid)
    await page.mouse.down()
    await page.mouse.move(box["x"] + box["width"] * 0.6, mid, steps=4)
    await b.wait(f"d.shown({fid!r}).style.width > 10")
    assert (await b.hook(f"fragment({fid!r})"))["style"]["width"] == 3
    await page.mouse.up()
    await converged(server, sanctuary, a, b)
    assert (await b.hook(f"fragment({fid!r})"))["style"]["width"] > 10
