"""Server configuration: one frozen object built from flags and ``DREAMLOOM_*`` variables."""

from __future__ import annotations

import os
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any

from dreamloom.protocol import DEFAULT_LIMITS, Limits


@dataclass(frozen=True)
class ServerConfig:
    """Everything a server needs to know. Defaults are the documented ones."""

    host: str = "127.0.0.1"
    port: int = 8765
    data_dir: Path = Path("dreamloom-data")
    store: str = ""  # empty: sqlite:///<data_dir>/dreamloom.db
    bus: str = ""  # empty: one node; redis://HOST:PORT/N joins the cluster that shares it and the store
    node_id: str = ""  # this node's name in the cluster; empty: a random one
    lease_ttl: float = 3.0  # seconds a sanctuary's owner lease lasts unrenewed: the failover time
    durability: str = "strict"  # strict (fsync each group commit) | relaxed
    allow_origins: tuple[str, ...] = ()  # extra origins allowed to open sockets
    public_url: str = ""  # how users reach us (for printed links); default http://host:port
    token_secret: str = ""  # signs access tokens; empty: generated into <data_dir>/token-secret
    max_connections_per_sanctuary: int = 100
    max_fragments_per_sanctuary: int = 100_000
    snapshot_every: int = 1000  # ops between snapshots
    resume_window: int = 1000  # a client further behind than this gets a snapshot
    max_stamp_ahead: int = 1_000_000
    heartbeat: float = 10.0  # seconds of silence before the server pings a peer
    heartbeat_timeout: float = 30.0  # seconds of silence before a peer is dropped with 4011 (W12)
    handshake_timeout: float = 10.0
    idle_unload: float = 60.0  # seconds an empty sanctuary stays in memory
    send_buffer_bytes: int = 1024 * 1024  # per connection, then closed as a slow consumer
    welcome_first_part_bytes: int = 256 * 1024  # a welcome in parts (W36): items in its first part
    welcome_part_bytes: int = 1024 * 1024  # ... and in each later part
    max_batch_ops: int = 2000
    batch_window: float = 0.0  # extra seconds the actor waits after an op for more; batches form without it
    commit_interval: float = 0.05  # seconds from one group commit's start to the next one's, at least
    fanout_pacing: float = 8.0  # a broadcast that cost C s is followed by the next no sooner than this * C (F6)
    fanout_max_wait: float = 0.003  # ... nor later than this many seconds after it (F6)
    presence_interval: float = 0.05  # presence fan-out tick
    ops_rate: float = 200.0  # ops per second per connection (token bucket)
    ops_burst: float = 400.0
    presence_rate: float = 60.0  # presence messages per second per connection before dropping
    error_limit: int = 10  # invalid messages within error_window before closing 4000
    error_window: float = 60.0
    flood_close_after: float = 5.0  # seconds of continuous rate limiting before closing 4009
    # -- budgets and bounds under abuse (SPEC W16-W22, docs/operations.md) --
    ops_bytes_rate: int = 256 * 1024  # bytes of ops messages per second per connection
    ops_bytes_burst: int = 1024 * 1024
    identity_ops_rate: float = 0.0  # ops per second per identity over all its connections; 0: twice ops_rate
    identity_bytes_rate: int = 0  # bytes of ops per second per identity; 0: twice ops_bytes_rate
    presence_bytes_rate: int = 64 * 1024  # presence bytes per second per connection before dropping
    presence_bytes_burst: int = 256 * 1024
    client_bytes_rate: int = 1024 * 1024  # WebSocket bytes one client address may send per second; reading pauses
    client_bytes_burst: int = 4 * 1024 * 1024
    live_bytes_per_sanctuary: int = 16 * 1024 * 1024  # geometry (16 B a point) and text bytes one tapestry holds
    max_connections: int = 4096  # sockets in total, kept below the descriptor limit
    max_connections_per_client: int = 256  # sockets from one client address
    header_timeout: float = 10.0  # seconds to send a whole request head; also the idle keep-alive time
    max_sanctuaries: int = 10_000  # sanctuaries the server holds in total
    sanctuaries_per_hour: int = 30  # sanctuaries one client address (and one identity) may create per hour
    render_workers: int = 2  # worker processes for tapestry renders and ?at= reads
    render_queue: int = 8  # render requests waiting for a worker before 429
    render_timeout: float = 10.0  # seconds of wall time one render may take before its worker is killed
    render_max_points: int = 2_000_000  # stroke points a tapestry may hold to be rendered or read at a seq
    render_max_pixels: int = 16 * 1024 * 1024  # pixels of one PNG
    render_cache_bytes: int = 32 * 1024 * 1024  # rendered answers kept, by (sanctuary, seq, format, size)
    limits: Limits = field(default_factory=lambda: DEFAULT_LIMITS)

    @property
    def store_url(self) -> str:
        return self.store or f"sqlite:///{self.data_dir / 'dreamloom.db'}"

    @property
    def base_url(self) -> str:
        return self.public_url or f"http://{self.host}:{self.port}"

    def with_(self, **changes: Any) -> ServerConfig:
        return replace(self, **changes)


ENV_PREFIX = "DREAMLOOM_"


def env_overrides(environ: dict[str, str] | None = None) -> dict[str, Any]:
    """Config values from ``DREAMLOOM_<FIELD>`` environment variables, typed like the fields."""
    env = dict(os.environ if environ is None else environ)
    out: dict[str, Any] = {}
    defaults = ServerConfig()
    for f in fields(ServerConfig):
        if f.name == "limits":
            continue
        raw = env.get(ENV_PREFIX + f.name.upper())
        if raw is None:
            continue
        current = getattr(defaults, f.name)
        if isinstance(current, bool):
            out[f.name] = raw.lower() in ("1", "true", "yes", "on")
        elif isinstance(current, int):
            out[f.name] = int(raw)
        elif isinstance(current, float):
            out[f.name] = float(raw)
        elif isinstance(current, Path):
            out[f.name] = Path(raw)
        elif isinstance(current, tuple):
            out[f.name] = tuple(s.strip() for s in raw.split(",") if s.strip())
        else:
            out[f.name] = raw
    return out
