"""Moderation over real connections: live policy edits, mute, kick, ban, roles, revocation, removal,
rollback of a weaver (and its undo), and the audit log of all of it."""

from __future__ import annotations

import contextlib
import json
from typing import Any

from harmony_client import Client, acked, rejected
from harmony_kit import FakeClock, Harmony
from websockets.exceptions import ConnectionClosed

from dreamloom.protocol import Tapestry


def view(t: Tapestry) -> dict[str, tuple[Any, ...]]:
    """What people see: every live fragment and its values (stamps aside)."""
    return {
        f.id: (f.kind, f.x, f.y, dict(f.geom), dict(f.style), f.z, f.author, f.origin, f.inspired_by, f.remixable)
        for f in t.fragments()
    }


async def test_policy_edits_take_effect_at_once_and_are_broadcast(harmony: Harmony) -> None:
    steward = harmony.steward()
    owner = await harmony.connect("dreamer")
    weaver = await harmony.connect("weaver")
    assert weaver.welcome is not None
    assert weaver.welcome["policy"]["ai_share_cap"] == 0.5
    for i in range(3):
        acked(await owner.write(owner.symbol(f"o{i}")))
    acked(await weaver.write(weaver.symbol("w0")))  # 1 of 4
    policy = await steward.policy(ai_share_cap=0.2)
    assert policy["ai_share_cap"] == 0.2
    for member in (owner, weaver):
        await member.wait_for(lambda m=member: any(p["ai_share_cap"] == 0.2 for p in m.policies), "policy")  # type: ignore[misc]
    rejected(await weaver.write(weaver.symbol("w1")), "ai_share_cap")
    await steward.policy(ai_share_cap=0.6)
    acked(await weaver.write(weaver.symbol("w1")))
    # Persisted: a restarted server still enforces it.
    await harmony.server.restart()
    again = await harmony.connect("weaver")
    assert again.welcome is not None
    assert again.welcome["policy"]["ai_share_cap"] == 0.6


async def test_mute_lasts_until_it_ends(harmony: Harmony, clock: FakeClock) -> None:
    steward = harmony.steward()
    dreamer = await harmony.connect("dreamer")
    acked(await dreamer.write(dreamer.symbol("before")))
    await steward.act("mute", identity=dreamer.identity["id"], seconds=60)
    await dreamer.wait_for(lambda: any(e["code"] == "muted" for e in dreamer.errors), "the mute notice")
    muted = rejected(await dreamer.write(dreamer.symbol("during")), "muted")
    assert muted["rule"] == "mute"
    clock.advance(59)
    rejected(await dreamer.write(dreamer.symbol("still")), "muted")
    clock.advance(2)
    acked(await dreamer.write(dreamer.symbol("after")))
    await steward.act("mute", identity=dreamer.identity["id"], seconds=600)
    rejected(await dreamer.write(dreamer.symbol("again")), "muted")
    await steward.act("unmute", identity=dreamer.identity["id"])
    acked(await dreamer.write(dreamer.symbol("unmuted")))


async def test_kick_and_ban(harmony: Harmony) -> None:
    steward = harmony.steward()
    token = harmony.token("weaver", sub="weaver-moth", name="Moth")
    weaver = await harmony.connect(token=token)
    await steward.act("kick", identity="weaver-moth")
    assert await weaver.wait_closed() == 4006
    weaver = await harmony.connect(token=token)  # a kick is not a ban
    await steward.act("ban", identity="weaver-moth", reason="spam")
    assert await weaver.wait_closed() == 4004
    refused = await harmony.refused(token)
    assert [e["code"] for e in refused.errors] == ["banned"]
    assert refused.close_code == 4004
    # Another token of the same identity is banned too: bans are by identity.
    other = await harmony.refused(harmony.token("weaver", sub="weaver-moth"))
    assert other.close_code == 4004
    members = await steward.call("GET", "/members")
    assert [b["id"] for b in members["banned"]] == ["weaver-moth"]
    await steward.act("unban", identity="weaver-moth")
    await harmony.connect(token=token)
    await steward.act("kick", identity="nobody-here", expect=404)


async def test_revoking_a_connected_weavers_token_closes_it_at_once(harmony: Harmony) -> None:
    steward = harmony.steward()
    token = harmony.token("weaver", sub="weaver-revoked")
    weaver = await harmony.connect(token=token)
    keeper = await harmony.connect("weaver")  # another token of another weaver stays
    members = await steward.call("GET", "/members")
    jti = next(m["token"] for m in members["connected"] if m["id"] == "weaver-revoked")
    entry = await steward.act("revoke", jti=jti)
    assert entry["connections"] == 1
    late = weaver.symbol("late")
    with contextlib.suppress(ConnectionClosed):
        await weaver.send(late)  # may still reach the server before the close: it must not be applied
    assert await weaver.wait_closed() == 4007
    assert late.stamp[0] not in weaver.acks
    assert not keeper.closed.is_set()
    refused = await harmony.refused(token)
    assert refused.errors[0]["code"] == "unauthorized"


async def test_changing_a_role_downgrades_live_connections(harmony: Harmony) -> None:
    steward = harmony.steward()
    await steward.policy(ai_share_cap=1.0)
    watcher = await harmony.connect("dreamer")
    weaver = await harmony.connect("weaver", sub="weaver-demoted")
    acked(await weaver.write(weaver.symbol("w-before")))
    # A colour of its own (W11a), which the new role keeps.
    await weaver.ws.send(json.dumps({"type": "presence", "color": "#123456"}))
    live = harmony.server.hub.loaded("garden")
    assert live is not None
    await weaver.wait_for(lambda: any(m.peer.color == "#123456" for m in live.members.values()), "the colour taken")
    await steward.act("role", identity="weaver-demoted", role="viewer")
    rejected(await weaver.write(weaver.symbol("w-during")), "forbidden")
    await watcher.wait_for(
        lambda: any(p["name"] == weaver.identity["name"] and p["role"] == "viewer" for p in watcher.joins),
        "the new role announced",
    )
    # The new role keeps the colour the identity has here (W11a).
    assert [p["color"] for p in watcher.joins if p["role"] == "viewer"] == ["#123456"]
    members = await steward.call("GET", "/members")
    demoted = next(m for m in members["connected"] if m["id"] == "weaver-demoted")
    assert (demoted["role"], demoted["origin"]) == ("viewer", "ai")
    body = await steward.act("role", identity="weaver-demoted", role="steward", expect=400)
    assert body["error"]["code"] == "bad_request"
    await steward.act("role", identity="weaver-demoted", role=None)
    acked(await weaver.write(weaver.symbol("w-after")))
    # A new connection of the identity gets the override too.
    await steward.act("role", identity="weaver-demoted", role="viewer")
    again = await harmony.connect("weaver", sub="weaver-demoted")
    assert again.identity["role"] == "viewer"


async def test_stewards_remove_any_fragment(harmony: Harmony) -> None:
    steward = harmony.steward()
    owner = await harmony.connect("dreamer")
    acked(await owner.write(owner.symbol("gone")))
    entry = await steward.act("remove", fragment="gone")
    assert len(entry["seqs"]) == 1
    await owner.wait_for(lambda: (f := owner.tapestry.get("gone")) is not None and f.deleted, "the removal")
    await steward.act("remove", fragment="never-was", expect=404)


async def test_rollback_restores_exactly_the_tapestry_without_the_weaver(harmony: Harmony) -> None:
    steward = harmony.steward()
    await steward.policy(ai_share_cap=1.0, consent="always")
    owner = await harmony.connect("dreamer")
    weaver = await harmony.connect("weaver", sub="weaver-wild")
    for fid in ("o1", "o2", "o3"):
        acked(await owner.write(owner.symbol(fid)))
    acked(await weaver.write(weaver.set("o1", x=11)))  # before the point: stays
    since = acked(await weaver.write(weaver.symbol("w0")))  # before the point too
    # Since here: the weaver's edits, interleaved with people's.
    acked(await weaver.write(weaver.symbol("w1")))
    acked(await weaver.write(weaver.symbol("w2")))
    acked(await weaver.write(weaver.set("o2", x=500, style={"color": "#ff0000"})))
    acked(await weaver.write(weaver.delete("o3")))
    acked(await owner.write(owner.set("o2", y=66)))  # a person's later edit of a fragment the weaver touched
    acked(await owner.write(owner.set("w1", x=33)))  # a person moved one of the weaver's fragments
    acked(await owner.write(owner.symbol("o4")))
    acked(await weaver.write(weaver.delete("w2")))
    acked(await weaver.write(weaver.set("w0", x=7)))
    acked(await weaver.write(weaver.set("o1", y=12)))
    before = view(owner.tapestry)

    # The reference: the log replayed from the point, without the weaver's ops.
    store = harmony.server.hub.store
    expected, _ = await harmony.server.hub.tapestry_at("garden", since)
    for entry in await store.read_ops("garden", since):
        if entry.author != "weaver-wild":
            expected.apply(entry.op)

    rb = await steward.act("rollback", identity="weaver-wild", since_seq=since)
    last = max(rb["seqs"])
    await owner.wait_for(lambda: owner.tapestry.max_counter > 0 and max(owner.seqs.values()) >= last, "the rollback")
    after = view(owner.tapestry)
    assert after == view(expected)
    assert "w1" not in after
    assert after["o2"][1:3] == (0, 66)  # x back, the person's y stays
    assert after["o1"][1:3] == (11, 0)  # the edit before the point stays, the one after goes
    assert after["w0"][1] == 0  # its fragment from before the point stays, its later move goes
    assert "o3" in after
    assert "o4" in after

    # The rollback is one act and can be undone: the tapestry as it was before it.
    undo = await steward.act("undo_rollback", rollback=rb["rollback"])
    await owner.wait_for(lambda: max(owner.seqs.values()) >= max(undo["seqs"]), "the undo")
    assert view(owner.tapestry) == before
    redo = await steward.act("undo_rollback", rollback=undo["rollback"])
    await owner.wait_for(lambda: max(owner.seqs.values()) >= max(redo["seqs"]), "the redo")
    assert view(owner.tapestry) == view(expected)
    # A time works as the point too: since the first op after the point, nothing is left to undo...
    (first_after,) = await store.read_ops("garden", since, limit=1)
    again = await steward.act("rollback", identity="weaver-wild", since_time=first_after.time)
    assert (again["since_seq"], again["ops"]) == (since, 0)
    # ...and since the beginning, its edit of o1 and its fragment w0 go too.
    everything = await steward.act("rollback", identity="weaver-wild", since_time=0)
    assert (everything["since_seq"], everything["ops"]) == (0, 2)
    await owner.wait_for(lambda: max(owner.seqs.values()) >= max(everything["seqs"]), "the full rollback")
    assert owner.tapestry.get("o1").x == 0  # type: ignore[union-attr]
    assert "w0" not in view(owner.tapestry)


async def test_every_moderation_act_is_in_the_audit_log(harmony: Harmony) -> None:
    steward = harmony.steward()
    owner = await harmony.connect("dreamer", sub="dreamer-bo")
    weaver = await harmony.connect("weaver", sub="weaver-x")
    acked(await owner.write(owner.symbol("a")))
    await steward.policy(locked=True)
    await steward.policy(locked=False, ai_share_cap=1.0)
    acked(await weaver.write(weaver.symbol("wa")))
    invite = await steward.call("POST", "/invites", {"role": "viewer", "name": "Vi"}, expect=201)
    await steward.act("mute", identity="dreamer-bo", seconds=30)
    await steward.act("unmute", identity="dreamer-bo")
    await steward.act("role", identity="dreamer-bo", role="viewer")
    await steward.act("remove", fragment="a")
    rb = await steward.act("rollback", identity="weaver-x", since_seq=0)
    await steward.act("undo_rollback", rollback=rb["rollback"])
    await steward.act("kick", identity="weaver-x")
    await steward.act("ban", identity="weaver-x")
    await steward.act("unban", identity="weaver-x")
    await steward.call("DELETE", f"/invites/{invite['jti']}")
    audit = await steward.audit()
    acts = [e["act"] for e in reversed(audit)]
    assert acts == [
        "policy", "policy", "invite", "mute", "unmute", "role", "remove", "rollback", "undo_rollback",
        "kick", "ban", "unban", "revoke",
    ]  # fmt: skip
    assert {e["by"] for e in audit} == {"steward-ana"}
    assert audit[-1]["changes"] == {"locked": True}
    assert all(e["time"] > 0 and e["id"] for e in audit)
    await weaver.wait_closed()
    # Stewards only; paging works.
    page = await steward.call("GET", f"/audit?limit=5&before={audit[0]['id']}")
    assert [e["id"] for e in page["audit"]] == [e["id"] for e in audit[1:6]]
    await harmony.steward(token=harmony.token("dreamer")).call("GET", "/audit", expect=403)


async def test_members_show_role_and_origin(harmony: Harmony) -> None:
    steward = harmony.steward()
    clients: list[Client] = [await harmony.connect(r) for r in ("dreamer", "weaver", "viewer")]
    guest = await harmony.connect(None)
    members = await steward.call("GET", "/members")
    got = sorted((m["role"], m["origin"], m["token"] is not None) for m in members["connected"])
    assert got == sorted(
        [
            ("dreamer", "organic", True),
            ("weaver", "ai", True),
            ("viewer", "organic", True),
            ("dreamer", "organic", False),
        ]
    )
    assert guest.identity["id"].startswith("guest-")
    assert len(clients) == 3


async def test_bad_moderation_requests_are_refused_with_reasons(harmony: Harmony) -> None:
    steward = harmony.steward()
    cases: list[dict[str, Any]] = [
        {"action": "explode"},
        {"action": "mute"},
        {"action": "mute", "identity": "x", "seconds": True},
        {"action": "mute", "identity": "bad id!", "seconds": 5},
        {"action": "rollback", "identity": "w", "since_seq": 1, "since_time": 2.0},
        {"action": "rollback", "identity": "w"},
        {"action": "undo_rollback", "rollback": "1"},
        {"action": "role", "identity": "x", "role": "admin"},
        {"action": "ban", "identity": "steward-ana"},
    ]
    for body in cases:
        answer = await steward.call("POST", "/moderation", body, expect=400)
        assert answer["error"]["code"] == "bad_request", body
        assert answer["error"]["message"], body
    await steward.call("POST", "/invites", {"role": "weaver", "ttl": -1}, expect=400)
    await steward.call("POST", "/moderation", {"action": "undo_rollback", "rollback": 999}, expect=404)
    assert await steward.audit() == []


async def test_bans_roles_mutes_and_revocations_survive_a_restart(harmony: Harmony) -> None:
    steward = harmony.steward()
    revoked = harmony.token("weaver", sub="weaver-gone")
    jti = harmony.stewardship.authority.verify(revoked).jti
    # A token signed offline is unknown to the server: only a steward of every sanctuary revokes it (P11).
    await harmony.steward(token=harmony.token("steward", "*", sub="operator")).act("revoke", jti=jti)
    await steward.act("ban", identity="weaver-banned")
    await steward.act("role", identity="dreamer-quiet", role="viewer")
    await steward.act("mute", identity="dreamer-muted", seconds=600)
    await harmony.server.restart()
    assert (await harmony.refused(revoked)).errors[0]["code"] == "unauthorized"
    assert (await harmony.refused(harmony.token("weaver", sub="weaver-banned"))).close_code == 4004
    quiet = await harmony.connect("dreamer", sub="dreamer-quiet")
    assert quiet.identity["role"] == "viewer"
    muted = await harmony.connect("dreamer", sub="dreamer-muted")
    rejected(await muted.write(muted.symbol("m")), "muted")
