"""Starting a real ``dreamloom serve`` for a benchmark: one command line, the benchmark's own flags."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import IO, Any

ROOT = Path(__file__).resolve().parent.parent


def dreamloom_command(port: int, data_dir: Path, **flags: Any) -> list[str]:
    """``dreamloom serve`` on 127.0.0.1:``port`` with ``data_dir``; ``ops_rate=100`` becomes ``--ops-rate 100``.

    Benchmarks log warnings only, so the server's own output never weighs on the figures.
    """
    cmd = [sys.executable, "-m", "dreamloom", "serve", "--host", "127.0.0.1", "--port", str(port)]
    cmd += ["--data-dir", str(data_dir)]
    for name, value in {**flags, "log_level": "WARNING"}.items():
        cmd += ["--" + name.replace("_", "-"), str(value)]
    return cmd


def spawn(cmd: list[str], log: IO[bytes] | Any) -> subprocess.Popen[bytes]:
    """Run a server command from the project's folder, its output into ``log``."""
    return subprocess.Popen(cmd, stdout=log, stderr=log, cwd=ROOT)
