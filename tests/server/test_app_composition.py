"""The composition root: every route is served whatever optional part is missing, and the server
never loads the weaver SDK."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import aiohttp
import pytest
from server_kit import StartServer

from dreamloom.server.app import build_app
from dreamloom.server.config import ServerConfig


def _paths(tmp_path: Path) -> set[str]:
    app = build_app(ServerConfig(data_dir=tmp_path))
    return {r.resource.canonical for r in app.router.routes() if r.resource is not None}


async def test_a_missing_png_renderer_loses_no_route_and_answers_503(
    start_server: StartServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    whole = _paths(tmp_path / "a")
    monkeypatch.setitem(sys.modules, "resvg_py", None)  # importing it now raises ImportError
    assert _paths(tmp_path / "b") == whole
    assert {"/healthz", "/metrics", "/api/sanctuaries/{sanctuary}/tapestry.png"} <= whole
    server = await start_server()
    async with aiohttp.ClientSession() as http:
        await http.post(f"{server.url}/api/sanctuaries", json={"id": "garden"})
        async with http.get(f"{server.url}/api/sanctuaries/garden/tapestry.png") as resp:
            assert resp.status == 503
            body = await resp.json()
            assert body["error"]["code"] == "render_unavailable"
            assert "resvg_py" in body["error"]["message"]
        async with http.get(f"{server.url}/api/sanctuaries/garden/tapestry.svg") as resp:
            assert resp.status == 200


def test_the_server_never_imports_the_weaver_sdk() -> None:
    probe = (
        "import sys, dreamloom.server.app; print(sorted(m for m in sys.modules if m.startswith('dreamloom.client')))"
    )
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True, timeout=60)
    assert out.stdout.strip() == "[]"
