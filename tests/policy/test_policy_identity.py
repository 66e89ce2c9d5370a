"""Identities come from the server, and nobody can borrow one (SPEC P1, P3, P5, P10, S6).

A guest is issued a signed token; a replica id belongs to the identity that first used it; a
client that says it is a weaver is stamped ``ai`` whatever token it holds.
"""

from __future__ import annotations

from typing import Any

from harmony_client import acked, rejected
from harmony_kit import Harmony

from dreamloom.protocol import CloseCode


def _codes(client: Any) -> list[str]:
    return [e["code"] for e in client.errors]


async def test_P3_a_guest_is_issued_a_token_and_stays_the_same_person_with_it(harmony: Harmony) -> None:
    first = await harmony.connect(replica="tab-1", name="Ana")
    token = first.welcome["token"]  # type: ignore[index]
    claims = harmony.stewardship.authority.verify(token)
    assert claims.guest
    assert claims.sub == first.identity["id"]
    assert first.identity["role"] == "dreamer"
    assert first.identity["origin"] == "organic"
    made = acked(await first.write(first.symbol("ana-1")))
    await first.close()
    # A reload: the same token, the same replica, resuming: the same person, no new token.
    again = await harmony.connect(token=token, replica="tab-1", seq=made)
    assert again.identity["id"] == first.identity["id"]
    assert "token" not in again.welcome  # type: ignore[operator]
    # And with a new replica (a second tab): still the same person.
    tab = await harmony.connect(token=token, replica="tab-2")
    assert tab.identity["id"] == first.identity["id"]
    # Two guests without tokens are two people, even with the same name.
    other = await harmony.connect(name="Ana")
    assert other.identity["id"] != first.identity["id"]


async def test_P3_a_borrowed_replica_is_refused_and_its_owner_undisturbed(harmony: Harmony) -> None:
    steward = harmony.steward()
    victim = await harmony.connect(replica="victim-tab", name="Vi")
    acked(await victim.write(victim.symbol("vi-1")))
    attacker = await harmony.connect(name="Eve")
    replica = attacker.tapestry.registers("vi-1")["kind"][0][1]  # read off the wire, as anyone can
    assert replica == "victim-tab"
    stolen = await harmony.refused(None, replica=replica)
    assert _codes(stolen) == ["replica_in_use"]
    assert stolen.close_code == CloseCode.PROTOCOL_ERROR
    # With the attacker's own guest token it is refused the same way.
    stolen_again = await harmony.refused(attacker.welcome["token"], replica=replica)  # type: ignore[index]
    assert _codes(stolen_again) == ["replica_in_use"]
    # The owner was never closed and still writes, as herself.
    assert not victim.closed.is_set()
    acked(await victim.write(victim.set("vi-1", x=5)))
    members = await steward.call("GET", "/members")
    assert sorted(m["id"] for m in members["connected"]) == sorted([victim.identity["id"], attacker.identity["id"]])
    sanctuary = await harmony.server.hub.sanctuary("garden")
    assert sanctuary.tapestry.get("vi-1").author == victim.identity["id"]  # type: ignore[union-attr]


async def test_S6_a_token_holders_replica_stays_hers_while_she_is_offline(harmony: Harmony) -> None:
    token = harmony.token("dreamer", sub="dreamer-ana", name="Ana")
    ana = await harmony.connect(token=token, replica="ana-laptop")
    last = acked(await ana.write(ana.symbol("ana-1")))
    queued = ana.symbol("ana-offline")  # made while offline, not sent yet
    await ana.close()
    thief = await harmony.refused(None, replica="ana-laptop")
    assert _codes(thief) == ["replica_in_use"]
    await harmony.server.restart()  # the binding is persistent
    thief = await harmony.refused(None, replica="ana-laptop")
    assert _codes(thief) == ["replica_in_use"]
    back = await harmony.connect(token=token, replica="ana-laptop", seq=last)
    back.clock.observe_counter(queued.stamp[0])
    seq = acked(await back.write(queued))  # her offline op is applied, not acked and dropped
    sanctuary = await harmony.server.hub.sanctuary("garden")
    assert sanctuary.tapestry.get("ana-offline").author == "dreamer-ana"  # type: ignore[union-attr]
    assert seq == last + 1


async def test_P10_a_ban_follows_the_person_not_the_tab(harmony: Harmony) -> None:
    steward = harmony.steward()
    guest = await harmony.connect(replica="g-tab-1", name="Gus")
    token = guest.welcome["token"]  # type: ignore[index]
    bystander = await harmony.connect(name="Bea")
    await steward.act("ban", identity=guest.identity["id"])
    assert await guest.wait_closed() == CloseCode.BANNED
    new_tab = await harmony.refused(token, replica="g-tab-2")
    assert _codes(new_tab) == ["banned"]
    assert not bystander.closed.is_set()
    acked(await bystander.write(bystander.symbol("bea-1")))
    members = await steward.call("GET", "/members")
    assert [m["id"] for m in members["connected"]] == [bystander.identity["id"]]


async def test_P1_a_weaver_without_a_token_is_a_guest_weaver_stamped_ai(harmony: Harmony) -> None:
    person = await harmony.connect(name="Ana")
    acked(await person.write(person.symbol("o1")))
    weaver = await harmony.connect(client="weaver", name="Moth")
    assert (weaver.identity["role"], weaver.identity["origin"]) == ("weaver", "ai")
    assert harmony.stewardship.authority.verify(weaver.welcome["token"]).role == "weaver"  # type: ignore[index]
    acked(await weaver.write(weaver.symbol("w1", origin="organic")))  # the claim is replaced (P1)
    sanctuary = await harmony.server.hub.sanctuary("garden")
    assert sanctuary.tapestry.get("w1").origin == "ai"  # type: ignore[union-attr]
    rejected(await weaver.write(weaver.symbol("w2")), "ai_share_cap")  # bound by every Harmony rule


async def test_P1_a_weaver_client_holding_a_persons_token_is_stamped_ai(harmony: Harmony) -> None:
    for role in ("dreamer", "steward"):
        weaver = await harmony.connect(role, client="weaver")
        assert (weaver.identity["role"], weaver.identity["origin"]) == ("weaver", "ai")
    viewer = await harmony.connect("viewer", client="weaver")
    assert (viewer.identity["role"], viewer.identity["origin"]) == ("viewer", "ai")
    # A weaver token is AI whatever the client says.
    token_weaver = await harmony.connect("weaver", client="person")
    assert token_weaver.identity["origin"] == "ai"


async def test_P5_guest_weavers_off_refuses_weavers_without_a_token(harmony: Harmony) -> None:
    steward = harmony.steward()
    policy = (await steward.call("PATCH", "/policy", {"guest_weavers": False}))["policy"]
    assert policy["guest_weavers"] is False
    refused = await harmony.refused(None, client_kind="weaver")
    assert _codes(refused) == ["forbidden"]
    assert refused.close_code == CloseCode.FORBIDDEN
    # A guest weaver token from elsewhere is refused too; a weaver token and guest people are admitted.
    elsewhere = await harmony.connect(client="weaver", sanctuary="attic")
    assert _codes(await harmony.refused(elsewhere.welcome["token"], client_kind="weaver")) == ["forbidden"]  # type: ignore[index]
    assert (await harmony.connect("weaver")).identity["origin"] == "ai"
    assert (await harmony.connect()).identity["origin"] == "organic"


async def test_P3_a_guest_token_never_opens_an_invite_sanctuary(harmony: Harmony) -> None:
    guest = await harmony.connect(sanctuary="attic")
    token = guest.welcome["token"]  # type: ignore[index]
    await harmony.steward().call("PATCH", "/policy", {"access": "invite"})
    refused = await harmony.refused(token)
    assert _codes(refused) == ["unauthorized"]
    assert refused.close_code == CloseCode.UNAUTHORIZED
    assert _codes(await harmony.refused(None)) == ["unauthorized"]
    assert (await harmony.connect("dreamer")).identity["role"] == "dreamer"  # an invitation still works
