"""The shared vectors under protocol/vectors (SPEC M1-M9): every order ends in ``expected``,
with the same digest and live counts; and the committed files are what the generator writes.
The undo vectors (M10) in protocol/vectors/undo are run by test_undo_history.py, the z-key
vectors (M7) in protocol/vectors/zorder by test_merge_zorder_undo.py."""

from __future__ import annotations

import hashlib
import importlib.util
import json
from pathlib import Path
from types import ModuleType
from typing import Any

import msgpack
import pytest

from dreamloom.protocol import DEFAULT_LIMITS, Tapestry
from dreamloom.protocol.validate import check_op

VECTORS = Path(__file__).resolve().parents[2] / "protocol" / "vectors"
FILES = sorted(VECTORS.glob("*.json"))
SHAPE = {"name", "rule", "description", "initial", "orders", "expected", "digest", "live_counts"}
REQUIRED_RULES = {"M3", "M4", "M5", "M6", "M7", "M9"}


def _load(path: Path) -> dict[str, Any]:
    vec: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    return vec


def _generator() -> ModuleType:
    spec = importlib.util.spec_from_file_location("vector_generator", VECTORS / "generate.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_vectors_exist_and_cover_every_merge_rule() -> None:
    rules = {_load(p)["rule"] for p in FILES}
    assert len(FILES) >= 15
    assert rules >= REQUIRED_RULES


@pytest.mark.parametrize("path", FILES, ids=[p.stem for p in FILES])
def test_vector(path: Path) -> None:
    vec = _load(path)
    assert set(vec) == SHAPE, "the vector format is shared with the browser port: keep exactly this shape"
    assert vec["name"] == path.stem
    assert vec["orders"], "a vector needs at least one order"
    # The digest is the SHA-256 of the canonical bytes of ``expected``.
    assert hashlib.sha256(msgpack.packb(vec["expected"], use_bin_type=True)).hexdigest() == vec["digest"]
    for i, order in enumerate(vec["orders"]):
        t = Tapestry.from_data(vec["initial"])
        for wire in order:
            t.apply(check_op(wire, DEFAULT_LIMITS))
        assert t.to_data() == vec["expected"], f"order {i}"
        assert t.digest() == vec["digest"], f"order {i}"
        assert t.live_counts == {"organic": 0, "ai": 0, **vec["live_counts"]}, f"order {i}"


def test_vector_files_match_the_generator() -> None:
    rendered = _generator().rendered()
    # The merge, undo (undo/), binding (bindings/), z-key (zorder/) and compact-form (compact/)
    # vectors; the connection vectors have their own source.
    files = [
        *VECTORS.glob("*.json"),
        *(VECTORS / "undo").glob("*.json"),
        *(VECTORS / "bindings").glob("*.json"),
        *(VECTORS / "zorder").glob("*.json"),
        *(VECTORS / "compact").glob("*.json"),
    ]
    on_disk = {p.relative_to(VECTORS).as_posix(): p.read_text(encoding="utf-8") for p in files}
    assert on_disk == rendered, "run: python protocol/vectors/generate.py"


def test_generator_check_mode_reports_stale_files(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    gen = _generator()
    assert gen.main(["--check"]) == 0
    monkeypatch.setattr(gen, "HERE", tmp_path)
    assert gen.main(["--check"]) == 1
    assert gen.main([]) == 0
    assert gen.main(["--check"]) == 0
