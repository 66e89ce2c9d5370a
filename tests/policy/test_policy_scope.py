"""Authority stays in its scope (SPEC P11): a steward of one sanctuary revokes only that sanctuary's
tokens and never sees a wider token's id; moderation fields have types (P10)."""

from __future__ import annotations

from typing import Any

import pytest
from harmony_kit import Harmony

REVOKE_ROUTES = ["DELETE", "action"]


async def _revoke(harmony: Harmony, how: str, jti: str, expect: int, token: str | None = None) -> Any:
    steward = harmony.steward(token=token)
    if how == "DELETE":
        return await steward.call("DELETE", f"/invites/{jti}", expect=expect)
    return await steward.act("revoke", jti=jti, expect=expect)


def _operator(harmony: Harmony) -> str:
    return harmony.token("steward", "*", sub="operator", name="Operator")


async def _revocations(harmony: Harmony) -> list[str]:
    audit = await harmony.steward(token=_operator(harmony)).audit()
    return [e["token"] for e in audit if e["act"] == "revoke"]


@pytest.mark.parametrize("how", REVOKE_ROUTES)
async def test_P11_steward_cannot_revoke_a_wider_token(harmony: Harmony, how: str) -> None:
    operator = _operator(harmony)
    live = await harmony.connect(token=operator)
    jti = harmony.stewardship.authority.verify(operator).jti
    body = await _revoke(harmony, how, jti, 403)
    assert body["error"]["code"] == "forbidden"
    assert not live.closed.is_set()
    assert not await harmony.stewardship.revocations.is_revoked(jti)
    # The operator still holds a working token everywhere.
    assert (await harmony.steward(token=operator).call("GET", "/policy"))["policy"]
    assert await _revocations(harmony) == []


@pytest.mark.parametrize("how", REVOKE_ROUTES)
async def test_P11_steward_cannot_revoke_another_sanctuarys_token(harmony: Harmony, how: str) -> None:
    elsewhere = harmony.steward("elsewhere", token=_operator(harmony))
    invite = await elsewhere.call("POST", "/invites", {"role": "weaver", "name": "Far"}, expect=201)
    connected = harmony.token("dreamer", "elsewhere")
    member = await harmony.connect(token=connected, sanctuary="elsewhere")
    for jti in (invite["jti"], harmony.stewardship.authority.verify(connected).jti):
        body = await _revoke(harmony, how, jti, 403)
        assert body["error"]["code"] == "forbidden"
        assert not await harmony.stewardship.revocations.is_revoked(jti)
    assert not member.closed.is_set()
    # Their own steward may.
    own = harmony.token("steward", "elsewhere")
    await harmony.steward("elsewhere", token=own).call("DELETE", f"/invites/{invite['jti']}")
    assert await harmony.stewardship.revocations.is_revoked(invite["jti"])


@pytest.mark.parametrize("how", REVOKE_ROUTES)
async def test_P11_an_unknown_token_id_is_refused(harmony: Harmony, how: str) -> None:
    offline = harmony.token("weaver")  # scoped here, but signed offline and never seen by the server
    for jti in ("0123456789abcdef01234567", harmony.stewardship.authority.verify(offline).jti):
        body = await _revoke(harmony, how, jti, 403)
        assert body["error"]["code"] == "forbidden"
        assert not await harmony.stewardship.revocations.is_revoked(jti)
    assert await _revocations(harmony) == []


@pytest.mark.parametrize("how", REVOKE_ROUTES)
async def test_P11_steward_revokes_this_sanctuarys_invites_and_connected_tokens(harmony: Harmony, how: str) -> None:
    steward = harmony.steward()
    invite = await steward.call("POST", "/invites", {"role": "dreamer", "name": "Bea"}, expect=201)
    await _revoke(harmony, how, invite["jti"], 200)
    # A token signed offline for this sanctuary is known once it connects here.
    weaver = await harmony.connect(token=harmony.token("weaver", sub="weaver-offline"))
    members = await steward.call("GET", "/members")
    jti = next(m["token"] for m in members["connected"] if m["id"] == "weaver-offline")
    entry = await _revoke(harmony, how, jti, 200)
    assert entry["connections"] == 1
    assert await weaver.wait_closed() == 4007
    assert await _revocations(harmony) == [jti, invite["jti"]]


@pytest.mark.parametrize("how", REVOKE_ROUTES)
async def test_P11_a_server_wide_steward_revokes_any_token(harmony: Harmony, how: str) -> None:
    operator = _operator(harmony)
    wide = harmony.token("dreamer", "*", sub="dreamer-everywhere")
    member = await harmony.connect(token=wide)
    far = await harmony.steward("elsewhere", token=operator).call("POST", "/invites", {"role": "viewer"}, expect=201)
    unknown = "fedcba9876543210fedcba98"
    for jti in (harmony.stewardship.authority.verify(wide).jti, far["jti"], unknown):
        await _revoke(harmony, how, jti, 200, token=operator)
        assert await harmony.stewardship.revocations.is_revoked(jti)
    assert await member.wait_closed() == 4007


async def test_P11_members_show_only_this_sanctuarys_token_ids(harmony: Harmony) -> None:
    authority = harmony.stewardship.authority
    scoped = harmony.token("dreamer", sub="dreamer-here")
    wide = harmony.token("dreamer", "*", sub="dreamer-everywhere")
    operator = _operator(harmony)
    guest_token, guest = authority.issue_guest("Visitor")
    for token in (scoped, wide, operator, guest_token, None):
        await harmony.connect(token=token)
    for viewer in (harmony.steward(), harmony.steward(token=operator)):
        tokens = {m["id"]: m["token"] for m in (await viewer.call("GET", "/members"))["connected"]}
        assert tokens.pop("dreamer-here") == authority.verify(scoped).jti
        assert tokens.pop("dreamer-everywhere") is None
        assert tokens.pop("operator") is None
        assert tokens.pop(guest.sub) is None
        assert list(tokens.values()) == [None]  # the guest without a token


#: Every action taking an identity, with its other fields valid.
IDENTITY_ACTIONS: list[dict[str, Any]] = [
    {"action": "unmute"},
    {"action": "unban"},
    {"action": "kick"},
    {"action": "mute", "seconds": 60},
    {"action": "ban", "reason": "spam"},
    {"action": "role", "role": "viewer"},
    {"action": "rollback", "since_seq": 0},
]
#: Moderation bodies that must be refused 400 bad_request, whatever the state: wrong types, missing or unknown fields.
BAD_ACTIONS: list[dict[str, Any]] = [
    *({**valid, "identity": bad} for valid in IDENTITY_ACTIONS
      for bad in (7, None, ["dreamer-bo"], {"id": "dreamer-bo"}, True, "", "bad id!")),
    {"action": "unmute"},
    {"action": "unban"},
    {"action": "kick", "identity": "dreamer-bo", "seconds": 5},
    {"action": "unban", "identity": "dreamer-bo", "reason": "sorry"},
    {"action": "mute", "identity": "dreamer-bo", "seconds": "60"},
    {"action": "ban", "identity": "dreamer-bo", "reason": 5},
    {"action": "role", "identity": "dreamer-bo"},
    {"action": "role", "identity": "dreamer-bo", "role": 3},
    {"action": "role", "identity": "dreamer-bo", "role": ["viewer"]},
    {"action": "revoke", "jti": 12345678901234},
    {"action": "revoke"},
    {"action": "remove", "fragment": 7},
    {"action": "rollback", "identity": "dreamer-bo", "since_seq": "0"},
    {"action": "rollback", "identity": "dreamer-bo", "since_seq": True},
    {"action": "rollback", "identity": "dreamer-bo", "since_time": "yesterday"},
    {"action": "undo_rollback", "rollback": True},
    {"action": "undo_rollback", "rollback": 1.0},
    {"action": 3},
    {"action": None},
    {},
]  # fmt: skip


@pytest.mark.parametrize("body", BAD_ACTIONS, ids=[str(b) for b in BAD_ACTIONS])
async def test_P10_moderation_fields_are_typed(harmony: Harmony, body: dict[str, Any]) -> None:
    steward = harmony.steward()
    answer = await steward.call("POST", "/moderation", body, expect=400)
    assert answer["error"]["code"] == "bad_request"
    assert answer["error"]["message"]
    assert await steward.audit() == []


@pytest.mark.parametrize("body", [{"role": 1}, {"role": "viewer", "uses": 3}, {"name": 5}, {"ttl": "1h"}])
async def test_P11_invite_fields_are_typed(harmony: Harmony, body: dict[str, Any]) -> None:
    steward = harmony.steward()
    answer = await steward.call("POST", "/invites", body, expect=400)
    assert answer["error"]["code"] == "bad_request"
    assert (await steward.call("GET", "/invites"))["invites"] == []
