"""Groups and arrows that stay attached to shapes, in the browser (SPEC M13, M14): at 1400x900, and
the Group button by touch at 390x844."""

from __future__ import annotations

from typing import Any

import pytest
from browser_kit import OUTPUT, Dreamer, NewDreamer, converged

from dreamloom.protocol import bindings
from dreamloom.server.testing import InProcessServer

pytestmark = pytest.mark.asyncio(loop_scope="module")

LAPTOP = {"width": 1400, "height": 900}
PHONE = {"width": 390, "height": 844}


async def _open(browser: Any, dreamers: NewDreamer, name: str, viewport: dict[str, int]) -> Dreamer:
    touch = viewport is PHONE
    ctx = await browser.new_context(
        bypass_csp=True, viewport=viewport, has_touch=touch, is_mobile=touch, color_scheme="dark"
    )
    await ctx.add_init_script(f"localStorage.setItem('dreamloom:name', JSON.stringify({name!r}))")
    return await dreamers(name, context=ctx)


async def _rect(d: Dreamer, x: float, y: float, w: float = 120, h: float = 80) -> str:
    n = await d.hook("fragmentCount")
    await d.tool("r")
    await d.drag([(x, y), (x + w, y + h)])
    await d.wait(f"d.fragmentCount === {n + 1}")
    ids: list[str] = await d.hook("ids()")
    return ids[-1]


async def _xy(d: Dreamer, fid: str) -> tuple[float, float]:
    f = await d.hook(f"fragment({fid!r})")
    return f["x"], f["y"]


async def _groups(d: Dreamer, *ids: str) -> list[Any]:
    return [(await d.hook(f"fragment({fid!r})")).get("group") for fid in ids]


async def test_M13_group_moves_together_for_both_pages_then_undo_and_ungroup(
    browser: Any, dreamers: NewDreamer, server: InProcessServer
) -> None:
    a = await _open(browser, dreamers, "Alice", LAPTOP)
    b = await _open(browser, dreamers, "Bob", LAPTOP)
    sanctuary = dreamers.sanctuary  # type: ignore[attr-defined]
    r1 = await _rect(a, 0, 0)
    r2 = await _rect(a, 300, 150)
    await a.tool("v")
    await a.page.keyboard.press("Control+a")
    await a.wait("d.selection.length === 2")
    await a.page.keyboard.press("Control+g")
    await a.wait(f"d.fragment({r1!r}).group && d.fragment({r1!r}).group === d.fragment({r2!r}).group")
    await a.page.keyboard.press("Escape")
    await a.wait("d.selection.length === 0")
    # A click on one member (its edge) selects the group; a drag moves both.
    p1, p2 = await _xy(a, r1), await _xy(a, r2)
    await a.click(p1[0], p1[1] + 40)
    await a.wait("d.selection.length === 2")
    await a.drag([(p1[0], p1[1] + 40), (p1[0] + 50, p1[1] + 60), (p1[0] + 100, p1[1] + 90)], free=True)
    await a.wait(f"d.fragment({r2!r}).x === {p2[0] + 100}")
    await converged(server, sanctuary, a, b)
    assert await _xy(b, r1) == (p1[0] + 100, p1[1] + 50)
    assert await _xy(b, r2) == (p2[0] + 100, p2[1] + 50)
    # Undo the move, then the grouping (M10 reaches the group register too); redo brings it back.
    await a.page.keyboard.press("Control+z")
    await a.wait(f"d.fragment({r2!r}).x === {p2[0]} && d.fragment({r1!r}).x === {p1[0]}")
    await a.page.keyboard.press("Control+z")
    await a.wait(f"d.fragment({r1!r}).group === null && d.fragment({r2!r}).group === null")
    await converged(server, sanctuary, a, b)
    assert await _groups(b, r1, r2) == [None, None]
    await a.page.keyboard.press("Control+Shift+z")
    await a.wait(f"d.fragment({r1!r}).group !== null && d.fragment({r1!r}).group === d.fragment({r2!r}).group")
    # A double-click enters the group: one member alone is selected.
    await a.page.keyboard.press("Escape")
    await a.page.mouse.dblclick(*(await a.client_xy(p1[0], p1[1] + 40)))
    await a.wait(f"d.selection.length === 1 && d.selection[0] === {r1!r}")
    # Ungroup: afterwards a click selects one fragment only.
    await a.page.keyboard.press("Escape")
    await a.click(p1[0], p1[1] + 40)
    await a.wait("d.selection.length === 2")
    await a.page.keyboard.press("Control+Shift+g")
    await a.wait(f"d.fragment({r1!r}).group === null && d.fragment({r2!r}).group === null")
    await a.page.keyboard.press("Escape")
    await a.click(p1[0], p1[1] + 40)
    await a.wait(f"d.selection.length === 1 && d.selection[0] === {r1!r}")
    await converged(server, sanctuary, a, b)
    assert await _groups(b, r1, r2) == [None, None]


def _drawn_ends(f: dict[str, Any]) -> tuple[float, float, float, float]:
    return f["x"], f["y"], f["x"] + f["geom"]["w"], f["y"] + f["geom"]["h"]


async def _drawn_at(d: Dreamer, fid: str, want: tuple[float, ...]) -> None:
    """Wait until the page draws the arrow with these ends (a peer's finished gesture may linger a moment)."""
    f = f"d.shown({fid!r})"
    got = [f"{f}.x", f"{f}.y", f"{f}.x + {f}.geom.w", f"{f}.y + {f}.geom.h"]
    await d.wait(" && ".join(f"Math.abs({g} - ({w})) < 0.01" for g, w in zip(got, want, strict=True)))


async def _server_ends(server: InProcessServer, sanctuary: str, fid: str) -> tuple[float, ...]:
    t = (await server.hub.sanctuary(sanctuary)).tapestry
    arrow = t.get(fid)
    assert arrow is not None
    (x1, y1), (x2, y2) = bindings.ends(arrow, t.get)
    return x1, y1, x2, y2


async def test_M14_an_arrow_bound_to_a_rectangle_follows_it_on_both_pages(
    browser: Any, dreamers: NewDreamer, server: InProcessServer
) -> None:
    a = await _open(browser, dreamers, "Alice", LAPTOP)
    b = await _open(browser, dreamers, "Bob", LAPTOP)
    sanctuary = dreamers.sanctuary  # type: ignore[attr-defined]
    rect = await _rect(a, 0, 0)
    rx, ry = await _xy(a, rect)
    # An arrow drawn from open canvas into the rectangle binds its end to it.
    await a.tool("a")
    await a.drag([(rx - 250, ry + 40), (rx - 100, ry + 40), (rx + 60, ry + 40)])
    await a.wait("d.fragmentCount === 2")
    arrow = (await a.hook("ids()"))[-1]
    stored = await a.hook(f"fragment({arrow!r})")
    assert stored["end"] == rect
    assert stored.get("start") is None
    await converged(server, sanctuary, a, b)
    # Drawn: from where it started to 6 units short of the rectangle's left side.
    for d in (a, b):
        await _drawn_at(d, arrow, (rx - 250, ry + 40, rx - 6, ry + 40))
    # Alice drags the rectangle: Bob's arrow follows while the pointer is still down (presence).
    await a.tool("v")
    page = a.page
    await page.mouse.move(*(await a.client_xy(rx + 120, ry + 40)))
    await page.mouse.down()
    await page.mouse.move(*(await a.client_xy(rx + 170, ry + 240)), steps=4)
    await b.wait(f"d.shown({arrow!r}).y + d.shown({arrow!r}).geom.h > {ry + 150}")
    assert (await b.hook(f"fragment({rect!r})"))["x"] == rx, "still only a gesture"
    await page.mouse.move(*(await a.client_xy(rx + 220, ry + 240)), steps=2)
    await page.mouse.up()
    await a.wait(f"d.fragment({rect!r}).x !== {rx}")
    await converged(server, sanctuary, a, b)
    want = await _server_ends(server, sanctuary, arrow)
    assert want[2:] != pytest.approx((rx - 6, ry + 40))
    for d in (a, b):
        await _drawn_at(d, arrow, want)
    OUTPUT.mkdir(parents=True, exist_ok=True)
    await b.page.screenshot(path=str(OUTPUT / "bound-arrow-follows.png"))
    # Deleting the rectangle leaves the arrow where it was last drawn; undo reattaches it.
    await a.page.keyboard.press("Escape")
    rect_now = await _xy(a, rect)
    await a.click(rect_now[0], rect_now[1] + 40)
    await a.wait(f"d.selection.length === 1 && d.selection[0] === {rect!r}")
    await a.page.keyboard.press("Delete")
    await a.wait("d.fragmentCount === 1")
    await converged(server, sanctuary, a, b)
    stored_now = await b.hook(f"fragment({arrow!r})")
    assert _drawn_ends(stored_now) == pytest.approx(want, abs=0.01), "the arrow stores where it was drawn"
    for d in (a, b):
        await _drawn_at(d, arrow, want)
    await a.page.keyboard.press("Control+z")
    await a.wait("d.fragmentCount === 2")
    await converged(server, sanctuary, a, b)
    await _drawn_at(b, arrow, want)


async def test_M13_the_group_button_works_by_touch_on_a_phone(
    browser: Any, dreamers: NewDreamer, server: InProcessServer
) -> None:
    a = await _open(browser, dreamers, "Ana", PHONE)
    page = a.page
    r1 = await _rect(a, 0, 0, 60, 40)
    r2 = await _rect(a, 30, 120, 60, 40)
    await a.tool("v")
    await page.keyboard.press("Control+a")
    await a.wait("d.selection.length === 2")
    await page.locator("[data-open=style-panel]").tap()
    button = page.locator("#selection-actions [data-action=group]")
    await button.scroll_into_view_if_needed()
    box = await button.bounding_box()
    assert box is not None
    assert box["x"] >= 0, "the Group button is on screen"
    assert box["x"] + box["width"] <= PHONE["width"], "the Group button is on screen"
    await button.tap()
    await a.wait(f"d.fragment({r1!r}).group && d.fragment({r1!r}).group === d.fragment({r2!r}).group")
    ungroup = page.locator("#selection-actions [data-action=ungroup]")
    await ungroup.scroll_into_view_if_needed()
    await ungroup.tap()
    await a.wait(f"d.fragment({r1!r}).group === null && d.fragment({r2!r}).group === null")


async def test_M14_dragging_an_arrow_end_away_unbinds_it_and_onto_a_shape_binds_it(
    browser: Any, dreamers: NewDreamer, server: InProcessServer
) -> None:
    a = await _open(browser, dreamers, "Alice", LAPTOP)
    b = await _open(browser, dreamers, "Bob", LAPTOP)
    sanctuary = dreamers.sanctuary  # type: ignore[attr-defined]
    rect = await _rect(a, 0, 0)
    other = await _rect(a, 0, 300)
    rx, ry = await _xy(a, rect)
    await a.tool("a")
    await a.drag([(rx + 60, ry + 40), (rx + 200, ry + 40), (rx + 300, ry + 40)])
    await a.wait("d.fragmentCount === 3")
    arrow = (await a.hook("ids()"))[-1]
    assert (await a.hook(f"fragment({arrow!r})"))["start"] == rect
    # Select the arrow, then drag its start handle off the rectangle: the start lets go.
    await a.tool("v")
    await a.click(rx + 250, ry + 40)
    await a.wait(f"d.selection.length === 1 && d.selection[0] === {arrow!r}")
    start = await a.hook(f"shown({arrow!r})")
    await a.drag([(start["x"], start["y"]), (start["x"] - 200, start["y"] - 150), (rx - 200, ry - 150)], free=True)
    await a.wait(f"d.fragment({arrow!r}).start === null")
    await _drawn_at(a, arrow, (rx - 200, ry - 150, rx + 300, ry + 40))
    # Drag it onto the other rectangle: the start binds to it.
    ox, oy = await _xy(a, other)
    await a.drag([(rx - 200, ry - 150), (ox + 30, oy + 20), (ox + 60, oy + 40)], free=True)
    await a.wait(f"d.fragment({arrow!r}).start === {other!r}")
    await converged(server, sanctuary, a, b)
    await _drawn_at(b, arrow, await _server_ends(server, sanctuary, arrow))
    # One undo step per end moved.
    await a.page.keyboard.press("Control+z")
    await a.wait(f"d.fragment({arrow!r}).start === null")
    await a.page.keyboard.press("Control+z")
    await a.wait(f"d.fragment({arrow!r}).start === {rect!r}")
