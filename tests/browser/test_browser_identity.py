"""A person's identity in the browser (SPEC W5): the guest token the server issues is kept per
origin, so a reload and a server restart are the same person; an invite token still wins for
its sanctuary; a refused guest token gives way to a new guest; a replica id bound to another
identity is exchanged for a new one without losing the tab's queue."""

from __future__ import annotations

import json
import secrets
from typing import Any

import pytest
from browser_kit import VIEWPORT, Dreamer, NewDreamer, converged

from dreamloom.client.testing import set_policy
from dreamloom.server.auth import ALL_SANCTUARIES, TokenAuthority, load_or_create_secret
from dreamloom.server.testing import InProcessServer

pytestmark = pytest.mark.asyncio(loop_scope="module")

GUEST_KEY = "dreamloom:guest"


async def stored_guest(d: Dreamer) -> str | None:
    token: str | None = await d.page.evaluate(f"localStorage.getItem({GUEST_KEY!r})")
    return token


async def server_authors(server: InProcessServer, sanctuary: str) -> set[str]:
    tapestry = (await server.hub.sanctuary(sanctuary)).tapestry
    return {f.author for f in tapestry.fragments()}


async def test_W5_a_person_keeps_their_identity_across_a_reload_and_a_server_restart(
    dreamers: NewDreamer, server: InProcessServer
) -> None:
    sanctuary = dreamers.sanctuary  # type: ignore[attr-defined]
    a = await dreamers("Alice")
    identity = await a.hook("identity")
    assert (identity["role"], identity["origin"]) == ("dreamer", "organic")
    guest = await stored_guest(a)
    assert guest is not None
    await a.stroke(-100, 0)
    await a.settled()
    await a.page.reload()
    await a.wait(f"d.connected && d.identity && d.identity.id === {identity['id']!r}")
    await a.stroke(0, 60)
    await a.settled()
    await server.restart()
    await a.stroke(80, 120)  # acknowledged only once the page is back on the restarted server
    await converged(server, sanctuary, a)
    assert (await a.hook("identity"))["id"] == identity["id"]
    assert await stored_guest(a) == guest
    assert await server_authors(server, sanctuary) == {identity["id"]}
    assert len(await a.fragments()) == 3
    # Another browser is another person.
    b = await dreamers("Bob")
    assert (await b.hook("identity"))["id"] != identity["id"]


async def test_W5_an_invite_token_wins_over_the_guest_token_in_its_sanctuary(
    browser: Any, dreamers: NewDreamer, server: InProcessServer
) -> None:
    sanctuary = dreamers.sanctuary  # type: ignore[attr-defined]
    a = await dreamers("Alice")
    assert await stored_guest(a) is not None
    authority = TokenAuthority(load_or_create_secret(server.config.data_dir, server.config.token_secret))
    invite, claims = authority.issue(role="dreamer", sanctuary=sanctuary, name="Alice")
    await a.page.goto(f"{server.url}/s/{sanctuary}?token={invite}")
    await a.wait(f"d.connected && d.identity && d.identity.id === {claims.sub!r}")
    assert await stored_guest(a) is not None  # still there for the other sanctuaries


async def test_W5_a_refused_guest_token_gives_way_to_a_new_guest(
    browser: Any, dreamers: NewDreamer, server: InProcessServer
) -> None:
    other = TokenAuthority(secrets.token_hex(32).encode())  # as if the server's secret had changed
    stale, claims = other.issue(role="dreamer", sanctuary=ALL_SANCTUARIES, name="Alice", guest=True)
    context = await browser.new_context(viewport=VIEWPORT)
    await context.add_init_script(
        f"""if (!sessionStorage.getItem("seeded")) {{
              sessionStorage.setItem("seeded", "1");
              localStorage.setItem("dreamloom:name", JSON.stringify("Alice"));
              localStorage.setItem({GUEST_KEY!r}, {stale!r});
            }}"""
    )
    a = await dreamers("Alice", context=context)
    identity = await a.hook("identity")
    assert identity["id"] != claims.sub
    fresh = await stored_guest(a)
    assert fresh not in (None, stale)
    await a.page.reload()
    await a.wait(f"d.connected && d.identity && d.identity.id === {identity['id']!r}")


async def test_W5_replica_in_use_the_tab_takes_a_new_replica_and_keeps_its_queue(
    browser: Any, dreamers: NewDreamer, server: InProcessServer
) -> None:
    sanctuary = dreamers.sanctuary  # type: ignore[attr-defined]
    a = await dreamers("Alice")
    await a.stroke(-100, 0)
    await a.settled()
    taken = await a.hook("replica")
    # Bob's tab kept a replica id that is Alice's, with two edits queued offline under it.
    fields = {
        "kind": "symbol",
        "geom": {"sym": "moon", "size": 40},
        "z": "V",
        "x": 10,
        "y": 20,
        "author": "",
        "origin": "organic",
        "style": {},
        "inspired_by": [],
        "remixable": False,
        "deleted": False,
    }
    queue = {
        "ops": [
            {"t": "c", "id": "queued-1", "s": [3, taken], "f": fields},
            {"t": "s", "id": "queued-1", "s": [4, taken], "f": {"x": 300}},
        ],
        "counter": 4,
        "identity": None,
    }
    context = await browser.new_context(viewport=VIEWPORT)
    await context.add_init_script(
        f"""if (!sessionStorage.getItem("seeded")) {{
              sessionStorage.setItem("seeded", "1");
              sessionStorage.setItem({f"dreamloom:replica:{sanctuary}"!r}, {taken!r});
              localStorage.setItem("dreamloom:name", JSON.stringify("Bob"));
              localStorage.setItem({f"dreamloom:pending:{sanctuary}:{taken}"!r}, {json.dumps(json.dumps(queue))});
            }}"""
    )
    b = await dreamers("Bob", context=context)
    await converged(server, sanctuary, a, b)
    assert await b.hook("replica") != taken
    bob = (await b.hook("identity"))["id"]
    moon = (await server.hub.sanctuary(sanctuary)).tapestry.get("queued-1")
    assert moon is not None
    assert (moon.author, moon.x) == (bob, 300)  # both edits, in their order
    assert await a.hook("connected")  # Alice was never disturbed
    leftover = await b.page.evaluate(f"localStorage.getItem({f'dreamloom:pending:{sanctuary}:{taken}'!r})")
    assert leftover is None


async def test_W5_a_guest_refused_by_an_invite_sanctuary_keeps_their_identity_for_the_open_ones(
    dreamers: NewDreamer, server: InProcessServer
) -> None:
    sanctuary = dreamers.sanctuary  # type: ignore[attr-defined]
    closed = f"{sanctuary[:50]}-closed"
    await set_policy(server, closed, access="invite")
    a = await dreamers("Alice")
    identity = (await a.hook("identity"))["id"]
    guest = await stored_guest(a)
    await a.page.goto(f"{server.url}/s/{closed}")
    await a.wait("d.status === 'closed'")
    assert await stored_guest(a) == guest  # set aside for one try, never thrown away for a refusal
    await a.page.goto(f"{server.url}/s/{sanctuary}")
    await a.wait(f"d.connected && d.identity && d.identity.id === {identity!r}")
