"""Static files (SPEC W22): only the app's own assets, from the name alone; safe headers."""

from __future__ import annotations

import aiohttp
import pytest
from yarl import URL

from dreamloom.server.http.web import ASSETS, WEB_ROOT
from dreamloom.server.testing import InProcessServer


@pytest.mark.parametrize(
    "path",
    [
        "/static/%00",
        "/static/a%00b.js",
        "/static/README.md",
        "/static/tests/helpers.mjs",
        "/static/tests/protocol.test.mjs",
        "/static/tests/pycases.py",
        "/static/../README.md",
        "/static/%2E%2E/web/README.md",
        "/static/app/../README.md",
        "/static/app/",
        "/static/app",
        "/static/nothing.js",
    ],
)
async def test_W22_anything_but_an_asset_is_404(server: InProcessServer, path: str) -> None:
    async with aiohttp.ClientSession() as http, http.get(URL(server.url + path, encoded=True)) as resp:
        assert resp.status == 404, path


async def test_W22_the_app_assets_are_served_with_safe_headers(server: InProcessServer) -> None:
    assert {"app/main.js", "protocol/index.js", "landing.js", "style.css", "favicon.svg", "sw.js"} <= set(ASSETS)
    assert not any(name.startswith("tests/") or name.endswith(".md") for name in ASSETS)
    async with aiohttp.ClientSession() as http:
        for name in sorted(ASSETS):
            async with http.get(f"{server.url}/static/{name}") as resp:
                assert resp.status == 200, name
                assert resp.headers["X-Content-Type-Options"] == "nosniff"
                assert resp.headers["Referrer-Policy"] == "same-origin"
                assert await resp.read() == (WEB_ROOT / name).read_bytes()
        for page in ("/", "/s/garden"):
            async with http.get(server.url + page) as resp:
                policy = resp.headers["Content-Security-Policy"]
                assert "script-src 'self'" in policy
                assert "frame-ancestors 'none'" in policy
        async with http.get(f"{server.url}/static/favicon.svg") as resp:
            assert "sandbox" in resp.headers["Content-Security-Policy"]
        await http.post(f"{server.url}/api/sanctuaries", json={"id": "garden"})
        async with http.get(f"{server.url}/api/sanctuaries/garden/tapestry.svg") as resp:
            assert resp.status == 200
            assert resp.headers["Content-Security-Policy"].startswith("default-src 'none'")
            assert resp.headers["X-Content-Type-Options"] == "nosniff"
