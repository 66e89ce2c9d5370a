"""The first hour with the command line, run as a new bot author would: the installed
``dreamloom`` command, as a subprocess, from a temporary working directory."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from pathlib import Path
from typing import Any

from client_kit import WAIT

from dreamloom.client.testing import dreamer, issue_token, serve_in_process
from dreamloom.server.testing import free_port

DREAMLOOM = str(Path(sys.executable).parent / "dreamloom")

MOONWATCHER = """
from dreamloom.client import FragmentEvent, Weaver


class MoonWatcher(Weaver):
    name = "moonwatcher"

    async def on_fragment_added(self, event: FragmentEvent) -> None:
        if event.organic and event.fragment.kind == "text":
            self.add_symbol("moon", 0, 0, inspired_by=[event.fragment.id])
"""


def _env(cwd: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("DREAMLOOM_") and k != "PYTHONPATH"}
    return {**env, "XDG_STATE_HOME": str(cwd / "state"), **extra}


async def run(*args: str, cwd: Path, **env: str) -> tuple[int, str, str]:
    """Run ``dreamloom ARGS`` to its end; its exit status, stdout and stderr."""
    proc = await asyncio.create_subprocess_exec(
        DREAMLOOM,
        *args,
        cwd=cwd,
        env=_env(cwd, **env),
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(proc.communicate(), 3 * WAIT)
    assert proc.returncode is not None
    return proc.returncode, out.decode(), err.decode()


async def start(*args: str, cwd: Path, **env: str) -> asyncio.subprocess.Process:
    return await asyncio.create_subprocess_exec(
        DREAMLOOM,
        *args,
        cwd=cwd,
        env=_env(cwd, **env),
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )


async def interrupt(proc: asyncio.subprocess.Process) -> str:
    if proc.returncode is None:
        proc.send_signal(signal.SIGINT)
    out, _ = await asyncio.wait_for(proc.communicate(), WAIT)
    return out.decode()


async def _weaves(server: Any, sanctuary: str, proc: asyncio.subprocess.Process) -> None:
    """The weaver of ``proc`` joins ``sanctuary`` and answers a caption."""
    async with dreamer(server.url, sanctuary, name="ada") as ada:
        try:
            await ada.wait_until(lambda: any(p.name == "moonwatcher" for p in ada.peers.values()), 3 * WAIT)
        except TimeoutError:
            raise AssertionError(await interrupt(proc)) from None
        caption = ada.add_text("a dream of the sea", 0, 0)
        await ada.wait_until(lambda: any(caption.id in f.inspired_by for f in ada.tapestry), WAIT)


async def test_weave_imports_a_weaver_module_from_the_current_folder(tmp_path: Path) -> None:
    (tmp_path / "moonwatcher.py").write_text(MOONWATCHER)
    async with serve_in_process(data_dir=tmp_path / "data") as server:
        token = issue_token(server, "first", name="moonwatcher")
        args = ("moonwatcher:MoonWatcher", "--url", server.url, "--sanctuary", "first", "--token", token)
        proc = await start("weave", *args, cwd=tmp_path)
        await _weaves(server, "first", proc)
        output = await interrupt(proc)
        assert proc.returncode == 0, output
        # One line says the weaver is live, as whom, and how much AI it may still add.
        (line,) = [line for line in output.splitlines() if "is weaving in" in line]
        assert "moonwatcher is weaving in sanctuary 'first' as weaver 'moonwatcher'" in line
        assert "origin ai" in line
        assert "room for 0 more AI fragments (cap 50%: 0 of 0 live fragments are AI)" in line


async def test_weave_loads_a_weaver_from_a_file_path(tmp_path: Path) -> None:
    (tmp_path / "bots").mkdir()
    (tmp_path / "bots" / "moonwatcher.py").write_text(MOONWATCHER)
    async with serve_in_process(data_dir=tmp_path / "data") as server:
        token = issue_token(server, "file", name="moonwatcher")
        args = ("bots/moonwatcher.py:MoonWatcher", "--url", server.url, "--sanctuary", "file", "--token", token)
        proc = await start("weave", *args, cwd=tmp_path)
        await _weaves(server, "file", proc)
        output = await interrupt(proc)
        assert proc.returncode == 0, output


async def test_weave_says_where_it_looked_for_a_missing_module(tmp_path: Path) -> None:
    code, _, err = await run("weave", "moonwatchr:MoonWatcher", "--url", "http://127.0.0.1:1", cwd=tmp_path)
    assert code == 2
    assert "no module named 'moonwatchr'" in err
    assert str(tmp_path) in err
    assert "Traceback" not in err
    (tmp_path / "moonwatcher.py").write_text(MOONWATCHER)
    code, _, err = await run("weave", "moonwatcher:Moonwatcher", "--url", "http://127.0.0.1:1", cwd=tmp_path)
    assert code == 2
    assert "Weaver classes there: MoonWatcher" in err


async def test_token_create_never_makes_a_secret_of_its_own(tmp_path: Path) -> None:
    code, out, err = await run("token", "create", "--role", "weaver", "--sanctuary", "garden", cwd=tmp_path)
    assert code == 2
    assert out == ""
    assert f"no token-secret in {tmp_path / 'dreamloom-data'}" in err
    assert "--data-dir" in err
    assert "--server URL --token STEWARD_TOKEN" in err
    assert not (tmp_path / "dreamloom-data").exists()


async def test_token_create_signs_with_the_servers_secret_found_by_data_dir(tmp_path: Path) -> None:
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    async with serve_in_process(data_dir=tmp_path / "data") as server:
        by_option = ("--data-dir", str(tmp_path / "data"))
        code, out, err = await run(
            "token", "create", "--role", "weaver", "--sanctuary", "garden", *by_option, cwd=elsewhere
        )
        assert code == 0, err
        await _joins_as_weaver(server, out.strip())
        code, out, err = await run(
            "token",
            "create",
            "--role",
            "weaver",
            "--sanctuary",
            "garden",
            cwd=elsewhere,
            DREAMLOOM_DATA_DIR=str(tmp_path / "data"),
        )
        assert code == 0, err
        await _joins_as_weaver(server, out.strip())


async def test_token_create_asks_a_running_server_with_a_steward_token(tmp_path: Path) -> None:
    async with serve_in_process(data_dir=tmp_path / "data") as server:
        steward = issue_token(server, "garden", name="steward", role="steward")
        args = ("--role", "weaver", "--sanctuary", "garden", "--name", "moth", "--server", server.url)
        code, out, err = await run("token", "create", *args, "--token", steward, cwd=tmp_path)
        assert code == 0, err
        await _joins_as_weaver(server, out.strip())
        code, out, err = await run("token", "create", *args, "--token", "not-a-token", cwd=tmp_path)
        assert code == 1
        assert "401" in err


async def _joins_as_weaver(server: Any, token: str) -> None:
    async with dreamer(server.url, "garden", token=token) as moth:
        assert moth.identity is not None
        assert (moth.identity.role, moth.identity.origin) == ("weaver", "ai")


async def test_weave_exits_with_the_cause_when_nothing_listens(tmp_path: Path) -> None:
    (tmp_path / "moonwatcher.py").write_text(MOONWATCHER)
    url = f"http://127.0.0.1:{free_port()}"
    code, _, err = await run(
        "weave", "moonwatcher:MoonWatcher", "--url", url, "--sanctuary", "x", "--give-up-after", "2", cwd=tmp_path
    )
    assert code == 1
    assert "gave up after 2 failed attempts" in err
    assert "connection refused): is the server running, and is the port right?" in err
    assert "Traceback" not in err


async def test_weave_shows_the_servers_refusal_and_a_hint(tmp_path: Path) -> None:
    (tmp_path / "moonwatcher.py").write_text(MOONWATCHER)
    async with serve_in_process(data_dir=tmp_path / "data") as server:
        code, _, err = await run(
            "weave", "moonwatcher:MoonWatcher", "--url", f"{server.url}/nowhere/", "--sanctuary", "x", cwd=tmp_path
        )
        assert code == 1
        assert "HTTP 404" in err
        assert "is it a Dreamloom server at http://HOST:PORT?" in err
        code, _, err = await run(
            "weave", "moonwatcher:MoonWatcher", "--url", server.url, "--sanctuary", "a*b", cwd=tmp_path
        )
        assert code == 1
        assert "HTTP 400" in err
        assert "sanctuary names are 1-64 letters, digits" in err
