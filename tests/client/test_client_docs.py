"""The code of docs/weavers.md runs: the tutorial weaver (through the CLI with a weaver
token, stopped with Ctrl-C), the AI example against a configured HTTP endpoint, and the
testing example. Every example weaver runs with a weaver token, as the guide says."""

from __future__ import annotations

import asyncio
import os
import re
import signal
import sys
import types
from pathlib import Path
from typing import Any

from aiohttp import web
from aiohttp.test_utils import TestServer
from client_kit import WAIT

from dreamloom.client import Fragment
from dreamloom.client.testing import dreamer, fast_backoff, issue_token, serve_in_process, set_policy

DOC = Path(__file__).resolve().parents[2] / "docs" / "weavers.md"


def snippet(name: str) -> str:
    """The fenced code block that follows ``<!-- tutorial: NAME -->`` or ``<!-- example: NAME -->``."""
    found = re.search(rf"<!-- (?:tutorial|example): {re.escape(name)} -->\s*```python\n(.*?)```", DOC.read_text(), re.S)
    assert found is not None, f"{name} is missing from {DOC.name}"
    return found.group(1)


def answers(tapestry: Any, source_id: str) -> list[Fragment]:
    return [f for f in tapestry if source_id in f.inspired_by]


def test_the_tutorial_weaver_is_about_twenty_lines() -> None:
    code = [line for line in snippet("moonwatcher.py").splitlines() if line.strip()]
    assert len(code) <= 25


async def test_the_tutorial_weaver_runs_with_dreamloom_weave_and_stops_on_ctrl_c(tmp_path: Path) -> None:
    (tmp_path / "moonwatcher.py").write_text(snippet("moonwatcher.py"))
    async with serve_in_process(data_dir=tmp_path / "data") as server:
        token = issue_token(server, "tutorial", name="moonwatcher")
        proc = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "dreamloom",
            "weave",
            "moonwatcher:MoonWatcher",
            "--url",
            server.url,
            "--sanctuary",
            "tutorial",
            "--token",
            token,
            cwd=tmp_path,
            env={**os.environ, "XDG_STATE_HOME": str(tmp_path / "state")},
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
        )
        try:
            async with dreamer(server.url, "tutorial", name="ada") as ada:
                await ada.wait_until(lambda: any(p.name == "moonwatcher" for p in ada.peers.values()), 3 * WAIT)
                plain = ada.add_text("breakfast on the terrace", 0, 200)
                caption = ada.add_text("a dream of the sea", 100, 100)
                await ada.wait_until(lambda: bool(answers(ada.tapestry, caption.id)), WAIT)
                (moon,) = answers(ada.tapestry, caption.id)
                assert moon.kind == "symbol"
                assert moon.geom["sym"] == "moon"
                assert ada.identity is not None
                assert moon.author != ada.identity.id
                assert moon.origin == "ai"
                assert answers(ada.tapestry, plain.id) == []
                weaver = next(p for p in ada.peers.values() if p.name == "moonwatcher")
                await ada.wait_until(lambda: ada.peers[weaver.sid].cursor == (100, 100), WAIT)
            proc.send_signal(signal.SIGINT)
            code = await asyncio.wait_for(proc.wait(), WAIT)
            output = (await proc.stdout.read()).decode() if proc.stdout else ""
            assert code == 0, output
            assert "Traceback" not in output
            assert "without a weaver token" not in output
        finally:
            if proc.returncode is None:
                proc.kill()
                await proc.wait()


async def test_the_ai_example_places_what_the_model_answers(tmp_path: Path) -> None:
    asked: list[Any] = []

    async def model(request: web.Request) -> web.Response:
        asked.append(await request.json())
        return web.json_response({"symbols": ["wave", "moon"], "reply": "the sea keeps your secret"})

    app = web.Application()
    app.router.add_post("/oracle", model)
    endpoint = TestServer(app, host="127.0.0.1")
    await endpoint.start_server()
    module = types.ModuleType("oracle_example")
    exec(compile(snippet("oracle.py"), "oracle.py", "exec"), module.__dict__)
    try:
        async with serve_in_process(data_dir=tmp_path) as server:
            oracle = module.Oracle(endpoint=str(endpoint.make_url("/oracle")), **fast_backoff())
            token = issue_token(server, "oracle", name="oracle")
            await set_policy(server, "oracle", ai_share_cap=0.8)  # three answers to one caption
            async with oracle.connect(server.url, "oracle", token=token), dreamer(server.url, "oracle") as ada:
                caption = ada.add_text("I was sailing at night", 0, 0)
                await ada.wait_until(lambda: len(answers(ada.tapestry, caption.id)) == 3, WAIT)
                placed = answers(ada.tapestry, caption.id)
                assert sorted(f.geom.get("sym", f.geom.get("text")) for f in placed) == [
                    "moon",
                    "the sea keeps your secret",
                    "wave",
                ]
                assert asked == [{"caption": "I was sailing at night"}]
    finally:
        await endpoint.close()


async def test_the_testing_example_passes(tmp_path: Path) -> None:
    (tmp_path / "moonwatcher.py").write_text(snippet("moonwatcher.py"))
    (tmp_path / "test_moonwatcher.py").write_text(snippet("test_moonwatcher.py"))
    (tmp_path / "pytest.ini").write_text("[pytest]\n")
    env = {**os.environ, "PYTHONPATH": str(tmp_path)}
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "pytest",
        "-q",
        "-p",
        "no:cacheprovider",
        "test_moonwatcher.py",
        cwd=tmp_path,
        env=env,
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    out, _ = await asyncio.wait_for(proc.communicate(), 6 * WAIT)
    assert proc.returncode == 0, out.decode()
    assert "1 passed" in out.decode()


def test_the_readme_says_how_to_reach_the_dreamloom_command_before_using_it() -> None:
    readme = (DOC.parents[1] / "README.md").read_text()
    commands = [m.start() for m in re.finditer(r"^dreamloom |\$\(dreamloom ", readme, re.M)]
    assert commands
    assert readme.index("source .venv/bin/activate") < min(commands)
