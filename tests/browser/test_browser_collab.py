"""Co-creating in real browsers: convergence, late joiners, offline edits, undo, presence."""

from __future__ import annotations

import asyncio

import pytest
from browser_kit import OUTPUT, NewDreamer, converged, non_background_pixels, server_state

from dreamloom.server.testing import InProcessServer

pytestmark = pytest.mark.asyncio(loop_scope="module")


async def test_two_pages_draw_place_and_move_the_same_fragment_converge(
    dreamers: NewDreamer, server: InProcessServer
) -> None:
    a = await dreamers("Alice")
    b = await dreamers("Bob")
    sanctuary = dreamers.sanctuary  # type: ignore[attr-defined]
    # Both draw and place symbols at the same time.
    await asyncio.gather(a.stroke(-200, -100), b.stroke(50, 120))
    await asyncio.gather(a.tool("s"), b.tool("s"))
    await asyncio.gather(a.click(-100, 50), b.click(150, -60))
    await converged(server, sanctuary, a, b)
    assert await a.hook("fragmentCount") == 4
    # Both grab Alice's symbol and drag it to different places at once.
    me = await a.hook("identity.id")
    (sym,) = [f for f in await a.fragments() if f["kind"] == "symbol" and f["author"] == me]
    target, x, y = sym["id"], sym["x"], sym["y"]
    await asyncio.gather(a.tool("v"), b.tool("v"))
    await asyncio.gather(
        a.drag([(x, y), (x + 40, y + 10), (x + 120, y + 30)], free=True),
        b.drag([(x, y), (x - 30, y + 50), (x - 90, y + 140)], free=True),
    )
    final = await converged(server, sanctuary, a, b)
    moved = await a.hook(f"fragment({target!r})")
    assert (moved["x"], moved["y"]) in ((x + 120, y + 30), (x - 90, y + 140))
    assert await b.hook(f"fragment({target!r})") == moved
    assert await a.hook("digest()") == await b.hook("digest()")
    assert final


async def test_late_page_renders_everything(dreamers: NewDreamer, server: InProcessServer) -> None:
    a = await dreamers("Alice")
    sanctuary = dreamers.sanctuary  # type: ignore[attr-defined]
    for i in range(3):
        await a.stroke(-300 + i * 150, -50)
    await a.tool("s")
    await a.click(0, 150)
    await a.tool("r")
    await a.drag([(150, -200), (260, -120)])
    await converged(server, sanctuary, a)
    late = await dreamers("Late")
    final = await converged(server, sanctuary, a, late)
    assert await late.hook("fragmentCount") == 5
    await late.wait("d.drawn === 5")
    shot = await late.page.locator("#canvas").screenshot()
    assert non_background_pixels(shot) > 500
    assert final == (await server_state(server, sanctuary))[1]


async def test_offline_page_keeps_drawing_and_converges(dreamers: NewDreamer, server: InProcessServer) -> None:
    a = await dreamers("Alice")
    b = await dreamers("Bob")
    sanctuary = dreamers.sanctuary  # type: ignore[attr-defined]
    await b.stroke(0, 0)
    await converged(server, sanctuary, a, b)
    await b.context.set_offline(True)
    await b.wait("!d.connected")
    await b.stroke(100, 100)
    await b.tool("s")
    await b.click(-150, 80)
    await a.stroke(-200, -150)  # the sanctuary moves on meanwhile
    assert await b.hook("pendingCount") == 2
    assert await b.hook("fragmentCount") == 3  # its own offline edits show at once
    await a.settled()
    assert await a.hook("fragmentCount") == 2
    await b.context.set_offline(False)
    await converged(server, sanctuary, a, b)
    assert await a.hook("fragmentCount") == 4


async def test_queue_survives_closing_the_page_while_offline(dreamers: NewDreamer, server: InProcessServer) -> None:
    a = await dreamers("Alice")
    b = await dreamers("Bob")
    sanctuary = dreamers.sanctuary  # type: ignore[attr-defined]
    await b.context.set_offline(True)
    await b.wait("!d.connected")
    await b.stroke(20, 20)
    await b.stroke(-120, 60)
    assert await b.hook("pendingCount") == 2
    await b.page.close()  # the tab is gone with two unsent edits
    await b.context.set_offline(False)
    again = await dreamers("Bob", context=b.context)
    await again.wait("d.pendingCount === 0 && d.connected")
    await converged(server, sanctuary, a, again)
    assert await a.hook("fragmentCount") == 2


async def test_undo_never_undoes_another_pages_edits(dreamers: NewDreamer, server: InProcessServer) -> None:
    a = await dreamers("Alice")
    b = await dreamers("Bob")
    sanctuary = dreamers.sanctuary  # type: ignore[attr-defined]
    await a.stroke(-200, 0)
    await converged(server, sanctuary, a, b)
    await b.stroke(100, 0)
    await converged(server, sanctuary, a, b)
    me = await a.hook("identity.id")
    (stroke,) = [f for f in await a.fragments() if f["author"] == me]
    mine, fx, fy = stroke["id"], stroke["x"], stroke["y"]
    # Alice moves her stroke; Bob then moves it further: Bob's write is the later one.
    await a.tool("v")
    await a.drag([(fx, fy), (fx + 30, fy + 30)], free=True)
    await converged(server, sanctuary, a, b)
    assert (await b.hook(f"fragment({mine!r}).x"), await b.hook(f"fragment({mine!r}).y")) == (fx + 30, fy + 30)
    await b.tool("v")
    await b.drag([(fx + 30, fy + 30), (fx + 80, fy - 40)], free=True)
    await converged(server, sanctuary, a, b)
    assert (await a.hook(f"fragment({mine!r}).x"), await a.hook(f"fragment({mine!r}).y")) == (fx + 80, fy - 40)
    # Alice undoes twice: her move (already overwritten by Bob: nothing to write back) and her stroke.
    await a.page.locator("#canvas").focus()
    await a.page.keyboard.press("Control+z")
    await a.page.keyboard.press("Control+z")
    await converged(server, sanctuary, a, b)
    assert await a.hook("fragmentCount") == 1, "Alice's undo removes only her own stroke"
    (left,) = await a.hook("ids()")
    assert left != mine
    assert (await b.hook(f"fragment({left!r})"))["author"] == await b.hook("identity.id")
    # Bob's move of Alice's stroke was not undone: the deleted stroke kept Bob's position.
    gone = await a.hook(f"fragment({mine!r})")
    assert gone["deleted"] is True
    assert (gone["x"], gone["y"]) == (fx + 80, fy - 40)
    # Redo brings Alice's stroke back, still where Bob put it.
    await a.page.keyboard.press("Control+Shift+z")
    await converged(server, sanctuary, a, b)
    assert await b.hook("fragmentCount") == 2
    # Bob's undo stack is his own: undoing on his page removes his move, not Alice's stroke.
    await b.page.locator("#canvas").focus()
    await b.page.keyboard.press("Control+z")
    await converged(server, sanctuary, a, b)
    back = await a.hook(f"fragment({mine!r})")
    assert (back["x"], back["y"]) == (fx + 30, fy + 30)
    assert await a.hook("fragmentCount") == 2


async def test_page_sees_the_other_pages_cursor_and_stroke_preview(
    dreamers: NewDreamer, server: InProcessServer
) -> None:
    a = await dreamers("Alice")
    b = await dreamers("Bob")
    await a.wait("d.peers.length === 1")
    assert (await a.hook("peers"))[0]["name"] == "Bob"
    for x in (10, 60, 140):
        await b.page.mouse.move(*(await b.client_xy(x, 25)))
        await a.wait(
            f"d.peers[0].cursor && Math.abs(d.peers[0].cursor[0] - {x}) < 1 && Math.abs(d.peers[0].cursor[1] - 25) < 1"
        )
    # A stroke in progress travels as presence before it is an op.
    await b.tool("p")
    await b.page.mouse.down()
    for i in range(8):
        await b.page.mouse.move(*(await b.client_xy(140 + i * 12, 25 + i * 5)))
    await a.wait("d.peers[0].preview && d.peers[0].preview.pts.length >= 8")
    assert await a.hook("fragmentCount") == 0
    await b.page.mouse.up()
    await a.wait("d.fragmentCount === 1 && !d.peers[0].preview")
    people = a.page.locator("#people li[data-sid]")
    assert await people.count() == 1
    assert "Bob" in await people.inner_text()
    # Follow mode: Alice clicks Bob's face in the top bar and her view goes where his goes.
    face = a.page.locator("#avatars [data-sid]")
    assert await face.get_attribute("title") == "Bob: click to follow their view"
    await face.click()
    banner = a.page.locator("#banner")
    await banner.wait_for(state="visible")
    assert "Following Bob" in await banner.inner_text()
    await b.page.locator("#canvas").focus()
    for _ in range(3):
        await b.page.keyboard.press("-")  # Bob zooms out...
    await b.page.mouse.wheel(400, 250)  # ...and pans
    bob = await b.hook("camera()")
    await a.wait(f"Math.abs(d.camera().zoom - {bob['zoom']}) < 1e-3 && Math.abs(d.camera().x - {bob['x']}) < 1")
    assert "following" in (await a.page.locator("#avatars [data-sid]").get_attribute("class") or "")
    # The zoom label follows the followed view too.
    assert await a.page.locator("#zoom-reset").inner_text() == f"{round(bob['zoom'] * 100)}%"
    OUTPUT.mkdir(parents=True, exist_ok=True)
    await a.page.screenshot(path=str(OUTPUT / "presence.png"))
    # The banner's button, or Esc, is the way out.
    await banner.locator("button").click()
    await a.wait("d.following === null")
    await banner.wait_for(state="hidden")


async def test_reload_while_offline_keeps_the_tapestry_and_the_queue(
    dreamers: NewDreamer, server: InProcessServer
) -> None:
    a = await dreamers("Alice")
    b = await dreamers("Bob")
    sanctuary = dreamers.sanctuary  # type: ignore[attr-defined]
    await a.stroke(-150, 0)
    await converged(server, sanctuary, a, b)
    # The offline shell is installed once the page is controlled by its service worker.
    await b.page.wait_for_function("navigator.serviceWorker && navigator.serviceWorker.controller !== null")
    await b.context.set_offline(True)
    await b.wait("!d.connected")
    await b.stroke(60, 60)
    await b.tool("s")
    await b.click(-60, 120)
    assert await b.hook("pendingCount") == 2
    await b.page.reload()
    await b.wait("d.fragmentCount === 3 && d.pendingCount === 2 && !d.connected")
    shot = await b.page.locator("#canvas").screenshot()
    assert non_background_pixels(shot) > 300
    await b.context.set_offline(False)
    await converged(server, sanctuary, a, b)
    assert await a.hook("fragmentCount") == 3
