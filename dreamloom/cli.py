"""The ``dreamloom`` command line: ``serve``, ``weave`` and ``token``.

Each subcommand lives with the layer it belongs to; this module only
dispatches, so starting a weaver never imports the server.
"""

from __future__ import annotations

import importlib
import sys

SUBCOMMANDS = {
    "serve": ("dreamloom.server.cli", "Run the Dreamloom server."),
    "token": ("dreamloom.server.tokens_cli", "Create signed access tokens."),
    "weave": ("dreamloom.client.cli", "Run a weaver (AI bot) against a sanctuary."),
}


def _usage() -> str:
    lines = ["usage: dreamloom COMMAND [options]", "", "commands:"]
    lines += [f"  {name:<8} {help_}" for name, (_, help_) in SUBCOMMANDS.items()]
    lines += ["", "Run `dreamloom COMMAND --help` for the options of a command."]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``dreamloom`` console script and ``python -m dreamloom``."""
    args = sys.argv[1:] if argv is None else argv
    if not args or args[0] in ("-h", "--help"):
        print(_usage())
        return 0 if args else 2
    entry = SUBCOMMANDS.get(args[0])
    if entry is None:
        print(f"dreamloom: unknown command {args[0]!r}\n\n{_usage()}", file=sys.stderr)
        return 2
    module = importlib.import_module(entry[0])
    result: int = module.main(args[1:])
    return result
