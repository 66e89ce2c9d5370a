"""Helpers of the browser tests: a participant's page, convergence checks, pixel counts."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from kit.timing import scaled

from dreamloom.server.testing import InProcessServer

OUTPUT = Path(__file__).resolve().parents[2] / "test-output" / "browser"
VIEWPORT = {"width": 1280, "height": 800}
#: Timeouts in milliseconds, stretched by the suite's one factor on slow machines.
WAIT_MS = int(scaled(15.0) * 1000)


class Dreamer:
    """One participant: a browser context (its own storage and network) and its page."""

    def __init__(self, context: Any, page: Any, name: str) -> None:
        self.context = context
        self.page = page
        self.name = name
        self.errors: list[str] = []

    async def hook(self, expr: str) -> Any:
        return await self.page.evaluate(f"window.dreamloom.{expr}")

    async def wait(self, condition: str, wait_ms: int = WAIT_MS) -> None:
        """Wait for a JS condition over ``d`` (the page's debug hook)."""
        await self.page.wait_for_function(
            f"(() => {{ const d = window.dreamloom; return !!d && ({condition}); }})()", timeout=wait_ms
        )

    async def fragments(self) -> list[dict[str, Any]]:
        """Live fragments in paint order."""
        frags: list[dict[str, Any]] = await self.page.evaluate(
            "window.dreamloom.ids().map((i) => window.dreamloom.fragment(i))"
        )
        return frags

    async def client_xy(self, x: float, y: float) -> tuple[float, float]:
        cx, cy = await self.page.evaluate(f"window.dreamloom.toClient({x}, {y})")
        return float(cx), float(cy)

    async def drag(self, points: list[tuple[float, float]], *, free: bool = False) -> None:
        """Press at the first world point, move through the others, release.

        ``free`` holds Alt: a move lands exactly where it is dropped, without snapping to neighbours.
        """
        first = await self.client_xy(*points[0])
        await self.page.mouse.move(*first)
        if free:
            await self.page.keyboard.down("Alt")
        await self.page.mouse.down()
        for p in points[1:]:
            await self.page.mouse.move(*(await self.client_xy(*p)), steps=2)
        await self.page.mouse.up()
        if free:
            await self.page.keyboard.up("Alt")

    async def stroke(self, x: float, y: float, n: int = 12) -> None:
        await self.tool("p")
        await self.drag([(x + i * 9, y + (i % 4) * 7) for i in range(n)])

    async def click(self, x: float, y: float) -> None:
        await self.page.mouse.click(*(await self.client_xy(x, y)))

    async def tool(self, key: str) -> None:
        await self.page.locator("#canvas").focus()
        await self.page.keyboard.press(key)

    async def settled(self) -> None:
        """Everything of ours acknowledged."""
        await self.wait("d.connected && d.pendingCount === 0")


NewDreamer = Callable[..., Awaitable[Dreamer]]


async def server_state(server: InProcessServer, sanctuary: str) -> tuple[int, str]:
    """The server's seq and canonical bytes (hex) of a sanctuary."""
    s = await server.hub.sanctuary(sanctuary)
    return s.seq, s.tapestry.encode().hex()


async def converged(server: InProcessServer, sanctuary: str, *pages: Dreamer) -> str:
    """Wait until every page has everything acknowledged and the server's seq, then return the bytes.

    Fails (with a timeout) if the canonical bytes of a page differ from the server's.
    """
    for d in pages:
        await d.settled()
    seq, server_hex = await server_state(server, sanctuary)
    for d in pages:
        await d.wait(f"d.seq === {seq} && d.pendingCount === 0")
        assert await d.hook("canonicalHex()") == server_hex, f"{d.name} diverged from the server"
    return server_hex


def non_background_pixels(png: bytes, background: tuple[int, int, int] = (15, 16, 32)) -> int:
    """Pixels of a screenshot that differ clearly from the canvas background."""
    import io

    from PIL import Image

    raw = Image.open(io.BytesIO(png)).convert("RGB").tobytes()
    br, bg, bb = background
    return sum(1 for i in range(0, len(raw), 3) if abs(raw[i] - br) + abs(raw[i + 1] - bg) + abs(raw[i + 2] - bb) > 60)
