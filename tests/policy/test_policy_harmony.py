"""The Harmony gate over real connections: roles, provenance, the AI share cap, consent, rates, lock, allow-list."""

from __future__ import annotations

import asyncio
import itertools
from typing import Any

import pytest
from harmony_client import Client, acked, rejected
from harmony_kit import FakeClock, Harmony

_ids = itertools.count(1)


def fid(prefix: str = "f") -> str:
    return f"{prefix}{next(_ids)}"


async def made(client: Client, remixable: bool = False, **kw: Any) -> str:
    """A fragment created by ``client`` (must be accepted)."""
    name = fid()
    acked(await client.write(client.symbol(name, remixable=remixable, **kw)))
    return name


async def test_provenance_is_stamped_by_the_server(harmony: Harmony) -> None:
    weaver = await harmony.connect("weaver")
    dreamer = await harmony.connect("dreamer")
    await harmony.steward().policy(ai_share_cap=1.0)
    seq = acked(await weaver.write(weaver.symbol("w1", origin="organic", author=dreamer.identity["id"])))
    acked(await dreamer.write(dreamer.symbol("d1", origin="ai", author=weaver.identity["id"])))
    await dreamer.wait_for(lambda: "w1" in dreamer.tapestry and "d1" in dreamer.tapestry, "both fragments")
    w1, d1 = dreamer.tapestry.get("w1"), dreamer.tapestry.get("d1")
    assert w1 is not None
    assert d1 is not None
    assert (w1.origin, w1.author) == ("ai", weaver.identity["id"])
    assert (d1.origin, d1.author) == ("organic", dreamer.identity["id"])
    assert weaver.identity["origin"] == "ai"
    assert seq > 0


async def test_role_action_matrix(harmony: Harmony) -> None:
    steward_http = harmony.steward()
    await steward_http.policy(ai_share_cap=1.0)
    owner = await harmony.connect("dreamer", name="Owner")
    members = {
        "steward": await harmony.connect("steward"),
        "dreamer": await harmony.connect("dreamer"),
        "weaver": await harmony.connect("weaver"),
        "viewer": await harmony.connect("viewer"),
    }

    async def create(c: Client) -> Any:
        return await c.write(c.symbol(fid()))

    async def move_private(c: Client) -> Any:
        return await c.write(c.set(await made(owner), x=5))

    async def move_remixable(c: Client) -> Any:
        return await c.write(c.set(await made(owner, remixable=True), x=5))

    async def delete_private(c: Client) -> Any:
        return await c.write(c.delete(await made(owner)))

    async def toggle_others(c: Client) -> Any:
        return await c.write(c.set(await made(owner, remixable=True), remixable=False))

    async def toggle_own(c: Client) -> Any:
        if c is members["viewer"]:
            return await c.write(c.set(await made(owner), remixable=True))  # nothing of its own: the write is refused
        return await c.write(c.set(await made(c), remixable=True))

    ok = "ok"
    expected = {
        #                 steward  dreamer   weaver               viewer
        create:          (ok,      ok,       ok,                  "forbidden"),
        move_private:    (ok,      ok,       "consent_required",  "forbidden"),
        move_remixable:  (ok,      ok,       ok,                  "forbidden"),
        delete_private:  (ok,      ok,       "consent_required",  "forbidden"),
        toggle_others:   (ok,      "forbidden", "forbidden",      "forbidden"),
        toggle_own:      (ok,      ok,       ok,                  "forbidden"),
    }  # fmt: skip
    for action, row in expected.items():
        for role, want in zip(members, row, strict=True):
            outcome = await action(members[role])
            got = ok if isinstance(outcome, int) else outcome["code"]
            assert got == want, f"{role} {action.__name__}: {outcome}"
            if got != ok:
                rejected(outcome, want)
    # Locked: only stewards write, whatever else they may do.
    await steward_http.policy(locked=True)
    for role, want in zip(members, (ok, "canvas_locked", "canvas_locked", "forbidden"), strict=True):
        outcome = await create(members[role])
        assert (ok if isinstance(outcome, int) else outcome["code"]) == want, (role, outcome)


async def test_the_cap_at_its_exact_boundary(harmony: Harmony) -> None:
    steward = harmony.steward()
    owner = await harmony.connect("dreamer")
    weaver = await harmony.connect("weaver")
    organic = [await made(owner) for _ in range(2)]
    acked(await weaver.write(weaver.symbol("a1")))  # 1 of 3
    acked(await weaver.write(weaver.symbol("a2")))  # 2 of 4: at the cap
    over = rejected(await weaver.write(weaver.symbol("a3")), "ai_share_cap")  # 3 of 5: over
    assert over["rule"] == "ai_share_cap"
    assert "at most 2" in over["allowed"]
    # Responding to, or editing, its own fragments does not add AI: still allowed.
    acked(await weaver.write(weaver.set("a1", x=40)))
    # A person deleting an organic fragment does not open room for AI: 3 of 4 would be over.
    acked(await owner.write(owner.delete(organic[0])))
    rejected(await weaver.write(weaver.symbol("a4")), "ai_share_cap")
    # The weaver may lower its share, but not restore past the cap.
    acked(await weaver.write(weaver.delete("a2")))
    rejected(await weaver.write(weaver.restore("a2")), "ai_share_cap")
    acked(await owner.write(owner.restore(organic[0])))
    acked(await weaver.write(weaver.restore("a2")))  # 2 of 4 again
    # Cap 0.3 is exactly 3/10: with 7 organic fragments, the third AI fragment is at the cap.
    await steward.policy(ai_share_cap=0.3)
    for _ in range(5):
        await made(owner)
    acked(await weaver.write(weaver.symbol("a5")))  # 3 of 10: exactly at the cap
    rejected(await weaver.write(weaver.symbol("a6")), "ai_share_cap")  # 4 of 11
    await owner.wait_for(lambda: owner.tapestry.live_counts == {"organic": 7, "ai": 3}, "7 organic, 3 ai")


async def test_concurrent_weavers_race_for_the_last_slot(harmony: Harmony) -> None:
    owner = await harmony.connect("dreamer")
    weavers = [await harmony.connect("weaver") for _ in range(6)]
    for _ in range(3):
        await made(owner)
    acked(await weavers[0].write(weavers[0].symbol("first")))
    acked(await weavers[1].write(weavers[1].symbol("second")))  # 2 of 5; one slot left (3 of 6)
    for rnd in range(3):
        batch = [(w, w.symbol(f"race{rnd}-{i}")) for i, w in enumerate(weavers)]
        counters = await asyncio.gather(*(w.send(op) for w, op in batch))
        outcomes = [await w.outcome(c[0]) for (w, _), c in zip(batch, counters, strict=True)]
        assert sum(isinstance(o, int) for o in outcomes) == 1, outcomes
        for o in outcomes:
            if not isinstance(o, int):
                rejected(o, "ai_share_cap")
        counts = owner.tapestry.live_counts
        want = 3 + rnd
        await owner.wait_for(lambda: owner.tapestry.live_counts["ai"] == want, "the winner's fragment")  # noqa: B023
        assert counts["ai"] / (counts["ai"] + counts["organic"]) <= 0.5
        await made(owner)  # the next round has one slot again


async def test_consent_modes(harmony: Harmony) -> None:
    steward = harmony.steward()
    await steward.policy(ai_share_cap=1.0)
    owner = await harmony.connect("dreamer")
    weaver = await harmony.connect("weaver")
    private, open_ = await made(owner), await made(owner, remixable=True)
    # consent (the default): remixable fragments only.
    rejected(await weaver.write(weaver.set(private, x=1)), "consent_required")
    acked(await weaver.write(weaver.set(open_, x=1)))
    acked(await weaver.write(weaver.symbol(fid("resp"), inspired_by=[private])))
    # never: not even remixable ones; responses still welcome.
    await steward.policy(consent="never")
    never = rejected(await weaver.write(weaver.set(open_, x=2)), "consent_required")
    assert "inspired_by" in never["allowed"]
    rejected(await weaver.write(weaver.delete(open_)), "consent_required")
    acked(await weaver.write(weaver.symbol(fid("resp"), inspired_by=[open_])))
    # always: any organic fragment.
    await steward.policy(consent="always")
    acked(await weaver.write(weaver.set(private, x=3)))
    acked(await weaver.write(weaver.delete(private)))
    # Back to consent: the person decides, and only for their own fragments.
    await steward.policy(consent="consent")
    rejected(await weaver.write(weaver.restore(private)), "consent_required")
    acked(await owner.write(owner.set(private, remixable=True)))
    acked(await weaver.write(weaver.restore(private)))


async def test_consent_toggle_race_is_decided_by_arrival_order(harmony: Harmony) -> None:
    owner = await harmony.connect("dreamer")
    weaver = await harmony.connect("weaver")
    await harmony.steward().policy(ai_share_cap=1.0)
    target = await made(owner, remixable=True)
    # In flight, in a known order: the toggle arrives first, so the weaver's edit is refused.
    acked(await owner.write(owner.set(target, remixable=False)))
    rejected(await weaver.write(weaver.set(target, x=9)), "consent_required")
    # Racing: whichever the actor sees first decides, and the log order says which it was.
    for rnd in range(12):
        acked(await owner.write(owner.set(target, remixable=True)))
        await weaver.wait_for(lambda: (f := weaver.tapestry.get(target)) is not None and f.remixable, "remixable")
        edit, toggle = weaver.set(target, x=100 + rnd), owner.set(target, remixable=False)
        sends = [weaver.send(edit), owner.send(toggle)]
        await asyncio.gather(*(sends if rnd % 2 else sends[::-1]))
        toggle_seq = acked(await owner.outcome(toggle.stamp[0]))
        fate = await weaver.outcome(edit.stamp[0])
        if isinstance(fate, int):
            assert fate < toggle_seq, "an edit acked after the toggle"
        else:
            rejected(fate, "consent_required")


async def test_P7_W9a_ai_rates_per_weaver_and_together_say_when_to_retry(harmony: Harmony, clock: FakeClock) -> None:
    steward = harmony.steward()
    await steward.policy(ai_share_cap=1.0, ai_rate_per_weaver=3, ai_rate_total=5)
    a, b = await harmony.connect("weaver"), await harmony.connect("weaver")
    for _ in range(3):
        acked(await a.write(a.symbol(fid())))
    clock.advance(20)
    limited = rejected(await a.write(a.symbol(fid())), "ai_rate_limited")
    assert limited["rule"] == "ai_rate_per_weaver"
    assert "retry in" in limited["allowed"]
    assert limited["retry_after"] == pytest.approx(40.0, abs=0.01)  # when the first of the three leaves the minute
    acked(await b.write(b.symbol(fid())))
    acked(await b.write(b.symbol(fid())))
    together = rejected(await b.write(b.symbol(fid())), "ai_rate_limited")
    assert together["rule"] == "ai_rate_total"
    assert together["retry_after"] == pytest.approx(40.0, abs=0.01)
    clock.advance(limited["retry_after"])
    acked(await a.write(a.symbol(fid())))
    # Raising the rate takes effect at once.
    await steward.policy(ai_rate_per_weaver=10, ai_rate_total=100)
    for _ in range(4):
        acked(await a.write(a.symbol(fid())))


async def test_weaver_allow_list(harmony: Harmony) -> None:
    steward = harmony.steward()
    listed = await harmony.connect("weaver", sub="weaver-listed")
    other = await harmony.connect("weaver", sub="weaver-other")
    owner = await harmony.connect("dreamer")
    await steward.policy(ai_share_cap=1.0, weaver_allow=["weaver-listed"])
    acked(await listed.write(listed.symbol(fid())))
    refused = rejected(await other.write(other.symbol(fid())), "weaver_not_allowed")
    assert refused["rule"] == "weaver_allow"
    acked(await owner.write(owner.symbol(fid())))  # people are not weavers
    await steward.policy(weaver_allow=[])
    acked(await other.write(other.symbol(fid())))


async def test_policy_edits_are_validated(harmony: Harmony) -> None:
    steward = harmony.steward()
    for bad in ({"ai_share_cap": 1.5}, {"consent": "maybe"}, {"access": "closed"}, {"locked": "yes"}, {"x": 1}):
        body = await steward.call("PATCH", "/policy", bad, expect=400)
        assert body["error"]["code"] == "bad_request"
    assert (await steward.call("GET", "/policy"))["policy"]["ai_share_cap"] == 0.5
