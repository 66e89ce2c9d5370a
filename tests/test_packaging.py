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


def test_every_file_of_the_browser_app_and_the_vectors_is_shipped_as_package_data() -> None:
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    data: dict[str, list[str]] = config["package-data"]
    # Data folders are listed as packages: setuptools warns about each one otherwise.
    shipped = {"client/web": "dreamloom.client.web", "protocol/vectors": "dreamloom.protocol.vectors"}
    missing = []
    for folder, package in shipped.items():
        for path in (ROOT / folder).rglob("*"):
            rel = path.relative_to(ROOT / folder)
            if path.is_dir() or rel.parts[0] == "tests" or path.suffix == ".py":
                continue
            owner = ".".join([package, *rel.parts[:-1]])
            if owner not in config["packages"] or not any(path.match(g) for g in data.get(owner, [])):
                missing.append(str(path.relative_to(ROOT)))
    assert missing == []
    assert config["include-package-data"] is False


def test_a_testing_extra_brings_what_a_weavers_tests_need() -> None:
    extras = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["optional-dependencies"]
    names = {req.split(">")[0].split("=")[0].strip() for req in extras["testing"]}
    assert {"pytest", "pytest-asyncio"} <= names
