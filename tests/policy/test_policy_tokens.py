"""Tokens: what is accepted, what is refused and with which code, over the real handshake."""

from __future__ import annotations

import base64
import json
import os
import stat
import time
from pathlib import Path

import jwt
import pytest
from harmony_kit import Harmony

from dreamloom.protocol import ErrorCode, ProtocolError
from dreamloom.server.auth import SECRET_FILE, TokenAuthority, load_or_create_secret
from dreamloom.server.tokens_cli import main as token_main

SECRET = b"s" * 64


def _b64(obj: dict[str, object]) -> str:
    return base64.urlsafe_b64encode(json.dumps(obj).encode()).rstrip(b"=").decode()


def _payload(**over: object) -> dict[str, object]:
    now = int(time.time())
    p: dict[str, object] = {
        "sub": "weaver-1",
        "name": "Moth",
        "role": "weaver",
        "snc": "garden",
        "iat": now,
        "exp": now + 600,
        "jti": "abcdef0123456789",
        "iss": "dreamloom",
        "aud": "dreamloom",
    }
    p.update(over)
    return p


def _code(authority: TokenAuthority, token: str) -> ErrorCode:
    with pytest.raises(ProtocolError) as info:
        authority.verify(token)
    return info.value.code


def test_a_token_round_trips_with_every_claim() -> None:
    authority = TokenAuthority(SECRET)
    token, claims = authority.issue(role="weaver", sanctuary="garden", name="Moth", ttl=60)
    got = authority.verify(token)
    assert got == claims
    assert got.role == "weaver"
    assert got.sanctuary == "garden"
    assert got.covers("garden")
    assert not got.covers("other")
    assert got.exp - got.iat == 60
    assert len(got.jti) >= 16
    assert got.sub.startswith("weaver-")


def test_refused_tokens_and_their_codes() -> None:
    authority = TokenAuthority(SECRET)
    good, _ = authority.issue(role="dreamer", sanctuary="garden", name="x")
    header, _body, sig = good.split(".")
    forged = jwt.encode(_payload(), b"a" * 64, algorithm="HS256")
    unsigned = f"{_b64({'alg': 'none', 'typ': 'JWT'})}.{_b64(_payload())}."
    other_alg = jwt.encode(_payload(), SECRET, algorithm="HS512")
    tampered = f"{header}.{_b64(_payload(role='steward', snc='*'))}.{sig}"
    expired = jwt.encode(_payload(exp=int(time.time()) - 3600, iat=int(time.time()) - 7200), SECRET, "HS256")
    bad_role = jwt.encode(_payload(role="admin"), SECRET, "HS256")
    no_jti = jwt.encode({k: v for k, v in _payload().items() if k != "jti"}, SECRET, "HS256")
    wrong_aud = jwt.encode(_payload(aud="elsewhere"), SECRET, "HS256")
    assert _code(authority, forged) == ErrorCode.UNAUTHORIZED
    assert _code(authority, unsigned) == ErrorCode.UNAUTHORIZED
    assert _code(authority, other_alg) == ErrorCode.UNAUTHORIZED
    assert _code(authority, tampered) == ErrorCode.UNAUTHORIZED
    assert _code(authority, expired) == ErrorCode.TOKEN_EXPIRED
    assert _code(authority, bad_role) == ErrorCode.UNAUTHORIZED
    assert _code(authority, no_jti) == ErrorCode.UNAUTHORIZED
    assert _code(authority, wrong_aud) == ErrorCode.UNAUTHORIZED
    assert _code(authority, "x" * 5000) == ErrorCode.UNAUTHORIZED
    assert _code(authority, "not.a.token") == ErrorCode.UNAUTHORIZED


@pytest.mark.parametrize(
    "claims",
    [
        {"exp": str(int(time.time()) + 600)},
        {"iat": str(int(time.time()))},
        {"exp": True},
        {"exp": None},
        {"exp": [int(time.time()) + 600]},
        {"gst": "yes"},
        {"gst": 1},
    ],
    ids=["exp string", "iat string", "exp bool", "exp null", "exp list", "gst string", "gst number"],
)
def test_P2_claims_of_the_wrong_type_are_refused(claims: dict[str, object]) -> None:
    authority = TokenAuthority(SECRET)
    # (a boolean exp reads as 1970 to the JWT library: refused as expired, which is refused too)
    code = _code(authority, jwt.encode(_payload(**claims), SECRET, "HS256"))
    assert code in (ErrorCode.UNAUTHORIZED, ErrorCode.TOKEN_EXPIRED if claims.get("exp") is True else None)
    assert authority.verify(jwt.encode(_payload(gst=True), SECRET, "HS256")).guest


def test_the_secret_is_generated_once_and_private(tmp_path: Path) -> None:
    first = load_or_create_secret(tmp_path)
    assert load_or_create_secret(tmp_path) == first
    assert len(first) >= 32
    assert stat.S_IMODE(os.stat(tmp_path / SECRET_FILE).st_mode) == 0o600
    assert load_or_create_secret(tmp_path, "c" * 32) == b"c" * 32
    with pytest.raises(ValueError, match="32"):
        load_or_create_secret(tmp_path, "short")


def test_token_cli_prints_a_token_the_server_accepts(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    argv = ["create", "--role", "weaver", "--sanctuary", "garden", "--name", "Moth", "--ttl", "2h"]
    load_or_create_secret(tmp_path)  # as `dreamloom serve` does on its first run
    assert token_main([*argv, "--data-dir", str(tmp_path)]) == 0
    out, err = capsys.readouterr()
    token = out.strip()
    claims = TokenAuthority(load_or_create_secret(tmp_path)).verify(token)
    assert (claims.role, claims.sanctuary, claims.name) == ("weaver", "garden", "Moth")
    assert claims.exp - claims.iat == 7200
    assert claims.jti in err
    assert token not in err
    assert token_main(["create", "--role", "weaver", "--sanctuary", "bad id!", "--data-dir", str(tmp_path)]) == 2


async def test_the_handshake_refuses_bad_tokens_with_codes(harmony: Harmony) -> None:
    authority = harmony.stewardship.authority
    now = int(time.time())
    cases = [
        ("forged", jwt.encode(_payload(snc="garden"), b"f" * 64, "HS256"), "unauthorized", 4001),
        ("expired", authority.issue(role="dreamer", sanctuary="garden", name="x", ttl=1, now=now - 100)[0],
         "token_expired", 4001),
        ("other sanctuary", harmony.token("weaver", "elsewhere"), "forbidden", 4003),
        ("unknown role", jwt.encode(_payload(role="admin"), authority._secret, "HS256"), "unauthorized", 4001),
        ("alg none", f"{_b64({'alg': 'none'})}.{_b64(_payload())}.", "unauthorized", 4001),
    ]  # fmt: skip
    for what, token, code, close in cases:
        client = await harmony.refused(token)
        assert [e["code"] for e in client.errors] == [code], what
        assert client.close_code == close, what


async def test_reserved_replica_ids_are_refused(harmony: Harmony) -> None:
    client = await harmony.refused(None, replica="dreamloom:server")
    assert client.errors[0]["code"] == "forbidden"


async def test_invite_only_sanctuaries_need_a_token(harmony: Harmony) -> None:
    steward = harmony.steward()
    await steward.policy(access="invite")
    guest = await harmony.refused(None)
    assert guest.errors[0]["code"] == "unauthorized"
    assert guest.close_code == 4001
    invite = await steward.call("POST", "/invites", {"role": "dreamer", "name": "Bea", "ttl": 600}, expect=201)
    assert invite["url"].endswith(f"/s/garden?token={invite['token']}")
    member = await harmony.connect(token=invite["token"])
    assert member.identity == {"id": invite["sub"], "name": "Bea", "role": "dreamer", "origin": "organic"}
    listed = (await steward.call("GET", "/invites"))["invites"]
    assert [(i["jti"], i["revoked"]) for i in listed] == [(invite["jti"], False)]
    await steward.call("DELETE", f"/invites/{invite['jti']}")
    assert await member.wait_closed() == 4007
    again = await harmony.refused(invite["token"])
    assert again.errors[0]["code"] == "unauthorized"
    listed = (await steward.call("GET", "/invites"))["invites"]
    assert listed[0]["revoked"] is True


async def test_steward_endpoints_need_a_steward_of_this_sanctuary(harmony: Harmony) -> None:
    anonymous = harmony.steward(token="")
    anonymous.token = None
    await anonymous.call("GET", "/policy", expect=401)
    dreamer = harmony.steward(token=harmony.token("dreamer"))
    body = await dreamer.call("GET", "/audit", expect=403)
    assert body["error"]["code"] == "forbidden"
    elsewhere = harmony.steward(token=harmony.token("steward", "elsewhere"))
    await elsewhere.call("PATCH", "/policy", {"ai_share_cap": 1.0}, expect=403)
    forged = harmony.steward(token=jwt.encode(_payload(role="steward"), b"f" * 64, "HS256"))
    await forged.call("GET", "/members", expect=401)
    everywhere = harmony.steward(token=harmony.token("steward", "*"))
    assert (await everywhere.call("GET", "/policy"))["policy"]["ai_share_cap"] == 0.5
    me = await dreamer.call("GET", "/me")
    assert me["role"] == "dreamer"
