"""A regular `pip install .` ships every package: each folder with an __init__.py is listed."""

import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
LAYOUT = {"protocol": "dreamloom.protocol", "server": "dreamloom.server", "client": "dreamloom.client"}


def test_every_subpackage_is_listed_for_regular_installs() -> None:
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    listed = set(config["packages"])
    found = {"dreamloom"}
    for folder, name in LAYOUT.items():
        for init in (ROOT / folder).rglob("__init__.py"):
            rel = init.parent.relative_to(ROOT / folder)
            if "web" in rel.parts:
                continue
            found.add(".".join([name, *rel.parts]))
    assert found <= listed, f"missing from [tool.setuptools] packages: {sorted(found - listed)}"
    assert config["package-dir"]["dreamloom.protocol"] == "protocol"
