"""The built-in weavers: procedural, nothing downloaded at run time.

Run one with ``dreamloom weave kaleidoscope --url ws://127.0.0.1:8765 --sanctuary dreams``;
``dreamloom weave --list`` lists them. None ever changes or deletes a person's fragment:
the kaleidoscope and the interpreter add responses linked by ``inspired_by``, only as many
as the AI share cap and the AI rate leave room for; the harmonizer only recolours AI
fragments. Each holds back while the sanctuary is refusing its ops.
"""

from __future__ import annotations

import importlib
import importlib.util
import os
import sys
from pathlib import Path
from types import ModuleType
from typing import Final

from ..weaver import Weaver

#: Built-in name -> ``module:Class`` (imported only when asked for).
BUILTINS: Final = {
    "kaleidoscope": "dreamloom.client.weavers.kaleidoscope:Kaleidoscope",
    "interpreter": "dreamloom.client.weavers.interpreter:Interpreter",
    "harmonizer": "dreamloom.client.weavers.harmonizer:Harmonizer",
}


def load(spec: str) -> type[Weaver]:
    """The weaver class named by a built-in name, a ``module:Class`` path (the module is
    looked for in the current folder first, then on ``sys.path``) or a ``file.py:Class`` path.

    >>> load("kaleidoscope").__name__
    'Kaleidoscope'
    """
    target = BUILTINS.get(spec, spec)
    module_name, sep, class_name = target.rpartition(":")
    if not sep or not module_name or not class_name:
        raise ValueError(f"expected a built-in ({', '.join(BUILTINS)}), MODULE:CLASS or FILE.py:CLASS, got {spec!r}")
    module = _import_file(module_name) if module_name.endswith(".py") else _import_module(module_name)
    cls = getattr(module, class_name, None)
    if not isinstance(cls, type) or not issubclass(cls, Weaver):
        found = sorted(
            n for n, v in vars(module).items() if isinstance(v, type) and issubclass(v, Weaver) and v is not Weaver
        )
        hint = f" (Weaver classes there: {', '.join(found)})" if found else ""
        raise ValueError(f"{class_name!r} in {module.__name__} is not a Weaver subclass{hint}")
    return cls


def _import_module(name: str) -> ModuleType:
    # A weaver module is usually a file next to where the command runs, as with `python -m`:
    # the console script does not put the current folder on the path, so do it here.
    cwd = os.getcwd()
    if cwd not in sys.path and "" not in sys.path:
        sys.path.insert(0, cwd)
    try:
        return importlib.import_module(name)
    except ModuleNotFoundError as exc:
        if exc.name is None or not (name == exc.name or name.startswith(f"{exc.name}.")):
            raise  # the module was found; something it imports is missing
        looked = [p or cwd for p in sys.path[:4]]
        raise ImportError(
            f"no module named {name!r}: looked in {', '.join(looked)}{', ...' if len(sys.path) > 4 else ''}. "
            f"Run the command from the folder holding {name.split('.')[0]}.py, "
            f"or name the file: dreamloom weave path/to/{name.split('.')[-1]}.py:CLASS"
        ) from None


def _import_file(path: str) -> ModuleType:
    file = Path(path).expanduser().resolve()
    if not file.is_file():
        raise ImportError(f"no file {path!r} (looked for {file})")
    spec = importlib.util.spec_from_file_location(file.stem, file)
    if spec is None or spec.loader is None:
        raise ImportError(f"cannot import {file}")
    module = importlib.util.module_from_spec(spec)
    sys.modules[file.stem] = module
    # Its neighbours (helpers of the weaver) are importable, as for a script.
    sys.path.insert(0, str(file.parent))
    spec.loader.exec_module(module)
    return module
