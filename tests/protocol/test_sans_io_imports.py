"""protocol/ is sans-I/O (DESIGN, STYLE practice 1): walk the imports of every module in it."""

from __future__ import annotations

import ast
import sys
from pathlib import Path

import pytest

PROTOCOL = Path(__file__).resolve().parents[2] / "protocol"
FORBIDDEN = ("asyncio", "socket", "sqlite3", "aiohttp", "websockets", "redis", "asyncpg")
FORBIDDEN_PACKAGES = ("dreamloom.server", "dreamloom.client")
MODULES = sorted(PROTOCOL.rglob("*.py"))


def imported_names(path: Path) -> set[str]:
    """Every absolute module name a file imports (relative imports stay inside protocol/)."""
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module)
            names.update(f"{node.module}.{alias.name}" for alias in node.names)
    return names


def offending(names: set[str]) -> list[str]:
    bad = []
    for name in sorted(names):
        root = name.split(".")[0]
        if root in FORBIDDEN or any(name == p or name.startswith(p + ".") for p in FORBIDDEN_PACKAGES):
            bad.append(name)
    return bad


@pytest.mark.parametrize("path", MODULES, ids=[str(p.relative_to(PROTOCOL)) for p in MODULES])
def test_protocol_module_imports_no_io(path: Path) -> None:
    assert offending(imported_names(path)) == []


def test_the_walker_catches_forbidden_imports(tmp_path: Path) -> None:
    sample = tmp_path / "bad.py"
    sample.write_text(
        "import asyncio\nfrom socket import socket\nimport os.path\nfrom dreamloom.server.app import x\n"
        "from dreamloom import client\nfrom . import ops\n"
    )
    assert offending(imported_names(sample)) == [
        "asyncio",
        "dreamloom.client",
        "dreamloom.server.app",
        "dreamloom.server.app.x",
        "socket",
        "socket.socket",
    ]


def test_importing_the_protocol_loads_no_io_module() -> None:
    """At run time too: a fresh interpreter importing dreamloom.protocol pulls in none of them."""
    import subprocess

    code = (
        "import sys, dreamloom.protocol\n"
        f"bad = [m for m in sys.modules if m.split('.')[0] in {FORBIDDEN!r} "
        f"or m.startswith({FORBIDDEN_PACKAGES!r})]\n"
        "print(','.join(sorted(bad)))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60)
    assert out.stdout.strip() == ""
