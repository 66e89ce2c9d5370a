"""Presence colours (SPEC W11, W11a): stable across reconnects, distinct from everyone present,
weavers included, and chosen by the person."""

from __future__ import annotations

import pytest
from browser_kit import NewDreamer

from dreamloom.client.testing import dreamer, issue_token
from dreamloom.server.testing import InProcessServer

pytestmark = pytest.mark.asyncio(loop_scope="module")


async def _colour_of(watcher: object, name: str) -> str:
    colour: str = await watcher.page.evaluate(  # type: ignore[attr-defined]
        f"window.dreamloom.peers.find((p) => p.name === {name!r})?.color"
    )
    return colour


async def test_W11a_colours_survive_a_reconnect_and_stay_distinct(
    dreamers: NewDreamer, server: InProcessServer
) -> None:
    sanctuary = dreamers.sanctuary  # type: ignore[attr-defined]
    a = await dreamers("Alice")
    b = await dreamers("Bob")
    token = issue_token(server, sanctuary, name="echo")
    async with dreamer(server.url, sanctuary, name="echo", token=token):
        await b.wait("d.peers.length === 2 && d.peers.every((p) => p.color)")
        await a.wait("d.peers.length === 2")
        alice = await a.hook("colour")
        await b.wait(f"d.peers.find((p) => p.name === 'Alice').color === {alice!r}")
        colours = [alice, await b.hook("colour"), await _colour_of(b, "echo")]
        assert len(set(colours)) == 3, colours
        # Alice's network drops and comes back: the same colour, for her and for Bob.
        await a.context.set_offline(True)
        await b.wait("d.peers.length === 1")
        await a.context.set_offline(False)
        await a.wait("d.connected")
        await b.wait(f"d.peers.find((p) => p.name === 'Alice')?.color === {alice!r}")
        assert await a.hook("colour") == alice
        # And after a reload.
        await a.page.reload()
        await a.wait("d.connected")
        assert await a.hook("colour") == alice
        await b.wait(f"d.peers.find((p) => p.name === 'Alice')?.color === {alice!r}")


async def test_W11a_a_person_chooses_a_colour_others_do_not_hold(dreamers: NewDreamer, server: InProcessServer) -> None:
    a = await dreamers("Alice")
    b = await dreamers("Bob")
    await a.wait("d.peers.length === 1")
    bob = await b.hook("colour")
    await a.wait(f"d.peers[0]?.color === {bob!r}")
    page = a.page
    await page.locator("#avatars .avatar.me").click()
    picker = page.locator("#colour-picker")
    await picker.wait_for(state="visible")
    assert await picker.locator(f"button[data-colour='{bob}']").is_disabled(), "Bob's colour is not offered"
    free = picker.locator("button:not([disabled]):not(.on)").first
    chosen = await free.get_attribute("data-colour")
    await free.click()
    await a.wait(f"d.colour === {chosen!r}")
    await b.wait(f"d.peers[0]?.color === {chosen!r}")
    # Bob's cursor overlay and list use it; a reload keeps the choice.
    await a.page.reload()
    await a.wait("d.connected")
    assert await a.hook("colour") == chosen
    await b.wait(f"d.peers[0]?.color === {chosen!r}")
