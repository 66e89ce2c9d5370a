"""The app asks for the compact snapshot form and loads it (SPEC W37): a welcome big enough to be
taken in slices, with registers written after their create, shows every fragment as the server has it."""

from __future__ import annotations

from typing import Any

import pytest
from browser_kit import VIEWPORT, WAIT_MS, NewDreamer, converged

from dreamloom.protocol import Stamp, ops, zorder
from dreamloom.server.testing import InProcessServer

pytestmark = pytest.mark.asyncio(loop_scope="module")

FRAGMENTS = 1_500  # more than one slice (client/web/app/sync.js LOAD_SLICE)

# What the page sent in its hello, and the form of each welcome it received.
RECORD = """
window.__hellos = [];
window.__forms = [];
const Native = window.WebSocket;
window.WebSocket = class extends Native {
  constructor(...args) {
    super(...args);
    this.addEventListener("message", (ev) => {
      if (typeof ev.data === "string" && ev.data.startsWith('{"type":"welcome"')) {
        window.__forms.push(JSON.parse(ev.data).form ?? null);
      }
    });
  }
  send(data) {
    if (typeof data === "string" && data.startsWith('{"type":"hello"')) window.__hellos.push(JSON.parse(data));
    return super.send(data);
  }
};
"""


async def test_W37_the_page_loads_a_compact_welcome_and_shows_the_fragments(
    dreamers: NewDreamer, server: InProcessServer, browser: Any
) -> None:
    sanctuary = dreamers.sanctuary  # type: ignore[attr-defined]
    s = await server.hub.sanctuary(sanctuary)
    batch, z = [], None
    for i in range(FRAGMENTS):
        z = zorder.after_last(z, "seed")
        geom = {"sym": "moon", "size": 24}
        batch.append(ops.create(f"s{i}", Stamp(i + 1, "seed"), kind="symbol", geom=geom, z=z, x=i % 40, y=i // 40))
    # Written after the creates, under other stamps: these registers travel with their own stamps.
    later = [ops.set_fields(f"s{i}", Stamp(FRAGMENTS + i + 1, "other"), x=-7, z="zz") for i in range(0, 30, 3)]
    later.append(ops.delete("s1", Stamp(2 * FRAGMENTS, "other")))
    await s.call(lambda: s.apply_local(batch + later, "seed"))
    ctx = await browser.new_context(bypass_csp=True, viewport=VIEWPORT, color_scheme="dark")
    await ctx.add_init_script("localStorage.setItem('dreamloom:name', JSON.stringify('Compact'))")
    await ctx.add_init_script(RECORD)
    page = await dreamers("Compact", wait_live=False, context=ctx)
    await page.wait(f"d.connected && d.fragmentCount === {FRAGMENTS - 1}", 2 * WAIT_MS)
    hellos = await page.page.evaluate("window.__hellos")
    assert hellos
    assert all("compact" in h.get("features", []) for h in hellos)
    assert await page.page.evaluate("window.__forms") == ["compact"]
    assert (await page.hook("fragment('s3')"))["x"] == -7
    assert await page.hook("fragment('s1')") is None or (await page.hook("fragment('s1')")).get("deleted")
    await converged(server, sanctuary, page)
