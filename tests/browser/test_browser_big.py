"""A large tapestry in the browser: its welcome is taken in a slice at a time, so the page shows
fragments before the whole tapestry is in, and ops that arrive meanwhile are applied after it."""

from __future__ import annotations

import random
from typing import Any

import pytest
from browser_kit import VIEWPORT, WAIT_MS, NewDreamer, converged

from dreamloom.protocol import Stamp, ops, zorder
from dreamloom.server.testing import InProcessServer

pytestmark = pytest.mark.asyncio(loop_scope="module")

FRAGMENTS = 30_000  # a welcome of 30 slices (client/web/app/sync.js LOAD_SLICE)

# Every frame from the first script on: was there one that showed fragments of an unfinished load?
WATCH = f"""
window.__partialFrames = 0;
const watch = () => {{
  const d = window.dreamloom;
  if (d && d.fragmentCount > 0 && d.fragmentCount < {FRAGMENTS} && d.drawn > 0) window.__partialFrames++;
  requestAnimationFrame(watch);
}};
requestAnimationFrame(watch);
"""


def symbols(n: int) -> list[ops.Op]:
    rng = random.Random(3)
    out, z = [], None
    for i in range(n):
        z = zorder.after_last(z, "seed")
        geom: dict[str, Any] = {"sym": rng.choice(("moon", "eye", "key")), "size": 24}
        x, y = rng.uniform(-500, 500), rng.uniform(-300, 300)  # all in the first view
        out.append(ops.create(f"s{i}", Stamp(i + 1, "seed"), kind="symbol", geom=geom, z=z, x=x, y=y))
    return out


async def test_a_large_tapestry_shows_fragments_before_it_is_whole(
    dreamers: NewDreamer, server: InProcessServer, browser: Any
) -> None:
    sanctuary = dreamers.sanctuary  # type: ignore[attr-defined]
    s = await server.hub.sanctuary(sanctuary)
    batch = symbols(FRAGMENTS)
    for i in range(0, FRAGMENTS, 5000):
        chunk = batch[i : i + 5000]
        await s.call(lambda chunk=chunk: s.apply_local(chunk, "seed"))
    ctx = await browser.new_context(bypass_csp=True, viewport=VIEWPORT, color_scheme="dark")
    await ctx.add_init_script("localStorage.setItem('dreamloom:name', JSON.stringify('Big'))")
    await ctx.add_init_script(WATCH)
    page = await dreamers("Big", wait_live=False, context=ctx)
    # Written while the page loads (or before its welcome): either way it must end up there.
    late = ops.create("late", Stamp(FRAGMENTS + 1, "seed"), kind="symbol", geom={"sym": "owl", "size": 30}, z="zz")
    await s.call(lambda: s.apply_local([late], "seed"))
    await page.wait(f"d.connected && d.fragmentCount === {FRAGMENTS + 1}", 4 * WAIT_MS)  # a big welcome
    assert await page.page.evaluate("window.__partialFrames") > 0, "no frame showed part of the tapestry"
    assert (await page.hook("fragment('late')"))["geom"]["sym"] == "owl"
    await converged(server, sanctuary, page)
    # Still an editor: a key picks a tool, a click places a symbol on top of the 30,001.
    await page.tool("s")
    await page.click(0, 0)
    await page.wait(f"d.fragmentCount === {FRAGMENTS + 2}")
    await converged(server, sanctuary, page)
