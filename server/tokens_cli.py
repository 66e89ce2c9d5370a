"""``dreamloom token``: create access tokens offline, revoke them through a running server.

    dreamloom token create --role weaver --sanctuary garden --name "Moth" [--ttl 7d] [--data-dir DIR]
    dreamloom token create --role weaver --sanctuary garden --server http://127.0.0.1:8765 --token STEWARD_TOKEN
    dreamloom token revoke JTI --sanctuary garden --server http://127.0.0.1:8765 --token STEWARD_TOKEN

``create`` signs with the same secret as the server (``<data-dir>/token-secret``,
or ``DREAMLOOM_TOKEN_SECRET``), or, with ``--server``, asks a running server for
an invite with a steward token. It never creates a secret (only ``serve`` does):
a token signed with a secret the server does not have would be refused. It
prints the token alone on stdout, so ``TOKEN=$(dreamloom token create ...)``
works; its id (for revoking), identity and expiry go to stderr.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import sys
import time
from pathlib import Path

from .auth import DEFAULT_TTL, SECRET_FILE, TokenAuthority, load_or_create_secret
from .config import ENV_PREFIX, ServerConfig

_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}


def parse_ttl(text: str) -> float:
    """``3600``, ``90m``, ``12h``, ``7d``, ``2w`` -> seconds."""
    m = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([smhdw]?)\s*", text)
    if m is None:
        raise argparse.ArgumentTypeError("ttl must be seconds or a number with s, m, h, d or w")
    return float(m.group(1)) * _UNITS[m.group(2) or "s"]


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="dreamloom token", description="Access tokens for Dreamloom sanctuaries.")
    sub = p.add_subparsers(dest="command", required=True)
    c = sub.add_parser("create", help="sign a token and print it")
    c.add_argument("--role", required=True, choices=("steward", "dreamer", "weaver", "viewer"))
    c.add_argument("--sanctuary", required=True, help="sanctuary id, or '*' for every sanctuary")
    c.add_argument("--name", default="", help="display name shown to others")
    c.add_argument("--sub", default=None, help="identity id (default: a new one); reuse it to keep an identity")
    c.add_argument(
        "--ttl", type=parse_ttl, default=DEFAULT_TTL, help="lifetime: seconds or 90m, 12h, 7d (default: 30d)"
    )
    c.add_argument(
        "--data-dir",
        type=Path,
        default=None,
        help=f"the server's data directory holding token-secret (default: {ServerConfig().data_dir}) "
        f"[{ENV_PREFIX}DATA_DIR]; {ENV_PREFIX}TOKEN_SECRET wins when set",
    )
    c.add_argument(
        "--server",
        default=None,
        help="ask this running server for the token instead (an invite, created with a steward token)",
    )
    c.add_argument(
        "--token",
        default=os.environ.get(f"{ENV_PREFIX}STEWARD_TOKEN"),
        help=f"with --server: a steward token of the sanctuary [{ENV_PREFIX}STEWARD_TOKEN]",
    )
    r = sub.add_parser("revoke", help="revoke a token through a running server (closes its connections at once)")
    r.add_argument("jti", help="the token id printed by create or shown in the steward panel")
    r.add_argument("--sanctuary", required=True)
    r.add_argument("--server", default="http://127.0.0.1:8765", help="the server's URL")
    r.add_argument(
        "--token",
        default=os.environ.get(f"{ENV_PREFIX}STEWARD_TOKEN"),
        help="a steward token: of this sanctuary for its own tokens, of every sanctuary for any other",
    )
    return p


def _secret(args: argparse.Namespace) -> bytes | None:
    configured = os.environ.get(f"{ENV_PREFIX}TOKEN_SECRET", "")
    data_dir = args.data_dir or Path(os.environ.get(f"{ENV_PREFIX}DATA_DIR", str(ServerConfig().data_dir)))
    if not configured and not (data_dir / SECRET_FILE).is_file():
        where = data_dir.resolve()
        print(
            f"dreamloom token: no {SECRET_FILE} in {where}: tokens must be signed with the server's secret.\n"
            f"  Run this where the server runs (its data directory is ./{ServerConfig().data_dir} by default),\n"
            f"  or point to it: --data-dir DIR (or {ENV_PREFIX}DATA_DIR, or {ENV_PREFIX}TOKEN_SECRET),\n"
            "  or ask the running server: --server URL --token STEWARD_TOKEN (the steward link's token).",
            file=sys.stderr,
        )
        return None
    return load_or_create_secret(data_dir, configured)


def create(args: argparse.Namespace) -> int:
    if args.server:
        if not args.token:
            print(
                f"dreamloom token: --server needs --token (a steward token) or {ENV_PREFIX}STEWARD_TOKEN",
                file=sys.stderr,
            )
            return 2
        return asyncio.run(_invite(args))
    secret = _secret(args)
    if secret is None:
        return 2
    try:
        token, claims = TokenAuthority(secret).issue(
            role=args.role, sanctuary=args.sanctuary, name=args.name, ttl=args.ttl, sub=args.sub
        )
    except ValueError as exc:
        print(f"dreamloom token: {exc}", file=sys.stderr)
        return 2
    print(token)
    expires = time.strftime("%Y-%m-%d %H:%M:%S %Z", time.localtime(claims.exp))
    print(
        f"token id {claims.jti}: {claims.role} {claims.sub!r} in {claims.sanctuary}, until {expires}", file=sys.stderr
    )
    return 0


async def _invite(args: argparse.Namespace) -> int:
    import aiohttp

    url = f"{args.server.rstrip('/')}/api/sanctuaries/{args.sanctuary}/invites"
    body = {"role": args.role, "name": args.name, "ttl": int(args.ttl)}
    try:
        async with (
            aiohttp.ClientSession() as http,
            http.post(url, json=body, headers={"Authorization": f"Bearer {args.token}"}) as resp,
        ):
            text = await resp.text()
            if resp.status != 201:
                print(f"dreamloom token: the server answered {resp.status}: {text}", file=sys.stderr)
                return 1
            invite = await resp.json()
    except aiohttp.ClientError as exc:
        print(f"dreamloom token: cannot reach {args.server}: {exc}", file=sys.stderr)
        return 1
    print(invite["token"])
    expires = time.strftime("%Y-%m-%d %H:%M:%S %Z", time.localtime(invite["exp"]))
    print(
        f"token id {invite['jti']}: {invite['role']} {invite['sub']!r} in {args.sanctuary}, until {expires}",
        file=sys.stderr,
    )
    return 0


async def _revoke(args: argparse.Namespace) -> int:
    import aiohttp

    url = f"{args.server.rstrip('/')}/api/sanctuaries/{args.sanctuary}/invites/{args.jti}"
    async with (
        aiohttp.ClientSession() as http,
        http.delete(url, headers={"Authorization": f"Bearer {args.token}"}) as resp,
    ):
        body = await resp.text()
        if resp.status != 200:
            print(f"dreamloom token: {resp.status} {body}", file=sys.stderr)
            return 1
    print(f"revoked {args.jti}")
    return 0


def main(argv: list[str]) -> int:
    args = parser().parse_args(argv)
    if args.command == "create":
        return create(args)
    if not args.token:
        print(f"dreamloom token: give --token or set {ENV_PREFIX}STEWARD_TOKEN", file=sys.stderr)
        return 2
    return asyncio.run(_revoke(args))
