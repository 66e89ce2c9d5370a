"""``dreamloom weave``: run a weaver (a built-in or your own class) against a sanctuary.

dreamloom weave kaleidoscope --url ws://127.0.0.1:8765 --sanctuary dreams -o folds=8
dreamloom weave mybots.echo:Echo --url https://loom.example --sanctuary night --token "$TOKEN"
dreamloom weave kaleidoscope --url ws://127.0.0.1:8765 --sanctuary dreams --identity-file ./kaleidoscope.json
dreamloom weave --list
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
from typing import Any

from dreamloom.protocol import UsageError

from .errors import Closed
from .identity import default_identity_file
from .weavers import BUILTINS, load


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="dreamloom weave",
        description="Run a weaver (AI bot) against a sanctuary until Ctrl-C.",
    )
    p.add_argument("weaver", nargs="?", help="a built-in name (see --list) or MODULE:CLASS")
    p.add_argument("--list", action="store_true", help="list the built-in weavers and exit")
    p.add_argument("--url", help="server URL: http(s)://HOST:PORT or ws(s)://HOST:PORT")
    p.add_argument("--sanctuary", help="sanctuary name (optional if --url ends in /ws/NAME)")
    p.add_argument("--token", help="access token (default: $DREAMLOOM_TOKEN; a guest without)")
    p.add_argument("--name", help="display name shown to people")
    p.add_argument(
        "--identity-file",
        metavar="PATH",
        help="where a weaver without --token keeps the guest token the server issues it, so a "
        "restart is the same weaver (default: $DREAMLOOM_IDENTITY_FILE, else "
        "$XDG_STATE_HOME/dreamloom/weavers/NAME.json, i.e. ~/.local/state/dreamloom/weavers/NAME.json)",
    )
    p.add_argument(
        "--no-identity-file", action="store_true", help="keep the guest token in memory only (a new guest each run)"
    )
    p.add_argument(
        "--give-up-after",
        type=int,
        default=6,
        metavar="N",
        help="exit, saying why, after N failed attempts to connect in a row (default 6; 0: never)",
    )
    p.add_argument("--codec", choices=("msgpack", "json"), default="msgpack", help="wire encoding")
    p.add_argument(
        "-o",
        "--option",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="a constructor argument of the weaver (JSON value, or a,b for a pair), e.g. -o folds=8",
    )
    p.add_argument("--log-level", default="INFO", help="logging level (DEBUG, INFO, WARNING...)")
    return p


def parse_option(text: str) -> tuple[str, Any]:
    """``KEY=VALUE`` with VALUE read as JSON, else as a comma-separated list of numbers, else text.

    >>> parse_option("folds=8"), parse_option("centre=400,300"), parse_option("name=moon")
    (('folds', 8), ('centre', (400.0, 300.0)), ('name', 'moon'))
    """
    key, sep, raw = text.partition("=")
    if not sep or not key.isidentifier():
        raise UsageError(f"option {text!r} is not KEY=VALUE")
    try:
        return key, json.loads(raw)
    except ValueError:
        pass
    if "," in raw:
        try:
            return key, tuple(float(v) for v in raw.split(","))
        except ValueError:
            pass
    return key, raw


def _list() -> int:
    for name in BUILTINS:
        cls = load(name)
        print(f"{name:<14} {cls.description}")
    return 0


def main(argv: list[str]) -> int:
    """Entry point of ``dreamloom weave``; returns the process exit status.

    Example: ``main(["--list"])``.
    """
    args = _parser().parse_args(argv)
    if args.list:
        return _list()
    if not args.weaver or not args.url:
        print("dreamloom weave: need a weaver and --url (or --list)", file=sys.stderr)
        return 2
    logging.basicConfig(level=args.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        cls = load(args.weaver)
        options = dict(parse_option(o) for o in args.option)
        if args.name:
            options["name"] = args.name
        if not args.no_identity_file:
            name = args.name or cls.name or cls.__name__
            options["identity_file"] = args.identity_file or default_identity_file(name)
        options["codec"] = f"dreamloom.v1.{args.codec}"
        options["give_up_after"] = args.give_up_after or None
        weaver = cls(**options)
        token = args.token or os.environ.get("DREAMLOOM_TOKEN") or None
        weaver.run(args.url, args.sanctuary, token=token)
    except (UsageError, ValueError, TypeError, ImportError) as exc:
        print(f"dreamloom weave: {exc}", file=sys.stderr)
        return 2
    except Closed as exc:
        print(f"dreamloom weave: {exc}", file=sys.stderr)
        return 1
    return 0
