"""``dreamloom serve``: run the server."""

from __future__ import annotations

import argparse
import asyncio
import logging
import signal
import sys
from dataclasses import fields
from pathlib import Path
from typing import Any

from aiohttp import web

from .app import build_app
from .config import ENV_PREFIX, ServerConfig, env_overrides
from .heap import freeze_startup
from .limits import GuardedSite, runner_options
from .services import SERVICES
from .stewardship import steward_link

HELP = {
    "host": "interface to listen on",
    "port": "TCP port for HTTP and WebSocket",
    "data_dir": "folder of the embedded store and server secrets",
    "store": "store URL: sqlite:///PATH (default: <data-dir>/dreamloom.db), memory://, "
    "or postgresql://USER@HOST:PORT/DB for a cluster",
    "bus": "cluster bus URL: redis://HOST:PORT/N (with a postgresql:// store; see docs/operations.md)",
    "node_id": "this node's name in the cluster (default: random)",
    "lease_ttl": "seconds a sanctuary's owner lease lasts unrenewed: how long a failover takes",
    "durability": "strict: each group commit is fsynced (survives power loss); "
    "relaxed: survives a crash of the process, may lose the last commits on power loss",
    "allow_origins": "extra browser origins allowed to open sockets (comma-separated)",
    "public_url": "URL people use to reach this server, for printed links",
    "token_secret": "secret that signs access tokens, 32+ characters (default: generated into "
    "<data-dir>/token-secret); prefer the environment variable",
    "max_connections_per_sanctuary": "connections one sanctuary accepts",
    "max_fragments_per_sanctuary": "fragments one sanctuary may hold",
    "snapshot_every": "ops between snapshots of a sanctuary",
    "resume_window": "how many ops behind a client may resume; further back gets a snapshot",
    "heartbeat": "seconds of silence before the server pings a peer",
    "heartbeat_timeout": "seconds of silence before a peer is dropped (close 4011)",
    "idle_unload": "seconds an empty sanctuary stays in memory",
    "send_buffer_bytes": "bytes queued for one connection before it is closed as a slow consumer",
    "welcome_first_part_bytes": "a welcome in parts (to clients that ask for them): bytes of fragments in "
    "its first part; a snapshot that fits is sent whole",
    "welcome_part_bytes": "bytes of fragments in each later part of a welcome in parts",
    "batch_window": "extra seconds a sanctuary waits after an op for more to share its broadcast frame "
    "(less CPU, more latency); 0: none, ops arriving while it works go out together anyway",
    "commit_interval": "seconds from the start of one group commit to the next, at least: one fsync serves "
    "the ops of that time when the room is busy (acks wait for it; broadcasts do not)",
    "fanout_pacing": "a broadcast that cost the server C seconds is followed by the next one no sooner than "
    "this times C after it (ops accepted meanwhile share it); 0: every batch goes out at once",
    "fanout_max_wait": "the most seconds fan-out pacing holds a broadcast back",
    "ops_rate": "ops per second one connection may send",
    "ops_burst": "burst of ops one connection may send at once",
    "presence_rate": "presence updates per second one connection may send before they are dropped",
    "ops_bytes_rate": "bytes of ops per second one connection may send (rejects name ops_bytes_rate)",
    "ops_bytes_burst": "burst of op bytes one connection may send at once",
    "identity_ops_rate": "ops per second one identity may send over all its connections (0: twice ops_rate)",
    "identity_bytes_rate": "bytes of ops per second one identity may send over all its connections "
    "(0: twice ops_bytes_rate)",
    "presence_bytes_rate": "presence bytes per second one connection may send; more are dropped",
    "presence_bytes_burst": "burst of presence bytes one connection may send at once",
    "client_bytes_rate": "WebSocket bytes per second one client address may send over all its sockets; "
    "past it the server pauses reading them",
    "client_bytes_burst": "burst of WebSocket bytes one client address may send at once",
    "live_bytes_per_sanctuary": "bytes of geometry (16 per point) and text one sanctuary may hold",
    "max_connections": "sockets the server holds in total (kept below the descriptor limit)",
    "max_connections_per_client": "sockets one client address may hold",
    "header_timeout": "seconds a client has to send a whole request head; also the idle keep-alive time",
    "max_sanctuaries": "sanctuaries the server holds in total",
    "sanctuaries_per_hour": "sanctuaries one client address or identity may create per hour",
    "render_workers": "worker processes for renders and ?at= reads",
    "render_queue": "render requests that may wait for a worker before 429",
    "render_timeout": "seconds one render may run before its worker is killed (503)",
    "render_max_points": "stroke points a tapestry may hold to be rendered or read at a seq (else 413)",
    "render_max_pixels": "pixels one PNG may have (else 413)",
    "render_cache_bytes": "bytes of rendered answers kept in memory",
}


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="dreamloom serve",
        description="Run the Dreamloom server: the web client, the HTTP API and /ws/{sanctuary} on one port.",
        epilog=f"Every option can also be set by an environment variable {ENV_PREFIX}<OPTION> "
        f"(e.g. {ENV_PREFIX}PORT=9000, {ENV_PREFIX}ALLOW_ORIGINS=https://a.example,https://b.example); "
        "flags win over the environment.",
    )
    defaults = ServerConfig()
    for f in fields(ServerConfig):
        if f.name not in HELP:
            continue
        flag = "--" + ("allow-origin" if f.name == "allow_origins" else f.name.replace("_", "-"))
        default = getattr(defaults, f.name)
        env = f"{ENV_PREFIX}{f.name.upper()}"
        if f.name == "allow_origins":
            p.add_argument(flag, dest=f.name, action="append", help=f"{HELP[f.name]}; repeatable [{env}]")
        elif f.name == "durability":
            p.add_argument(flag, dest=f.name, choices=("strict", "relaxed"), help=f"{HELP[f.name]} [{env}]")
        else:
            kind: Any = type(default) if not isinstance(default, Path) else Path
            p.add_argument(flag, dest=f.name, type=kind, help=f"{HELP[f.name]} (default: {default}) [{env}]")
    p.add_argument("--log-level", default="INFO", help="logging level (default: INFO)")
    return p


def config_from(argv: list[str], environ: dict[str, str] | None = None) -> tuple[ServerConfig, str]:
    """The config from the environment, then flags on top."""
    args = parser().parse_args(argv)
    values: dict[str, Any] = env_overrides(environ)
    for f in fields(ServerConfig):
        value = getattr(args, f.name, None)
        if value is None:
            continue
        if f.name == "allow_origins":
            value = tuple(o.strip() for item in value for o in item.split(",") if o.strip())
        values[f.name] = value
    return ServerConfig(**values), args.log_level


def _use_uvloop() -> bool:
    try:
        import uvloop
    except ImportError:
        return False
    asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())
    return True


def main(argv: list[str]) -> int:
    """Run until Ctrl-C or SIGTERM; then commit, close clients with 1001 and exit."""
    config, level = config_from(argv)
    logging.basicConfig(level=level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    loop_name = "uvloop" if _use_uvloop() else "asyncio"
    app = build_app(config)

    async def announce(app: web.Application) -> None:
        print(f"Dreamloom is weaving at {config.base_url}/  (store: {config.store_url}, loop: {loop_name})")
        # Like Jupyter: the local operator gets a steward link (a steward of every sanctuary).
        link = steward_link(app[SERVICES].stewardship.authority, config.base_url)
        print(f"Steward link (keep it private; valid 7 days):\n    {link}")
        sys.stdout.flush()

    app.on_startup.append(announce)
    asyncio.run(_serve(app, config))
    return 0


async def _serve(app: web.Application, config: ServerConfig) -> None:
    """Serve until SIGINT or SIGTERM, every socket passing the connection caps (W16)."""
    runner = web.AppRunner(
        app, handle_signals=False, shutdown_timeout=10.0, access_log=None, **runner_options(config.header_timeout)
    )
    await runner.setup()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    try:
        await GuardedSite(runner, config.host, config.port, app[SERVICES].caps).start()
        freeze_startup()  # what start-up made lives as long as the process: no collection walks it again
        await stop.wait()
    finally:
        await runner.cleanup()
