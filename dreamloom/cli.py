"""The ``dreamloom`` command line."""

from __future__ import annotations

import sys


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``dreamloom`` console script."""
    print("dreamloom: the server arrives with `dreamloom serve`", file=sys.stderr)
    return 2
