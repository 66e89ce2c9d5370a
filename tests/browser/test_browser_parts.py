"""A welcome in parts in the browser (W36): the page asks for parts (and the compact form, W37, which
the parts carry), paints before the last one is in, and ops written meanwhile land after the last part."""

from __future__ import annotations

import random
from collections.abc import AsyncIterator
from typing import Any

import pytest
import pytest_asyncio
from browser_kit import VIEWPORT, WAIT_MS, NewDreamer, converged

from dreamloom.protocol import Stamp, ops, zorder
from dreamloom.server.testing import InProcessServer, serve_in_process

pytestmark = pytest.mark.asyncio(loop_scope="module")

FRAGMENTS = 3000
# Small parts: 3,000 symbols (about 600 KB of JSON) come in a few dozen parts.
PARTS = {"welcome_first_part_bytes": 8 * 1024, "welcome_part_bytes": 32 * 1024}

# From the first script on: the hello and the welcome's parts as the page sees them, and every frame
# that showed fragments of an unfinished load. The parts reach the page as over a slow link, 30 ms
# apart (every message keeps its order), so that frames come between them however fast the machine.
WATCH = f"""
window.__parts = {{
  hello: null, parts: null, form: null, compactParts: 0, received: 0, partialFrames: 0, firstPartial: null
}};
const Socket = window.WebSocket;
window.WebSocket = class extends Socket {{
  send(data) {{
    if (window.__parts.hello === null && data.startsWith('{{"type":"hello"')) window.__parts.hello = JSON.parse(data);
    return super.send(data);
  }}
  set onmessage(handler) {{
    if (!handler) {{
      super.onmessage = null;
      return;
    }}
    let chain = Promise.resolve();
    super.onmessage = (ev) => {{
      const part = ev.data.startsWith('{{"type":"snapshot"');
      if (ev.data.startsWith('{{"type":"welcome"')) {{
        const welcome = JSON.parse(ev.data);
        window.__parts.parts = welcome.parts ?? null;
        window.__parts.form = welcome.form ?? null;
      }}
      if (part && JSON.parse(ev.data).fragments.every((item) => item.length === 5)) window.__parts.compactParts++;
      chain = chain
        .then(() => new Promise((done) => setTimeout(done, part ? 30 : 0)))
        .then(() => {{
          if (part) window.__parts.received++;
          handler.call(this, ev);
        }});
    }};
  }}
  get onmessage() {{
    return super.onmessage;
  }}
}};
const watch = () => {{
  const d = window.dreamloom;
  if (d && d.fragmentCount > 0 && d.fragmentCount < {FRAGMENTS} && d.drawn > 0) {{
    window.__parts.partialFrames++;
    if (window.__parts.firstPartial === null) window.__parts.firstPartial = d.fragmentCount;
  }}
  requestAnimationFrame(watch);
}};
requestAnimationFrame(watch);
"""


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def server(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[InProcessServer]:
    """This module's server sends small welcome parts."""
    async with serve_in_process(data_dir=tmp_path_factory.mktemp("browser-parts"), **PARTS) as s:
        yield s


def symbols(n: int) -> list[ops.Op]:
    rng = random.Random(5)
    out, z = [], None
    for i in range(n):
        z = zorder.after_last(z, "seed")
        geom: dict[str, Any] = {"sym": rng.choice(("moon", "eye", "key")), "size": 24}
        x, y = rng.uniform(-500, 500), rng.uniform(-300, 300)  # all in the first view
        out.append(ops.create(f"s{i:05d}", Stamp(i + 1, "seed"), kind="symbol", geom=geom, z=z, x=x, y=y))
    return out


async def test_w36_w37_a_big_tapestry_in_compact_parts_paints_before_its_last_part_and_converges(
    dreamers: NewDreamer, server: InProcessServer, browser: Any
) -> None:
    sanctuary = dreamers.sanctuary  # type: ignore[attr-defined]
    s = await server.hub.sanctuary(sanctuary)
    batch = symbols(FRAGMENTS)
    await s.call(lambda: s.apply_local(batch, "seed"))
    ctx = await browser.new_context(bypass_csp=True, viewport=VIEWPORT, color_scheme="dark")
    await ctx.add_init_script("localStorage.setItem('dreamloom:name', JSON.stringify('Parts'))")
    await ctx.add_init_script(WATCH)
    page = await dreamers("Parts", wait_live=False, context=ctx)
    # Written while the page loads (or before its welcome): either way it must end up there.
    late = ops.create("late", Stamp(FRAGMENTS + 1, "seed"), kind="symbol", geom={"sym": "owl", "size": 30}, z="zz")
    await s.call(lambda: s.apply_local([late], "seed"))
    await page.wait(f"d.connected && d.fragmentCount === {FRAGMENTS + 1}", 2 * WAIT_MS)
    seen = await page.page.evaluate("window.__parts")
    assert seen["hello"]["features"] == ["parts", "compact"]
    assert seen["parts"] is not None
    assert seen["parts"] >= 10
    # A compact welcome in parts (W37): every part carries compact items.
    assert seen["form"] == "compact"
    assert seen["compactParts"] == seen["parts"] - 1
    assert seen["received"] == seen["parts"] - 1
    assert seen["partialFrames"] > 0, "no frame showed part of the tapestry"
    assert seen["firstPartial"] < FRAGMENTS / 2  # painted long before the last part was in
    assert (await page.hook("fragment('late')"))["geom"]["sym"] == "owl"
    await converged(server, sanctuary, page)
    # Live as usual after it: a key picks a tool, a click places a symbol.
    await page.tool("s")
    await page.click(0, 0)
    await page.wait(f"d.fragmentCount === {FRAGMENTS + 2}")
    await converged(server, sanctuary, page)
