"""The built-in weavers: procedural, nothing downloaded at run time.

Run one with ``dreamloom weave kaleidoscope --url ws://127.0.0.1:8765 --sanctuary dreams``;
``dreamloom weave --list`` lists them. Each only adds responses linked by ``inspired_by``
(it never changes or deletes anyone else's fragment) and holds back while the sanctuary
is refusing its ops.
"""

from __future__ import annotations

import importlib
from typing import Final

from ..weaver import Weaver

#: Built-in name -> ``module:Class`` (imported only when asked for).
BUILTINS: Final = {
    "kaleidoscope": "dreamloom.client.weavers.kaleidoscope:Kaleidoscope",
    "interpreter": "dreamloom.client.weavers.interpreter:Interpreter",
    "harmonizer": "dreamloom.client.weavers.harmonizer:Harmonizer",
}


def load(spec: str) -> type[Weaver]:
    """The weaver class named by a built-in name or a ``module:Class`` path.

    >>> load("kaleidoscope").__name__
    'Kaleidoscope'
    """
    target = BUILTINS.get(spec, spec)
    module_name, sep, class_name = target.partition(":")
    if not sep or not module_name or not class_name:
        raise ValueError(f"expected a built-in ({', '.join(BUILTINS)}) or MODULE:CLASS, got {spec!r}")
    module = importlib.import_module(module_name)
    cls = getattr(module, class_name, None)
    if not isinstance(cls, type) or not issubclass(cls, Weaver):
        raise ValueError(f"{target} is not a Weaver subclass")
    return cls
