"""Browser client benchmark: load and first render of a large sanctuary, and panning it.

A real server (in-process, SQLite) holds a sanctuary of N fragments (strokes of 24
points, shapes, dream symbols and captions, spread over a large area); headless
Chromium opens it and we measure:

- ``load_ms``: from navigation to the first frame that has every fragment (welcome
  snapshot decoded, validated, merged, ordered and drawn);
- ``first_draw_ms``: the draw time of that frame;
- frame times while panning, at 100% zoom (a few hundred fragments on screen) and
  zoomed to fit (every fragment on screen): median and p95 of the draw time, and
  the median interval between frames (16.7 ms is 60 fps).

- ``welcome_in_ms``: from navigation start to the welcome message in the page, before
  the page decodes it (what comes before is page start-up, the server and the network);
  the page asks for a welcome in parts (SPEC W36): that is its first part, and
  ``last_part_in_ms`` the last one (``parts``: how many; none when it came whole), and
  ``form`` the snapshot's form (the page asks for the compact one, W37);
- ``hook_ms``: when the page's debug hook exists (after the dream symbols came from the
  server): ``first_paint_ms`` cannot be seen before it;
- ``first_paint_ms``: from navigation start to the first frame that shows a fragment;
- ``longest_task_ms``: the longest task (a stretch the page could not handle input)
  until the load ended.

Two sizes: 10,000 and 100,000 fragments. Run: ``python bench/run_all.py browser``
(``--quick`` for 2,000 and 20,000), or ``python bench/browser.py 100000`` for one size;
``--whole`` has the server send every welcome whole (as before W36), for a comparison;
``--warm`` joins once as the page does before the page opens, so that the page's join is not the
first after seeding (the first one after a burst of writes encodes what the kept items still lack
before its first part goes out).
"""

from __future__ import annotations

import asyncio
import math
import os
import random
import statistics
import tempfile
import time
from typing import Any

from websockets.asyncio.client import connect

from dreamloom.protocol import CLIENT_SIDE_LIMITS, JSON, Hello, SnapshotPart, Stamp, Welcome, codec_for, ops, zorder
from dreamloom.server.testing import serve_in_process

CHROMIUM = "/usr/bin/chromium"
ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
SYMBOLS = ("moon", "eye", "key", "door", "wave", "feather", "owl", "spiral")


def fragments(n: int, seed: int = 7) -> list[ops.Op]:
    rng = random.Random(seed)
    side = math.sqrt(n) * 60  # about one fragment per 60x60 units
    out = []
    for i in range(n):
        x, y = rng.uniform(-side / 2, side / 2), rng.uniform(-side / 2, side / 2)
        # Fixed-width keys in paint order (ending in V: a key never ends in 0).
        z = "".join(zorder.DIGITS[(i // 62**k) % 62] for k in (2, 1, 0)) + "V"
        stamp = Stamp(i + 1, "bench")
        kind = ("stroke", "stroke", "shape", "symbol", "text")[i % 5]
        style = {"color": rng.choice(("#ece8ff", "#9ad0ff", "#ffb35c", "#7be0a8")), "width": 2}
        if kind == "stroke":
            pts: list[float] = []
            px = py = 0.0
            for _ in range(24):
                px += rng.uniform(-6, 8)
                py += rng.uniform(-6, 6)
                pts += [round(px, 2), round(py, 2)]
            geom: dict[str, Any] = {"pts": pts}
        elif kind == "shape":
            geom = {
                "shape": rng.choice(("rect", "ellipse", "arrow")),
                "w": rng.uniform(20, 60),
                "h": rng.uniform(10, 40),
            }
        elif kind == "symbol":
            geom = {"sym": rng.choice(SYMBOLS), "size": rng.uniform(24, 48)}
        else:
            geom = {"text": rng.choice(("tide", "the door", "a silver key", "falling")), "size": 14}
        out.append(
            ops.create(
                f"b{i}", stamp, kind=kind, geom=geom, z=z, x=round(x, 2), y=round(y, 2), style=style, origin="organic"
            )
        )
    return out


def _summary(values: list[float]) -> tuple[float, float]:
    ordered = sorted(values)
    return statistics.median(ordered), ordered[min(len(ordered) - 1, int(len(ordered) * 0.95))]


# Recorded from the first script on: when the first frame showed a fragment, and the
# longest task (anything that kept the page from handling input) until the load ended.
WATCH = r"""
window.__bench = {firstPaint: null, welcome: null, lastPart: null, parts: null, form: null, longest: 0, tasks: 0};
// When the welcome's bytes were in (before the page decodes them): the rest is the page's.
const Socket = window.WebSocket;
window.WebSocket = class extends Socket {
  constructor(...args) {
    super(...args);
    this.addEventListener("message", (ev) => {
      if (window.__bench.welcome === null && typeof ev.data === "string" && ev.data.startsWith('{"type":"welcome"')) {
        window.__bench.welcome = performance.now();
        const tail = ev.data.slice(-64);  // parts (W36) and form (W37) are the welcome's last fields
        const parts = /"parts":(\d+)/.exec(tail);
        if (parts) window.__bench.parts = parseInt(parts[1], 10);
        const form = /"form":"(\w+)"/.exec(tail);
        window.__bench.form = form ? form[1] : "canonical";
      }
      if (typeof ev.data === "string" && ev.data.startsWith('{"type":"snapshot"'))
        window.__bench.lastPart = performance.now();
    });
  }
};
new PerformanceObserver((list) => {
  for (const e of list.getEntries()) {
    window.__bench.longest = Math.max(window.__bench.longest, e.duration);
    window.__bench.tasks++;
  }
}).observe({entryTypes: ["longtask"]});
const watch = () => {
  if (window.dreamloom && window.__bench.hook === undefined) window.__bench.hook = performance.now();
  if (window.dreamloom && window.dreamloom.drawn > 0) window.__bench.firstPaint = performance.now();
  else requestAnimationFrame(watch);
};
requestAnimationFrame(watch);
"""


async def _seed(server: Any, n: int) -> None:
    s = await server.hub.sanctuary("bench")
    batch = fragments(n)
    for i in range(0, n, 5000):
        chunk = batch[i : i + 5000]
        await s.call(lambda chunk=chunk: s.apply_local(chunk, "bench"))


async def _join_as_the_page(url: str) -> None:
    """One join as the page asks (JSON, parts and compact), to its last part: the server's kept
    items of that kind are then up to date, as they are for any join after the first."""
    codec = codec_for(JSON, CLIENT_SIDE_LIMITS)
    async with connect(url, subprotocols=["dreamloom.v1.json"], max_size=None) as ws:  # type: ignore[list-item]
        await ws.send(codec.encode(Hello(name="warm", replica="warm-up", features=("parts", "compact"))))
        while True:
            msg = codec.decode_server(await ws.recv())
            if (isinstance(msg, Welcome) and msg.parts is None) or (
                isinstance(msg, SnapshotPart) and msg.part == msg.parts - 1
            ):
                return


async def measure(n: int, frames: int, whole: bool = False, warm: bool = False) -> list[dict[str, Any]]:
    from playwright.async_api import async_playwright

    # A first part larger than any welcome: every welcome is sent whole, as before W36.
    parts = {"welcome_first_part_bytes": 1 << 60} if whole else {}
    with tempfile.TemporaryDirectory(prefix="dreamloom-bench-") as tmp:
        # No snapshot while seeding (the store would write the whole tapestry every 1,000 ops).
        async with serve_in_process(data_dir=tmp, snapshot_every=10 * n, **parts) as server:
            await _seed(server, n)
            if warm:
                await _join_as_the_page(server.ws_url("bench"))
            async with async_playwright() as p:
                browser = await p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
                ctx = await browser.new_context(viewport={"width": 1280, "height": 800}, bypass_csp=True)
                await ctx.add_init_script("localStorage.setItem('dreamloom:name', JSON.stringify('bench'))")
                await ctx.add_init_script(WATCH)
                page = await ctx.new_page()
                started = time.perf_counter()
                await page.goto(f"{server.url}/s/bench")
                await page.wait_for_function(
                    f"window.dreamloom && window.dreamloom.fragmentCount === {n} && window.dreamloom.frames > 0"
                    " && window.dreamloom.connected",
                    timeout=300_000,
                    polling=100,
                )
                load_ms = (time.perf_counter() - started) * 1000
                first_draw = await page.evaluate("window.dreamloom.lastFrameMs")
                watch = await page.evaluate("window.__bench")
                rows = [
                    {
                        "fragments": n,
                        "case": "load + first render",
                        "load_ms": load_ms,
                        "welcome_in_ms": watch["welcome"],
                        "parts": watch["parts"],
                        "form": watch["form"],
                        "last_part_in_ms": watch["lastPart"],
                        "hook_ms": watch.get("hook"),
                        "first_paint_ms": watch["firstPaint"],
                        "longest_task_ms": watch["longest"],
                        "first_draw_ms": first_draw,
                    }
                ]
                for case, fit in (("pan at 100%", False), ("pan, zoomed to fit", True)):
                    if fit:
                        await page.evaluate("window.dreamloom.zoomToFit()")
                    await page.evaluate("window.dreamloom.pan(10, 3)")  # warm up
                    result = await page.evaluate(f"window.dreamloom.pan({frames}, 4)")
                    on_screen = await page.evaluate("window.dreamloom.drawn")
                    med, p95 = _summary(result["draw"])
                    gap, _ = _summary(result["gaps"])
                    rows.append(
                        {
                            "fragments": n,
                            "case": case,
                            "on_screen": on_screen,
                            "draw_ms_median": med,
                            "draw_ms_p95": p95,
                            "draw_ms_max": max(result["draw"]),
                            "frame_interval_ms": gap,
                            "fps": 1000 / gap if gap else math.nan,
                        }
                    )
                await browser.close()
    load = os.getloadavg()[0]
    return [{**row, "load_1m": load} for row in rows]


def main(
    quick: bool = False, sizes: tuple[int, ...] = (), whole: bool = False, warm: bool = False
) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    for n in sizes or ((2000, 20_000) if quick else (10_000, 100_000)):
        rows += asyncio.run(measure(n, 60 if quick else 240, whole, warm))
    return rows


if __name__ == "__main__":
    import sys

    from run_all import table

    sizes = tuple(int(a) for a in sys.argv[1:] if a.isdigit())
    warm = "--warm" in sys.argv
    print(table(main(quick="--quick" in sys.argv, sizes=sizes, whole="--whole" in sys.argv, warm=warm)))
