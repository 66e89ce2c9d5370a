"""``dreamloom serve``: every option documented, the environment honoured, SIGTERM shuts down cleanly."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
from dataclasses import fields
from pathlib import Path

from test_crash_recovery import wait_listening
from wire import WireClient, scaled

from dreamloom.protocol import CloseCode
from dreamloom.server.cli import HELP, config_from
from dreamloom.server.config import ServerConfig
from dreamloom.server.testing import free_port


def test_help_documents_each_option() -> None:
    out = subprocess.run(
        [sys.executable, "-m", "dreamloom", "serve", "--help"], capture_output=True, text=True, timeout=60, check=True
    ).stdout
    flat = " ".join(out.split())
    for name, text in HELP.items():
        flag = "--allow-origin" if name == "allow_origins" else "--" + name.replace("_", "-")
        assert flag in out, flag
        assert " ".join(text.split())[:40] in flat, name
        assert f"DREAMLOOM_{name.upper()}" in out, name
    assert "--log-level" in out


def test_flags_win_over_the_environment() -> None:
    env = {
        "DREAMLOOM_PORT": "9100",
        "DREAMLOOM_HEARTBEAT": "2.5",
        "DREAMLOOM_ALLOW_ORIGINS": "https://a.example, https://b.example",
    }
    config, _ = config_from([], env)
    assert (config.port, config.heartbeat) == (9100, 2.5)
    assert config.allow_origins == ("https://a.example", "https://b.example")
    config, _ = config_from(["--port", "9200", "--allow-origin", "https://c.example"], env)
    assert (config.port, config.heartbeat, config.allow_origins) == (9200, 2.5, ("https://c.example",))
    assert config_from([], {})[0] == ServerConfig()
    assert {f.name for f in fields(ServerConfig)} >= set(HELP)


def spawn(env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    with log.open("wb") as out:
        return subprocess.Popen(
            [sys.executable, "-m", "dreamloom", "serve"], stdout=out, stderr=subprocess.STDOUT, env=env
        )


async def test_env_port_is_honoured_and_sigterm_closes_clients_with_1001(tmp_path: Path) -> None:
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("DREAMLOOM_")}
    env |= {"DREAMLOOM_PORT": str(port), "DREAMLOOM_DATA_DIR": str(tmp_path / "data")}
    log = tmp_path / "server.log"
    proc = spawn(env, log)
    try:
        await wait_listening(proc, port, log)
        client = await WireClient.join(f"ws://127.0.0.1:{port}/ws/garden")
        await client.wait_acked(await client.send_ops(client.symbol("moon")))
        proc.send_signal(signal.SIGTERM)
        assert await client.wait_closed(within=10) == CloseCode.GOING_AWAY
        assert proc.wait(timeout=scaled(15)) == 0
        await client.close()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert (tmp_path / "data" / "dreamloom.db").exists()
    assert f"127.0.0.1:{port}" in log.read_text()


async def test_W16_the_served_process_refuses_the_socket_over_the_per_client_cap(tmp_path: Path) -> None:
    # The command's own loop (uvloop when installed), not the test's: the refusal must work on both.
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("DREAMLOOM_")}
    env |= {"DREAMLOOM_PORT": str(port), "DREAMLOOM_DATA_DIR": str(tmp_path / "data")}
    env |= {"DREAMLOOM_MAX_CONNECTIONS_PER_CLIENT": "2"}
    log = tmp_path / "server.log"
    proc = spawn(env, log)
    try:
        await wait_listening(proc, port, log)
        held = [await asyncio.open_connection("127.0.0.1", port, local_addr=("127.0.0.5", 0)) for _ in range(2)]
        reader, writer = await asyncio.open_connection("127.0.0.1", port, local_addr=("127.0.0.5", 0))
        answer = await asyncio.wait_for(reader.read(), scaled(10))
        assert answer.startswith(b"HTTP/1.1 429 ")
        assert b'"code":"too_many_connections"' in answer
        for _, w in [*held, (reader, writer)]:
            w.close()
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=scaled(15))
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    assert "Traceback" not in log.read_text()


def test_B6_cluster_flags_and_their_environment_variables() -> None:
    flags = ["--store", "postgresql://dl@db:5432/dl", "--bus", "redis://cache:6379/0", "--node-id", "n7"]
    config, _ = config_from([*flags, "--lease-ttl", "2.5"], {})
    assert (config.store, config.bus, config.node_id, config.lease_ttl) == (
        "postgresql://dl@db:5432/dl",
        "redis://cache:6379/0",
        "n7",
        2.5,
    )
    env = {"DREAMLOOM_STORE": "postgresql://a@b/c", "DREAMLOOM_BUS": "redis://d:6379/1"}
    config, _ = config_from([], env)
    assert (config.store_url, config.bus) == ("postgresql://a@b/c", "redis://d:6379/1")
    assert ServerConfig().bus == ""  # without a bus: one node, as before
